/*
 * proxy.c - name-based reverse proxying to registered endpoints: the hot
 * path of the product (BRIEF §3.3, §6). A request whose Uri-Host names a
 * registration goes out of the socket and local address the registration
 * arrived on, to the address it came from (the NAT binding), with a relay
 * token (exchange slot + check) and our own message id; Uri-Host/Uri-Port
 * are removed, Hop-Limit added or decremented, every other option and the
 * payload pass byte-identical. The answer goes back piggybacked or as a
 * separate response (exchange.c); Observe notifications keep flowing to the
 * client that registered until either side ends the observation.
 * Owns the upstream half of the exchanges it creates; the route lookup is
 * local (clone_client's table) and nothing is allocated per request.
 * A route held by another relay goes there through xfwd.c after the same
 * vetting; other relays' requests for our routes and rd-frontend's
 * EP_REQUESTs come in through the core (relay-core/answer.c) and take the
 * same upstream path (ux_send_request); their answers go back through the
 * core, by origin (rc_ux_answer, rc_ux_fail).
 * Talks to the core, exchange.c, keepalive.c (reachability), xfwd.c.
 */
#include <string.h>

#include "log.h"
#include "fwd_rules.h"
#include "relay.h"

int ux_send_request(struct relay *r, uint32_t ui, struct coap_msg *m, const struct rr_peer *path,
                    uint64_t now)
{
    struct uexch *u = &r->ux[ui];
    int sock = udp_sock_for_local(r, &path->local);

    if (sock < 0 || path->remote.ss.ss_family != r->socks[sock].bound.ss.ss_family)
        return -1;
    fwd_token_encode(ui, u->h.check, m->token);
    m->tkl = FWD_TOKEN_LEN;
    m->msgid = ka_next_msgid(r, &path->remote);
    ssize_t n = coap_msg_serialize_udp(m, u->out.buf, sizeof(u->out.buf));
    if (n < 0)
        return -1;
    u->out.len = (uint16_t)n;
    u->out.msgid = m->msgid;
    u->out.sock = sock;
    u->out.remote = path->remote;
    u->out.local = path->local;
    udp_send(r, sock, &u->out.remote, &u->out.local, u->out.buf, u->out.len);
    if (m->type == COAP_T_CON)
        out_start(r, r->ndx + ui, &u->out, &u->t_rtx, now);
    return 0;
}

