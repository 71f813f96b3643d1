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
 * The protocol (encoding, decoding, ids, re-send verdicts) is the relay
 * core's (relay-core/rd.c); here is only what the UDP message layer adds.
 * Talks to the core, exchange.c, proxy.c.
 */
#include <string.h>

#include "log.h"
#include "fwd_rules.h"
#include "relay.h"

static void rd_send_request(struct relay *r, uint32_t i)
{
    struct dexch *d = &r->dx[i];
    struct rr_peer p;

    rc_peer_make(&r->core, &d->peer, &d->local, 0, &p);
    rc_rd_send_request(&r->core, d->req_id, &p, d->out.buf, d->out.len);
}

void rd_on_request(void *tp, uint32_t i, struct coap_msg *m, const uint8_t *buf, size_t len,
                   uint64_t now)
{
    struct relay *r = tp;
    (void)m; /* the datagram goes to rd-frontend as it came */
    struct dexch *d = &r->dx[i];

    if (len > sizeof(d->out.buf)) {
        dx_answer_local(r, i, COAP_TOO_LARGE, "request too large", now);
        return;
    }
    d->kind = DX_K_RD;
    d->req_id = rc_rd_req_id(&r->core, i);
    memcpy(d->out.buf, buf, len);
    d->out.len = (uint16_t)len;
    d->out_kind = DX_O_REQ;
    r->core.c.rd_requests++;
    rd_send_request(r, i);
    th_arm(&r->core.timers, &d->t_aux, now + RC_RD_RESEND_MS);
    dx_arm_empty_ack(r, i, now);
}

void rd_resend(struct relay *r, uint32_t i, uint64_t now)
{
    struct dexch *d = &r->dx[i];

    if (d->state != DX_WAIT || d->kind != DX_K_RD)
        return;
    if (rc_rd_resend_due(&r->core, d->req_id, d->start_ms, now) < 0) {
        dx_answer_local(r, i, COAP_SERVICE_UNAVAILABLE, "resource directory unavailable", now);
        return;
    }
    rd_send_request(r, i);
    th_arm(&r->core.timers, &d->t_aux, now + RC_RD_RESEND_MS);
}

void rd_on_response(void *tp, uint32_t i, uint64_t req_id, const uint8_t *coap, size_t n,
                    uint64_t now)
{
    struct relay *r = tp;

    if (i >= r->ndx || r->dx[i].state != DX_WAIT || r->dx[i].kind != DX_K_RD ||
        r->dx[i].req_id != req_id)
        return; /* an answer to a re-sent request we already delivered */
    r->core.c.rd_responses++;
    if (dx_answer(r, i, coap, n, 0xff, true, now) < 0) {
        log_warnx("RD_RESPONSE for req %llx does not fit a datagram", (unsigned long long)req_id);
        dx_answer_local(r, i, COAP_INTERNAL_ERROR, "response too large", now);
    }
}

void rd_notify_gone(struct relay *r, uint32_t i)
{
    struct dexch *d = &r->dx[i];
    struct rr_peer p;

    rc_peer_make(&r->core, &d->peer, &d->local, 0, &p);
    rc_send_observe_gone(&r->core, &p, d->token, d->tkl);
}

void rd_on_notify(void *tp, const struct rr_peer *pp, bool confirmable, const uint8_t *coap,
                  size_t n, uint64_t now)
{
    struct relay *r = tp;
    struct rr_peer p = *pp;
    int rest = coap_raw_rest(coap, n);
    int sock = rest < 0 ? -1 : udp_sock_for_local(r, &p.local);
    if (sock < 0) {
        log_warnx("RD_NOTIFY for a peer not on this relay dropped");
        return;
    }
    uint32_t i = dx_alloc(r, now);
    if (i == RU_NONE) {
        r->core.c.no_slot++;
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
    r->core.c.rd_notify++;
    /* too large for an unverified client: 4.01 + Echo ends its observation
     * (RFC 7641 §3.2), and so does its RST to the next one */
    d->out.len = (uint16_t)dx_amp_limit_notify(r, i, d->out.len, now);
    if (d->out.len == 0) {
        rd_notify_gone(r, i);
        dx_release(r, i);
        return;
    }
    udp_send(r, sock, &d->peer, &d->local, d->out.buf, d->out.len);
    if (type == COAP_T_CON) {
        d->out_kind = DX_O_SEP;
        out_start(r, i, &d->out, &d->t_ack, now);
    } else {
        /* a client may reject a NON notification with RST: listen briefly */
        d->out_kind = DX_O_NON;
        out_track(r, i, &d->out);
        th_arm(&r->core.timers, &d->t_ack, now + RU_NON_RST_WAIT_MS);
    }
}

void rd_ep_answer(struct relay *r, uint32_t ui, uint8_t status, const uint8_t *coap, size_t len)
{
    struct uexch *u = &r->ux[ui];
    uint8_t resp[COAP_MSG_MAX_UDP + 8];
    size_t n = 0;

    if (status == RR_EP_OK) {
        /* rd-frontend sees its own token again */
        int rest = coap_raw_rest(coap, len);
        ssize_t m = rest < 0
                        ? -1
                        : coap_rewrite(resp, sizeof(resp), COAP_T_ACK, coap[1], 0, u->h.ep_token,
                                       u->h.ep_tkl, coap + rest, len - (size_t)rest);
        if (m < 0)
            status = RR_EP_UNREACHABLE;
        else
            n = (size_t)m;
    }
    rc_send_ep_response(&r->core, u->h.req_id, status, resp, n);
}

void rd_on_ep_request(void *tp, uint64_t req_id, const struct rr_peer *path, struct coap_msg *m,
                      uint64_t now)
{
    struct relay *r = tp;
    uint32_t ui = ux_alloc(r);
    if (ui == RU_NONE) {
        r->core.c.no_slot++;
        return; /* rd-frontend times out and retries */
    }
    struct uexch *u = &r->ux[ui];
    u->h.origin = UX_O_EP;
    u->h.req_id = req_id;
    u->h.ep_tkl = m->tkl;
    memcpy(u->h.ep_token, m->token, m->tkl);
    m->type = COAP_T_CON;
    if (ux_send_request(r, ui, m, path, now) < 0) {
        rd_ep_answer(r, ui, RR_EP_UNREACHABLE, NULL, 0);
        ux_release(r, ui);
        return;
    }
    th_arm(&r->core.timers, &u->t_life, now + r->cfg.upstream_timeout_ms);
}
