/*
 * stream_exch.c - a stream relay's exchange state. RFC 8323 is reliable and has no message
 * layer (RFC 8323 §3), so an exchange is only the request/response pairing:
 * Owns the downstream pool (a client's request on a connection: where its
 * answer goes, under the client's token) and the upstream pool (a request
 * we sent to a registrant over its connection under a relay token = slot +
 * check value), both sized once from max_exchanges, plus token check values
 * and the timer dispatch. Talks to stream_conn.c (sending answers), stream_rd.c and
 * stream_proxy.c (timer outcomes).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stream.h"

int st_exch_init(struct st_relay *r)
{
    uint32_t nux = r->cfg.max_exchanges ? r->cfg.max_exchanges : 4096;
    uint32_t ndx = nux * 2;

    r->ndx = ndx;
    r->nux = nux;
    r->dx = calloc(ndx, sizeof(*r->dx));
    r->ux = calloc(nux, sizeof(*r->ux));
    if (!r->dx || !r->ux || th_init(&r->core.timers, ndx + nux + r->nconns_max + 16) < 0) {
        log_warnx("out of memory for %u exchanges", nux);
        return -1;
    }
    for (uint32_t i = 0; i < ndx; i++) {
        r->dx[i].fnext = i + 1 < ndx ? i + 1 : ST_NONE;
        r->dx[i].up = ST_NONE;
        th_timer_init(&r->dx[i].t, ST_T_DX, i);
    }
    for (uint32_t i = 0; i < nux; i++) {
        th_timer_init(&r->ux[i].t, ST_T_UX, i);
    }
    r->dx_free = 0;
    rc_ux_pool_init(&r->core, r->ux, sizeof(*r->ux), nux);
    return 0;
}

void st_exch_free(struct st_relay *r)
{
    if (r->dx)
        for (uint32_t i = 0; i < r->ndx; i++)
            free(r->dx[i].req);
    free(r->dx);
    free(r->ux);
    th_free(&r->core.timers);
    r->dx = NULL;
    r->ux = NULL;
}

ssize_t st_to_datagram(const struct coap_msg *m, uint8_t *buf, size_t cap)
{
    struct coap_msg d = *m;
    d.type = COAP_T_CON;
    d.msgid = 0;
    return coap_msg_serialize_udp(&d, buf, cap);
}

/* ---- downstream ---- */

uint32_t st_dx_alloc(struct st_relay *r, uint32_t ci, const struct coap_msg *req, uint64_t now)
{
    struct st_conn *c = &r->conns[ci];
    uint32_t i = r->dx_free;

    if (i == ST_NONE || c->inflight >= r->lim.max_inflight)
        return ST_NONE;
    struct st_dx *d = &r->dx[i];
    r->dx_free = d->fnext;
    d->fnext = ST_NONE;
    d->state = DX_WAIT;
    d->kind = DX_K_RD;
    d->observe_req = false;
    d->tkl = req->tkl;
    memcpy(d->token, req->token, req->tkl);
    d->conn = ci;
    d->conn_id = c->id;
    d->req_id = 0;
    d->up = ST_NONE;
    d->xpeer = 0xff;
    d->req = NULL;
    d->req_len = 0;
    d->start_ms = now;
    c->inflight++;
    r->dx_used++;
    return i;
}

void st_dx_release(struct st_relay *r, uint32_t i)
{
    struct st_dx *d = &r->dx[i];
    if (d->state == DX_FREE)
        return;
    th_cancel(&r->core.timers, &d->t);
    if (st_conn_alive(r, d->conn, d->conn_id) && r->conns[d->conn].inflight)
        r->conns[d->conn].inflight--;
    free(d->req);
    d->req = NULL;
    d->state = DX_FREE;
    d->up = ST_NONE;
    d->fnext = r->dx_free;
    r->dx_free = i;
    r->dx_used--;
}

int st_dx_answer(struct st_relay *r, uint32_t i, struct coap_msg *resp, bool final, uint64_t now)
{
    struct st_dx *d = &r->dx[i];
    (void)now;

    resp->tkl = d->tkl;
    memcpy(resp->token, d->token, d->tkl);
    int rc = st_conn_send_msg(r, d->conn, resp);
    if (rc < 0 && st_conn_alive(r, d->conn, d->conn_id)) {
        /* larger than the client's Max-Message-Size: say so instead */
        struct coap_msg e;
        static const char why[] = "response exceeds the client's Max-Message-Size";
        coap_msg_init(&e);
        e.code = COAP_BAD_GATEWAY;
        e.tkl = d->tkl;
        memcpy(e.token, d->token, d->tkl);
        e.payload = (const uint8_t *)why;
        e.payload_len = sizeof(why) - 1;
        st_conn_send_msg(r, d->conn, &e);
        final = true;
    }
    if (final || rc < 0)
        st_dx_release(r, i);
    else
        d->state = DX_OBSERVE;
    return rc;
}

int st_dx_answer_local(struct st_relay *r, uint32_t i, uint8_t code, const char *payload,
                       uint64_t now)
{
    struct coap_msg m;

    coap_msg_init(&m);
    m.code = code;
    if (payload && *payload) {
        m.payload = (const uint8_t *)payload;
        m.payload_len = strlen(payload);
    }
    return st_dx_answer(r, i, &m, true, now);
}

/* ---- upstream ---- */

uint32_t st_ux_alloc(struct st_relay *r)
{
    uint32_t i = rc_ux_take(&r->core);
    if (i != ST_NONE) {
        r->ux[i].conn = ST_NONE;
        r->ux[i].conn_id = 0;
        r->ux[i].obs_len = 0;
    }
    return i;
}

void st_ux_release(struct st_relay *r, uint32_t i)
{
    if (r->ux[i].h.state == UX_FREE)
        return;
    th_cancel(&r->core.timers, &r->ux[i].t);
    rc_ux_put(&r->core, i);
}

/* ---- timers ---- */

void st_exch_on_timer(struct st_relay *r, struct rr_timer *t, uint64_t now)
{
    uint32_t i = t->owner;

    switch (t->kind) {
    case ST_T_CONN:
        st_sig_on_timer(r, i, now);
        break;
    case ST_T_DX: {
        struct st_dx *d = &r->dx[i];
        if (d->state == DX_FREE)
            break;
        if (d->kind == DX_K_RD) {
            st_rd_resend(r, i, now);
        } else if (d->kind == DX_K_XFWD && d->state == DX_WAIT) {
            /* the holder never answered: give up and tell it so */
            rc_xfwd_send_cancel(&r->core, d->xpeer, d->req_id);
            r->core.c.proxy_5_04++;
            st_dx_answer_local(r, i, COAP_GATEWAY_TIMEOUT, "endpoint did not answer", now);
        }
        break;
    }
    case ST_T_UX:
        st_proxy_on_upstream_fail(r, i, COAP_GATEWAY_TIMEOUT, "endpoint did not answer", now);
        break;
    default:
        if (t->kind >= ST_T_IO && r->io->on_timer)
            r->io->on_timer(r->ioa, t, now);
        else
            log_warnx("unknown timer kind %u", t->kind);
        break;
    }
}
