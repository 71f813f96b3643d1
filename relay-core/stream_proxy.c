/*
 * stream_proxy.c - name-based reverse proxying for a stream relay's clients (BRIEF
 * §3.3). A request whose Uri-Host names a registration is checked (unknown
 * unsafe options -> 4.02, Hop-Limit added/decremented -> 5.08 on a loop),
 * loses Uri-Host/Uri-Port and then goes
 *   - over the registrant's own connection when this relay holds the route
 *     (role reversal inside the connection, RFC 8323), under a relay token
 *     (slot + check), every other option and the payload unchanged; its
 *     responses, notifications and blocks come back unchanged apart from
 *     the token; a connection that is gone -> 5.02 at once;
 *   - to the relay holding the route otherwise (XFWD_REQUEST; 5.02 at once
 *     when that relay is not running, 5.04 after upstream_timeout_ms).
 * Other relays' XFWD requests and rd-frontend's EP_REQUESTs for our
 * connections come in through the core (relay-core/answer.c) and go out
 * with st_ux_send_request too; every upstream exchange's outcome is routed
 * back by its origin there (rc_ux_answer, rc_ux_fail), a proxied one's
 * answer to its client here. Owns the upstream exchanges it creates;
 * nothing allocated per request. Talks to the core, stream_exch.c, stream_conn.c.
 */
#include <string.h>

#include "log.h"
#include "stream.h"

/* 5.03 with Max-Age (a limit: come back then) and a diagnostic. */
static void answer_503(struct st_relay *r, uint32_t i, uint32_t max_age, const char *diag,
                       uint64_t now)
{
    struct coap_msg a;
    uint8_t ma[4];
    rc_msg_limit_503(&a, max_age, diag, ma);
    st_dx_answer(r, i, &a, true, now);
}

int st_ux_send_request(struct st_relay *r, uint32_t ui, struct coap_msg *m, uint32_t ci,
                       uint64_t now)
{
    struct st_ux *u = &r->ux[ui];
    (void)now;

    fwd_token_encode(ui, u->h.check, m->token);
    m->tkl = FWD_TOKEN_LEN;
    u->obs_len = 0;
    if (coap_msg_find(m, COAP_OPT_OBSERVE)) {
        /* kept for the deregistration (GET with Observe 1, same token) */
        ssize_t n = r->io->serialize(m, u->obs_req, sizeof(u->obs_req));
        u->obs_len = n > 0 ? (uint16_t)n : 0;
    }
    /* not linked to the connection while sending: a send that closes it
     * must not end this exchange behind the caller's back */
    u->conn = ST_NONE;
    if (st_conn_send_msg(r, ci, m) < 0)
        return -1;
    u->conn = ci;
    u->conn_id = r->conns[ci].id;
    return 0;
}

