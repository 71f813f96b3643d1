/*
 * msglayer.c - classification of every datagram relay-udp receives
 * (RFC 7252 §4): pings, ACK/RST matching against what we retransmit,
 * duplicate requests, requests (to the core's classification by Uri-Host:
 * rd_path.c or proxy.c) and responses from endpoints
 * (to proxy.c by relay token). Owns no state; uses exchange.c's tables.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "fwd_rules.h"
#include "relay.h"

/* ACK or RST for something we sent and may still be retransmitting. */
static void on_ack_or_rst(struct relay *r, const struct rr_addr *peer, const struct coap_msg *m,
                          const uint8_t *buf, size_t len, uint64_t now)
{
    uint32_t idx = out_find(r, peer, m->msgid);
    if (idx == RU_NONE)
        return; /* late or stray (e.g. the RST answering a keepalive ping) */

    if (idx < r->ndx) {
        struct dexch *d = &r->dx[idx];
        out_stop(r, idx, &d->out, &d->t_ack);
        switch (d->h.state) {
        case DX_SEP:
            dx_done(r, idx, now);
            break;
        case DX_OBSERVE:
            if (m->type == COAP_T_RST)
                proxy_cancel_observation(r, idx, now);
            break;
        case DX_NOTIFY:
            if (m->type == COAP_T_RST)
                rd_notify_gone(r, idx);
            dx_release(r, idx);
            break;
        default:
            break;
        }
        return;
    }

    uint32_t ui = idx - r->ndx;
    struct uexch *u = &r->ux[ui];
    out_stop(r, idx, &u->out, &u->t_rtx);
    if (m->type == COAP_T_RST) {
        rc_ux_fail(&r->core, ui, COAP_BAD_GATEWAY, "endpoint rejected the request", now);
        return;
    }
    if (m->code == COAP_EMPTY) {
        if (u->h.state == UX_SENT)
            u->h.state = UX_WAITSEP;
        return;
    }
    /* piggybacked response: the token must be the one we sent */
    uint8_t tok[FWD_TOKEN_LEN];
    fwd_token_encode(ui, u->h.check, tok);
    if (m->tkl != FWD_TOKEN_LEN || memcmp(m->token, tok, FWD_TOKEN_LEN) != 0) {
        rc_ux_fail(&r->core, ui, COAP_BAD_GATEWAY, "endpoint answered with a wrong token", now);
        return;
    }
    proxy_on_upstream(r, ui, m, buf, len, now);
}

/* A request from a client or registrant. */
static void on_request(struct relay *r, int sock, const struct rr_addr *peer,
                       const struct rr_addr *local, struct coap_msg *m, const uint8_t *buf,
                       size_t len, uint64_t now)
{
    uint32_t i = dx_find_dup(r, peer, m->msgid, now);
    if (i != RU_NONE) {
        dx_on_duplicate(r, i, sock, local, len, now);
        return;
    }
    if (r->core.stopping) {
        /* SIGTERM: no new work. Unanswered, a CON client retransmits: to
         * the next instance on the same (socket-activated) socket. */
        return;
    }
    i = dx_alloc(r, now);
    if (i == RU_NONE) {
        /* every exchange busy: answer statelessly rather than drop */
        uint8_t b[4 + 8];
        uint8_t type = m->type == COAP_T_CON ? COAP_T_ACK : COAP_T_NON;
        uint16_t mid = m->type == COAP_T_CON ? m->msgid : exch_new_msgid(r);
        ssize_t n = coap_rewrite(b, sizeof(b), type, COAP_SERVICE_UNAVAILABLE, mid, m->token,
                                 m->tkl, NULL, 0);
        r->core.c.no_slot++;
        if (n > 0)
            udp_send(r, sock, peer, local, b, (size_t)n);
        return;
    }
    struct dexch *d = &r->dx[i];
    d->sock = sock;
    d->peer = *peer;
    d->local = *local;
    d->req_type = m->type;
    d->req_msgid = m->msgid;
    d->req_len = (uint16_t)len;
    d->h.tkl = m->tkl;
    memcpy(d->h.token, m->token, m->tkl);
    dx_dedup_insert(r, i);
    rc_amp_on_request(&r->amp, peer, m, now); /* our Echo verifies the peer */
    if (!rc_dx_count_source(&r->core, i, peer, now)) {
        r->core.tp->answer(r->core.tpa, i, COAP_SERVICE_UNAVAILABLE,
                           "too many requests in flight from this source", now);
        return;
    }

    /* port-based hosting (BRIEF §3.4): such a listener maps every request
     * to its one route and never looks at Uri-Host */
    if (r->socks[sock].kind == RU_SOCK_MUX) {
        rc_port_request(&r->core, r->socks[sock].mux_port, i, m, now);
        return;
    }
    rc_on_request(&r->core, i, m, buf, len, now);
}

