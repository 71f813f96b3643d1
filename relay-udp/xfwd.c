/*
 * xfwd.c - relay-udp's side of cross-transport forwarding (common/proto.h,
 * "Cross-transport forwarding"; docs/architecture.md). The sockets, the
 * encoding and decoding, the req_ids and the status mapping are the relay
 * core's (relay-core/xfwd.c); here is what the UDP message layer adds:
 *   - requester: the client's message layer stays ours (exchange.c:
 *     EMPTY_ACK_DELAY, dedup, separate responses, CON notifications); the
 *     downstream exchange's slot and a check value form the req_id, so
 *     nothing is allocated per request; a body larger than a datagram is
 *     sliced to its first block;
 *   - holder: the request goes to the endpoint exactly like a locally
 *     proxied one (ux_send_request: relay token, message id per binding,
 *     CON retransmission, keepalive verdicts), and every response or
 *     notification goes back as XFWD_RESPONSE to the requester's routing id.
 * Talks to the core, proxy.c, exchange.c, keepalive.c.
 */
#include <errno.h>
#include <string.h>

#include "fwd_rules.h"
#include "log.h"
#include "proto_msg.h"
#include "relay.h"

/* ---- requester side ---- */

static void send_cancel(struct relay *r, uint32_t i)
{
    rc_xfwd_send_cancel(&r->core, r->dx[i].xpeer, r->dx[i].req_id);
}

/* End exchange i with a locally made error: a plain answer, or for an
 * observation the final (non-2.xx, RFC 7641 §3.2) CON notification. */
static void answer_end(struct relay *r, uint32_t i, uint8_t code, const char *why, uint64_t now)
{
    struct dexch *d = &r->dx[i];

    if (d->state != DX_OBSERVE) {
        dx_answer_local(r, i, code, why, now);
        return;
    }
    uint8_t b[4 + COAP_MSG_MAX_TOKEN + 1 + 96];
    size_t n = 4 + d->tkl, pl = strlen(why);
    if (pl > 96)
        pl = 96;
    b[0] = (uint8_t)(0x40 | d->tkl);
    b[1] = code;
    b[2] = b[3] = 0;
    memcpy(b + 4, d->token, d->tkl);
    b[n++] = 0xff;
    memcpy(b + n, why, pl);
    n += pl;
    dx_answer(r, i, b, n, COAP_T_CON, true, now);
}

void xfwd_on_request(struct relay *r, uint32_t i, struct coap_msg *m, const struct rr_route *route,
                     const char *host, uint64_t now)
{
    struct dexch *d = &r->dx[i];
    char diag[96];
    uint8_t code;
    int xp;
    uint64_t req_id;

    const struct coap_msg_opt *obs = coap_msg_find(m, COAP_OPT_OBSERVE);
    if (obs) {
        /* the client re-registers or cancels (RFC 7641 §3.3.1, §3.6): the
         * old forwarded observation ends, the new request travels on its
         * own and reaches the endpoint under the holder's same path */
        uint32_t oi = dx_find_observation(r, i, DX_K_XFWD);
        if (oi != RU_NONE) {
            send_cancel(r, oi);
            dx_done(r, oi, now);
        }
    }
    d->kind = DX_K_XFWD;
    d->observe_req = obs && coap_opt_value_uint(obs) == 0;
    d->blk2 = coap_msg_opt_uint(m, COAP_OPT_BLOCK2, BW_NONE);
    d->b1echo = BW_NONE;
    /* a stream origin takes the body whole: collect Block1 uploads here */
    if (coap_msg_find(m, COAP_OPT_BLOCK1) && xblock_collect(r, i, m, host, now) != 0)
        return;
    if (xblock_from_copy(r, i, m, host, now))
        return;
    if (rc_xfwd_forward(&r->core, i, m, route, host, &xp, &req_id, &code, diag, sizeof(diag)) < 0) {
        dx_answer_local(r, i, code, diag, now);
        return;
    }
    d->xpeer = (uint8_t)xp;
    d->req_id = req_id;
    th_arm(&r->core.timers, &d->t_aux, now + r->cfg.upstream_timeout_ms);
    dx_arm_empty_ack(r, i, now);
}

