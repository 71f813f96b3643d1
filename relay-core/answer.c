/*
 * answer.c - where the outcome of an upstream exchange goes, by its origin
 * (enum rc_ux_origin), for every transport: an answer or a failure of an
 * EP_REQUEST becomes EP_RESPONSE to rd-frontend, of another relay's
 * XFWD_REQUEST an XFWD_RESPONSE to that relay (an observation stays until
 * the requester cancels or is gone), of a proxied request the answer to the
 * client's downstream exchange (failures here; answers the transport
 * delivers itself, through its message layer). Also the holder's side of
 * EP_REQUEST, XFWD_REQUEST and XFWD_CANCEL (an upstream exchange is taken,
 * filled and handed to the transport's ux_send), the upstream timeout, and
 * the requester's vetting of XFWD_RESPONSE (late answers, failures, unsafe
 * options) before the transport delivers one.
 * Answers to rd-frontend and relays are re-serialised once, in datagram
 * framing under the requester's own token, into the core's coapbuf: no
 * allocation. Talks to the transport (ux_send, ux_release, ux_end, answer),
 * rd.c (EP_RESPONSE), xfwd.c (XFWD_RESPONSE / CANCEL), proxy.c (options).
 */
#include <errno.h>
#include <string.h>

#include "core.h"
#include "log.h"
#include "proto_msg.h"

static bool is_observe_2xx(const struct coap_msg *m)
{
    return COAP_CODE_CLASS(m->code) == 2 && coap_msg_find(m, COAP_OPT_OBSERVE) != NULL;
}

bool rc_ux_is_notification(const struct rc_ux *u, const struct coap_msg *m)
{
    return u->observe_req && is_observe_2xx(m);
}

/* m under the requester's token, as a datagram of type `type` (msgid 0),
 * into c->coapbuf: its length, or -1. */
static ssize_t requester_datagram(struct relay_core *c, const struct rc_ux *u,
                                  const struct coap_msg *m, uint8_t type)
{
    struct coap_msg a = *m;
    a.tkl = u->ep_tkl;
    memcpy(a.token, u->ep_token, u->ep_tkl);
    a.type = type;
    a.msgid = 0;
    return coap_msg_serialize_udp(&a, c->coapbuf, RC_COAP_MAX);
}

void rc_ux_ep_answer(struct relay_core *c, uint32_t ui, uint8_t status, const struct coap_msg *m)
{
    const struct rc_ux *u = rc_ux_at(c, ui);
    ssize_t n = 0;

    /* rd-frontend sees its own token again */
    if (status == RR_EP_OK && (n = requester_datagram(c, u, m, COAP_T_ACK)) < 0) {
        status = RR_EP_UNREACHABLE;
        n = 0;
    }
    rc_send_ep_response(c, u->req_id, status, c->coapbuf, (size_t)n);
}

int rc_ux_xfwd_answer(struct relay_core *c, uint32_t ui, uint8_t status, const struct coap_msg *m,
                      uint8_t kind)
{
    const struct rc_ux *u = rc_ux_at(c, ui);
    ssize_t n = 0;

    /* the kind (ACK: piggybacked, CON/NON: separate) is also the type, as
     * the requester's datagram framing wants it */
    if (status == RR_EP_OK && (n = requester_datagram(c, u, m, kind)) < 0) {
        status = RR_EP_UNREACHABLE;
        n = 0;
    }
    if (status != RR_EP_OK)
        kind = RR_XK_ACK;
    return rc_xfwd_send_response(c, u->xid, u->xid_len, u->req_id, status, c->coapbuf, (size_t)n,
                                 kind);
}

int rc_ux_answer(struct relay_core *c, uint32_t ui, const struct coap_msg *m, int xkind,
                 uint64_t now)
{
    struct rc_ux *u = rc_ux_at(c, ui);

    c->c.proxy_responses++;
    if (u->origin == UX_O_EP) {
        rc_ux_ep_answer(c, ui, RR_EP_OK, m);
        c->tp->ux_release(c->tpa, ui);
        return 1;
    }
    if (u->state == RC_UX_CANCEL) {
        /* the answer to our deregistration ends it; notifications that
         * crossed it are dropped */
        if (!is_observe_2xx(m))
            c->tp->ux_release(c->tpa, ui);
        return 1;
    }
    if (u->origin != UX_O_XFWD)
        return 0;
    /* another relay's client: every answer goes back as XFWD_RESPONSE;
     * that relay vets the options and owns its client's exchange */
    bool notif = rc_ux_is_notification(u, m);
    if (notif) {
        if (u->state != RC_UX_OBSERVE)
            c->c.observations++;
        u->state = RC_UX_OBSERVE;
        th_cancel(&c->timers, &u->t); /* an observation has no timeout */
    }
    uint8_t kind = xkind >= 0 ? (uint8_t)xkind : notif ? RR_XK_CON : RR_XK_ACK;
    if (rc_ux_xfwd_answer(c, ui, RR_EP_OK, m, kind) < 0 && notif && errno == EHOSTUNREACH) {
        log_debug("XFWD requester gone: ending observation of %s", u->host);
        c->tp->ux_end(c->tpa, ui, now);
        return 1;
    }
    if (!notif)
        c->tp->ux_release(c->tpa, ui);
    return 1;
}

