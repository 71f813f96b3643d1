/*
 * xfwd.c - relay-udp's side of cross-transport forwarding (common/proto.h,
 * "Cross-transport forwarding"; docs/architecture.md). Owns:
 *   - our ROUTER at proto_relay_endpoint(state_dir, "udp"): other relays
 *     send XFWD_REQUEST / XFWD_CANCEL for routes whose path is a NAT binding
 *     of ours. We are the holder: the request goes to the endpoint exactly
 *     like a locally proxied one (ux_send_request: relay token, message id
 *     per binding, CON retransmission, keepalive verdicts), and every
 *     response or notification goes back as XFWD_RESPONSE to the
 *     requester's routing id;
 *   - one DEALER per other relay (routing id "udp", ZMQ_IMMEDIATE, so a
 *     send to a relay that is not running fails at once and the client gets
 *     5.02, not a timeout). The known relays' DEALERs connect at start and
 *     any other relay's when a route names it: a DEALER made on first use
 *     would fail its first send while still connecting.
 * As requester, the client's message layer stays ours (exchange.c:
 * EMPTY_ACK_DELAY, dedup, separate responses, CON notifications); the
 * downstream exchange's slot and a check value form the req_id, so nothing
 * is allocated per request. Talks to proxy.c (the vetting and the holder's
 * upstream path), exchange.c, keepalive.c, ctl.c (route changes).
 */
#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "proxy_rules.h"
#include "relay.h"

#define XF_HWM 100000
#define XF_BODY_MAX (COAP_MSG_MAX_UDP + RR_HOST_MAX + 32)

/* Relay names become file names in the state dir: keep them plain. */
static bool relay_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= RR_RELAY_NAME_MAX)
        return false;
    for (size_t k = 0; k < n; k++)
        if (!((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= '0' && s[k] <= '9') || s[k] == '-'))
            return false;
    return true;
}

static int set_common_opts(void *s)
{
    int zero = 0, hwm = XF_HWM;
    if (zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0 ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0)
        return -1;
    return 0;
}

int xfwd_peer_get(struct relay *r, const char *name)
{
    char ep[RR_CFG_STR + 32];

    if (!r->zctx || !relay_name_ok(name) || strcmp(name, RU_RELAY_NAME) == 0)
        return -1;
    for (int i = 0; i < r->nxpeers; i++)
        if (strcmp(r->xpeers[i].name, name) == 0)
            return i;
    if (r->nxpeers >= RU_MAX_XPEERS ||
        proto_relay_endpoint(r->cfg.state_dir, name, ep, sizeof(ep)) < 0)
        return -1;
    void *s = proto_dealer_connect(r->zctx, RU_RELAY_NAME, ep, XF_HWM, true);
    if (!s)
        return -1;
    int i = r->nxpeers++;
    snprintf(r->xpeers[i].name, sizeof(r->xpeers[i].name), "%s", name);
    r->xpeers[i].sock = s;
    log_info("cross-transport peer %s at %s", name, ep);
    return i;
}

int xfwd_open(struct relay *r)
{
    char ep[RR_CFG_STR + 32];
    int one = 1;

    if (proto_relay_endpoint(r->cfg.state_dir, RU_RELAY_NAME, ep, sizeof(ep)) < 0) {
        log_warnx("relay endpoint for state_dir \"%s\" is too long", r->cfg.state_dir);
        return -1;
    }
    r->xrouter = zmq_socket(r->zctx, ZMQ_ROUTER);
    if (!r->xrouter)
        goto fail;
    /* a restarted requester takes its routing id back; a response to a
     * requester that is gone fails (EHOSTUNREACH) instead of vanishing */
    if (zmq_setsockopt(r->xrouter, ZMQ_ROUTER_HANDOVER, &one, sizeof(one)) < 0 ||
        zmq_setsockopt(r->xrouter, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) < 0 ||
        set_common_opts(r->xrouter) < 0)
        goto fail;
    if (zmq_bind(r->xrouter, ep) < 0) {
        log_warnx("bind %s: %s", ep, zmq_strerror(errno));
        return -1;
    }
    log_info("cross-transport endpoint %s", ep);
    xfwd_peer_get(r, "tcp");
    xfwd_peer_get(r, "ws");
    return 0;
fail:
    log_warnx("zeromq relay socket: %s", zmq_strerror(errno));
    return -1;
}

