/*
 * dxpool.c - the downstream exchange pool of the relay core (core.h): the
 * free list of every transport's downstream exchanges (a client's request
 * in flight, under the client's token), the search for an observation a
 * client already holds, and the core timer of an exchange: the RD
 * request's re-send and give-up, the XFWD requester's timeout. The array is
 * the transport's (each entry begins with struct rc_dx; the rest is UDP's
 * message layer or TCP's connection), allocated once at start: nothing
 * here allocates (the free list is slotpool.c's). Talks to the transport (rd_send, same_client,
 * answer), rd.c (re-send verdicts) and xfwd.c (XFWD_CANCEL).
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "log.h"

int rc_exch_alloc(struct relay_core *c, uint32_t max_exchanges, size_t dx_stride, size_t ux_stride,
                  unsigned timers_each, uint32_t timers_extra)
{
    uint32_t nux = max_exchanges ? max_exchanges : 4096;
    uint32_t ndx = nux * 2; /* a client's request may wait while others are upstream */
    void *dx = calloc(ndx, dx_stride), *ux = calloc(nux, ux_stride);

    if (!dx || !ux || th_init(&c->timers, timers_each * (ndx + nux) + timers_extra) < 0) {
        log_warnx("out of memory for %u exchanges", nux);
        free(dx);
        free(ux);
        return -1;
    }
    rc_dx_pool_init(c, dx, dx_stride, ndx);
    rc_ux_pool_init(c, ux, ux_stride, nux);
    return 0;
}

void rc_exch_free(struct relay_core *c)
{
    free(c->dx.base);
    free(c->ux.base);
    rc_sp_init(&c->dx, NULL, 0, 0, 0);
    rc_sp_init(&c->ux, NULL, 0, 0, 0);
    th_free(&c->timers);
}

void rc_dx_pool_init(struct relay_core *c, void *base, size_t stride, uint32_t n)
{
    rc_sp_init(&c->dx, base, stride, offsetof(struct rc_dx, fnext), n);
    for (uint32_t i = 0; i < c->dx.n; i++) {
        struct rc_dx *d = rc_dx_at(c, i);
        d->state = RC_DX_FREE;
        d->up = RC_NONE;
        th_timer_init(&d->t, RC_T_DX, i);
    }
}

uint32_t rc_dx_take(struct relay_core *c, const struct coap_msg *req, uint64_t now)
{
    uint32_t i = rc_sp_take(&c->dx);
    if (i == RC_NONE)
        return RC_NONE;
    struct rc_dx *d = rc_dx_at(c, i);
    d->state = RC_DX_WAIT;
    d->kind = RC_DX_K_LOCAL;
    d->observe_req = false;
    d->xpeer = 0xff;
    d->tkl = req ? req->tkl : 0;
    if (d->tkl)
        memcpy(d->token, req->token, d->tkl);
    d->up = RC_NONE;
    d->req_id = 0;
    d->start_ms = now;
    d->src_h = 0;
    d->obs_h = 0;
    return i;
}

bool rc_dx_put(struct relay_core *c, uint32_t i)
{
    struct rc_dx *d = rc_dx_at(c, i);
    if (!rc_sp_taken(&c->dx, i))
        return false;
    th_cancel(&c->timers, &d->t);
    rc_count_release(&c->lim.live_src, &d->src_h);
    rc_count_release(&c->lim.live_obs, &d->obs_h);
    d->state = RC_DX_FREE;
    d->up = RC_NONE;
    return rc_sp_put(&c->dx, i);
}

bool rc_dx_count_source(struct relay_core *c, uint32_t i, const struct rr_addr *src, uint64_t now)
{
    struct rc_limits *l = &c->lim;
    struct rc_dx *d = rc_dx_at(c, i);
    uint8_t k[ADDR_SOURCE_KEY_LEN];
    uint64_t held;

    if (!l->max_inflight_src || d->src_h)
        return true;
    addr_source_key(src, k);
    uint64_t h = srccount_tag(&l->live_src, k, sizeof(k));
    if (srccount_inc_tag(&l->live_src, h, l->max_inflight_src) == 0) {
        d->src_h = h;
        return true;
    }
    l->hit_inflight_source++;
    if (ratelog_allow(&l->inflight_log, now, &held)) {
        char a[RR_ADDRSTRLEN];
        log_info("limit: request from %s -> 5.03, more than %u exchanges in flight from its "
                 "source (%llu more not logged)",
                 addr_to_str(src, a, sizeof(a)), l->max_inflight_src, (unsigned long long)held);
    }
    return false;
}