void rc_ux_fail(struct relay_core *c, uint32_t ui, uint8_t code, const char *why, uint64_t now)
{
    struct rc_ux *u = rc_ux_at(c, ui);

    if (u->state == RC_UX_FREE)
        return;
    uint8_t status = code == COAP_GATEWAY_TIMEOUT ? RR_EP_TIMEOUT : RR_EP_UNREACHABLE;
    if (u->origin == UX_O_EP) {
        rc_ux_ep_answer(c, ui, status, NULL);
        c->tp->ux_release(c->tpa, ui);
        return;
    }
    if (u->origin == UX_O_XFWD) {
        if (u->state != RC_UX_CANCEL)
            rc_ux_xfwd_answer(c, ui, status, NULL, RR_XK_ACK);
        c->tp->ux_release(c->tpa, ui);
        return;
    }
    uint32_t dxi = u->state == RC_UX_CANCEL ? RC_NONE : u->dx;
    log_debug("%s: %s", u->host, why);
    c->tp->ux_release(c->tpa, ui);
    if (dxi == RC_NONE || rc_dx_at(c, dxi)->state == RC_DX_FREE)
        return;
    rc_dx_at(c, dxi)->up = RC_NONE;
    if (code == COAP_GATEWAY_TIMEOUT)
        c->c.proxy_5_04++;
    else
        c->c.proxy_5_02++;
    /* for an observation this is the final, non-2.xx notification */
    c->tp->answer(c->tpa, dxi, code, why, now);
}

/* ---- holder: EP_REQUEST, XFWD_REQUEST, XFWD_CANCEL ---- */

/* A fresh upstream exchange for a requester (rd-frontend or a relay) whose
 * token and request id its answer carries back, or RC_NONE (counted). */
static uint32_t take_for(struct relay_core *c, uint8_t origin, uint64_t req_id,
                         const struct coap_msg *m)
{
    uint32_t ui = rc_ux_take(c);
    if (ui == RC_NONE) {
        c->c.no_slot++;
        return RC_NONE;
    }
    struct rc_ux *u = rc_ux_at(c, ui);
    const struct coap_msg_opt *obs = coap_msg_find(m, COAP_OPT_OBSERVE);
    u->origin = origin;
    u->observe_req = obs && coap_opt_value_uint(obs) == 0;
    u->req_id = req_id;
    u->ep_tkl = m->tkl;
    memcpy(u->ep_token, m->token, m->tkl);
    return ui;
}

void rc_ux_on_ep_request(struct relay_core *c, uint64_t req_id, const struct rr_peer *path,
                         struct coap_msg *m, uint64_t now)
{
    uint32_t ui = take_for(c, UX_O_EP, req_id, m);
    if (ui == RC_NONE)
        return; /* rd-frontend times out and retries */
    m->type = COAP_T_CON;
    if (path->transport != c->tp->transport || c->tp->ux_send(c->tpa, ui, m, path, now) != 0) {
        rc_ux_ep_answer(c, ui, RR_EP_UNREACHABLE, NULL);
        c->tp->ux_release(c->tpa, ui);
        return;
    }
    th_arm(&c->timers, &rc_ux_at(c, ui)->t, now + c->cfg->upstream_timeout_ms);
}

static void xfwd_status(struct relay_core *c, const struct rc_xreq *x, uint8_t status)
{
    rc_xfwd_send_response(c, x->id, x->idlen, x->req_id, status, NULL, 0, RR_XK_ACK);
}

/* max_inflight_per_endpoint holds for the requests other relays forward to
 * us too, so the limit is the same whichever relay a client reached: over
 * it the requester's client gets what a local one gets (5.03, Max-Age,
 * diagnostic), made here as the endpoint's answer would be. */
