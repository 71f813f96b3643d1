/*
 * rd_path.c - RD traffic through relay-udp (the RD routing half; proxy.c is
 * the other). Owns nothing beyond the exchanges it marks DX_K_RD/NOTIFY.
 *   client request for the RD -> RD_REQUEST(req_id, peer, coap), re-sent
 *     every second while unanswered (up to 60 s) so an rd-frontend restart
 *     never fails a registration (rd-frontend dedups req_ids);
 *   RD_RESPONSE -> piggybacked or separate response (exchange.c decides);
 *   RD_NOTIFY -> a CON (retransmitted) or NON notification to the client;
 *     RST or exhaustion -> OBSERVE_GONE;
 *   EP_REQUEST -> a request to an endpoint over its path (proxy.c's code),
 *     answered with EP_RESPONSE.
 * Talks to ctl.c (sending to rd-frontend), exchange.c, proxy.c.
 */
#include <string.h>

#include "log.h"
#include "proxy_rules.h"
#include "relay.h"

#define RD_BODY_MAX (COAP_MSG_MAX_UDP + 512)

static void peer_of(const struct relay *r, const struct dexch *d, struct rr_peer *p)
{
    (void)r;
    memset(p, 0, sizeof(*p));
    p->transport = RR_TRANSPORT_UDP;
    snprintf(p->relay, sizeof(p->relay), "%s", RU_RELAY_NAME);
    p->remote = d->peer;
    p->local = d->local;
    p->conn_id = 0;
}

static void rd_send_request(struct relay *r, uint32_t i)
{
    struct dexch *d = &r->dx[i];
    uint8_t body[RD_BODY_MAX];
    struct wire_w w;
    struct rr_peer p;

    peer_of(r, d, &p);
    wire_w_init(&w, body, sizeof(body));
    wire_put_u64(&w, d->req_id);
    proto_put_peer(&w, &p);
    wire_put_bytes(&w, d->out.buf, d->out.len);
    if (w.err) {
        log_warnx("RD_REQUEST does not fit");
        return;
    }
    ctl_send(r, RR_MSG_RD_REQUEST, body, w.len);
}

void rd_on_request(struct relay *r, uint32_t i, const uint8_t *buf, size_t len, uint64_t now)
{
    struct dexch *d = &r->dx[i];

    if (len > sizeof(d->out.buf)) {
        dx_answer_local(r, i, COAP_TOO_LARGE, "request too large", now);
        return;
    }
    d->kind = DX_K_RD;
    /* high half: a per-request counter from a random start (unique across
     * relay restarts for rd-frontend's dedup cache); low half: the slot */
    d->req_id = (uint64_t)(++r->rd_seq) << 32 | i;
    memcpy(d->out.buf, buf, len);
    d->out.len = (uint16_t)len;
    d->out_kind = DX_O_REQ;
    r->c.rd_requests++;
    rd_send_request(r, i);
    th_arm(&r->timers, &d->t_aux, now + RU_RD_RESEND_MS);
    dx_arm_empty_ack(r, i, now);
}

void rd_resend(struct relay *r, uint32_t i, uint64_t now)
{
    struct dexch *d = &r->dx[i];

    if (d->state != DX_WAIT || d->kind != DX_K_RD)
        return;
    if (now - d->start_ms >= RU_RD_GIVEUP_MS) {
        r->c.rd_giveups++;
        log_warnx("no answer from rd-frontend for req %llx after %u s",
                  (unsigned long long)d->req_id, RU_RD_GIVEUP_MS / 1000);
        dx_answer_local(r, i, COAP_SERVICE_UNAVAILABLE, "resource directory unavailable", now);
        return;
    }
    r->c.rd_resends++;
    rd_send_request(r, i);
    th_arm(&r->timers, &d->t_aux, now + RU_RD_RESEND_MS);
}

void rd_on_response(struct relay *r, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r rd;
    const uint8_t *coap;

    wire_r_init(&rd, body, len);
    uint64_t req_id = wire_get_u64(&rd);
    size_t n = wire_get_bytes(&rd, &coap);
    if (rd.err || coap_raw_rest(coap, n) < 0) {
        log_warnx("malformed RD_RESPONSE dropped");
        return;
    }
    uint32_t i = (uint32_t)req_id;
    if (i >= r->ndx || r->dx[i].state != DX_WAIT || r->dx[i].kind != DX_K_RD ||
        r->dx[i].req_id != req_id)
        return; /* an answer to a re-sent request we already delivered */
    r->c.rd_responses++;
    if (dx_answer(r, i, coap, n, 0xff, true, now) < 0) {
        log_warnx("RD_RESPONSE for req %llx does not fit a datagram", (unsigned long long)req_id);
        dx_answer_local(r, i, COAP_INTERNAL_ERROR, "response too large", now);
    }
}

