/*
 * stream_rd.c - RD traffic through a stream relay (the RD routing half; stream_proxy.c is
 * the other). Owns the RD request copies of the exchanges it marks DX_K_RD
 * and each connection's list of RD observations.
 *   client request for the RD -> RD_REQUEST(req_id, peer{tcp|ws, relay name, remote,
 *     local, conn_id}, coap in datagram framing), re-sent every second while
 *     unanswered (up to 60 s) so an rd-frontend restart never fails a
 *     registration; RD_RESPONSE goes back on the connection under the
 *     request's token (RFC 8323: no empty ACK, no separate response);
 *   RD_NOTIFY -> a notification on the observer's connection; a connection
 *     that is gone (or closes later) -> OBSERVE_GONE;
 *   EP_REQUEST whose path is one of our connections -> the request goes to
 *     the registrant over it; its answer -> EP_RESPONSE.
 * The protocol (encoding, decoding, ids, re-send verdicts) is the relay
 * core's (relay-core/rd.c); here is what connections add.
 * Talks to the core, stream_exch.c, stream_proxy.c, stream_conn.c.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stream.h"

static void rd_send_request(struct st_relay *r, uint32_t i)
{
    struct st_dx *d = &r->dx[i];
    struct rr_peer p;

    if (!st_conn_alive(r, d->conn, d->conn_id))
        return;
    st_conn_peer(r, d->conn, &p);
    rc_rd_send_request(&r->core, d->req_id, &p, d->req, d->req_len);
}

void st_rd_on_request(void *tp, uint32_t i, struct coap_msg *m, const uint8_t *raw, size_t rawlen,
                      uint64_t now)
{
    struct st_relay *r = tp;
    (void)raw; /* stream framing: m is re-framed as a datagram for rd-frontend */
    (void)rawlen;
    struct st_dx *d = &r->dx[i];
    size_t cap = (size_t)r->lim.max_message + 16;
    uint8_t *tmp = malloc(cap);

    d->kind = DX_K_RD;
    if (!tmp) {
        st_dx_answer_local(r, i, COAP_SERVICE_UNAVAILABLE, "out of memory", now);
        return;
    }
    ssize_t n = st_to_datagram(m, tmp, cap);
    if (n < 0) {
        free(tmp);
        st_dx_answer_local(r, i, COAP_TOO_LARGE, "request too large", now);
        return;
    }
    uint8_t *shrunk = realloc(tmp, (size_t)n);
    d->req = shrunk ? shrunk : tmp;
    d->req_len = (uint32_t)n;
    d->req_id = rc_rd_req_id(&r->core, i);
    r->core.c.rd_requests++;
    rd_send_request(r, i);
    th_arm(&r->core.timers, &d->t, now + RC_RD_RESEND_MS);
}

void st_rd_resend(struct st_relay *r, uint32_t i, uint64_t now)
{
    struct st_dx *d = &r->dx[i];

    if (d->state != DX_WAIT || d->kind != DX_K_RD)
        return;
    if (rc_rd_resend_due(&r->core, d->req_id, d->start_ms, now) < 0) {
        st_dx_answer_local(r, i, COAP_SERVICE_UNAVAILABLE, "resource directory unavailable", now);
        return;
    }
    rd_send_request(r, i);
    th_arm(&r->core.timers, &d->t, now + RC_RD_RESEND_MS);
}

/* ---- RD observations per connection (for OBSERVE_GONE on close) ---- */

static int obs_find(const struct st_conn *c, const uint8_t *tok, uint8_t tkl)
{
    for (unsigned k = 0; k < c->nobs; k++)
        if (c->obs[k][0] == tkl && memcmp(c->obs[k] + 1, tok, tkl) == 0)
            return (int)k;
    return -1;
}

static void obs_add(struct st_conn *c, const uint8_t *tok, uint8_t tkl)
{
    if (obs_find(c, tok, tkl) >= 0 || c->nobs >= 1024)
        return;
    void *p = realloc(c->obs, (c->nobs + 1u) * sizeof(c->obs[0]));
    if (!p)
        return;
    c->obs = p;
    c->obs[c->nobs][0] = tkl;
    memcpy(c->obs[c->nobs] + 1, tok, tkl);
    c->nobs++;
}

static void obs_del(struct st_conn *c, const uint8_t *tok, uint8_t tkl)
{
    int k = obs_find(c, tok, tkl);
    if (k < 0)
        return;
    c->nobs--;
    memmove(c->obs[k], c->obs[c->nobs], sizeof(c->obs[0]));
}

static void send_observe_gone(struct st_relay *r, const struct rr_peer *p, const uint8_t *tok,
                              uint8_t tkl)
{
    rc_send_observe_gone(&r->core, p, tok, tkl);
}

