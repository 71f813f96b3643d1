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
    t->lru.head = t->lru.tail = DD_NONE;
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

static uint32_t peer_find(struct dd_table *t, const struct rr_addr *a)
{
    /* the peer of the last lookup first: a burst from one client (the
     * lookup and the insert of every request) skips the hash */
    uint32_t h = t->hint;
    if (h < t->max_entries && t->p[h].n > 0 && addr_equal(&t->p[h].addr, a))
        return h;
    for (uint32_t i = t->pb[peer_bucket(t, a)]; i != DD_NONE; i = t->p[i].hnext) {
        if (addr_equal(&t->p[i].addr, a)) {
            t->hint = i;
            return i;
        }
    }
    return DD_NONE;
}

/* Unlink the node whose link is n from l; prev and next are its neighbours'
 * links (NULL at an end). */
static void list_unlink(struct dd_list *l, struct dd_link *n, struct dd_link *prev,
                        struct dd_link *next)
{
    if (prev)
        prev->next = n->next;
    else
        l->head = n->next;
    if (next)
        next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = DD_NONE;
}

/* Append node i (its link n) to l, whose last node's link is tail (NULL if
 * l is empty). */
static void list_append(struct dd_list *l, uint32_t i, struct dd_link *n, struct dd_link *tail)
{
    n->next = DD_NONE;
    n->prev = l->tail;
    if (tail)
        tail->next = i;
    else
        l->head = i;
    l->tail = i;
}

static struct dd_link *plink(struct dd_table *t, uint32_t pi)
{
    return pi == DD_NONE ? NULL : &t->p[pi].lru;
}

static struct dd_link *elink(struct dd_table *t, uint32_t ei)
{
    return ei == DD_NONE ? NULL : &t->e[ei].l;
}

static void lru_unlink(struct dd_table *t, uint32_t pi)
{
    struct dd_link *n = &t->p[pi].lru;
    list_unlink(&t->lru, n, plink(t, n->prev), plink(t, n->next));
}

static void lru_append(struct dd_table *t, uint32_t pi)
{
    list_append(&t->lru, pi, &t->p[pi].lru, plink(t, t->lru.tail));
}

/* Peer pi (DD_NONE: a new one for a) just sent a request. */
static uint32_t peer_touch(struct dd_table *t, uint32_t pi, const struct rr_addr *a)
{
    if (pi != DD_NONE) {
        if (t->lru.tail != pi) {
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
    p->ents.head = p->ents.tail = DD_NONE;
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
    list_unlink(&p->ents, &e->l, elink(t, e->l.prev), elink(t, e->l.next));
    if (--p->n == 0)
        peer_drop(t, e->peer);
    e->state = DD_FREE;
    e->hnext = e->l.prev = DD_NONE;
    e->l.next = t->e_free;
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

/* Drop peer pi's oldest entry; returns pi, or DD_NONE when that was its
 * last (the peer slot is free then). */
static uint32_t drop_oldest(struct dd_table *t, uint32_t pi)
{
    bool last = t->p[pi].n == 1;
    entry_drop(t, t->p[pi].ents.head);
    return last ? DD_NONE : pi;
}

uint32_t dd_insert(struct dd_table *t, const struct rr_addr *peer, uint16_t msgid, uint32_t ref,
                   uint64_t now, uint32_t lifetime_ms)
{
    uint32_t pi = peer_find(t, peer);

    /* its entries whose lifetime is over go first (oldest first, so this
     * stops at the first live one) */
    while (pi != DD_NONE && now >= t->e[t->p[pi].ents.head].expires_ms)
        pi = drop_oldest(t, pi);
    if (pi != DD_NONE && t->p[pi].n >= t->per_peer) {
        /* at its own bound: the peer pays with its own oldest entry */
        t->evicted_own++;
        pi = drop_oldest(t, pi);
    } else if (t->n == t->max_entries) {
        /* full: the peer heard from least recently pays first (its oldest
         * entry is the table's oldest, or expired) */
        uint32_t victim = t->lru.head;
        if (now < t->e[t->p[victim].ents.head].expires_ms)
            t->evicted_full++;
        uint32_t left = drop_oldest(t, victim);
        if (victim == pi)
            pi = left;
    }
    pi = peer_touch(t, pi, peer);

    uint32_t ei = t->e_free != DD_NONE ? t->e_free : t->e_fresh++;
    struct dd_entry *e = &t->e[ei];
    struct dd_peer *p = &t->p[pi];
    if (ei == t->e_free)
        t->e_free = e->l.next;
    uint32_t b = entry_bucket(t, pi, msgid);
    *e = (struct dd_entry){.hnext = t->eb[b],
                           .peer = pi,
                           .ref = ref,
                           .expires_ms = now + lifetime_ms,
                           .msgid = msgid,
                           .state = DD_PENDING};
    t->eb[b] = ei;
    list_append(&p->ents, ei, &e->l, elink(t, p->ents.tail));
    p->n++;
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
