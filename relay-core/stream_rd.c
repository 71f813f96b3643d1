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
 *   (EP_REQUEST is the core's, relay-core/answer.c, over the transport's
 *     ux_send: the registrant's connection.)
 * The protocol (encoding, decoding, ids, re-send verdicts and timer) is the
 * relay core's (relay-core/rd.c, dxpool.c); here is what
 * connections add.
 * Talks to the core, stream_exch.c, stream_proxy.c, stream_conn.c.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stream.h"

void st_rd_send(void *tp, uint32_t i)
{
    struct st_relay *r = tp;
    struct st_dx *d = &r->dx[i];
    struct rr_peer p;

    if (!st_conn_alive(r, d->conn, d->conn_id))
        return;
    st_conn_peer(r, d->conn, &p);
    rc_rd_send_request(&r->core, d->h.req_id, &p, d->req, d->req_len);
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

    d->h.kind = DX_K_RD;
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
    rc_dx_rd_start(&r->core, i, now); /* RD_REQUEST, re-sent until answered */
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
    (void)req_id; /* the core matched it to slot i */

    if (coap_msg_parse_udp(coap, n, &m) < 0) {
        log_warnx("malformed RD_RESPONSE dropped");
        return;
    }
    struct st_dx *d = &r->dx[i];
    if (is_notification(&m) && st_conn_alive(r, d->conn, d->conn_id))
        obs_add(&r->conns[d->conn], d->h.token, d->h.tkl);
    else if (st_conn_alive(r, d->conn, d->conn_id))
        obs_del(&r->conns[d->conn], d->h.token, d->h.tkl);
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
