/*
 * fwd_rules.h - the pure decisions every relay's forwarding path makes:
 * where a request goes (RD or proxy, from Uri-Host), Hop-Limit handling
 * (RFC 8768), the option checks a proxy must make (RFC 7252 §5.4, §5.7), and
 * the relay token that names an upstream exchange slot. Shared by relay-udp
 * and relay-tcp. Owns nothing; no I/O (unit-tested in test_relay_rules.c).
 */
#ifndef RDRELAY_FWD_RULES_H
#define RDRELAY_FWD_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coap_msg.h"
#include "config.h"

enum fwd_dest {
    FWD_DEST_RD = 0,     /* hand to rd-frontend */
    FWD_DEST_PROXY = 1,  /* route table lookup by the host name */
    FWD_DEST_REJECT = 2, /* 5.05: a name that is neither ours nor under the proxy domain */
};

/*
 * Routing of an incoming request by its (lower-cased) Uri-Host, /tmp team
 * rules: no Uri-Host, an IP literal, the proxy domain itself or one of
 * rd_names (rd_names empty = any name outside the proxy domain) -> RD;
 * "<x>.<proxy_domain>" -> PROXY; anything else -> REJECT.
 */
enum fwd_dest fwd_route_decide(const char *host_lower, const struct rr_config *cfg);

/*
 * The one rule every relay applies to an incoming request before anything
 * else (issue 15 item 5: the relays used to disagree): forward-proxy
 * requests -> 5.05; Uri-Host lower-cased, a trailing dot dropped (an
 * absolute DNS name is the same host) -> fwd_route_decide; a request for
 * the RD with an unknown critical option -> 4.02 (RFC 7252 §5.4.1), on
 * every transport. host (>= RR_HOST_MAX) receives the normalised name.
 */
enum fwd_verdict {
    FWD_V_RD = 0,        /* hand to rd-frontend */
    FWD_V_PROXY,         /* proxy to the route named host */
    FWD_V_UNKNOWN_HOST,  /* 5.05 "unknown host name" */
    FWD_V_FORWARD_PROXY, /* 5.05 "forward proxying is not supported" */
    FWD_V_HOST_TOO_LONG, /* 5.05 "Uri-Host too long" */
    FWD_V_BAD_HOST,      /* 4.00 "Uri-Host is not a valid host name" */
    FWD_V_BAD_CRITICAL,  /* 4.02 "unknown critical option N" (*bad) */
};
enum fwd_verdict fwd_classify(const struct coap_msg *m, const struct rr_config *cfg, char *host,
                              size_t hostlen, uint16_t *bad);
/* The answer for a verdict other than RD/PROXY: the CoAP code, and the
 * diagnostic payload in diag. */
uint8_t fwd_verdict_answer(enum fwd_verdict v, uint16_t bad, char *diag, size_t len);

/* True for "192.0.2.1", "2001:db8::1", "[2001:db8::1]". */
bool fwd_host_is_ip_literal(const char *host);

/* fwd_hop_limit_apply's verdicts other than 0 (applied). */
enum {
    FWD_HL_LOOP = -1,    /* Hop-Limit exhausted: a loop (answer 5.08) */
    FWD_HL_NO_ROOM = -2, /* no Hop-Limit, and the request already holds
                          * COAP_MSG_MAX_OPTS options: ours does not fit
                          * (not a loop: answer 5.00, see fwd_hop_limit_answer) */
};

/*
 * Hop-Limit on a request about to be forwarded: absent -> add dflt; present
 * with value v > 1 -> v - 1; 0 or 1 -> loop. buf (>= 4 bytes) holds the new
 * value and must outlive m. Returns 0, FWD_HL_LOOP or FWD_HL_NO_ROOM.
 */
int fwd_hop_limit_apply(struct coap_msg *m, uint32_t dflt, uint8_t *buf);

/* The answer for a verdict of fwd_hop_limit_apply other than 0: the CoAP
 * code (5.08 for a loop, 5.00 when there was no room) and the diagnostic. */
uint8_t fwd_hop_limit_answer(int verdict, char *diag, size_t len);

/*
 * Option check for a message passing the proxy: returns 0 when every option
 * may pass, or -1 and *bad = the first unknown unsafe option (a request then
 * gets 4.02, a response becomes 5.02). Unknown safe-to-forward options pass.
 */
int fwd_check_options(const struct coap_msg *m, const struct rr_config *cfg, uint16_t *bad);

/*
 * For requests the relay's own service (the RD) answers: an unknown
 * critical option -> 4.02 (RFC 7252 §5.4.1). 0, or -1 and *bad.
 */
int fwd_check_critical(const struct coap_msg *m, const struct rr_config *cfg, uint16_t *bad);

/* True when the request asks for forward proxying (Proxy-Uri/Proxy-Scheme). */
bool fwd_is_forward_proxy_request(const struct coap_msg *m);

/*
 * Relay tokens: 8 bytes = u32 slot (big-endian) + u32 check. The check is a
 * per-use value held by the slot, so a stale or forged token never matches
 * a reused slot, and the lookup is O(1).
 */
#define FWD_TOKEN_LEN 8
void fwd_token_encode(uint32_t slot, uint32_t check, uint8_t out[FWD_TOKEN_LEN]);
/* 0 and the fields, or -1 if the token cannot be one of ours (length). */
int fwd_token_decode(const uint8_t *tok, size_t len, uint32_t *slot, uint32_t *check);

#endif