static void proxy_local(struct st_relay *r, uint32_t i, struct coap_msg *m,
                        const struct rr_route *route, const char *host, uint64_t now)
{
    struct st_dx *d = &r->dx[i];
    char diag[128];
    uint32_t ci = st_conn_find(r, route->path.conn_id);

    if (ci == ST_NONE) {
        r->core.c.proxy_5_02++;
        st_gone_diag(r, route->path.conn_id, diag, sizeof(diag));
        st_dx_answer_local(r, i, COAP_BAD_GATEWAY, diag, now);
        return;
    }
    uint32_t ui = ST_NONE;
    if (coap_msg_find(m, COAP_OPT_OBSERVE)) {
        /* re-registration or cancellation of an observation this client
         * holds: it must reach the endpoint under the same token */
        uint32_t oi = rc_dx_find_observation(&r->core, i, DX_K_PROXY);
        if (oi != ST_NONE && r->ux[r->dx[oi].h.up].conn == ci) {
            ui = r->dx[oi].h.up;
            r->dx[oi].h.up = ST_NONE;
            st_dx_release(r, oi);
            r->ux[ui].h.state = UX_SENT;
        } else if (oi != ST_NONE) {
            uint32_t old = r->dx[oi].h.up;
            r->dx[oi].h.up = ST_NONE;
            st_dx_release(r, oi);
            st_proxy_end_observation(r, old, now);
        }
    }
    if (ui == ST_NONE) {
        ui = rc_ux_take(&r->core);
        if (ui == ST_NONE) {
            r->core.c.no_slot++;
            st_dx_answer_local(r, i, COAP_SERVICE_UNAVAILABLE, "too many exchanges in flight", now);
            return;
        }
    }
    struct st_ux *u = &r->ux[ui];
    /* over max_observe_per_client: no Observe from here on */
    rc_dx_limit_observe(&r->core, i, &r->conns[d->conn].remote, m, now);
    const struct coap_msg_opt *obs = coap_msg_find(m, COAP_OPT_OBSERVE);
    u->h.origin = UX_O_PROXY;
    u->h.observe_req = obs && coap_opt_value_uint(obs) == 0;
    u->h.dx = i;
    snprintf(u->h.host, sizeof(u->h.host), "%s", host);
    if (!rc_ux_count_endpoint(&r->core, ui, now)) {
        st_ux_release(r, ui);
        answer_503(r, i, RC_INFLIGHT_EP_MAX_AGE, RC_INFLIGHT_EP_DIAG, now);
        return;
    }
    d->h.up = ui;
    if (st_ux_send_request(r, ui, m, ci, now) < 0) {
        bool alive = st_conn_alive(r, ci, route->path.conn_id);
        st_ux_release(r, ui);
        d->h.up = ST_NONE;
        if (alive) {
            snprintf(diag, sizeof(diag), "request exceeds the registrant's Max-Message-Size %u",
                     (unsigned)r->conns[ci].sig.csm.mms);
            st_dx_answer_local(r, i, COAP_TOO_LARGE, diag, now);
        } else {
            r->core.c.proxy_5_02++;
            st_dx_answer_local(r, i, COAP_BAD_GATEWAY, "registrant's connection closed", now);
        }
        return;
    }
    r->core.c.proxied++;
    th_arm(&r->core.timers, &u->h.t, now + r->cfg.upstream_timeout_ms);
}

static void proxy_xfwd(struct st_relay *r, uint32_t i, struct coap_msg *m,
                       const struct rr_route *route, const char *host, uint64_t now)
{
    struct st_dx *d = &r->dx[i];
    char diag[96];
    uint8_t code;
    int xp;
    uint64_t req_id;

    if (coap_msg_find(m, COAP_OPT_OBSERVE)) {
        /* the client re-registers or cancels: the old forwarded
         * observation ends, the new request travels on its own */
        uint32_t oi = rc_dx_find_observation(&r->core, i, DX_K_XFWD);
        if (oi != ST_NONE) {
            rc_dx_xfwd_cancel(&r->core, oi);
            st_dx_release(r, oi);
        }
    }
    const struct coap_msg_opt *obs = coap_msg_find(m, COAP_OPT_OBSERVE);
    d->h.kind = DX_K_XFWD;
    d->h.observe_req = obs && coap_opt_value_uint(obs) == 0;
    m->type = COAP_T_CON; /* datagram framing towards the holder */
    if (rc_xfwd_forward(&r->core, i, m, route, host, &xp, &req_id, &code, diag, sizeof(diag)) < 0) {
        st_dx_answer_local(r, i, code, diag, now);
        return;
    }
    d->h.xpeer = (uint8_t)xp;
    d->h.req_id = req_id;
    th_arm(&r->core.timers, &d->h.t, now + r->cfg.upstream_timeout_ms);
}

void st_proxy_on_request(void *tp, uint32_t i, struct coap_msg *m, const char *host, uint64_t now)
{
    struct st_relay *r = tp;
    struct st_dx *d = &r->dx[i];
    const struct rr_route *route;
    uint8_t hl[4], code;
    char diag[128];

    d->h.kind = DX_K_PROXY;
    uint32_t wait = rc_limit_proxy(&r->core.lim, &r->conns[d->conn].remote, host, now);
    if (wait) {
        /* come back when the bucket has a token */
        answer_503(r, i, wait, "rate limit", now);
        return;
    }
    switch (rc_proxy_decide(&r->core, m, host, &route, hl, &code, diag, sizeof(diag))) {
    case RC_PROXY_ANSWER:
        st_dx_answer_local(r, i, code, diag, now);
        break;
    case RC_PROXY_LOCAL:
        proxy_local(r, i, m, route, host, now);
        break;
    case RC_PROXY_XFWD:
        proxy_xfwd(r, i, m, route, host, now);
        break;
    }
}

