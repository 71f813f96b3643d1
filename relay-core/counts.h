/*
 * counts.h - how many of something one key holds right now (issue 19
 * limits): connections per source (IPv4 address, IPv6 /64) on the stream
 * relays, exchanges in flight per source on every relay. One fixed open-addressing table, allocated
 * at start for twice the most keys that can be live at once (so it never fills and no key is ever
 * evicted: one user cannot take another's count away), keyed by SipHash under a random per-start
 * key; a key whose count drops to 0 is removed (backward shift, no tombstones). No allocation after
 * init.
 */
#ifndef RDRELAY_RC_COUNTS_H
#define RDRELAY_RC_COUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "siphash.h"

struct rc_count {
    uint64_t key; /* 0 = empty */
    uint32_t n;
};

struct rc_counts {
    uint8_t key[SIPHASH_KEY_LEN];
    struct rc_count *t;
    uint32_t mask, used;
};

/* Room for live_max keys at once. 0 / -1. */
int rc_counts_init(struct rc_counts *c, uint32_t live_max);
void rc_counts_free(struct rc_counts *c);
/* One more for key unless it holds max already (or the table is full):
 * 0 = counted, -1 = over the limit (nothing changed). max 0 = no limit. */
int rc_count_inc(struct rc_counts *c, const void *key, size_t keylen, uint32_t max);
/* One less for key (a key that holds none: nothing). */
void rc_count_dec(struct rc_counts *c, const void *key, size_t keylen);
/* The same by the key's hash (rc_count_hash, never 0), for holders that
 * keep the hash instead of the key. */
uint64_t rc_count_hash(const struct rc_counts *c, const void *key, size_t keylen);
int rc_count_inc_h(struct rc_counts *c, uint64_t h, uint32_t max);
void rc_count_dec_h(struct rc_counts *c, uint64_t h);
/* What key holds now. */
uint32_t rc_count_get(const struct rc_counts *c, const void *key, size_t keylen);

#endif