void st_rd_conn_gone(struct st_relay *r, uint32_t ci)
{
    struct st_conn *c = &r->conns[ci];
    struct rr_peer p;

    st_conn_peer(r, ci, &p);
    for (unsigned k = 0; k < c->nobs; k++)
        send_observe_gone(r, &p, c->obs[k] + 1, c->obs[k][0]);
    c->nobs = 0;
}

/* Does this response keep an observation alive (RFC 7641: 2.xx + Observe)? */
static bool is_notification(const struct coap_msg *m)
{
    return COAP_CODE_CLASS(m->code) == 2 && coap_msg_find(m, COAP_OPT_OBSERVE) != NULL;
}

void st_rd_on_response(void *tp, uint32_t i, uint64_t req_id, const uint8_t *coap, size_t n,
                       uint64_t now)
{
    struct st_relay *r = tp;
    struct coap_msg m;

    if (coap_msg_parse_udp(coap, n, &m) < 0) {
        log_warnx("malformed RD_RESPONSE dropped");
        return;
    }
    if (i >= r->ndx || r->dx[i].state != DX_WAIT || r->dx[i].kind != DX_K_RD ||
        r->dx[i].req_id != req_id)
        return; /* an answer to a re-sent request we already delivered */
    struct st_dx *d = &r->dx[i];
    r->core.c.rd_responses++;
    if (is_notification(&m) && st_conn_alive(r, d->conn, d->conn_id))
        obs_add(&r->conns[d->conn], d->token, d->tkl);
    else if (st_conn_alive(r, d->conn, d->conn_id))
        obs_del(&r->conns[d->conn], d->token, d->tkl);
    st_dx_answer(r, i, &m, true, now);
}

void st_rd_on_notify(void *tp, const struct rr_peer *pp, bool confirmable, const uint8_t *coap,
                     size_t n, uint64_t now)
{
    struct st_relay *r = tp;
    struct rr_peer p = *pp;
    struct coap_msg m;
    (void)now;
    (void)confirmable; /* RFC 8323 is reliable */

    if (coap_msg_parse_udp(coap, n, &m) < 0) {
        log_warnx("malformed RD_NOTIFY dropped");
        return;
    }
    uint32_t ci = st_conn_find(r, p.conn_id);
    if (ci == ST_NONE) {
        /* the observer's connection is gone: the observation is over */
        send_observe_gone(r, &p, m.token, m.tkl);
        return;
    }
    r->core.c.rd_notify++;
    if (is_notification(&m))
        obs_add(&r->conns[ci], m.token, m.tkl);
    else
        obs_del(&r->conns[ci], m.token, m.tkl);
    if (st_conn_send_msg(r, ci, &m) < 0 && st_conn_alive(r, ci, p.conn_id)) {
        /* too large for this client: end the observation */
        obs_del(&r->conns[ci], m.token, m.tkl);
        send_observe_gone(r, &p, m.token, m.tkl);
    }
}

void st_rd_ep_answer(struct st_relay *r, uint32_t ui, uint8_t status, const struct coap_msg *m)
{
    struct st_ux *u = &r->ux[ui];
    uint8_t *resp = r->core.coapbuf;
    ssize_t n = 0;

    if (status == RR_EP_OK) {
        /* rd-frontend sees its own token again */
        struct coap_msg a = *m;
        a.tkl = u->h.ep_tkl;
        memcpy(a.token, u->h.ep_token, u->h.ep_tkl);
        a.type = COAP_T_ACK;
        a.msgid = 0;
        n = coap_msg_serialize_udp(&a, resp, RC_COAP_MAX);
        if (n < 0) {
            status = RR_EP_UNREACHABLE;
            n = 0;
        }
    }
    rc_send_ep_response(&r->core, u->h.req_id, status, resp, (size_t)n);
}

void st_rd_on_ep_request(void *tp, uint64_t req_id, const struct rr_peer *path, struct coap_msg *m,
                         uint64_t now)
{
    struct st_relay *r = tp;
    uint32_t ui = st_ux_alloc(r);
    if (ui == ST_NONE) {
        r->core.c.no_slot++;
        return; /* rd-frontend times out and retries */
    }
    struct st_ux *u = &r->ux[ui];
    u->h.origin = UX_O_EP;
    u->h.req_id = req_id;
    u->h.ep_tkl = m->tkl;
    memcpy(u->h.ep_token, m->token, m->tkl);
    uint32_t ci = path->transport == r->tp.transport ? st_conn_find(r, path->conn_id) : ST_NONE;
    if (ci == ST_NONE || st_ux_send_request(r, ui, m, ci, now) < 0) {
        st_rd_ep_answer(r, ui, RR_EP_UNREACHABLE, NULL);
        st_ux_release(r, ui);
        return;
    }
    th_arm(&r->core.timers, &u->t, now + r->cfg.upstream_timeout_ms);
}
