/*
 * dedup.c - relay-udp's per-peer duplicate memory (dedup.h).
 * Owns: the entry pool with one answer buffer per entry, the peer pool,
 * their hash tables, each peer's entry list (oldest first) and the list of
 * peers by last request (least recent first). All sized once in dd_init.
 * Talks to nothing.
 *
 * Lookup is two chained-hash probes: the peer by address, then the entry by
 * (peer slot, message id); a peer we have no entry for costs one probe.
 * Answers are copied into the entry when the exchange ends, so the exchange
 * slot is free again at once and a busy peer's answers never hold exchange
 * slots (or another peer's answers) hostage.
 */
#include "dedup.h"

#include <stdlib.h>
#include <string.h>

static uint32_t bucket_count(uint32_t n)
{
    uint32_t b = 64;
    while (b < n)
        b <<= 1;
    return b;
}

static uint32_t entry_bucket(const struct dd_table *t, uint32_t peer, uint16_t msgid)
{
    return ((peer * 0x9e3779b1u) ^ ((uint32_t)msgid * 0x85ebca6bu)) & (t->neb - 1);
}

static uint32_t peer_bucket(const struct dd_table *t, const struct rr_addr *a)
{
    return (addr_hash(a) * 0x9e3779b1u) & (t->npb - 1);
}

int dd_init(struct dd_table *t, uint32_t max_entries, uint32_t per_peer)
{
    memset(t, 0, sizeof(*t));
    if (max_entries == 0)
        max_entries = 1;
    if (per_peer == 0 || per_peer > max_entries)
        per_peer = max_entries;
    t->max_entries = max_entries;
    t->per_peer = per_peer;
    t->neb = bucket_count(max_entries);
    t->npb = bucket_count(max_entries);
    /* calloc: answer pages are touched only as answers are kept */
    t->e = calloc(max_entries, sizeof(*t->e));
    t->ans = calloc(max_entries, sizeof(*t->ans));
    t->p = calloc(max_entries, sizeof(*t->p)); /* a peer has at least one entry */
    t->eb = malloc(t->neb * sizeof(uint32_t));
    t->pb = malloc(t->npb * sizeof(uint32_t));
    if (!t->e || !t->ans || !t->p || !t->eb || !t->pb) {
        dd_free(t);
        return -1;
    }
    memset(t->eb, 0xff, t->neb * sizeof(uint32_t));
    memset(t->pb, 0xff, t->npb * sizeof(uint32_t));
    /* free lists start empty: slots are first taken in order (e_fresh,
     * p_fresh), so pages of the pools are touched only as they are used */
    t->e_free = t->p_free = DD_NONE;
    t->lru_head = t->lru_tail = DD_NONE;
    return 0;
}

void dd_free(struct dd_table *t)
{
    free(t->e);
    free(t->ans);
    free(t->p);
    free(t->eb);
    free(t->pb);
    memset(t, 0, sizeof(*t));
}

size_t dd_memory(uint32_t max_entries, uint32_t per_peer)
{
    (void)per_peer; /* the peer pool is sized by max_entries either way */
    size_t n = max_entries ? max_entries : 1;
    return n * (sizeof(struct dd_entry) + COAP_MSG_MAX_UDP + sizeof(struct dd_peer)) +
           2 * (size_t)bucket_count((uint32_t)n) * sizeof(uint32_t);
}

/* ---- peers ---- */

static uint32_t peer_find(const struct dd_table *t, const struct rr_addr *a)
{
    for (uint32_t i = t->pb[peer_bucket(t, a)]; i != DD_NONE; i = t->p[i].hnext)
        if (addr_equal(&t->p[i].addr, a))
            return i;
    return DD_NONE;
}

static void lru_unlink(struct dd_table *t, uint32_t pi)
{
    struct dd_peer *p = &t->p[pi];
    if (p->lprev != DD_NONE)
        t->p[p->lprev].lnext = p->lnext;
    else
        t->lru_head = p->lnext;
    if (p->lnext != DD_NONE)
        t->p[p->lnext].lprev = p->lprev;
    else
        t->lru_tail = p->lprev;
    p->lprev = p->lnext = DD_NONE;
}

static void lru_append(struct dd_table *t, uint32_t pi)
{
    struct dd_peer *p = &t->p[pi];
    p->lnext = DD_NONE;
    p->lprev = t->lru_tail;
    if (t->lru_tail != DD_NONE)
        t->p[t->lru_tail].lnext = pi;
    else
        t->lru_head = pi;
    t->lru_tail = pi;
}

static uint32_t peer_get(struct dd_table *t, const struct rr_addr *a)
{
    uint32_t pi = peer_find(t, a);
    if (pi != DD_NONE) {
        if (t->lru_tail != pi) {
            lru_unlink(t, pi);
            lru_append(t, pi);
        }
        return pi;
    }
    /* never exhausted: peers <= entries, and the caller made room first */
    pi = t->p_free != DD_NONE ? t->p_free : t->p_fresh++;
    struct dd_peer *p = &t->p[pi];
    if (pi == t->p_free)
        t->p_free = p->hnext;
    p->addr = *a;
    p->head = p->tail = DD_NONE;
    p->n = 0;
    uint32_t b = peer_bucket(t, a);
    p->hnext = t->pb[b];
    t->pb[b] = pi;
    lru_append(t, pi);
    t->npeers++;
    return pi;
}

