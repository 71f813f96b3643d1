/*
 * rd_path.c - RD traffic through relay-tcp (the RD routing half; proxy.c is
 * the other). Owns the RD request copies of the exchanges it marks DX_K_RD
 * and each connection's list of RD observations.
 *   client request for the RD -> RD_REQUEST(req_id, peer{tcp, "tcp", remote,
 *     local, conn_id}, coap in datagram framing), re-sent every second while
 *     unanswered (up to 60 s) so an rd-frontend restart never fails a
 *     registration; RD_RESPONSE goes back on the connection under the
 *     request's token (TCP: no empty ACK, no separate response);
 *   RD_NOTIFY -> a notification on the observer's connection; a connection
 *     that is gone (or closes later) -> OBSERVE_GONE;
 *   EP_REQUEST whose path is one of our connections -> the request goes to
 *     the registrant over it; its answer -> EP_RESPONSE.
 * Talks to ctl.c (sending to rd-frontend), exch.c, proxy.c, conn.c.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tcp_relay.h"

#define RD_ENVELOPE 512

static void rd_send_request(struct rt_relay *r, uint32_t i)
{
    struct rt_dx *d = &r->dx[i];
    struct wire_w w;
    struct rr_peer p;

    if (!rt_conn_alive(r, d->conn, d->conn_id))
        return;
    rt_conn_peer(r, d->conn, &p);
    wire_w_init(&w, r->txbuf, RT_TXBUF_SIZE);
    wire_put_u64(&w, d->req_id);
    proto_put_peer(&w, &p);
    wire_put_bytes(&w, d->req, d->req_len);
    if (w.err) {
        log_warnx("RD_REQUEST does not fit");
        return;
    }
    rt_ctl_send(r, RR_MSG_RD_REQUEST, r->txbuf, w.len);
}

void rt_rd_on_request(struct rt_relay *r, uint32_t i, const struct coap_msg *m, uint64_t now)
{
    struct rt_dx *d = &r->dx[i];
    uint8_t *tmp = malloc(RT_MAX_MSG + 16);

    d->kind = DX_K_RD;
    if (!tmp) {
        rt_dx_answer_local(r, i, COAP_SERVICE_UNAVAILABLE, "out of memory", now);
        return;
    }
    ssize_t n = rt_to_datagram(m, tmp, RT_MAX_MSG + 16);
    if (n < 0) {
        free(tmp);
        rt_dx_answer_local(r, i, COAP_TOO_LARGE, "request too large", now);
        return;
    }
    uint8_t *shrunk = realloc(tmp, (size_t)n);
    d->req = shrunk ? shrunk : tmp;
    d->req_len = (uint32_t)n;
    /* high half: a per-request counter from a random start (unique across
     * relay restarts for rd-frontend's dedup cache); low half: the slot */
    d->req_id = (uint64_t)(++r->rd_seq) << 32 | i;
    r->c.rd_requests++;
    rd_send_request(r, i);
    th_arm(&r->timers, &d->t, now + RT_RD_RESEND_MS);
}

void rt_rd_resend(struct rt_relay *r, uint32_t i, uint64_t now)
{
    struct rt_dx *d = &r->dx[i];

    if (d->state != DX_WAIT || d->kind != DX_K_RD)
        return;
    if (now - d->start_ms >= RT_RD_GIVEUP_MS) {
        r->c.rd_giveups++;
        log_warnx("no answer from rd-frontend for req %llx after %u s",
                  (unsigned long long)d->req_id, RT_RD_GIVEUP_MS / 1000);
        rt_dx_answer_local(r, i, COAP_SERVICE_UNAVAILABLE, "resource directory unavailable", now);
        return;
    }
    r->c.rd_resends++;
    rd_send_request(r, i);
    th_arm(&r->timers, &d->t, now + RT_RD_RESEND_MS);
}

/* ---- RD observations per connection (for OBSERVE_GONE on close) ---- */

static int obs_find(const struct rt_conn *c, const uint8_t *tok, uint8_t tkl)
{
    for (unsigned k = 0; k < c->nobs; k++)
        if (c->obs[k][0] == tkl && memcmp(c->obs[k] + 1, tok, tkl) == 0)
            return (int)k;
    return -1;
}

static void obs_add(struct rt_conn *c, const uint8_t *tok, uint8_t tkl)
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

static void obs_del(struct rt_conn *c, const uint8_t *tok, uint8_t tkl)
{
    int k = obs_find(c, tok, tkl);
    if (k < 0)
        return;
    c->nobs--;
    memmove(c->obs[k], c->obs[c->nobs], sizeof(c->obs[0]));
}

static void send_observe_gone(struct rt_relay *r, const struct rr_peer *p, const uint8_t *tok,
                              uint8_t tkl)
{
    uint8_t body[256];
    struct wire_w w;

    wire_w_init(&w, body, sizeof(body));
    proto_put_peer(&w, p);
    wire_put_bytes(&w, tok, tkl);
    if (!w.err)
        rt_ctl_send(r, RR_MSG_OBSERVE_GONE, body, w.len);
}

void rt_rd_conn_gone(struct rt_relay *r, uint32_t ci)
{
    struct rt_conn *c = &r->conns[ci];
    struct rr_peer p;

    rt_conn_peer(r, ci, &p);
    for (unsigned k = 0; k < c->nobs; k++)
        send_observe_gone(r, &p, c->obs[k] + 1, c->obs[k][0]);
    c->nobs = 0;
}

