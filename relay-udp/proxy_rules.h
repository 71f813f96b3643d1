/*
 * proxy_rules.h - the pure decisions of relay-udp's forwarding path: where a
 * request goes (RD or proxy, from Uri-Host), Hop-Limit handling (RFC 8768),
 * the option checks a proxy must make (RFC 7252 §5.4, §5.7), and the relay
 * token that names an upstream exchange slot. Owns nothing; no I/O, so
 * everything here is unit-tested (tests/unit/test_relay_rules.c).
 */
#ifndef RDRELAY_RU_PROXY_RULES_H
#define RDRELAY_RU_PROXY_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coap_msg.h"
#include "config.h"
#include "fwd_rules.h"

/*
 * XFWD_REQUEST ids (cross-transport forwarding, requester side): the
 * downstream exchange slot in the low 32 bits, the per-use check value in
 * the high 32, like the relay tokens: an XFWD_RESPONSE finds its exchange
 * in O(1), and a late one for a reused slot never matches.
 */
uint64_t ru_xfwd_req_id(uint32_t slot, uint32_t check);
uint32_t ru_xfwd_req_slot(uint64_t req_id);

/*
 * What the requester answers for an XFWD_RESPONSE status other than OK
 * (enum rr_ep_status): NO_ROUTE and UNREACHABLE -> 5.02, TIMEOUT -> 5.04,
 * anything unknown -> 5.02; *diag is the diagnostic payload. OK -> 0.
 */
uint8_t ru_xfwd_status_code(uint8_t status, const char **diag);

#endif
