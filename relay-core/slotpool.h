/*
 * slotpool.h - a fixed array of slots handed out by index: the one free
 * list of the relay core's exchange pools (struct rc_ux / rc_dx heads,
 * core.h) and of relay-udp's send queues. The array is the caller's,
 * allocated once at start (entries of stride bytes, each holding a
 * uint32_t link at link_off); take and put are O(1) and allocate nothing.
 * A taken slot's link holds RC_SP_TAKEN, so a put of a free slot is
 * refused. Talks to nothing.
 */
#ifndef RDRELAY_SLOTPOOL_H
#define RDRELAY_SLOTPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_SP_NONE UINT32_MAX        /* no slot (RC_NONE) */
#define RC_SP_TAKEN (UINT32_MAX - 1) /* the link of a slot in use */

struct rc_slotpool {
    uint8_t *base;
    size_t stride;   /* bytes per entry */
    size_t link_off; /* where an entry's uint32_t free-list link is */
    uint32_t n, free, used;
};

/* n entries of stride bytes at base, all free (their links set here; the
 * rest of each entry is the caller's). n = 0 or base NULL: an empty pool. */
void rc_sp_init(struct rc_slotpool *p, void *base, size_t stride, size_t link_off, uint32_t n);
/* A free slot's index (now in use), or RC_SP_NONE when all are in use. */
uint32_t rc_sp_take(struct rc_slotpool *p);
/* Slot i back to the free list; false (nothing done) if it was free. */
bool rc_sp_put(struct rc_slotpool *p, uint32_t i);

static inline void *rc_sp_at(const struct rc_slotpool *p, uint32_t i)
{
    return p->base + (size_t)i * p->stride;
}

static inline uint32_t *rc_sp_link(const struct rc_slotpool *p, uint32_t i)
{
    return (uint32_t *)(void *)(p->base + (size_t)i * p->stride + p->link_off);
}

/* Slot i is handed out (taken and not put back). */
static inline bool rc_sp_taken(const struct rc_slotpool *p, uint32_t i)
{
    return i < p->n && *rc_sp_link(p, i) == RC_SP_TAKEN;
}

#endif
