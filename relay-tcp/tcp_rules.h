/*
 * tcp_rules.h - the pure decisions of relay-tcp: where a request goes (RD or
 * proxy, from Uri-Host), Hop-Limit handling (RFC 8768), the option checks a
 * proxy must make (RFC 7252 §5.4, §5.7) and the relay token that names an
 * upstream exchange slot - the rules every relay shares, in common/fwd_rules.h -
 * plus the RFC 8323 pieces: the
 * receive-side frame check (CSM handling is relay-core/sig8323.c,
 * connection ids relay-core/ids.c).
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

enum rt_frame {
    RT_FRAME_NEED_MORE = 0, /* the header or the body is not complete yet */
    RT_FRAME_WHOLE = 1,     /* *len bytes are one whole message */
    RT_FRAME_TOO_BIG = 2,   /* Length announces more than max bytes: Abort */
    RT_FRAME_BAD = 3,       /* malformed header (reserved TKL): Abort */
};

/* What the next message in a receive buffer is, against our limit max (our
 * Max-Message-Size: the whole message). *len is set for WHOLE and TOO_BIG. */
enum rt_frame rt_frame_check(const uint8_t *buf, size_t avail, size_t max, size_t *len);

#endif
