/*
 * uxpool.c - the upstream exchange pool of the relay core (core.h): the
 * free list, the relay-token check values and the token -> slot lookup of
 * every transport's upstream exchanges (requests we sent to endpoints). The
 * array itself is the transport's (each entry begins with struct rc_ux, the
 * rest is transport state: UDP's retransmission buffer, TCP's connection),
 * allocated once at start: nothing here allocates (the free list is
 * slotpool.c's), and a token finds its slot in O(1).
 */
#include <string.h>

#include "core.h"
#include "fwd_rules.h"
#include "log.h"

void rc_ux_pool_init(struct relay_core *c, void *base, size_t stride, uint32_t n)
{
    rc_sp_init(&c->ux, base, stride, offsetof(struct rc_ux, fnext), n);
    for (uint32_t i = 0; i < c->ux.n; i++) {
        struct rc_ux *u = rc_ux_at(c, i);
        u->state = RC_UX_FREE;
        u->dx = RC_NONE;
        th_timer_init(&u->t, RC_T_UX, i);
    }
}

uint32_t rc_ux_take(struct relay_core *c)
{
    uint32_t i = rc_sp_take(&c->ux);
    if (i == RC_NONE)
        return RC_NONE;
    struct rc_ux *u = rc_ux_at(c, i);
    u->state = RC_UX_SENT;
    u->origin = UX_O_PROXY;
    u->observe_req = false;
    u->check = rc_new_check(c);
    u->dx = RC_NONE;
    u->req_id = 0;
    u->ep_tkl = 0;
    u->xid_len = 0;
    u->host[0] = '\0';
    u->xlen = 0;
    u->ep_h = 0;
    return i;
}

bool rc_ux_put(struct relay_core *c, uint32_t i)
{
    struct rc_ux *u = rc_ux_at(c, i);
    if (!rc_sp_taken(&c->ux, i))
        return false;
    th_cancel(&c->timers, &u->t);
    rc_count_release(&c->lim.live_ep, &u->ep_h);
    u->state = RC_UX_FREE;
    u->dx = RC_NONE;
    return rc_sp_put(&c->ux, i);
}

bool rc_ux_count_endpoint(struct relay_core *c, uint32_t ui, uint64_t now)
{
    struct rc_limits *l = &c->lim;
    struct rc_ux *u = rc_ux_at(c, ui);
    uint64_t held;

    if (!l->max_inflight_ep || u->ep_h)
        return true;
    uint64_t h = srccount_tag(&l->live_ep, u->host, strnlen(u->host, sizeof(u->host)));
    if (srccount_inc_tag(&l->live_ep, h, l->max_inflight_ep) == 0) {
        u->ep_h = h;
        return true;
    }
    l->hit_inflight_endpoint++;
    if (ratelog_allow(&l->inflight_ep_log, now, &held))
        log_info("limit: request for %s -> 5.03 Max-Age 1, more than %u exchanges in flight to "
                 "it (%llu more not logged)",
                 u->host, l->max_inflight_ep, (unsigned long long)held);
    return false;
}

uint32_t rc_ux_from_token(const struct relay_core *c, const uint8_t *tok, size_t tkl)
{
    uint32_t slot, check;
    if (fwd_token_decode(tok, tkl, &slot, &check) < 0 || slot >= c->ux.n)
        return RC_NONE;
    const struct rc_ux *u = rc_ux_at(c, slot);
    if (u->state == RC_UX_FREE || u->check != check)
        return RC_NONE;
    return slot;
}
