/*
 * tcp_rules.h - the pure decisions of relay-tcp: where a request goes (RD or
 * proxy, from Uri-Host), Hop-Limit handling (RFC 8768), the option checks a
 * proxy must make (RFC 7252 §5.4, §5.7) and the relay token that names an
 * upstream exchange slot - the rules every relay shares, in common/fwd_rules.h -
 * plus the RFC 8323 pieces: the
 * receive-side frame check and CSM option handling (connection ids are the
 * relay core's, relay-core/ids.c).
 * Owns nothing; no I/O, so everything here is unit-tested
 * (tests/unit/test_relay_tcp_rules.c).
 */
#ifndef RDRELAY_RT_TCP_RULES_H
#define RDRELAY_RT_TCP_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coap_msg.h"
#include "config.h"
#include "fwd_rules.h"

/* ---- RFC 8323 ---- */

/* Signalling option numbers (RFC 8323 §5.3-5.6; they are per signal code). */
#define RT_SIG_OPT_MAX_MESSAGE_SIZE 2 /* CSM */
#define RT_SIG_OPT_BLOCK_WISE 4       /* CSM */
#define RT_SIG_OPT_CUSTODY 2          /* Ping, Pong */
#define RT_SIG_OPT_BAD_CSM_OPTION 2   /* Abort */
#define RT_BASE_MMS 1152              /* Max-Message-Size before the peer's CSM */

enum rt_frame {
    RT_FRAME_NEED_MORE = 0, /* the header or the body is not complete yet */
    RT_FRAME_WHOLE = 1,     /* *len bytes are one whole message */
    RT_FRAME_TOO_BIG = 2,   /* Length announces more than max bytes: Abort */
    RT_FRAME_BAD = 3,       /* malformed header (reserved TKL): Abort */
};

/* What the next message in a receive buffer is, against our limit max (our
 * Max-Message-Size: the whole message). *len is set for WHOLE and TOO_BIG. */
enum rt_frame rt_frame_check(const uint8_t *buf, size_t avail, size_t max, size_t *len);

struct rt_csm {
    uint32_t mms; /* Max-Message-Size (RT_BASE_MMS when absent) */
    bool bwt;     /* Block-Wise-Transfer (BERT) offered */
};

/* Apply a received CSM to the settings in *csm (a later CSM updates earlier
 * values, RFC 8323 §5.3). Returns 0, or -1 with *bad set to the first
 * unknown critical option (the connection must be aborted with
 * Bad-CSM-Option). */
int rt_csm_apply(const struct coap_msg *m, struct rt_csm *csm, uint16_t *bad);

#endif