void proxy_on_request(void *tp, uint32_t i, struct coap_msg *m, const char *host, uint64_t now)
{
    struct relay *r = tp;
    struct dexch *d = &r->dx[i];
    const struct rr_route *route;
    uint8_t hl[4], code;
    char diag[96];

    d->h.kind = DX_K_PROXY;
    if (dx_amp_prechallenge(r, i, m, now))
        return;
    uint32_t wait = rc_limit_proxy(&r->core.lim, &d->peer, host, now);
    if (wait) {
        dx_answer_local_max_age(r, i, COAP_SERVICE_UNAVAILABLE, wait, "rate limit", now);
        return;
    }
    switch (rc_proxy_decide(&r->core, m, host, &route, hl, &code, diag, sizeof(diag))) {
    case RC_PROXY_ANSWER:
        dx_answer_local(r, i, code, diag, now);
        return;
    case RC_PROXY_XFWD:
        /* held by another relay (TCP, WebSocket): XFWD_REQUEST (xfwd.c) */
        xfwd_on_request(r, i, m, route, host, now);
        return;
    case RC_PROXY_LOCAL:
        break;
    }

    const struct coap_msg_opt *obs = coap_msg_find(m, COAP_OPT_OBSERVE);
    bool obs_reg = obs && coap_opt_value_uint(obs) == 0;
    uint32_t ui = RU_NONE;
    if (obs) {
        /* re-registration or cancellation of an observation this client
         * holds: it must reach the endpoint under the same token */
        uint32_t oi = rc_dx_find_observation(&r->core, i, DX_K_PROXY);
        if (oi != RU_NONE) {
            ui = r->dx[oi].h.up;
            r->dx[oi].h.up = RU_NONE;
            dx_done(r, oi, now);
            out_stop(r, r->ndx + ui, &r->ux[ui].out, &r->ux[ui].t_rtx);
            r->ux[ui].h.state = UX_SENT;
            r->ux[ui].have_last = false;
        }
    }
    if (ui == RU_NONE) {
        ui = rc_ux_take(&r->core);
        if (ui == RU_NONE) {
            r->core.c.no_slot++;
            dx_answer_local(r, i, COAP_SERVICE_UNAVAILABLE, "too many exchanges in flight", now);
            return;
        }
    }
    /* over max_observe_per_client: no Observe from here on */
    rc_dx_limit_observe(&r->core, i, &d->peer, m, now);
    obs = coap_msg_find(m, COAP_OPT_OBSERVE);
    obs_reg = obs && coap_opt_value_uint(obs) == 0;
    struct uexch *u = &r->ux[ui];
    u->h.origin = UX_O_PROXY;
    u->h.observe_req = obs_reg;
    u->h.dx = i;
    snprintf(u->h.host, sizeof(u->h.host), "%s", host);
    if (!rc_ux_count_endpoint(&r->core, ui, now)) {
        ux_release(r, ui);
        dx_answer_local_max_age(r, i, COAP_SERVICE_UNAVAILABLE, RC_INFLIGHT_EP_MAX_AGE,
                                RC_INFLIGHT_EP_DIAG, now);
        return;
    }
    d->h.up = ui;
    if (ux_send_request(r, ui, m, &route->path, now) < 0) {
        ux_release(r, ui);
        d->h.up = RU_NONE;
        dx_answer_local(r, i, COAP_BAD_GATEWAY, "no socket for the registration's path", now);
        return;
    }
    r->core.c.proxied++;
    th_arm(&r->core.timers, &u->h.t, now + r->cfg.upstream_timeout_ms);
    dx_arm_empty_ack(r, i, now);
}

/* Ask the endpoint to end an observation: GET with Observe 1 under the same
 * token (RFC 7641 §3.6); notifications meanwhile get RST. */
static void send_deregistration(struct relay *r, uint32_t ui, uint64_t now)
{
    struct uexch *u = &r->ux[ui];
    struct coap_msg m;
    uint8_t tmp[COAP_MSG_MAX_UDP], one[4];

    u->h.state = UX_CANCEL;
    u->h.dx = RU_NONE;
    th_arm(&r->core.timers, &u->h.t, now + r->cfg.upstream_timeout_ms);
    if (coap_msg_parse_udp(u->out.buf, u->out.len, &m) < 0)
        return;
    coap_msg_remove_opt(&m, COAP_OPT_OBSERVE);
    coap_msg_add_opt_uint(&m, COAP_OPT_OBSERVE, 1, one);
    m.type = COAP_T_CON;
    m.msgid = ka_next_msgid(r, &u->out.remote);
    ssize_t n = coap_msg_serialize_udp(&m, tmp, sizeof(tmp));
    if (n < 0)
        return;
    memcpy(u->out.buf, tmp, (size_t)n);
    u->out.len = (uint16_t)n;
    u->out.msgid = m.msgid;
    udp_send(r, u->out.sock, &u->out.remote, &u->out.local, u->out.buf, u->out.len);
    out_start(r, r->ndx + ui, &u->out, &u->t_rtx, now);
}

void proxy_end_upstream(void *tp, uint32_t ui, uint64_t now)
{
    struct relay *r = tp;
    struct uexch *u = &r->ux[ui];

    if (u->h.state == UX_FREE || u->h.state == UX_CANCEL)
        return;
    /* a pending Observe 0 request may still register at the endpoint:
     * deregister it too (the reply ends the exchange either way) */
    if (u->h.state == UX_OBSERVE || u->h.observe_req)
        send_deregistration(r, ui, now);
    else
        ux_release(r, ui);
}

void proxy_cancel_observation(struct relay *r, uint32_t dxi, uint64_t now)
{
    if (r->dx[dxi].h.kind == DX_K_XFWD) {
        xfwd_client_gone(r, dxi, now);
        return;
    }
    uint32_t ui = r->dx[dxi].h.up;
    r->dx[dxi].h.up = RU_NONE;
    dx_done(r, dxi, now);
    if (ui != RU_NONE && r->ux[ui].h.state == UX_OBSERVE) {
        log_debug("observation of %s cancelled by the client", r->ux[ui].h.host);
        send_deregistration(r, ui, now);
    }
}

