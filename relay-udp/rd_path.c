/*
 * rd_path.c - RD traffic through relay-udp (the RD routing half; proxy.c is
 * the other). Owns nothing beyond the exchanges it marks DX_K_RD/NOTIFY.
 *   client request for the RD -> RD_REQUEST(req_id, peer, coap), re-sent
 *     every second while unanswered (up to 60 s) so an rd-frontend restart
 *     never fails a registration (rd-frontend dedups req_ids);
 *   RD_RESPONSE -> piggybacked or separate response (exchange.c decides);
 *   RD_NOTIFY -> a CON (retransmitted) or NON notification to the client;
 *     RST or exhaustion -> OBSERVE_GONE;
 *   (EP_REQUEST is the core's, relay-core/answer.c, over proxy.c's
 *     ux_send_request.)
 * The protocol (encoding, decoding, ids, re-send verdicts and timer) is the
 * relay core's (relay-core/rd.c, dxpool.c); here is only what the UDP
 * message layer adds.
 * Talks to the core, exchange.c, proxy.c.
 */
#include <string.h>

#include "log.h"
#include "fwd_rules.h"
#include "relay.h"

void rd_send(void *tp, uint32_t i)
{
    struct relay *r = tp;
    struct dexch *d = &r->dx[i];
    struct rr_peer p;

    rc_peer_make(&r->core, &d->peer, &d->local, 0, &p);
    rc_rd_send_request(&r->core, d->h.req_id, &p, d->out.buf, d->out.len);
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
    memcpy(d->out.buf, buf, len);
    d->out.len = (uint16_t)len;
    d->out_kind = DX_O_REQ;
    rc_dx_rd_start(&r->core, i, now); /* RD_REQUEST, re-sent until answered */
    dx_arm_empty_ack(r, i, now);
}

void rd_on_response(void *tp, uint32_t i, uint64_t req_id, const uint8_t *coap, size_t n,
                    uint64_t now)
{
    struct relay *r = tp;

    /* rd-frontend put the client on a lookup's list when it answers 2.xx
     * with Observe; if the client gets something else instead (4.01 + Echo
     * for an unverified source, RFC 9175 §2.4), it is not on the list (RFC
     * 7641 §3.1) and repeats the request (coap-client-notls does): tell
     * rd-frontend now, so the entry does not hold one of the source's places
     * (max_lookup_observe_per_client) until a notification draws a RST */
    struct coap_msg m;
    bool registers = coap_msg_parse_udp(coap, n, &m) == 0 && COAP_CODE_CLASS(m.code) == 2 &&
                     coap_msg_find(&m, COAP_OPT_OBSERVE) != NULL;
    struct rr_peer p;
    uint8_t tok[COAP_MSG_MAX_TOKEN], tkl = r->dx[i].h.tkl;
    rc_peer_make(&r->core, &r->dx[i].peer, &r->dx[i].local, 0, &p);
    memcpy(tok, r->dx[i].h.token, tkl);
    if (dx_answer(r, i, coap, n, 0xff, true, now) < 0) {
        log_warnx("RD_RESPONSE for req %llx does not fit a datagram", (unsigned long long)req_id);
        dx_answer_local(r, i, COAP_INTERNAL_ERROR, "response too large", now);
    }
    if (registers && (r->dx[i].out.len == 0 || r->dx[i].out.buf[1] != m.code))
        rc_send_observe_gone(&r->core, &p, tok, tkl);
}

void rd_notify_gone(struct relay *r, uint32_t i)
{
    struct dexch *d = &r->dx[i];
    struct rr_peer p;

    rc_peer_make(&r->core, &d->peer, &d->local, 0, &p);
    rc_send_observe_gone(&r->core, &p, d->h.token, d->h.tkl);
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
    d->h.kind = DX_K_NOTIFY;
    d->h.state = DX_NOTIFY;
    d->sock = sock;
    d->peer = p.remote;
    d->local = p.local;
    d->h.tkl = coap[0] & 0x0f;
    memcpy(d->h.token, coap + 4, d->h.tkl);
    uint8_t type = confirmable ? COAP_T_CON : COAP_T_NON;
    ssize_t m = coap_rewrite(d->out.buf, sizeof(d->out.buf), type, coap[1], exch_new_msgid(r),
                             d->h.token, d->h.tkl, coap + rest, n - (size_t)rest);
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