/* Does this response keep an observation alive (RFC 7641: 2.xx + Observe)? */
static bool is_notification(const struct coap_msg *m)
{
    return COAP_CODE_CLASS(m->code) == 2 && coap_msg_find(m, COAP_OPT_OBSERVE) != NULL;
}

void rt_rd_on_response(struct rt_relay *r, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r rd;
    const uint8_t *coap;
    struct coap_msg m;

    wire_r_init(&rd, body, len);
    uint64_t req_id = wire_get_u64(&rd);
    size_t n = wire_get_bytes(&rd, &coap);
    if (rd.err || coap_msg_parse_udp(coap, n, &m) < 0) {
        log_warnx("malformed RD_RESPONSE dropped");
        return;
    }
    uint32_t i = (uint32_t)req_id;
    if (i >= r->ndx || r->dx[i].state != DX_WAIT || r->dx[i].kind != DX_K_RD ||
        r->dx[i].req_id != req_id)
        return; /* an answer to a re-sent request we already delivered */
    struct rt_dx *d = &r->dx[i];
    r->c.rd_responses++;
    if (is_notification(&m) && rt_conn_alive(r, d->conn, d->conn_id))
        obs_add(&r->conns[d->conn], d->token, d->tkl);
    else if (rt_conn_alive(r, d->conn, d->conn_id))
        obs_del(&r->conns[d->conn], d->token, d->tkl);
    rt_dx_answer(r, i, &m, true, now);
}

void rt_rd_on_notify(struct rt_relay *r, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r rd;
    struct rr_peer p;
    const uint8_t *coap;
    struct coap_msg m;
    (void)now;

    wire_r_init(&rd, body, len);
    proto_get_peer(&rd, &p);
    (void)wire_get_u8(&rd); /* confirmable: TCP is reliable */
    size_t n = wire_get_bytes(&rd, &coap);
    if (rd.err || coap_msg_parse_udp(coap, n, &m) < 0 || p.transport != RR_TRANSPORT_TCP) {
        log_warnx("malformed RD_NOTIFY dropped");
        return;
    }
    uint32_t ci = rt_conn_find(r, p.conn_id);
    if (ci == RT_NONE) {
        /* the observer's connection is gone: the observation is over */
        send_observe_gone(r, &p, m.token, m.tkl);
        return;
    }
    r->c.rd_notify++;
    if (is_notification(&m))
        obs_add(&r->conns[ci], m.token, m.tkl);
    else
        obs_del(&r->conns[ci], m.token, m.tkl);
    if (rt_conn_send_msg(r, ci, &m) < 0 && rt_conn_alive(r, ci, p.conn_id)) {
        /* too large for this client: end the observation */
        obs_del(&r->conns[ci], m.token, m.tkl);
        send_observe_gone(r, &p, m.token, m.tkl);
    }
}

void rt_rd_ep_answer(struct rt_relay *r, uint32_t ui, uint8_t status, const struct coap_msg *m)
{
    struct rt_ux *u = &r->ux[ui];
    uint8_t resp[RT_MAX_MSG + 16];
    struct wire_w w;
    ssize_t n = 0;

    if (status == RR_EP_OK) {
        /* rd-frontend sees its own token again */
        struct coap_msg a = *m;
        a.tkl = u->ep_tkl;
        memcpy(a.token, u->ep_token, u->ep_tkl);
        a.type = COAP_T_ACK;
        a.msgid = 0;
        n = coap_msg_serialize_udp(&a, resp, sizeof(resp));
        if (n < 0) {
            status = RR_EP_UNREACHABLE;
            n = 0;
        }
    }
    wire_w_init(&w, r->txbuf, RT_TXBUF_SIZE);
    wire_put_u64(&w, u->req_id);
    wire_put_u8(&w, status);
    wire_put_bytes(&w, resp, (size_t)n);
    if (!w.err)
        rt_ctl_send(r, RR_MSG_EP_RESPONSE, r->txbuf, w.len);
}

void rt_rd_on_ep_request(struct rt_relay *r, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r rd;
    struct rr_peer path;
    const uint8_t *coap;
    struct coap_msg m;

    wire_r_init(&rd, body, len);
    uint64_t req_id = wire_get_u64(&rd);
    proto_get_peer(&rd, &path);
    size_t n = wire_get_bytes(&rd, &coap);
    if (rd.err || coap_msg_parse_udp(coap, n, &m) < 0 || COAP_CODE_CLASS(m.code) != 0 ||
        m.code == 0) {
        log_warnx("malformed EP_REQUEST dropped");
        return;
    }
    r->c.ep_requests++;
    uint32_t ui = rt_ux_alloc(r);
    if (ui == RT_NONE) {
        r->c.no_slot++;
        return; /* rd-frontend times out and retries */
    }
    struct rt_ux *u = &r->ux[ui];
    u->origin = UX_O_EP;
    u->req_id = req_id;
    u->ep_tkl = m.tkl;
    memcpy(u->ep_token, m.token, m.tkl);
    uint32_t ci = path.transport == RR_TRANSPORT_TCP ? rt_conn_find(r, path.conn_id) : RT_NONE;
    if (ci == RT_NONE || rt_ux_send_request(r, ui, &m, ci, now) < 0) {
        rt_rd_ep_answer(r, ui, RR_EP_UNREACHABLE, NULL);
        rt_ux_release(r, ui);
        return;
    }
    th_arm(&r->timers, &u->t, now + r->cfg.upstream_timeout_ms);
}