/* Ask the registrant to end an observation: GET with Observe 1 under the
 * same token (RFC 7641 §3.6); RFC 8323 has no RST to reject notifications. */
void st_proxy_end_observation(void *tp, uint32_t ui, uint64_t now)
{
    struct st_relay *r = tp;
    struct st_ux *u = &r->ux[ui];
    struct coap_msg m;
    uint8_t one[4];

    if (u->h.state == UX_FREE)
        return;
    u->h.dx = ST_NONE;
    if (!u->h.observe_req || u->obs_len == 0 || u->h.state == UX_CANCEL ||
        !st_conn_alive(r, u->conn, u->conn_id) || r->io->parse(u->obs_req, u->obs_len, &m) < 0) {
        st_ux_release(r, ui);
        return;
    }
    coap_msg_remove_opt(&m, COAP_OPT_OBSERVE);
    coap_msg_add_opt_uint(&m, COAP_OPT_OBSERVE, 1, one);
    u->h.state = UX_CANCEL;
    th_arm(&r->core.timers, &u->h.t, now + r->cfg.upstream_timeout_ms);
    uint32_t ci = u->conn;
    u->conn = ST_NONE; /* see st_ux_send_request */
    if (st_conn_send_msg(r, ci, &m) < 0) {
        st_ux_release(r, ui);
        return;
    }
    u->conn = ci;
}

void st_proxy_on_upstream(struct st_relay *r, uint32_t ui, struct coap_msg *m, uint64_t now)
{
    struct st_ux *u = &r->ux[ui];

    /* EP_REQUEST, another relay's XFWD_REQUEST, a deregistration: the core's */
    if (rc_ux_answer(&r->core, ui, m, -1, now))
        return;
    bool notif = rc_ux_is_notification(&u->h, m);
    uint32_t dxi = u->h.dx;
    if (dxi == ST_NONE || r->dx[dxi].h.state == DX_FREE) {
        st_proxy_end_observation(r, ui, now);
        return;
    }
    struct st_dx *d = &r->dx[dxi];
    d->h.up = ST_NONE;
    char diag[64];
    if (rc_proxy_check_response(&r->core, m, diag, sizeof(diag)) < 0) {
        u->h.dx = ST_NONE;
        if (u->h.state == UX_OBSERVE || notif)
            st_proxy_end_observation(r, ui, now);
        else
            st_ux_release(r, ui);
        st_dx_answer_local(r, dxi, COAP_BAD_GATEWAY, diag, now);
        return;
    }
    if (!notif) {
        u->h.dx = ST_NONE;
        st_ux_release(r, ui);
        st_dx_answer(r, dxi, m, true, now);
        return;
    }
    if (st_dx_answer(r, dxi, m, false, now) < 0) {
        st_proxy_end_observation(r, ui, now); /* the client is gone */
        return;
    }
    d->h.up = ui;
    if (u->h.state != UX_OBSERVE)
        r->core.c.observations++;
    u->h.state = UX_OBSERVE;
    th_cancel(&r->core.timers, &u->h.t);
}

void st_proxy_on_xfwd_response(void *tp, int xp, uint32_t i, uint64_t req_id, uint8_t status,
                               const uint8_t *coap, size_t n, uint8_t kind, uint64_t now)
{
    struct st_relay *r = tp;
    (void)kind; /* RFC 8323 has no message types */
    struct coap_msg m;
    bool notif;

    /* late answers, failures and unsafe options are the core's */
    if (rc_xfwd_response_vet(&r->core, xp, i, req_id, status, coap, n, &m, &notif, now))
        return;
    struct st_dx *d = &r->dx[i];
    if (!notif) {
        st_dx_answer(r, i, &m, true, now);
        return;
    }
    if (d->h.state != DX_OBSERVE)
        r->core.c.observations++;
    th_cancel(&r->core.timers, &d->h.t);
    if (st_dx_answer(r, i, &m, false, now) < 0)
        rc_xfwd_send_cancel(&r->core, xp, req_id); /* the client is gone: the holder stops too */
}
