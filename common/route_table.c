/*
 * route_table.c - a relay's copy of the routes (route_table.h).
 * Owns one slot array per table and one allocation per route. Talks to
 * nothing. Open addressing with linear probing keyed by the lower-case
 * host name (FNV-1a); deletion shifts later entries back instead of
 * leaving tombstones, so lookups never degrade. A slot is 16 B (the hash
 * and a pointer to its route): slots holding the ~730 B struct rr_route
 * itself made a table of 100,000 routes 190 MB (2^18 slots at a load of
 * 0.38) and every rehash copy all of it; now the slots are 4 MB and a
 * rehash moves 16 B a route. Only put may allocate (a new route, or a
 * rehash into a table twice the size); route_table_get never does.
 */
#include "route_table.h"

#include <stdlib.h>
#include <string.h>

struct rt_slot {
    uint32_t hash;
    struct rr_route *rt; /* NULL: free slot */
};

struct route_table {
    struct rt_slot *slots;
    size_t cap; /* power of two */
    size_t count;
};

static uint32_t host_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static size_t cap_for(size_t n)
{
    size_t cap = 16;

    /* keep the load factor at most 0.7 */
    while (cap * 7 < n * 10)
        cap *= 2;
    return cap;
}

struct route_table *route_table_new(size_t initial_capacity)
{
    struct route_table *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->cap = cap_for(initial_capacity);
    t->slots = calloc(t->cap, sizeof(*t->slots));
    if (!t->slots) {
        free(t);
        return NULL;
    }
    return t;
}

void route_table_free(struct route_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].rt);
    free(t->slots);
    free(t);
}

/* Index of host's slot, or of the empty slot where it would go. */
static size_t find_slot(const struct route_table *t, const char *host, uint32_t h)
{
    size_t mask = t->cap - 1, i = h & mask;

    while (t->slots[i].rt && (t->slots[i].hash != h || strcmp(t->slots[i].rt->host, host) != 0))
        i = (i + 1) & mask;
    return i;
}

static int rehash(struct route_table *t, size_t newcap)
{
    struct rt_slot *old = t->slots;
    size_t oldcap = t->cap;

    t->slots = calloc(newcap, sizeof(*t->slots));
    if (!t->slots) {
        t->slots = old;
        return -1;
    }
    t->cap = newcap;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].rt)
            continue;
        t->slots[find_slot(t, old[i].rt->host, old[i].hash)] = old[i];
    }
    free(old);
    return 0;
}

int route_table_put(struct route_table *t, const struct rr_route *rt)
{
    uint32_t h = host_hash(rt->host);
    size_t i;

    if ((t->count + 1) * 10 > t->cap * 7 && rehash(t, t->cap * 2) < 0)
        return -1;
    i = find_slot(t, rt->host, h);
    if (!t->slots[i].rt) {
        struct rr_route *n = malloc(sizeof(*n));
        if (!n)
            return -1;
        t->slots[i].rt = n;
        t->slots[i].hash = h;
        t->count++;
    }
    *t->slots[i].rt = *rt; /* a replaced route keeps its allocation */
    return 0;
}

int route_table_del(struct route_table *t, const char *host)
{
    size_t mask = t->cap - 1, i = find_slot(t, host, host_hash(host)), j;

    if (!t->slots[i].rt)
        return -1;
    free(t->slots[i].rt);
    t->slots[i].rt = NULL;
    t->count--;
    /* Backward-shift: move later entries of the probe run into the hole
     * unless their home slot lies cyclically in (hole, j]. */
    for (j = (i + 1) & mask; t->slots[j].rt; j = (j + 1) & mask) {
        size_t home = t->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            t->slots[j].rt = NULL;
            i = j;
        }
    }
    return 0;
}

const struct rr_route *route_table_get(const struct route_table *t, const char *host)
{
    size_t i = find_slot(t, host, host_hash(host));

    return t->slots[i].rt;
}

size_t route_table_count(const struct route_table *t)
{
    return t->count;
}

void route_table_foreach(const struct route_table *t,
                         int (*fn)(const struct rr_route *rt, void *arg), void *arg)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].rt && fn(t->slots[i].rt, arg) != 0)
            return;
}