void rc_dx_limit_observe(struct relay_core *c, uint32_t i, const struct rr_addr *src,
                         struct coap_msg *m, uint64_t now)
{
    struct rc_limits *l = &c->lim;
    struct rc_dx *d = rc_dx_at(c, i);
    const struct coap_msg_opt *obs = coap_msg_find(m, COAP_OPT_OBSERVE);
    uint8_t k[ADDR_SOURCE_KEY_LEN];
    uint64_t held;

    if (!l->max_obs || d->obs_h || !obs || coap_opt_value_uint(obs) != 0)
        return;
    addr_source_key(src, k);
    uint64_t h = srccount_tag(&l->live_obs, k, sizeof(k));
    if (srccount_inc_tag(&l->live_obs, h, l->max_obs) == 0) {
        d->obs_h = h;
        return;
    }
    coap_msg_remove_opt(m, COAP_OPT_OBSERVE);
    l->hit_observe++;
    if (ratelog_allow(&l->observe_log, now, &held)) {
        char a[RR_ADDRSTRLEN];
        log_info("limit: observation from %s forwarded without Observe, more than %u held by its "
                 "source (%llu more not logged)",
                 addr_to_str(src, a, sizeof(a)), l->max_obs, (unsigned long long)held);
    }
}

uint32_t rc_dx_find_observation(const struct relay_core *c, uint32_t di, uint8_t kind)
{
    const struct rc_dx *d = rc_dx_at(c, di);
    for (uint32_t i = 0; i < c->dx.n; i++) {
        const struct rc_dx *o = rc_dx_at(c, i);
        if (i != di && o->state == RC_DX_OBSERVE && o->kind == kind &&
            (kind != RC_DX_K_PROXY || o->up != RC_NONE) && o->tkl == d->tkl &&
            memcmp(o->token, d->token, d->tkl) == 0 && c->tp->same_client(c->tpa, i, di))
            return i;
    }
    return RC_NONE;
}

void rc_dx_rd_start(struct relay_core *c, uint32_t i, uint64_t now)
{
    struct rc_dx *d = rc_dx_at(c, i);

    d->kind = RC_DX_K_RD;
    d->req_id = rc_rd_req_id(c, i);
    c->c.rd_requests++;
    c->tp->rd_send(c->tpa, i);
    th_arm(&c->timers, &d->t, now + RC_RD_RESEND_MS);
}

void rc_dx_xfwd_cancel(struct relay_core *c, uint32_t i)
{
    const struct rc_dx *d = rc_dx_at(c, i);
    rc_xfwd_send_cancel(c, d->xpeer, d->req_id);
}

/* RD_REQUEST unanswered for RC_RD_RESEND_MS: again, or 5.03 at the end
 * (an rd-frontend restart must never fail a registration). */
static void rd_resend(struct relay_core *c, uint32_t i, uint64_t now)
{
    struct rc_dx *d = rc_dx_at(c, i);

    if (d->state != RC_DX_WAIT)
        return;
    if (rc_rd_resend_due(c, d->req_id, d->start_ms, now) < 0) {
        c->tp->answer(c->tpa, i, COAP_SERVICE_UNAVAILABLE, "resource directory unavailable", now);
        return;
    }
    c->tp->rd_send(c->tpa, i);
    th_arm(&c->timers, &d->t, now + RC_RD_RESEND_MS);
}

/* The holder never answered: give up and tell it so. */
static void xfwd_timeout(struct relay_core *c, uint32_t i, uint64_t now)
{
    struct rc_dx *d = rc_dx_at(c, i);

    if (d->state != RC_DX_WAIT)
        return;
    rc_dx_xfwd_cancel(c, i);
    log_debug("XFWD %016llx to relay %s: no answer", (unsigned long long)d->req_id,
              rc_xpeer_name(c, d->xpeer));
    c->c.proxy_5_04++;
    c->tp->answer(c->tpa, i, COAP_GATEWAY_TIMEOUT, "endpoint did not answer", now);
}

void rc_dx_on_timer(struct relay_core *c, uint32_t i, uint64_t now)
{
    if (i >= c->dx.n)
        return;
    switch (rc_dx_at(c, i)->kind) {
    case RC_DX_K_RD:
        rd_resend(c, i, now);
        break;
    case RC_DX_K_XFWD:
        xfwd_timeout(c, i, now);
        break;
    default:
        break;
    }
}
