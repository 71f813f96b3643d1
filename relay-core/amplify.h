/*
 * amplify.h - no traffic amplifier (RFC 9175 §2.4): a response to a source
 * whose address is not verified is at most amplification_limit times the
 * size of the request that caused it; a larger one is replaced by 4.01 with
 * an Echo option, and a request that comes back with that Echo verifies its
 * source (address and port) for echo_verified_s.
 * Echo values: 1 byte time slot + 7 bytes of SipHash-2-4 over (slot, source
 * address, port) under a random key drawn at every start. So they cannot be
 * predicted or carried to another address, last 30 to 60 s, and need no
 * state until a source is verified; verified sources live in a fixed-size
 * table (echo_verified_max; the entry that expires first is replaced).
 * Transport-neutral; only relay-udp calls it (TCP and WebSocket have their
 * own handshake, which verifies the address).
 * Owns: struct rc_amp (key, table, counters). Allocates once in rc_amp_init.
 */
#ifndef RDRELAY_RC_AMPLIFY_H
#define RDRELAY_RC_AMPLIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "coap_msg.h"
#include "siphash.h"

#define RC_ECHO_LEN 8
#define RC_ECHO_SLOT_MS 30000 /* an Echo value is good in its slot and the next */
/* 4.01 + Echo: header, token, option header (2 bytes), value */
#define RC_AMP_CHALLENGE_MAX (4 + COAP_MSG_MAX_TOKEN + 2 + RC_ECHO_LEN)

struct rc_amp_counters {
    uint64_t challenged; /* answers replaced by 4.01 + Echo */
    uint64_t verified;   /* sources verified by an Echo */
    uint64_t echo_stale; /* Echo values that did not check (old, or not ours) */
    uint64_t dropped;    /* answers not sent: even the 4.01 was too large */
};

struct rc_amp_entry {
    uint64_t until_ms; /* 0 = empty */
    uint8_t key[19];   /* family, port, address (amp_key) */
};

struct rc_amp {
    uint32_t factor;      /* amplification_limit; 0 = off */
    uint32_t verified_ms; /* echo_verified_s */
    uint8_t key[SIPHASH_KEY_LEN];
    struct rc_amp_entry *tab;
    uint32_t mask; /* table size - 1 (a power of two) */
    uint64_t last_log_ms;
    struct rc_amp_counters c;
};

/* factor 0 disables everything (no table). max_verified: table size,
 * rounded up to a power of two. 0 / -1. */
int rc_amp_init(struct rc_amp *a, uint32_t factor, uint32_t verified_s, uint32_t max_verified);
void rc_amp_free(struct rc_amp *a);

/* The Echo value for peer now (RC_ECHO_LEN bytes). */
void rc_amp_make_echo(const struct rc_amp *a, const struct rr_addr *peer, uint64_t now,
                      uint8_t out[RC_ECHO_LEN]);
/* Is val an Echo value we gave peer less than one to two slots ago? */
bool rc_amp_check_echo(const struct rc_amp *a, const struct rr_addr *peer, const uint8_t *val,
                       size_t len, uint64_t now);

void rc_amp_set_verified(struct rc_amp *a, const struct rr_addr *peer, uint64_t now);
bool rc_amp_is_verified(const struct rc_amp *a, const struct rr_addr *peer, uint64_t now);

/* A request from peer: an Echo of ours verifies it and is removed from m
 * (it is for us, not for the endpoint); anything else is left alone. */
void rc_amp_on_request(struct rc_amp *a, const struct rr_addr *peer, struct coap_msg *m,
                       uint64_t now);

/* May an answer of resp_len bytes go to peer for a request of req_len? */
bool rc_amp_allows(const struct rc_amp *a, const struct rr_addr *peer, size_t req_len,
                   size_t resp_len, uint64_t now);

/* Build 4.01 with our Echo for peer (UDP framing, type/msgid/token given)
 * into out (>= RC_AMP_CHALLENGE_MAX). Returns its length. */
size_t rc_amp_challenge(struct rc_amp *a, const struct rr_addr *peer, uint8_t type, uint16_t msgid,
                        const uint8_t *token, uint8_t tkl, uint64_t now, uint8_t *out);

#endif