/* A CON/NON response: a separate response or a notification from an
 * endpoint, found by our token. */
static void on_separate_response(struct relay *r, int sock, const struct rr_addr *peer,
                                 const struct rr_addr *local, const struct coap_msg *m,
                                 const uint8_t *buf, size_t len, uint64_t now)
{
    uint32_t ui = rc_ux_from_token(&r->core, m->token, m->tkl);
    if (ui == RU_NONE || !addr_equal(&r->ux[ui].out.remote, peer)) {
        /* not (or no longer) ours: RST ends a stale observation upstream */
        send_empty(r, sock, peer, local, COAP_T_RST, m->msgid);
        return;
    }
    proxy_on_upstream(r, ui, m, buf, len, now);
}

void msg_on_datagram(struct relay *r, int sock, const struct rr_addr *peer,
                     const struct rr_addr *local, uint8_t *buf, size_t len, uint64_t now)
{
    struct coap_msg m;

    ka_on_rx(r, peer, now);
    if (coap_msg_parse_udp(buf, len, &m) < 0) {
        r->c.rx_bad++;
        /* RFC 7252 §4.2: a CON that cannot be parsed is rejected with RST */
        if (len >= 4 && (buf[0] >> 6) == 1 && ((buf[0] >> 4) & 3) == COAP_T_CON)
            send_empty(r, sock, peer, local, COAP_T_RST, (uint16_t)(buf[2] << 8 | buf[3]));
        return;
    }
    if (m.code == COAP_EMPTY) {
        if (m.type == COAP_T_CON) {
            r->c.pings_answered++;
            send_empty(r, sock, peer, local, COAP_T_RST, m.msgid); /* CoAP ping */
        } else if (m.type == COAP_T_ACK || m.type == COAP_T_RST) {
            on_ack_or_rst(r, peer, &m, buf, len, now);
        }
        return;
    }
    uint8_t cls = COAP_CODE_CLASS(m.code);
    if (cls == 0) {
        if (m.type == COAP_T_CON || m.type == COAP_T_NON)
            on_request(r, sock, peer, local, &m, buf, len, now);
        return;
    }
    if (cls >= 2 && cls <= 5) {
        if (m.type == COAP_T_ACK)
            on_ack_or_rst(r, peer, &m, buf, len, now);
        else if (m.type != COAP_T_RST)
            on_separate_response(r, sock, peer, local, &m, buf, len, now);
        return;
    }
    /* reserved classes: reject a CON, ignore the rest */
    r->c.rx_bad++;
    if (m.type == COAP_T_CON)
        send_empty(r, sock, peer, local, COAP_T_RST, m.msgid);
}

void msg_on_unreachable(struct relay *r, const struct rr_addr *peer, uint64_t now)
{
    char a[RR_ADDRSTRLEN];
    log_debug("ICMP unreachable from %s", addr_to_str(peer, a, sizeof(a)));
    ka_on_icmp(r, peer, now);
    proxy_on_remote_gone(r, peer, now);
    /* a client whose socket is gone observes nothing any more */
    for (uint32_t i = 0; i < r->ndx; i++) {
        struct dexch *d = &r->dx[i];
        if ((d->h.state != DX_OBSERVE && d->h.state != DX_NOTIFY) || !addr_equal(&d->peer, peer))
            continue;
        if (d->h.state == DX_OBSERVE) {
            proxy_cancel_observation(r, i, now);
        } else {
            rd_notify_gone(r, i);
            dx_release(r, i);
        }
    }
}
