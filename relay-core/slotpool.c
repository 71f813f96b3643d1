/*
 * slotpool.c - the free list of a fixed slot array (slotpool.h), shared by
 * the relay core's exchange pools (uxpool.c, dxpool.c) and relay-udp's
 * send queues. Owns nothing but the links inside the caller's entries;
 * allocates nothing.
 */
#include "slotpool.h"

void rc_sp_init(struct rc_slotpool *p, void *base, size_t stride, size_t link_off, uint32_t n)
{
    if (!base)
        n = 0;
    *p = (struct rc_slotpool){
        .base = base, .stride = stride, .link_off = link_off, .n = n, .free = n ? 0 : RC_SP_NONE};
    for (uint32_t i = 0; i < n; i++)
        *rc_sp_link(p, i) = i + 1 < n ? i + 1 : RC_SP_NONE;
}

uint32_t rc_sp_take(struct rc_slotpool *p)
{
    uint32_t i = p->free;

    if (i == RC_SP_NONE)
        return RC_SP_NONE;
    uint32_t *link = rc_sp_link(p, i);
    p->free = *link;
    *link = RC_SP_TAKEN;
    p->used++;
    return i;
}

bool rc_sp_put(struct rc_slotpool *p, uint32_t i)
{
    if (!rc_sp_taken(p, i))
        return false;
    *rc_sp_link(p, i) = p->free;
    p->free = i;
    p->used--;
    return true;
}
