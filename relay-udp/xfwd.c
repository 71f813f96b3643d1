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
 *   - holder: the core takes the upstream exchange and answers the
 *     requester (relay-core/answer.c); the request goes to the endpoint
 *     exactly like a locally proxied one (ux_send_request: relay token,
 *     message id per binding, CON retransmission, keepalive verdicts), a
 *     body larger than a datagram in Block1 blocks (xblock.c).
 * Talks to the core, proxy.c, exchange.c, keepalive.c.
 */
#include <errno.h>
#include <string.h>

#include "fwd_rules.h"
#include "log.h"
#include "proto_msg.h"
#include "relay.h"

/* ---- requester side ---- */

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
        uint32_t oi = rc_dx_find_observation(&r->core, i, DX_K_XFWD);
        if (oi != RU_NONE) {
            rc_dx_xfwd_cancel(&r->core, oi);
            dx_done(r, oi, now);
        }
    }
    d->h.kind = DX_K_XFWD;
    d->h.observe_req = obs && coap_opt_value_uint(obs) == 0;
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
    d->h.xpeer = (uint8_t)xp;
    d->h.req_id = req_id;
    th_arm(&r->core.timers, &d->h.t, now + r->cfg.upstream_timeout_ms);
    dx_arm_empty_ack(r, i, now);
}

void xfwd_client_gone(struct relay *r, uint32_t i, uint64_t now)
{
    struct dexch *d = &r->dx[i];

    if (d->h.kind == DX_K_XFWD && (d->h.state == DX_OBSERVE || d->h.state == DX_WAIT))
        rc_dx_xfwd_cancel(&r->core, i);
    dx_done(r, i, now);
}

void xfwd_on_response(void *tp, int xp, uint32_t i, uint64_t req_id, uint8_t status,
                      const uint8_t *coap, size_t n, uint8_t kind, uint64_t now)
{
    struct relay *r = tp;
    struct coap_msg m;
    bool notif;

    /* late answers, failures and unsafe options are the core's */
    if (rc_xfwd_response_vet(&r->core, xp, i, req_id, status, coap, n, &m, &notif, now))
        return;
    struct dexch *d = &r->dx[i];
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
        if (notif || d->h.state == DX_OBSERVE)
            rc_dx_xfwd_cancel(&r->core, i);
        if (k == -2)
            dx_answer_end(r, i, COAP_BAD_OPTION, "block beyond the end of the representation", now);
        else
            dx_answer_end(r, i, COAP_BAD_GATEWAY, "response too large for a datagram", now);
        return;
    }
    if (k > 0) {
        xblock_keep(r, i, coap, n, now);
        coap = sliced;
        n = (size_t)k;
    }
    int rc;
    if (d->h.state == DX_OBSERVE) {
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
    th_cancel(&r->core.timers, &d->h.t); /* an observation has no timeout */
    if (rc < 0) {
        rc_dx_xfwd_cancel(&r->core, i);
        dx_done(r, i, now);
    }
}

/* ---- holder side ---- */

/* The request and its routing are the core's (rc_ux_on_xfwd_request), the
 * answers too (rc_ux_answer); here only what a datagram cannot carry. */
int xfwd_holder_send(struct relay *r, uint32_t ui, struct coap_msg *m, const struct rr_peer *path,
                     uint64_t now)
{
    /* a stream client's body larger than a datagram (with our token):
     * Block1 blocks */
    if (r->ux[ui].h.xlen > COAP_MSG_MAX_UDP - COAP_MSG_MAX_TOKEN &&
        !coap_msg_find(m, COAP_OPT_BLOCK1))
        return xblock_split_start(r, ui, m, path, now);
    return ux_send_request(r, ui, m, path, now);
}