static void xfwd_endpoint_busy(struct relay_core *c, uint32_t ui)
{
    struct coap_msg a;
    uint8_t age[4];

    rc_msg_limit_503(&a, RC_INFLIGHT_EP_MAX_AGE, RC_INFLIGHT_EP_DIAG, age);
    rc_ux_xfwd_answer(c, ui, RR_EP_OK, &a, RR_XK_ACK);
}

void rc_ux_on_xfwd_request(struct relay_core *c, const struct rc_xreq *x, struct coap_msg *m,
                           const struct rr_route *route, uint64_t now)
{
    char diag[96];

    /* the requester vetted it; a path we know is down answers at once */
    if (c->tp->path_down && c->tp->path_down(c->tpa, route, diag, sizeof(diag))) {
        xfwd_status(c, x, RR_EP_UNREACHABLE);
        return;
    }
    uint32_t ui = take_for(c, UX_O_XFWD, x->req_id, m);
    if (ui == RC_NONE) {
        xfwd_status(c, x, RR_EP_UNREACHABLE);
        return;
    }
    struct rc_ux *u = rc_ux_at(c, ui);
    u->xid_len = (uint8_t)x->idlen;
    memcpy(u->xid, x->id, x->idlen);
    snprintf(u->host, sizeof(u->host), "%s", x->host);
    u->xlen = (uint32_t)x->coap_len;
    if (!rc_ux_count_endpoint(c, ui, now)) {
        xfwd_endpoint_busy(c, ui);
        c->tp->ux_release(c->tpa, ui);
        return;
    }
    int rc = c->tp->ux_send(c->tpa, ui, m, &route->path, now);
    if (rc != 0) {
        c->tp->ux_release(c->tpa, ui);
        if (rc < 0)
            xfwd_status(c, x, RR_EP_UNREACHABLE);
        return;
    }
    c->c.proxied++;
    th_arm(&c->timers, &u->t, now + c->cfg->upstream_timeout_ms);
}

void rc_ux_on_xfwd_cancel(struct relay_core *c, const struct rc_xreq *x, uint64_t now)
{
    /* rare (a client left or cancelled): a scan is fine */
    for (uint32_t i = 0; i < c->ux.n; i++) {
        const struct rc_ux *u = rc_ux_at(c, i);
        if (u->state != RC_UX_FREE && u->origin == UX_O_XFWD && u->req_id == x->req_id &&
            u->xid_len == x->idlen && memcmp(u->xid, x->id, x->idlen) == 0) {
            /* nothing more goes to the requester; an observation is ended
             * at the endpoint, a plain request's answer is dropped */
            if (u->state != RC_UX_CANCEL)
                c->tp->ux_end(c->tpa, i, now);
            return;
        }
    }
}

/* ---- requester: XFWD_RESPONSE ---- */

int rc_xfwd_response_vet(struct relay_core *c, int xp, uint32_t i, uint64_t req_id, uint8_t status,
                         const uint8_t *coap, size_t n, struct coap_msg *m, bool *notif,
                         uint64_t now)
{
    bool ok = status == RR_EP_OK;

    if (ok && coap_msg_parse_udp(coap, n, m) < 0)
        return 1; /* checked by xfwd.c */
    struct rc_dx *d = i < c->dx.n ? rc_dx_at(c, i) : NULL;
    if (!d || d->kind != RC_DX_K_XFWD || d->req_id != req_id ||
        (d->state != RC_DX_WAIT && d->state != RC_DX_OBSERVE)) {
        /* late, or a notification for a client that left: stop it there */
        if (ok && coap_msg_find(m, COAP_OPT_OBSERVE))
            rc_xfwd_send_cancel(c, xp, req_id);
        return 1;
    }
    if (!ok) {
        const char *why;
        uint8_t code = rc_xfwd_fail_code(c, status, &why);
        log_debug("XFWD %016llx: %s", (unsigned long long)req_id, why);
        c->tp->answer(c->tpa, i, code, why, now);
        return 1;
    }
    c->c.proxy_responses++;
    *notif = d->observe_req && is_observe_2xx(m);
    char diag[64];
    if (rc_proxy_check_response(c, m, diag, sizeof(diag)) < 0) {
        if (*notif || d->state == RC_DX_OBSERVE)
            rc_dx_xfwd_cancel(c, i);
        c->tp->answer(c->tpa, i, COAP_BAD_GATEWAY, diag, now);
        return 1;
    }
    return 0;
}