void xfwd_close(struct relay *r)
{
    for (int i = 0; i < r->nxpeers; i++)
        zmq_close(r->xpeers[i].sock);
    r->nxpeers = 0;
    if (r->xrouter)
        zmq_close(r->xrouter);
    r->xrouter = NULL;
}

/* ---- requester side ---- */

static void send_cancel_id(struct relay *r, int xp, uint64_t req_id)
{
    uint8_t body[8];
    struct wire_w w;

    if (xp < 0 || xp >= r->nxpeers)
        return;
    wire_w_init(&w, body, sizeof(body));
    wire_put_u64(&w, req_id);
    if (proto_send(r->xpeers[xp].sock, NULL, 0, RR_MSG_XFWD_CANCEL, body, w.len) < 0 &&
        errno == EAGAIN)
        r->c.hwm_drops++;
}

static void send_cancel(struct relay *r, uint32_t i)
{
    send_cancel_id(r, r->dx[i].xpeer, r->dx[i].req_id);
}

/* The forwarded observation this client holds under this token, or RU_NONE.
 * Only requests carrying Observe get here, so a scan is affordable. */
static uint32_t find_observation(struct relay *r, uint32_t di)
{
    const struct dexch *d = &r->dx[di];
    for (uint32_t i = 0; i < r->ndx; i++) {
        const struct dexch *o = &r->dx[i];
        if (i != di && o->state == DX_OBSERVE && o->kind == DX_K_XFWD && o->tkl == d->tkl &&
            memcmp(o->token, d->token, d->tkl) == 0 && addr_equal(&o->peer, &d->peer))
            return i;
    }
    return RU_NONE;
}

/* End exchange i with a locally made error: a plain answer, or for an
 * observation the final (non-2.xx, RFC 7641 §3.2) CON notification. */
static void answer_end(struct relay *r, uint32_t i, uint8_t code, const char *why, uint64_t now)
{
    struct dexch *d = &r->dx[i];

    if (code == COAP_GATEWAY_TIMEOUT)
        r->c.proxy_5_04++;
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
    uint8_t coap[COAP_MSG_MAX_UDP], body[XF_BODY_MAX];
    uint8_t *cb = coap, *bb = body;
    size_t ccap = sizeof(coap), bcap = sizeof(body);
    char diag[96];
    struct wire_w w;

    int xp = xfwd_peer_get(r, route->path.relay);
    if (xp < 0) {
        snprintf(diag, sizeof(diag), "registrant's relay \"%.32s\" is not available",
                 route->path.relay);
        dx_answer_local(r, i, COAP_BAD_GATEWAY, diag, now);
        return;
    }
    const struct coap_msg_opt *obs = coap_msg_find(m, COAP_OPT_OBSERVE);
    if (obs) {
        /* the client re-registers or cancels (RFC 7641 §3.3.1, §3.6): the
         * old forwarded observation ends, the new request travels on its
         * own and reaches the endpoint under the holder's same path */
        uint32_t oi = find_observation(r, i);
        if (oi != RU_NONE) {
            send_cancel(r, oi);
            dx_done(r, oi, now);
        }
    }
    d->kind = DX_K_XFWD;
    d->observe_req = obs && coap_opt_value_uint(obs) == 0;
    d->xpeer = (uint8_t)xp;
    d->req_id = ru_xfwd_req_id(i, exch_new_check(r));
    d->blk2 = coap_msg_opt_uint(m, COAP_OPT_BLOCK2, BW_NONE);
    d->b1echo = BW_NONE;
    /* a stream origin takes the body whole: collect Block1 uploads here */
    if (coap_msg_find(m, COAP_OPT_BLOCK1) && xblock_collect(r, i, m, host, now) != 0)
        return;
    if (xblock_from_copy(r, i, m, host, now))
        return;
    if (m->payload_len > COAP_MSG_MAX_UDP / 2) {
        cb = bw_scratch(&r->bw, 0, &ccap);
        bb = bw_scratch(&r->bw, 1, &bcap);
    }
    /* type (CON/NON) travels along: a UDP holder keeps it upstream */
    m->msgid = 0;
    ssize_t n = coap_msg_serialize_udp(m, cb, ccap);
    if (n < 0) {
        dx_answer_local(r, i, COAP_TOO_LARGE, "request too large", now);
        return;
    }
    wire_w_init(&w, bb, bcap);
    wire_put_u64(&w, d->req_id);
    wire_put_str(&w, host);
    wire_put_bytes(&w, cb, (size_t)n);
    if (w.err || proto_send(r->xpeers[xp].sock, NULL, 0, RR_MSG_XFWD_REQUEST, bb, w.len) < 0) {
        r->c.xfwd_refused++;
        snprintf(diag, sizeof(diag), "registrant's relay \"%s\" is not running",
                 r->xpeers[xp].name);
        dx_answer_local(r, i, COAP_BAD_GATEWAY, diag, now);
        return;
    }
    r->c.xfwd_out++;
    th_arm(&r->timers, &d->t_aux, now + r->cfg.upstream_timeout_ms);
    dx_arm_empty_ack(r, i, now);
}

