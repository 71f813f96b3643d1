/*
 * siphash.h - SipHash-2-4 (Aumasson, Bernstein 2012), a keyed 64-bit PRF.
 * Used where a value must be unpredictable to anyone without the key but
 * checkable without state: the relay's RFC 9175 Echo values (amplify.c),
 * and as the tag of a key in the tables that must not be aimed at one probe
 * run (srccount.c, relay-core/ratelimit.c).
 * Owns nothing.
 */
#ifndef RDRELAY_SIPHASH_H
#define RDRELAY_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len);
/* A fresh random key (getrandom). 0 / -1 (errno set). */
int siphash_key_random(uint8_t key[SIPHASH_KEY_LEN]);
/* A table's tag for data: siphash24, never 0 (0 marks an empty slot). */
uint64_t siphash_tag(const uint8_t key[SIPHASH_KEY_LEN], const void *data, size_t len);

#endif
