/*
 * counts.c - live counts per key (counts.h), linear probing.
 */
#include "counts.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"

int rc_counts_init(struct rc_counts *c, uint32_t live_max)
{
    uint32_t n = 64;

    memset(c, 0, sizeof(*c));
    if (getrandom(c->key, sizeof(c->key), 0) != (ssize_t)sizeof(c->key)) {
        log_warn("getrandom (counts key)");
        return -1;
    }
    /* at most half full: probes stay short */
    while (n < 2 * (uint64_t)live_max && n < (1u << 26))
        n <<= 1;
    c->t = calloc(n, sizeof(*c->t));
    if (!c->t)
        return -1;
    c->mask = n - 1;
    return 0;
}

void rc_counts_free(struct rc_counts *c)
{
    free(c->t);
    c->t = NULL;
}

uint64_t rc_count_hash(const struct rc_counts *c, const void *key, size_t keylen)
{
    return siphash24(c->key, key, keylen) | 1; /* never 0 (empty) */
}

/* The slot holding k, or the empty slot where it would go. */
static uint32_t slot(const struct rc_counts *c, uint64_t k)
{
    uint32_t i = (uint32_t)(k >> 32) & c->mask;
    while (c->t[i].key != 0 && c->t[i].key != k)
        i = (i + 1) & c->mask;
    return i;
}

int rc_count_inc(struct rc_counts *c, const void *key, size_t keylen, uint32_t max)
{
    return c->t ? rc_count_inc_h(c, rc_count_hash(c, key, keylen), max) : 0;
}

int rc_count_inc_h(struct rc_counts *c, uint64_t k, uint32_t max)
{
    if (!c->t)
        return 0;
    uint32_t i = slot(c, k);
    if (c->t[i].key == 0) {
        if (c->used >= c->mask / 2 + 1)
            return -1; /* more keys than sized for: refuse, never evict */
        c->t[i].key = k;
        c->t[i].n = 0;
        c->used++;
    }
    if (max && c->t[i].n >= max)
        return -1;
    c->t[i].n++;
    return 0;
}

void rc_count_dec(struct rc_counts *c, const void *key, size_t keylen)
{
    if (c->t)
        rc_count_dec_h(c, rc_count_hash(c, key, keylen));
}

void rc_count_dec_h(struct rc_counts *c, uint64_t k)
{
    if (!c->t)
        return;
    uint32_t i = slot(c, k);
    if (c->t[i].key == 0 || --c->t[i].n > 0)
        return;
    /* remove: shift back the entries of the run that probed past i */
    c->t[i].key = 0;
    c->used--;
    for (uint32_t j = (i + 1) & c->mask; c->t[j].key != 0; j = (j + 1) & c->mask) {
        uint32_t home = (uint32_t)(c->t[j].key >> 32) & c->mask;
        /* j may move to i when its home is not in (i, j] (cyclically) */
        if (((j - home) & c->mask) >= ((j - i) & c->mask)) {
            c->t[i] = c->t[j];
            c->t[j].key = 0;
            i = j;
        }
    }
}

uint32_t rc_count_get(const struct rc_counts *c, const void *key, size_t keylen)
{
    if (!c->t)
        return 0;
    uint32_t i = slot(c, rc_count_hash(c, key, keylen));
    return c->t[i].key ? c->t[i].n : 0;
}