void proxy_on_upstream(struct relay *r, uint32_t ui, const struct coap_msg *m, const uint8_t *raw,
                       size_t len, uint64_t now)
{
    struct uexch *u = &r->ux[ui];
    bool has_obs = coap_msg_find(m, COAP_OPT_OBSERVE) != NULL;

    if (m->type == COAP_T_CON || m->type == COAP_T_NON) {
        bool dup = u->have_last && u->last_msgid == m->msgid;
        u->have_last = true;
        u->last_msgid = m->msgid;
        if (u->h.state == UX_CANCEL && has_obs) {
            /* a notification after we asked to stop: reject it */
            send_empty(r, u->out.sock, &u->out.remote, &u->out.local, COAP_T_RST, m->msgid);
            return;
        }
        if (m->type == COAP_T_CON)
            send_empty(r, u->out.sock, &u->out.remote, &u->out.local, COAP_T_ACK, m->msgid);
        if (dup)
            return; /* our ACK got lost; the client already has it */
    }
    out_stop(r, r->ndx + ui, &u->out, &u->t_rtx);
    th_cancel(&r->core.timers, &u->h.t);

    if (u->h.origin == UX_O_XFWD && u->h.state != UX_CANCEL && u->b1slot != BW_NONE) {
        xblock_on_answer(r, ui, m, now); /* a block of a body we split */
        return;
    }
    /* EP_REQUEST, another relay's XFWD_REQUEST (the kind is the type the
     * endpoint sent it as), a deregistration: the core's */
    if (rc_ux_answer(&r->core, ui, m, m->type, now))
        return;
    uint32_t dxi = u->h.dx;
    if (dxi == RU_NONE) {
        ux_release(r, ui);
        return;
    }
    char diag[64];
    if (rc_proxy_check_response(&r->core, m, diag, sizeof(diag)) < 0) {
        bool observing = u->h.state == UX_OBSERVE;
        if (observing) {
            r->dx[dxi].h.up = RU_NONE;
            dx_done(r, dxi, now);
            send_deregistration(r, ui, now);
        } else {
            ux_release(r, ui);
            r->dx[dxi].h.up = RU_NONE;
            dx_answer_local(r, dxi, COAP_BAD_GATEWAY, diag, now);
        }
        return;
    }
    /* an observation continues while the endpoint sends 2.xx with Observe */
    bool notif = has_obs && u->h.observe_req && COAP_CODE_CLASS(m->code) == 2;
    if (u->h.state == UX_OBSERVE) {
        uint8_t type = m->type == COAP_T_CON ? COAP_T_CON : COAP_T_NON;
        dx_answer(r, dxi, raw, len, type, !notif, now);
    } else {
        dx_answer(r, dxi, raw, len, 0xff, !notif, now);
    }
    if (notif) {
        if (u->h.state != UX_OBSERVE)
            r->core.c.observations++;
        u->h.state = UX_OBSERVE;
    } else {
        r->dx[dxi].h.up = RU_NONE;
        ux_release(r, ui);
    }
}

void proxy_on_remote_gone(struct relay *r, const struct rr_addr *remote, uint64_t now)
{
    /* rare (ICMP error, keepalive verdict), so a scan of the upstream pool
     * is fine */
    for (uint32_t ui = 0; ui < r->nux; ui++) {
        struct uexch *u = &r->ux[ui];
        if (u->h.state == UX_FREE || !addr_equal(&u->out.remote, remote))
            continue;
        /* in flight -> 5.02; an observation (ours or another relay's)
         * ends with a final 5.02 notification (RFC 7641 §3.2) */
        if (u->h.state == UX_SENT || u->h.state == UX_WAITSEP || u->h.state == UX_OBSERVE)
            rc_ux_fail(&r->core, ui, COAP_BAD_GATEWAY, "registrant unreachable", now);
    }
}
