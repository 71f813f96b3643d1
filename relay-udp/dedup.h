/*
 * dedup.h - relay-udp's per-peer duplicate memory (RFC 7252 §4.5).
 * Owns: the table of recently received requests keyed by (peer, message
 * id), grouped by peer, with the cached answer bytes of each answered one.
 * Talks to nothing: exchange.c inserts, completes, forgets and looks up;
 * it knows no struct relay, so it is unit-tested alone.
 *
 * Bounds (sized once by dd_init, nothing allocated afterwards):
 *   - at most per_peer entries per peer: a peer at its bound loses its own
 *     oldest entry, never another peer's;
 *   - at most max_entries in all: when full, the peer heard from least
 *     recently loses its oldest entry first;
 *   - an entry lives the lifetime the caller gives (EXCHANGE_LIFETIME for
 *     CON, NON_LIFETIME for NON) from the request's arrival, whatever its
 *     state.
 * So a quiet peer's request is remembered for its whole lifetime unless
 * more than max_entries / per_peer other peers are busy at the same time.
 */
#ifndef RDRELAY_DEDUP_H
#define RDRELAY_DEDUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "coap_msg.h"

#define DD_NONE UINT32_MAX

enum dd_state {
    DD_FREE = 0,
    DD_PENDING, /* the exchange `ref` is still working on it */
    DD_DONE,    /* answered: ans[] holds the bytes to repeat (len 0: none) */
};

/* Doubly linked lists of slot indices (DD_NONE ends them). */
struct dd_link {
    uint32_t prev, next;
};
struct dd_list {
    uint32_t head, tail;
};

struct dd_entry {
    uint32_t hnext;      /* hash chain (peer address, message id) */
    struct dd_link l;    /* the peer's entries, oldest first; l.next: free list */
    uint32_t peer;       /* index into dd_table.peers */
    uint32_t ref;        /* DD_PENDING: the caller's exchange */
    uint64_t expires_ms; /* arrival + lifetime */
    uint16_t msgid;
    uint16_t len;  /* DD_DONE: answer bytes in dd_table.ans */
    uint8_t state; /* enum dd_state */
    bool ack;      /* DD_DONE without bytes: a duplicate CON gets an empty ACK */
};

struct dd_peer {
    struct rr_addr addr;
    uint32_t hnext;      /* hash chain by address; free list */
    struct dd_link lru;  /* peers, least recently heard first */
    struct dd_list ents; /* its entries, oldest first */
    uint32_t n;          /* how many */
};

struct dd_table {
    struct dd_entry *e;
    uint8_t (*ans)[COAP_MSG_MAX_UDP]; /* one answer buffer per entry */
    struct dd_peer *p;
    uint32_t max_entries, per_peer;
    uint32_t n;                /* entries in use */
    uint32_t npeers;           /* peers with at least one entry */
    uint32_t e_free, p_free;   /* free lists */
    uint32_t e_fresh, p_fresh; /* slots never used yet start here */
    uint32_t *eb, neb;         /* entry buckets */
    uint32_t *pb, npb;         /* peer buckets */
    struct dd_list lru;        /* peers, least recently heard first */
    uint32_t hint;             /* peer of the last lookup (may be stale) */
    uint64_t evicted_own;      /* dropped before their lifetime: the peer was at its bound */
    uint64_t evicted_full;     /* dropped before their lifetime: the table was full */
};

/* Size every table once; 0 / -1 (out of memory). */
int dd_init(struct dd_table *t, uint32_t max_entries, uint32_t per_peer);
void dd_free(struct dd_table *t);

/* The live entry for (peer, msgid), or DD_NONE; an expired one is dropped
 * (its message id may be reused by now: a new request). */
uint32_t dd_find(struct dd_table *t, const struct rr_addr *peer, uint16_t msgid, uint64_t now);

/* Remember a new request (DD_PENDING, owned by exchange ref) for
 * lifetime_ms; makes room by the bounds above, so it always succeeds.
 * Returns the entry. */
uint32_t dd_insert(struct dd_table *t, const struct rr_addr *peer, uint16_t msgid, uint32_t ref,
                   uint64_t now, uint32_t lifetime_ms);

/* Exchange ref answered its request (entry ei, if still ours): keep
 * len bytes of answer to repeat (len 0: nothing to repeat; ack: a duplicate
 * CON gets an empty ACK). The exchange may be released at once. */
void dd_complete(struct dd_table *t, uint32_t ei, uint32_t ref, const uint8_t *ans, size_t len,
                 bool ack);

/* Exchange ref ends without a kept answer: forget entry ei if still ours. */
void dd_forget(struct dd_table *t, uint32_t ei, uint32_t ref);

/* Memory dd_init allocates for these bounds (bytes), for documentation. */
size_t dd_memory(uint32_t max_entries, uint32_t per_peer);

#endif
