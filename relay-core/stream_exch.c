/*
 * stream_exch.c - a stream relay's exchange state. RFC 8323 is reliable and
 * has no message layer (RFC 8323 §3), so an exchange is only the
 * request/response pairing. Owns the arrays of downstream exchanges (a
 * client's request on a connection: where its answer goes, under the
 * client's token) and upstream exchanges (a request we sent to a registrant
 * over its connection under a relay token = slot + check value), both sized
 * once from max_exchanges; their slots, token check values and exchange
 * timers are the relay core's (relay-core/dxpool.c, uxpool.c). Here: what a
 * connection adds (in-flight limit, the RD request copy) and the answer on
 * the connection. Talks to the core, stream_conn.c (sending answers).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stream.h"

int st_exch_init(struct st_relay *r)
{
    /* one timer per exchange (the core's), one per connection */
    if (rc_exch_alloc(&r->core, r->cfg.max_exchanges, sizeof(*r->dx), sizeof(*r->ux), 1,
                      r->nconns_max + 16) < 0)
        return -1;
    r->dx = (struct st_dx *)(void *)r->core.dx.base;
    r->ux = (struct st_ux *)(void *)r->core.ux.base;
    r->ndx = r->core.dx.n;
    r->nux = r->core.ux.n;
    for (uint32_t i = 0; i < r->nux; i++)
        r->ux[i].conn = ST_NONE;
    return 0;
}

void st_exch_free(struct st_relay *r)
{
    if (r->dx)
        for (uint32_t i = 0; i < r->ndx; i++)
            free(r->dx[i].req);
    rc_exch_free(&r->core);
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

    if (c->inflight >= r->lim.max_inflight)
        return ST_NONE;
    uint32_t i = rc_dx_take(&r->core, req, now);
    if (i == ST_NONE)
        return ST_NONE;
    struct st_dx *d = &r->dx[i];
    d->h.kind = DX_K_RD;
    d->conn = ci;
    d->conn_id = c->id;
    d->req = NULL;
    d->req_len = 0;
    c->inflight++;
    return i;
}

void st_dx_release(struct st_relay *r, uint32_t i)
{
    struct st_dx *d = &r->dx[i];
    if (d->h.state == DX_FREE)
        return;
    if (st_conn_alive(r, d->conn, d->conn_id) && r->conns[d->conn].inflight)
        r->conns[d->conn].inflight--;
    free(d->req);
    d->req = NULL;
    rc_dx_put(&r->core, i); /* and its timer */
}

int st_dx_answer(struct st_relay *r, uint32_t i, struct coap_msg *resp, bool final, uint64_t now)
{
    struct st_dx *d = &r->dx[i];
    (void)now;

    resp->tkl = d->h.tkl;
    memcpy(resp->token, d->h.token, d->h.tkl);
    int rc = st_conn_send_msg(r, d->conn, resp);
    if (rc < 0 && st_conn_alive(r, d->conn, d->conn_id)) {
        /* larger than the client's Max-Message-Size: say so instead */
        struct coap_msg e;
        static const char why[] = "response exceeds the client's Max-Message-Size";
        coap_msg_init(&e);
        e.code = COAP_BAD_GATEWAY;
        e.tkl = d->h.tkl;
        memcpy(e.token, d->h.token, d->h.tkl);
        e.payload = (const uint8_t *)why;
        e.payload_len = sizeof(why) - 1;
        st_conn_send_msg(r, d->conn, &e);
        final = true;
    }
    if (final || rc < 0)
        st_dx_release(r, i);
    else
        d->h.state = DX_OBSERVE;
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

void st_ux_release(void *tp, uint32_t i)
{
    struct st_relay *r = tp;
    struct st_ux *u = &r->ux[i];
    if (u->h.state == UX_FREE)
        return;
    u->conn = ST_NONE;
    u->conn_id = 0;
    u->obs_len = 0;
    rc_ux_put(&r->core, i); /* and its timeout */
}

/* ---- timers ---- */

void st_exch_on_timer(struct st_relay *r, struct rr_timer *t, uint64_t now)
{
    /* the exchanges' timers are the core's (rc_on_timer): only the
     * connections' signalling deadlines and the transport's own come here */
    if (t->kind == ST_T_CONN)
        st_sig_on_timer(r, t->owner, now);
    else if (t->kind == ST_T_HANDOFF)
        rc_handoff_on_timer(&r->hand, now);
    else if (t->kind >= ST_T_IO && r->io->on_timer)
        r->io->on_timer(r->ioa, t, now);
    else
        log_warnx("unknown timer kind %u", t->kind);
}