void xfwd_on_timeout(struct relay *r, uint32_t i, uint64_t now)
{
    struct dexch *d = &r->dx[i];

    if (d->kind != DX_K_XFWD || d->state != DX_WAIT)
        return;
    send_cancel(r, i);
    log_debug("XFWD %016llx to relay %s: no answer", (unsigned long long)d->req_id,
              rc_xpeer_name(&r->core, d->xpeer));
    r->core.c.proxy_5_04++;
    answer_end(r, i, COAP_GATEWAY_TIMEOUT, "endpoint did not answer", now);
}

void xfwd_client_gone(struct relay *r, uint32_t i, uint64_t now)
{
    struct dexch *d = &r->dx[i];

    if (d->kind == DX_K_XFWD && (d->state == DX_OBSERVE || d->state == DX_WAIT))
        send_cancel(r, i);
    dx_done(r, i, now);
}

void xfwd_on_response(void *tp, int xp, uint32_t i, uint64_t req_id, uint8_t status,
                      const uint8_t *coap, size_t n, uint8_t kind, uint64_t now)
{
    struct relay *r = tp;
    struct coap_msg m;

    if (status == RR_EP_OK && coap_msg_parse_udp(coap, n, &m) < 0)
        return; /* checked by the core */
    struct dexch *d = i < r->ndx ? &r->dx[i] : NULL;
    if (!d || d->kind != DX_K_XFWD || d->req_id != req_id ||
        (d->state != DX_WAIT && d->state != DX_OBSERVE)) {
        /* late, or a notification for a client that left: stop it there */
        if (status == RR_EP_OK && coap_msg_find(&m, COAP_OPT_OBSERVE))
            rc_xfwd_send_cancel(&r->core, xp, req_id);
        return;
    }
    if (status != RR_EP_OK) {
        const char *why;
        uint8_t code = rc_xfwd_fail_code(&r->core, status, &why);
        log_debug("XFWD %016llx: %s", (unsigned long long)req_id, why);
        answer_end(r, i, code, why, now);
        return;
    }
    r->core.c.proxy_responses++;
    bool notif =
        coap_msg_find(&m, COAP_OPT_OBSERVE) && d->observe_req && COAP_CODE_CLASS(m.code) == 2;
    char diag[64];
    if (rc_proxy_check_response(&r->core, &m, diag, sizeof(diag)) < 0) {
        if (notif || d->state == DX_OBSERVE)
            send_cancel(r, i);
        answer_end(r, i, COAP_BAD_GATEWAY, diag, now);
        return;
    }
    /* a stream origin's body, or a block of its own, larger than the
     * client's block or datagram: cut the block asked for (blockwise.h) */
    uint8_t sliced[COAP_MSG_MAX_UDP], b1v[4];
    /* the answer to a collected upload names its last block (RFC 7959 §2.3) */
    bool echo =
        d->b1echo != BW_NONE && coap_msg_add_opt_uint(&m, COAP_OPT_BLOCK1, d->b1echo, b1v) == 0;
    ssize_t k = bw_fit_response(&m, n, d->blk2, sliced, sizeof(sliced));
    if (k == 0 && echo)
        k = coap_msg_serialize_udp(&m, sliced, sizeof(sliced));
    if (k < 0) {
        if (notif || d->state == DX_OBSERVE)
            send_cancel(r, i);
        if (k == -2)
            answer_end(r, i, COAP_BAD_OPTION, "block beyond the end of the representation", now);
        else
            answer_end(r, i, COAP_BAD_GATEWAY, "response too large for a datagram", now);
        return;
    }
    if (k > 0) {
        xblock_keep(r, i, coap, n, now);
        coap = sliced;
        n = (size_t)k;
    }
    int rc;
    if (d->state == DX_OBSERVE) {
        /* the kind field: a UDP holder passes the endpoint's CON/NON, a
         * TCP one says CON, so a client that left is noticed */
        uint8_t type = kind == RR_XK_NON ? COAP_T_NON : COAP_T_CON;
        rc = dx_answer(r, i, coap, n, type, !notif, now);
    } else {
        rc = dx_answer(r, i, coap, n, 0xff, !notif, now);
        if (notif)
            r->core.c.observations++;
    }
    if (!notif)
        return;
    th_cancel(&r->core.timers, &d->t_aux); /* an observation has no timeout */
    if (rc < 0) {
        send_cancel(r, i);
        dx_done(r, i, now);
    }
}