void xfwd_on_timeout(struct relay *r, uint32_t i, uint64_t now)
{
    struct dexch *d = &r->dx[i];

    if (d->kind != DX_K_XFWD || d->state != DX_WAIT)
        return;
    send_cancel(r, i);
    log_debug("XFWD %016llx to relay %s: no answer", (unsigned long long)d->req_id,
              r->xpeers[d->xpeer].name);
    answer_end(r, i, COAP_GATEWAY_TIMEOUT, "endpoint did not answer", now);
}

void xfwd_client_gone(struct relay *r, uint32_t i, uint64_t now)
{
    struct dexch *d = &r->dx[i];

    if (d->kind == DX_K_XFWD && (d->state == DX_OBSERVE || d->state == DX_WAIT))
        send_cancel(r, i);
    dx_done(r, i, now);
}

static void on_response(struct relay *r, int xp, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r rd;
    const uint8_t *coap;
    struct coap_msg m;
    uint16_t bad;

    wire_r_init(&rd, body, len);
    uint64_t req_id = wire_get_u64(&rd);
    uint8_t status = wire_get_u8(&rd);
    size_t n = wire_get_bytes(&rd, &coap);
    if (rd.err || (status == RR_EP_OK &&
                   (coap_msg_parse_udp(coap, n, &m) < 0 || COAP_CODE_CLASS(m.code) < 2))) {
        log_warnx("malformed XFWD_RESPONSE from relay %s dropped", r->xpeers[xp].name);
        return;
    }
    uint32_t i = ru_xfwd_req_slot(req_id);
    struct dexch *d = i < r->ndx ? &r->dx[i] : NULL;
    if (!d || d->kind != DX_K_XFWD || d->req_id != req_id ||
        (d->state != DX_WAIT && d->state != DX_OBSERVE)) {
        /* late, or a notification for a client that left: stop it there */
        if (status == RR_EP_OK && coap_msg_find(&m, COAP_OPT_OBSERVE))
            send_cancel_id(r, xp, req_id);
        return;
    }
    if (status != RR_EP_OK) {
        const char *why;
        uint8_t code = ru_xfwd_status_code(status, &why);
        log_debug("XFWD %016llx: %s", (unsigned long long)req_id, why);
        answer_end(r, i, code, why, now);
        return;
    }
    r->c.proxy_responses++;
    bool notif =
        coap_msg_find(&m, COAP_OPT_OBSERVE) && d->observe_req && COAP_CODE_CLASS(m.code) == 2;
    if (fwd_check_options(&m, &r->cfg, &bad) < 0) {
        char diag[64];
        snprintf(diag, sizeof(diag), "endpoint sent unknown unsafe option %u", bad);
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
        /* a UDP holder passes the endpoint's CON/NON; a TCP one has no
         * types (ACK): then CON, so a client that left is noticed */
        uint8_t type = m.type == COAP_T_NON ? COAP_T_NON : COAP_T_CON;
        rc = dx_answer(r, i, coap, n, type, !notif, now);
    } else {
        rc = dx_answer(r, i, coap, n, 0xff, !notif, now);
        if (notif)
            r->c.observations++;
    }
    if (!notif)
        return;
    th_cancel(&r->timers, &d->t_aux); /* an observation has no timeout */
    if (rc < 0) {
        send_cancel(r, i);
        dx_done(r, i, now);
    }
}

