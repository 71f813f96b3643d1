/*
 * tcp_rules.h - the pure decisions of relay-tcp: where a request goes (RD or
 * proxy, from Uri-Host), Hop-Limit handling (RFC 8768), the option checks a
 * proxy must make (RFC 7252 §5.4, §5.7) and the relay token that names an
 * upstream exchange slot - the same rules as relay-udp/proxy_rules.h, under
 * rt_ names (candidates for common/) - plus the RFC 8323 pieces: the
 * receive-side frame check, CSM option handling and connection ids.
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

enum rt_dest {
    RT_DEST_RD = 0,     /* hand to rd-frontend */
    RT_DEST_PROXY = 1,  /* route table lookup by the host name */
    RT_DEST_REJECT = 2, /* 5.05: a name that is neither ours nor under the proxy domain */
};

/*
 * Routing of an incoming request by its (lower-cased) Uri-Host, /tmp team
 * rules: no Uri-Host, an IP literal, the proxy domain itself or one of
 * rd_names (rd_names empty = any name outside the proxy domain) -> RD;
 * "<x>.<proxy_domain>" -> PROXY; anything else -> REJECT.
 */
enum rt_dest rt_route_decide(const char *host_lower, const struct rr_config *cfg);

/* True for "192.0.2.1", "2001:db8::1", "[2001:db8::1]". */
bool rt_host_is_ip_literal(const char *host);

/*
 * Hop-Limit on a request about to be forwarded: absent -> add dflt; present
 * with value v > 1 -> v - 1; 0 or 1 -> loop. buf (>= 4 bytes) holds the new
 * value and must outlive m. Returns 0, or -1 for a loop (answer 5.08).
 */
int rt_hop_limit_apply(struct coap_msg *m, uint32_t dflt, uint8_t *buf);

/*
 * Option check for a message passing the proxy: returns 0 when every option
 * may pass, or -1 and *bad = the first unknown unsafe option (a request then
 * gets 4.02, a response becomes 5.02). Unknown safe-to-forward options pass.
 */
int rt_check_options(const struct coap_msg *m, const struct rr_config *cfg, uint16_t *bad);

/*
 * For requests the relay's own service (the RD) answers: an unknown
 * critical option -> 4.02 (RFC 7252 §5.4.1). 0, or -1 and *bad.
 */
int rt_check_critical(const struct coap_msg *m, const struct rr_config *cfg, uint16_t *bad);

/* True when the request asks for forward proxying (Proxy-Uri/Proxy-Scheme). */
bool rt_is_forward_proxy_request(const struct coap_msg *m);

/*
 * Relay tokens: 8 bytes = u32 slot (big-endian) + u32 check. The check is a
 * per-use value held by the slot, so a stale or forged token never matches
 * a reused slot, and the lookup is O(1).
 */
#define RT_TOKEN_LEN 8
void rt_token_encode(uint32_t slot, uint32_t check, uint8_t out[RT_TOKEN_LEN]);
/* 0 and the fields, or -1 if the token cannot be one of ours (length). */
int rt_token_decode(const uint8_t *tok, size_t len, uint32_t *slot, uint32_t *check);

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

/* Connection ids: unique within a run and across restarts, never 0.
 * id = start_wall_ms << 21 + counter: a later run starts at a later
 * millisecond, and a run would need 2 million connections per millisecond
 * of its lifetime to reach the next run's ids. */
uint64_t rt_conn_id_make(uint64_t start_wall_ms, uint64_t counter);
/* The start time (wall ms) of the run that made id. */
uint64_t rt_conn_id_start(uint64_t id);

#endif