/* ---- holder side ---- */

static void send_status(struct relay *r, const struct rc_xreq *x, uint8_t status)
{
    rc_xfwd_send_response(&r->core, x->id, x->idlen, x->req_id, status, NULL, 0, RR_XK_ACK);
}

int xfwd_answer(struct relay *r, uint32_t ui, uint8_t status, const uint8_t *coap, size_t len)
{
    struct uexch *u = &r->ux[ui];
    uint8_t resp[COAP_MSG_MAX_UDP + 8], kind = RR_XK_ACK;
    size_t n = 0;

    if (status == RR_EP_OK) {
        /* the requester's own token again; the kind (ACK for a
         * piggybacked answer, CON/NON for separate ones) tells a UDP
         * requester how the endpoint sent it */
        int rest = coap_raw_rest(coap, len);
        kind = rest < 0 ? RR_XK_ACK : (coap[0] >> 4) & 3; /* = enum rr_xfwd_kind */
        uint8_t type = kind;
        ssize_t m = rest < 0 ? -1
                             : coap_rewrite(resp, sizeof(resp), type, coap[1], 0, u->h.ep_token,
                                            u->h.ep_tkl, coap + rest, len - (size_t)rest);
        if (m < 0)
            status = RR_EP_UNREACHABLE;
        else
            n = (size_t)m;
    }
    return rc_xfwd_send_response(&r->core, u->h.xid, u->h.xid_len, u->h.req_id, status, resp, n,
                                 kind);
}

void xfwd_on_holder_request(void *tp, const struct rc_xreq *x, struct coap_msg *mp,
                            const struct rr_route *route, uint64_t now)
{
    struct relay *r = tp;
    struct coap_msg m = *mp;
    const char *host = x->host;

    if (ka_unreachable_since(r, host)) {
        send_status(r, x, RR_EP_UNREACHABLE);
        return;
    }
    uint32_t ui = ux_alloc(r);
    if (ui == RU_NONE) {
        r->core.c.no_slot++;
        send_status(r, x, RR_EP_UNREACHABLE);
        return;
    }
    struct uexch *u = &r->ux[ui];
    const struct coap_msg_opt *obs = coap_msg_find(&m, COAP_OPT_OBSERVE);
    u->h.origin = UX_O_XFWD;
    u->h.observe_req = obs && coap_opt_value_uint(obs) == 0;
    u->h.req_id = x->req_id;
    u->h.ep_tkl = m.tkl;
    memcpy(u->h.ep_token, m.token, m.tkl);
    u->h.xid_len = (uint8_t)x->idlen;
    memcpy(u->h.xid, x->id, x->idlen);
    snprintf(u->h.host, sizeof(u->h.host), "%s", host);
    if (m.type != COAP_T_NON)
        m.type = COAP_T_CON;
    u->b1slot = BW_NONE;
    /* a stream client's body larger than a datagram (with our token): Block1 blocks */
    int rc =
        x->coap_len > COAP_MSG_MAX_UDP - COAP_MSG_MAX_TOKEN && !coap_msg_find(&m, COAP_OPT_BLOCK1)
            ? xblock_split_start(r, ui, &m, &route->path, now)
            : ux_send_request(r, ui, &m, &route->path, now);
    if (rc != 0) {
        ux_release(r, ui);
        if (rc < 0)
            send_status(r, x, RR_EP_UNREACHABLE);
        return;
    }
    r->core.c.proxied++;
    th_arm(&r->core.timers, &u->t_life, now + r->cfg.upstream_timeout_ms);
}

void xfwd_on_holder_cancel(void *tp, const struct rc_xreq *x, uint64_t now)
{
    struct relay *r = tp;

    /* rare (a client left or cancelled): a scan is fine */
    for (uint32_t i = 0; i < r->nux; i++) {
        struct uexch *u = &r->ux[i];
        if (u->h.state != UX_FREE && u->h.origin == UX_O_XFWD && u->h.req_id == x->req_id &&
            u->h.xid_len == x->idlen && memcmp(u->h.xid, x->id, x->idlen) == 0) {
            proxy_end_upstream(r, i, now);
            return;
        }
    }
}