void xfwd_on_peer(struct relay *r, int xp, uint64_t now)
{
    /* bounded per wake-up; zmq_poll reports the rest next time */
    for (int k = 0; k < 256; k++) {
        uint16_t type;
        size_t len;
        if (proto_recv(r->xpeers[xp].sock, false, NULL, NULL, &type, r->ctlbuf, RR_PROTO_MAX_BODY,
                       &len) < 0) {
            if (errno == EAGAIN)
                return;
            continue;
        }
        switch (type) {
        case RR_MSG_XFWD_RESPONSE:
            on_response(r, xp, r->ctlbuf, len, now);
            break;
        default:
            log_warnx("unexpected %s (0x%04x) from relay %s dropped", proto_msg_name(type), type,
                      r->xpeers[xp].name);
            break;
        }
    }
}

/* ---- holder side ---- */

static void send_status(struct relay *r, const uint8_t *id, size_t idlen, uint64_t req_id,
                        uint8_t status)
{
    uint8_t body[16];
    struct wire_w w;

    wire_w_init(&w, body, sizeof(body));
    wire_put_u64(&w, req_id);
    wire_put_u8(&w, status);
    wire_put_bytes(&w, NULL, 0);
    if (proto_send(r->xrouter, id, idlen, RR_MSG_XFWD_RESPONSE, body, w.len) < 0 && errno == EAGAIN)
        r->c.hwm_drops++;
}

