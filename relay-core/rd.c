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

    wire_w_init(&w, c->txbuf, RR_PROTO_MAX_BODY);
    wire_put_u64(&w, req_id);
    proto_put_peer(&w, p);
    wire_put_bytes(&w, coap, n);
    if (w.err) {
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

    wire_w_init(&w, body, sizeof(body));
    proto_put_peer(&w, p);
    wire_put_bytes(&w, tok, tkl);
    if (!w.err)
        rc_ctl_send(c, RR_MSG_OBSERVE_GONE, body, w.len);
}

void rc_send_ep_response(struct relay_core *c, uint64_t req_id, uint8_t status, const uint8_t *coap,
                         size_t n)
{
    struct wire_w w;

    wire_w_init(&w, c->txbuf, RR_PROTO_MAX_BODY);
    wire_put_u64(&w, req_id);
    wire_put_u8(&w, status);
    wire_put_bytes(&w, coap, n);
    if (!w.err)
        rc_ctl_send(c, RR_MSG_EP_RESPONSE, c->txbuf, w.len);
}

void rc_rd_on_response(struct relay_core *c, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r rd;
    const uint8_t *coap;

    wire_r_init(&rd, body, len);
    uint64_t req_id = wire_get_u64(&rd);
    size_t n = wire_get_bytes(&rd, &coap);
    if (rd.err || !coap_raw_ok(coap, n)) {
        log_warnx("malformed RD_RESPONSE dropped");
        return;
    }
    if (c->tp->rd_response)
        c->tp->rd_response(c->tpa, rc_req_slot(req_id), req_id, coap, n, now);
}

void rc_rd_on_notify(struct relay_core *c, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r rd;
    struct rr_peer p;
    const uint8_t *coap;

    wire_r_init(&rd, body, len);
    proto_get_peer(&rd, &p);
    uint8_t confirmable = wire_get_u8(&rd);
    size_t n = wire_get_bytes(&rd, &coap);
    if (rd.err || !coap_raw_ok(coap, n)) {
        log_warnx("malformed RD_NOTIFY dropped");
        return;
    }
    addr_normalise(&p.remote);
    addr_normalise(&p.local);
    if (p.transport != c->tp->transport) {
        log_warnx("RD_NOTIFY for a peer not on this relay dropped");
        return;
    }
    if (c->tp->rd_notify)
        c->tp->rd_notify(c->tpa, &p, confirmable != 0, coap, n, now);
}

void rc_rd_on_ep_request(struct relay_core *c, const uint8_t *body, size_t len, uint64_t now)
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
    c->c.ep_requests++;
    addr_normalise(&path.remote);
    addr_normalise(&path.local);
    if (c->tp->ep_request)
        c->tp->ep_request(c->tpa, req_id, &path, &m, now);
}
