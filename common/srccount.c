/*
 * srccount.c - counts per key (srccount.h): linear probing from the tag's
 * high half, backward-shift removal, doubling while allowed.
 */
#include "srccount.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

#define SC_MIN_SLOTS 64u
#define SC_MAX_SLOTS (1u << 26)

/* Slots for room for keys at most half full. */
static uint32_t slots_for(uint32_t keys)
{
    uint32_t n = SC_MIN_SLOTS;

    while (n < 2 * (uint64_t)keys && n < SC_MAX_SLOTS)
        n <<= 1;
    return n;
}

static uint32_t home(uint64_t tag, uint32_t mask)
{
    return (uint32_t)(tag >> 32) & mask;
}

int srccount_init(struct srccount *c, uint32_t live_max, uint32_t grow_max)
{
    uint32_t n = slots_for(live_max);

    memset(c, 0, sizeof(*c));
    if (siphash_key_random(c->key) < 0) {
        log_warn("getrandom (count table key)");
        return -1;
    }
    c->t = calloc(n, sizeof(*c->t));
    if (!c->t)
        return -1;
    c->mask = n - 1;
    c->grow_slots = grow_max > live_max ? slots_for(grow_max) : n;
    return 0;
}

void srccount_free(struct srccount *c)
{
    free(c->t);
    memset(c, 0, sizeof(*c));
}

uint64_t srccount_tag(const struct srccount *c, const void *key, size_t keylen)
{
    return siphash_tag(c->key, key, keylen);
}

/* The slot holding tag, or the empty slot where it would go. */
static uint32_t slot(const struct srccount *c, uint64_t tag)
{
    uint32_t i = home(tag, c->mask);

    while (c->t[i].tag != 0 && c->t[i].tag != tag)
        i = (i + 1) & c->mask;
    return i;
}

/* Twice the slots, every key moved over. 0 / -1 (the old table stays). */
static int grow(struct srccount *c)
{
    uint32_t n = (c->mask + 1) * 2, mask = n - 1;
    struct srccount_slot *t;

    if (n > c->grow_slots || (t = calloc(n, sizeof(*t))) == NULL)
        return -1;
    for (uint32_t i = 0; i <= c->mask; i++) {
        if (c->t[i].tag == 0)
            continue;
        uint32_t j = home(c->t[i].tag, mask);
        while (t[j].tag != 0)
            j = (j + 1) & mask;
        t[j] = c->t[i];
    }
    free(c->t);
    c->t = t;
    c->mask = mask;
    return 0;
}

int srccount_inc_tag(struct srccount *c, uint64_t tag, uint32_t max)
{
    if (!c->t)
        return 0;
    uint32_t i = slot(c, tag);
    if (c->t[i].tag == 0) {
        /* a newcomer: at most half full, else more room or refuse (never evict) */
        if (c->used >= c->mask / 2 + 1) {
            if (grow(c) < 0)
                return -1;
            i = slot(c, tag);
        }
        c->t[i].tag = tag;
        c->t[i].n = 0;
        c->used++;
    }
    if (max && c->t[i].n >= max)
        return -1; /* an existing key (a newcomer's max is at least 1) */
    c->t[i].n++;
    return 0;
}

void srccount_dec_tag(struct srccount *c, uint64_t tag)
{
    if (!c->t)
        return;
    uint32_t i = slot(c, tag);
    if (c->t[i].tag == 0 || --c->t[i].n > 0)
        return;
    /* remove: shift back the entries of the run that probed past i */
    c->t[i].tag = 0;
    c->used--;
    for (uint32_t j = (i + 1) & c->mask; c->t[j].tag != 0; j = (j + 1) & c->mask) {
        uint32_t h = home(c->t[j].tag, c->mask);
        /* j may move to i when its home is not in (i, j] (cyclically) */
        if (((j - h) & c->mask) >= ((j - i) & c->mask)) {
            c->t[i] = c->t[j];
            c->t[j].tag = 0;
            i = j;
        }
    }
}

static uint32_t get_tag(const struct srccount *c, uint64_t tag)
{
    if (!c->t)
        return 0;
    uint32_t i = slot(c, tag);
    return c->t[i].tag ? c->t[i].n : 0;
}

int srccount_inc(struct srccount *c, const void *key, size_t keylen, uint32_t max)
{
    return c->t ? srccount_inc_tag(c, srccount_tag(c, key, keylen), max) : 0;
}

void srccount_dec(struct srccount *c, const void *key, size_t keylen)
{
    if (c->t)
        srccount_dec_tag(c, srccount_tag(c, key, keylen));
}

uint32_t srccount_get(const struct srccount *c, const void *key, size_t keylen)
{
    return c->t ? get_tag(c, srccount_tag(c, key, keylen)) : 0;
}

uint32_t srccount_keys(const struct srccount *c)
{
    return c->used;
}

uint64_t srccount_tag_addr(const struct srccount *c, const struct rr_addr *a)
{
    uint8_t k[ADDR_SOURCE_KEY_LEN];

    addr_source_key(a, k);
    return srccount_tag(c, k, sizeof(k));
}

int srccount_inc_addr(struct srccount *c, const struct rr_addr *a, uint32_t max)
{
    return c->t ? srccount_inc_tag(c, srccount_tag_addr(c, a), max) : 0;
}

void srccount_dec_addr(struct srccount *c, const struct rr_addr *a)
{
    if (c->t)
        srccount_dec_tag(c, srccount_tag_addr(c, a));
}

uint32_t srccount_get_addr(const struct srccount *c, const struct rr_addr *a)
{
    return c->t ? get_tag(c, srccount_tag_addr(c, a)) : 0;
}