int xfwd_answer(struct relay *r, uint32_t ui, uint8_t status, const uint8_t *coap, size_t len)
{
    struct uexch *u = &r->ux[ui];
    uint8_t resp[COAP_MSG_MAX_UDP + 8], body[COAP_MSG_MAX_UDP + 32];
    struct wire_w w;
    size_t n = 0;

    if (!r->xrouter) {
        errno = ENOTCONN;
        return -1;
    }
    if (status == RR_EP_OK) {
        /* the requester's own token again; the type (ACK for a
         * piggybacked answer, CON/NON for separate ones) tells a UDP
         * requester how the endpoint sent it */
        int rest = coap_raw_rest(coap, len);
        uint8_t type = rest < 0 ? 0 : (coap[0] >> 4) & 3;
        ssize_t m = rest < 0 ? -1
                             : coap_rewrite(resp, sizeof(resp), type, coap[1], 0, u->ep_token,
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
    if (w.err) {
        errno = EMSGSIZE;
        return -1;
    }
    if (proto_send(r->xrouter, u->xid, u->xid_len, RR_MSG_XFWD_RESPONSE, body, w.len) < 0) {
        int e = errno;
        if (e == EAGAIN)
            r->c.hwm_drops++;
        errno = e;
        return -1;
    }
    return 0;
}

static void on_request(struct relay *r, const uint8_t *id, size_t idlen, const uint8_t *body,
                       size_t len, uint64_t now)
{
    struct wire_r rd;
    char host[RR_HOST_MAX];
    const uint8_t *coap;
    struct coap_msg m;

    wire_r_init(&rd, body, len);
    uint64_t req_id = wire_get_u64(&rd);
    wire_get_str(&rd, host, sizeof(host));
    size_t n = wire_get_bytes(&rd, &coap);
    if (rd.err || coap_msg_parse_udp(coap, n, &m) < 0 || COAP_CODE_CLASS(m.code) != 0 ||
        m.code == 0 || idlen == 0 || idlen > RR_RELAY_NAME_MAX) {
        log_warnx("malformed XFWD_REQUEST dropped");
        return;
    }
    r->c.xfwd_in++;
    const struct route_table *t = r->clone ? clone_client_routes(r->clone) : NULL;
    const struct rr_route *route = t ? route_table_get(t, host) : NULL;
    if (!route || route->path.transport != RR_TRANSPORT_UDP ||
        strcmp(route->path.relay, RU_RELAY_NAME) != 0) {
        send_status(r, id, idlen, req_id, RR_EP_NO_ROUTE);
        return;
    }
    if (ka_unreachable_since(r, host)) {
        send_status(r, id, idlen, req_id, RR_EP_UNREACHABLE);
        return;
    }
    uint32_t ui = ux_alloc(r);
    if (ui == RU_NONE) {
        r->c.proxy_no_slot++;
        send_status(r, id, idlen, req_id, RR_EP_UNREACHABLE);
        return;
    }
    struct uexch *u = &r->ux[ui];
    const struct coap_msg_opt *obs = coap_msg_find(&m, COAP_OPT_OBSERVE);
    u->origin = UX_O_XFWD;
    u->observe_req = obs && coap_opt_value_uint(obs) == 0;
    u->ep_req_id = req_id;
    u->ep_tkl = m.tkl;
    memcpy(u->ep_token, m.token, m.tkl);
    u->xid_len = (uint8_t)idlen;
    memcpy(u->xid, id, idlen);
    snprintf(u->host, sizeof(u->host), "%s", host);
    if (m.type != COAP_T_NON)
        m.type = COAP_T_CON;
    u->b1slot = BW_NONE;
    /* a stream client's body larger than a datagram (with our token): Block1 blocks */
    int rc = n > COAP_MSG_MAX_UDP - COAP_MSG_MAX_TOKEN && !coap_msg_find(&m, COAP_OPT_BLOCK1)
                 ? xblock_split_start(r, ui, &m, &route->path, now)
                 : ux_send_request(r, ui, &m, &route->path, now);
    if (rc != 0) {
        ux_release(r, ui);
        if (rc < 0)
            send_status(r, id, idlen, req_id, RR_EP_UNREACHABLE);
        return;
    }
    r->c.proxied++;
    th_arm(&r->timers, &u->t_life, now + r->cfg.upstream_timeout_ms);
}

static void on_cancel(struct relay *r, const uint8_t *id, size_t idlen, const uint8_t *body,
                      size_t len, uint64_t now)
{
    struct wire_r rd;

    wire_r_init(&rd, body, len);
    uint64_t req_id = wire_get_u64(&rd);
    if (rd.err)
        return;
    /* rare (a client left or cancelled): a scan is fine */
    for (uint32_t i = 0; i < r->nux; i++) {
        struct uexch *u = &r->ux[i];
        if (u->state != UX_FREE && u->origin == UX_O_XFWD && u->ep_req_id == req_id &&
            u->xid_len == idlen && memcmp(u->xid, id, idlen) == 0) {
            proxy_end_upstream(r, i, now);
            return;
        }
    }
}

void xfwd_on_router(struct relay *r, uint64_t now)
{
    for (int k = 0; k < 256; k++) {
        uint8_t id[256];
        size_t idlen = 0, len;
        uint16_t type;
        if (proto_recv(r->xrouter, true, id, &idlen, &type, r->ctlbuf, RR_PROTO_MAX_BODY, &len) <
            0) {
            if (errno == EAGAIN)
                return;
            continue;
        }
        switch (type) {
        case RR_MSG_XFWD_REQUEST:
            on_request(r, id, idlen, r->ctlbuf, len, now);
            break;
        case RR_MSG_XFWD_CANCEL:
            on_cancel(r, id, idlen, r->ctlbuf, len, now);
            break;
        default:
            log_warnx("unexpected %s (0x%04x) on the relay endpoint dropped", proto_msg_name(type),
                      type);
            break;
        }
    }
}
