/*
 * rd.c - the RD path's protocol in the relay core (core.h), one copy for
 * every transport:
 *   a client's request for the RD -> RD_REQUEST(req_id, peer, coap), which
 *     the transport re-sends every RC_RD_RESEND_MS while unanswered, for up
 *     to RC_RD_GIVEUP_MS (rc_rd_resend_due decides and counts), so an
 *     rd-frontend restart never fails a registration;
 *   RD_RESPONSE, RD_NOTIFY and EP_REQUEST from rd-frontend are decoded and
 *     checked here and handed to the transport (rd_response, rd_notify,
 *     ep_request callbacks), which owns the exchanges;
 *   EP_RESPONSE and OBSERVE_GONE are encoded here.
 * Owns nothing; talks to ctl.c (sending) and the transport.
 */
#include <string.h>

#include "core.h"
#include "log.h"
#include "proto_msg.h"

/* A CoAP message in datagram framing with a sound header and token. */
static bool coap_raw_ok(const uint8_t *b, size_t n)
{
    return n >= 4 && (b[0] >> 6) == 1 && (b[0] & 0x0f) <= COAP_MSG_MAX_TOKEN &&
           (size_t)4 + (b[0] & 0x0f) <= n;
}

void rc_peer_make(const struct relay_core *c, const struct rr_addr *remote,
                  const struct rr_addr *local, uint64_t conn_id, struct rr_peer *p)
{
    memset(p, 0, sizeof(*p));
    p->transport = c->tp->transport;
    snprintf(p->relay, sizeof(p->relay), "%s", c->name);
    p->remote = *remote;
    p->local = *local;
    p->conn_id = conn_id;
}

void rc_rd_send_request(struct relay_core *c, uint64_t req_id, const struct rr_peer *p,
                        const uint8_t *coap, size_t n)
{
    struct wire_w w;
    struct rr_msg_rd_request m = {.req_id = req_id, .peer = *p, .coap = {coap, n}};

    wire_w_init(&w, c->txbuf, RR_PROTO_MAX_BODY);
    if (proto_enc_rd_request(&w, &m) < 0) {
        log_warnx("RD_REQUEST does not fit");
        return;
    }
    rc_ctl_send(c, RR_MSG_RD_REQUEST, c->txbuf, w.len);
}

int rc_rd_resend_due(struct relay_core *c, uint64_t req_id, uint64_t start_ms, uint64_t now)
{
    if (now - start_ms >= RC_RD_GIVEUP_MS) {
        c->c.rd_giveups++;
        log_warnx("no answer from rd-frontend for req %llx after %u s", (unsigned long long)req_id,
                  RC_RD_GIVEUP_MS / 1000);
        return -1;
    }
    c->c.rd_resends++;
    return 0;
}

void rc_send_observe_gone(struct relay_core *c, const struct rr_peer *p, const uint8_t *tok,
                          size_t tkl)
{
    uint8_t body[256];
    struct wire_w w;
    struct rr_msg_observe_gone m = {.peer = *p, .token = {tok, tkl}};

    wire_w_init(&w, body, sizeof(body));
    if (proto_enc_observe_gone(&w, &m) == 0)
        rc_ctl_send_oneshot(c, RR_MSG_OBSERVE_GONE, body, w.len);
}

void rc_send_ep_response(struct relay_core *c, uint64_t req_id, uint8_t status, const uint8_t *coap,
                         size_t n)
{
    struct wire_w w;
    struct rr_msg_ep_response m = {.req_id = req_id, .status = status, .coap = {coap, n}};

    wire_w_init(&w, c->txbuf, RR_PROTO_MAX_BODY);
    if (proto_enc_ep_response(&w, &m) == 0)
        rc_ctl_send_oneshot(c, RR_MSG_EP_RESPONSE, c->txbuf, w.len);
}

void rc_rd_on_response(struct relay_core *c, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r rd;
    struct rr_msg_rd_response m;

    wire_r_init(&rd, body, len);
    if (proto_dec_rd_response(&rd, &m) < 0 || !coap_raw_ok(m.coap.p, m.coap.len)) {
        log_warnx("malformed RD_RESPONSE dropped");
        return;
    }
    c->c.resp[RC_RESP_RD][m.coap.p[1]]++;
    uint32_t i = rc_req_slot(m.req_id);
    const struct rc_dx *d = i < c->dx.n ? rc_dx_at(c, i) : NULL;
    if (d == NULL || d->state != RC_DX_WAIT || d->kind != RC_DX_K_RD || d->req_id != m.req_id)
        return; /* an answer to a re-sent request already delivered */
    c->c.rd_responses++;
    if (c->tp->rd_response)
        c->tp->rd_response(c->tpa, i, m.req_id, m.coap.p, m.coap.len, now);
}

void rc_rd_on_notify(struct relay_core *c, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r rd;
    struct rr_msg_rd_notify m;

    wire_r_init(&rd, body, len);
    if (proto_dec_rd_notify(&rd, &m) < 0 || !coap_raw_ok(m.coap.p, m.coap.len)) {
        log_warnx("malformed RD_NOTIFY dropped");
        return;
    }
    addr_normalise(&m.peer.remote);
    addr_normalise(&m.peer.local);
    if (m.peer.transport != c->tp->transport) {
        log_warnx("RD_NOTIFY for a peer not on this relay dropped");
        return;
    }
    if (c->tp->rd_notify)
        c->tp->rd_notify(c->tpa, &m.peer, m.confirmable != 0, m.coap.p, m.coap.len, now);
}

void rc_rd_on_ep_request(struct relay_core *c, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r rd;
    struct rr_msg_ep_request q;
    struct coap_msg m;

    wire_r_init(&rd, body, len);
    if (proto_dec_ep_request(&rd, &q) < 0 || coap_msg_parse_udp(q.coap.p, q.coap.len, &m) < 0 ||
        COAP_CODE_CLASS(m.code) != 0 || m.code == 0) {
        log_warnx("malformed EP_REQUEST dropped");
        return;
    }
    c->c.ep_requests++;
    addr_normalise(&q.path.remote);
    addr_normalise(&q.path.local);
    if (c->tp->ep_request)
        c->tp->ep_request(c->tpa, q.req_id, &q.path, &m, now);
    else if (c->tp->ux_send)
        rc_ux_on_ep_request(c, q.req_id, &q.path, &m, now);
}
