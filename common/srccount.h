/*
 * srccount.h - how many of something each key holds right now: the one
 * table behind every per-source (and per-endpoint) count limit. Used by
 * rd-frontend for registrations per source (limits.c) and ports per source
 * (ports.c), and by the relays for connections and exchanges in flight per
 * source, exchanges per endpoint name and observations per client
 * (relay-core/counts.h).
 * One open-addressing table (linear probing, at most half full so probes
 * stay short), keyed by a 64-bit SipHash tag of the key under a random
 * per-start key (nobody can aim keys at one probe run; two keys share a
 * count only if their tags collide, about 2^-64 a pair). A key whose count
 * drops to 0 is removed (backward shift, no tombstones). A key is never
 * evicted to make room: one user cannot take another's count away; a
 * newcomer the table has no room for is refused instead.
 * Sized at init for live_max keys; with grow_max > live_max it doubles as
 * keys come, up to room for grow_max keys (allocation only then). A table
 * never initialised (all zero) counts nothing and refuses nothing.
 * A source is addr_source_key (common/addr.c): an IPv4 address or an
 * IPv6 /64.
 * Owns: struct srccount. Talks to nothing.
 */
#ifndef RDRELAY_SRCCOUNT_H
#define RDRELAY_SRCCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "siphash.h"

struct srccount_slot {
    uint64_t tag; /* 0 = empty */
    uint32_t n;
};

struct srccount {
    uint8_t key[SIPHASH_KEY_LEN];
    struct srccount_slot *t;
    uint32_t mask, used;
    uint32_t grow_slots; /* the most slots it may grow to */
};

/* Room for live_max keys at once, growing up to grow_max keys (<= live_max:
 * fixed size). 0 / -1. */
int srccount_init(struct srccount *c, uint32_t live_max, uint32_t grow_max);
void srccount_free(struct srccount *c);
/* One more for key unless it holds max already (or the table has no room
 * for a new key): 0 = counted, -1 = refused (nothing changed). max 0 = no
 * limit. */
int srccount_inc(struct srccount *c, const void *key, size_t keylen, uint32_t max);
/* One less for key (a key that holds none: nothing). */
void srccount_dec(struct srccount *c, const void *key, size_t keylen);
/* What key holds now. */
uint32_t srccount_get(const struct srccount *c, const void *key, size_t keylen);
/* How many keys hold something now. */
uint32_t srccount_keys(const struct srccount *c);

/* The same by the key's tag (srccount_tag, never 0), for holders that keep
 * the tag instead of the key. */
uint64_t srccount_tag(const struct srccount *c, const void *key, size_t keylen);
int srccount_inc_tag(struct srccount *c, uint64_t tag, uint32_t max);
void srccount_dec_tag(struct srccount *c, uint64_t tag);

/* The same for the source of address a (addr_source_key). */
uint64_t srccount_tag_addr(const struct srccount *c, const struct rr_addr *a);
int srccount_inc_addr(struct srccount *c, const struct rr_addr *a, uint32_t max);
void srccount_dec_addr(struct srccount *c, const struct rr_addr *a);
uint32_t srccount_get_addr(const struct srccount *c, const struct rr_addr *a);

#endif