void rd_notify_gone(struct relay *r, uint32_t i)
{
    struct dexch *d = &r->dx[i];
    uint8_t body[256];
    struct wire_w w;
    struct rr_peer p;

    peer_of(r, d, &p);
    wire_w_init(&w, body, sizeof(body));
    proto_put_peer(&w, &p);
    wire_put_bytes(&w, d->token, d->tkl);
    if (!w.err)
        ctl_send(r, RR_MSG_OBSERVE_GONE, body, w.len);
}

void rd_on_notify(struct relay *r, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r rd;
    struct rr_peer p;
    const uint8_t *coap;

    wire_r_init(&rd, body, len);
    proto_get_peer(&rd, &p);
    uint8_t confirmable = wire_get_u8(&rd);
    size_t n = wire_get_bytes(&rd, &coap);
    int rest = coap_raw_rest(coap, n);
    if (rd.err || rest < 0) {
        log_warnx("malformed RD_NOTIFY dropped");
        return;
    }
    addr_normalise(&p.remote);
    addr_normalise(&p.local);
    int sock = udp_sock_for_local(r, &p.local);
    if (sock < 0 || p.transport != RR_TRANSPORT_UDP) {
        log_warnx("RD_NOTIFY for a peer not on this relay dropped");
        return;
    }
    uint32_t i = dx_alloc(r, now);
    if (i == RU_NONE) {
        r->c.proxy_no_slot++;
        return;
    }
    struct dexch *d = &r->dx[i];
    d->kind = DX_K_NOTIFY;
    d->state = DX_NOTIFY;
    d->sock = sock;
    d->peer = p.remote;
    d->local = p.local;
    d->tkl = coap[0] & 0x0f;
    memcpy(d->token, coap + 4, d->tkl);
    uint8_t type = confirmable ? COAP_T_CON : COAP_T_NON;
    ssize_t m = coap_rewrite(d->out.buf, sizeof(d->out.buf), type, coap[1], exch_new_msgid(r),
                             d->token, d->tkl, coap + rest, n - (size_t)rest);
    if (m < 0) {
        dx_release(r, i);
        return;
    }
    d->out.len = (uint16_t)m;
    d->out.msgid = (uint16_t)(d->out.buf[2] << 8 | d->out.buf[3]);
    d->out.sock = sock;
    d->out.remote = d->peer;
    d->out.local = d->local;
    r->c.rd_notify++;
    udp_send(r, sock, &d->peer, &d->local, d->out.buf, d->out.len);
    if (type == COAP_T_CON) {
        d->out_kind = DX_O_SEP;
        out_start(r, i, &d->out, &d->t_ack, now);
    } else {
        /* a client may reject a NON notification with RST: listen briefly */
        d->out_kind = DX_O_NON;
        out_track(r, i, &d->out);
        th_arm(&r->timers, &d->t_ack, now + RU_NON_RST_WAIT_MS);
    }
}

void rd_ep_answer(struct relay *r, uint32_t ui, uint8_t status, const uint8_t *coap, size_t len)
{
    struct uexch *u = &r->ux[ui];
    uint8_t body[RD_BODY_MAX], resp[COAP_MSG_MAX_UDP + 8];
    struct wire_w w;
    size_t n = 0;

    if (status == RR_EP_OK) {
        /* rd-frontend sees its own token again */
        int rest = coap_raw_rest(coap, len);
        ssize_t m = rest < 0 ? -1
                             : coap_rewrite(resp, sizeof(resp), COAP_T_ACK, coap[1], 0, u->ep_token,
                                            u->ep_tkl, coap + rest, len - (size_t)rest);
        if (m < 0)
            status = RR_EP_UNREACHABLE;
        else
            n = (size_t)m;
    }
    wire_w_init(&w, body, sizeof(body));
    wire_put_u64(&w, u->ep_req_id);
    wire_put_u8(&w, status);
    wire_put_bytes(&w, resp, n);
    if (!w.err)
        ctl_send(r, RR_MSG_EP_RESPONSE, body, w.len);
}

void rd_on_ep_request(struct relay *r, const uint8_t *body, size_t len, uint64_t now)
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
    uint32_t ui = ux_alloc(r);
    if (ui == RU_NONE) {
        r->c.proxy_no_slot++;
        return; /* rd-frontend times out and retries */
    }
    struct uexch *u = &r->ux[ui];
    u->origin = UX_O_EP;
    u->ep_req_id = req_id;
    u->ep_tkl = m.tkl;
    memcpy(u->ep_token, m.token, m.tkl);
    m.type = COAP_T_CON;
    addr_normalise(&path.remote);
    addr_normalise(&path.local);
    if (ux_send_request(r, ui, &m, &path, now) < 0) {
        rd_ep_answer(r, ui, RR_EP_UNREACHABLE, NULL, 0);
        ux_release(r, ui);
        return;
    }
    th_arm(&r->timers, &u->t_life, now + r->cfg.upstream_timeout_ms);
}