static void peer_drop(struct dd_table *t, uint32_t pi)
{
    struct dd_peer *p = &t->p[pi];
    for (uint32_t *pp = &t->pb[peer_bucket(t, &p->addr)]; *pp != DD_NONE; pp = &t->p[*pp].hnext) {
        if (*pp == pi) {
            *pp = p->hnext;
            break;
        }
    }
    lru_unlink(t, pi);
    p->hnext = t->p_free;
    t->p_free = pi;
    t->npeers--;
}

/* ---- entries ---- */

static void entry_drop(struct dd_table *t, uint32_t ei)
{
    struct dd_entry *e = &t->e[ei];
    struct dd_peer *p = &t->p[e->peer];

    for (uint32_t *pp = &t->eb[entry_bucket(t, e->peer, e->msgid)]; *pp != DD_NONE;
         pp = &t->e[*pp].hnext) {
        if (*pp == ei) {
            *pp = e->hnext;
            break;
        }
    }
    if (e->prev != DD_NONE)
        t->e[e->prev].next = e->next;
    else
        p->head = e->next;
    if (e->next != DD_NONE)
        t->e[e->next].prev = e->prev;
    else
        p->tail = e->prev;
    if (--p->n == 0)
        peer_drop(t, e->peer);
    e->state = DD_FREE;
    e->hnext = e->prev = DD_NONE;
    e->next = t->e_free;
    t->e_free = ei;
    t->n--;
}

uint32_t dd_find(struct dd_table *t, const struct rr_addr *peer, uint16_t msgid, uint64_t now)
{
    uint32_t pi = peer_find(t, peer);
    if (pi == DD_NONE)
        return DD_NONE;
    for (uint32_t i = t->eb[entry_bucket(t, pi, msgid)]; i != DD_NONE; i = t->e[i].hnext) {
        struct dd_entry *e = &t->e[i];
        if (e->msgid != msgid || e->peer != pi)
            continue;
        if (now >= e->expires_ms) {
            entry_drop(t, i);
            return DD_NONE;
        }
        return i;
    }
    return DD_NONE;
}

/* Drop the peer's entries whose lifetime is over (oldest first, so this
 * stops at the first live one). */
static void expire_oldest(struct dd_table *t, uint32_t pi, uint64_t now)
{
    while (t->p[pi].head != DD_NONE && now >= t->e[t->p[pi].head].expires_ms) {
        uint32_t last = t->p[pi].n == 1;
        entry_drop(t, t->p[pi].head);
        if (last)
            return; /* the peer slot is free now */
    }
}

uint32_t dd_insert(struct dd_table *t, const struct rr_addr *peer, uint16_t msgid, uint32_t ref,
                   uint64_t now, uint32_t lifetime_ms)
{
    uint32_t pi = peer_find(t, peer);

    if (pi != DD_NONE) {
        expire_oldest(t, pi, now);
        pi = peer_find(t, peer); /* gone if all of its entries expired */
    }
    if (pi != DD_NONE && t->p[pi].n >= t->per_peer) {
        /* at its own bound: the peer pays with its own oldest entry */
        t->evicted++;
        entry_drop(t, t->p[pi].head);
    } else if (t->n == t->max_entries) {
        /* full: the peer heard from least recently pays first (its oldest
         * entry is the table's oldest or expired) */
        uint32_t victim = t->lru_head;
        if (now < t->e[t->p[victim].head].expires_ms)
            t->evicted++;
        entry_drop(t, t->p[victim].head);
    }
    pi = peer_get(t, peer);

    uint32_t ei = t->e_free != DD_NONE ? t->e_free : t->e_fresh++;
    struct dd_entry *e = &t->e[ei];
    struct dd_peer *p = &t->p[pi];
    if (ei == t->e_free)
        t->e_free = e->next;
    e->state = DD_PENDING;
    e->peer = pi;
    e->ref = ref;
    e->msgid = msgid;
    e->len = 0;
    e->ack = false;
    e->expires_ms = now + lifetime_ms;
    e->next = DD_NONE;
    e->prev = p->tail;
    if (p->tail != DD_NONE)
        t->e[p->tail].next = ei;
    else
        p->head = ei;
    p->tail = ei;
    p->n++;
    uint32_t b = entry_bucket(t, pi, msgid);
    e->hnext = t->eb[b];
    t->eb[b] = ei;
    t->n++;
    return ei;
}

static bool ours(const struct dd_table *t, uint32_t ei, uint32_t ref)
{
    return ei < t->max_entries && t->e[ei].state == DD_PENDING && t->e[ei].ref == ref;
}

void dd_complete(struct dd_table *t, uint32_t ei, uint32_t ref, const uint8_t *ans, size_t len,
                 bool ack)
{
    if (!ours(t, ei, ref))
        return; /* evicted or expired meanwhile */
    struct dd_entry *e = &t->e[ei];
    if (len > sizeof(t->ans[ei]))
        len = 0;
    if (len)
        memcpy(t->ans[ei], ans, len);
    e->len = (uint16_t)len;
    e->ack = ack;
    e->state = DD_DONE;
    e->ref = DD_NONE;
}

void dd_forget(struct dd_table *t, uint32_t ei, uint32_t ref)
{
    if (ours(t, ei, ref))
        entry_drop(t, ei);
}
