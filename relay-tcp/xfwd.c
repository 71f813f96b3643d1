/*
 * xfwd.c - cross-transport forwarding between relays (common/proto.h,
 * "Cross-transport forwarding"). Owns:
 *   - our ROUTER at proto_relay_endpoint(state_dir, "tcp"), where other
 *     relays send XFWD_REQUEST / XFWD_CANCEL for routes whose path is one of
 *     our connections (we are the holder: the request goes to the
 *     registrant over its connection, every response goes back as
 *     XFWD_RESPONSE; NO_ROUTE / UNREACHABLE when we cannot);
 *   - one DEALER per other relay ("udp", "ws"), routing id "tcp",
 *     ZMQ_IMMEDIATE so a send to a relay that is not running fails at once
 *     (the client gets 5.02, not a timeout); the known relays' DEALERs are
 *     connected at start, any other relay's when a route names it.
 * Talks to proxy.c (requester and holder logic), exch.c, conn.c.
 */
#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "tcp_relay.h"

int rt_xfwd_open(struct rt_relay *r)
{
    char ep[RR_CFG_STR + 32];
    int one = 1, zero = 0, hwm = 100000;

    if (proto_relay_endpoint(r->cfg.state_dir, RT_RELAY_NAME, ep, sizeof(ep)) < 0) {
        log_warnx("relay endpoint for state_dir \"%s\" is too long", r->cfg.state_dir);
        return -1;
    }
    r->router = zmq_socket(r->zctx, ZMQ_ROUTER);
    if (!r->router)
        goto fail;
    /* a restarted requester takes its routing id back; a response to a
     * requester that is gone fails (EHOSTUNREACH) instead of vanishing */
    if (zmq_setsockopt(r->router, ZMQ_ROUTER_HANDOVER, &one, sizeof(one)) < 0 ||
        zmq_setsockopt(r->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) < 0 ||
        zmq_setsockopt(r->router, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
        zmq_setsockopt(r->router, ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0 ||
        zmq_setsockopt(r->router, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0)
        goto fail;
    if (zmq_bind(r->router, ep) < 0) {
        log_warnx("bind %s: %s", ep, zmq_strerror(errno));
        return -1;
    }
    log_info("cross-transport endpoint %s", ep);
    /* connect to the other relays now: with ZMQ_IMMEDIATE a DEALER made on
     * first use would fail its first send while still connecting */
    rt_xpeer_get(r, "udp");
    rt_xpeer_get(r, "ws");
    return 0;
fail:
    log_warnx("zeromq relay socket: %s", zmq_strerror(errno));
    return -1;
}

void rt_xfwd_close(struct rt_relay *r)
{
    for (int i = 0; i < r->nxpeers; i++)
        zmq_close(r->xpeers[i].sock);
    r->nxpeers = 0;
    if (r->router)
        zmq_close(r->router);
    r->router = NULL;
}

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

int rt_xpeer_get(struct rt_relay *r, const char *name)
{
    char ep[RR_CFG_STR + 32];
    int hwm = 100000;

    if (!relay_name_ok(name) || strcmp(name, RT_RELAY_NAME) == 0)
        return -1;
    for (int i = 0; i < r->nxpeers; i++)
        if (strcmp(r->xpeers[i].name, name) == 0)
            return i;
    if (r->nxpeers >= RT_MAX_XPEERS ||
        proto_relay_endpoint(r->cfg.state_dir, name, ep, sizeof(ep)) < 0)
        return -1;
    void *s = proto_dealer_connect(r->zctx, RT_RELAY_NAME, ep, hwm, true);
    if (!s)
        return -1;
    int i = r->nxpeers++;
    snprintf(r->xpeers[i].name, sizeof(r->xpeers[i].name), "%s", name);
    r->xpeers[i].sock = s;
    log_info("cross-transport peer %s at %s", name, ep);
    return i;
}

int rt_xpeer_send(struct rt_relay *r, int xp, uint16_t type, const void *body, size_t len)
{
    if (xp < 0 || xp >= r->nxpeers)
        return -1;
    if (proto_send(r->xpeers[xp].sock, NULL, 0, type, body, len) < 0) {
        if (errno != EAGAIN)
            log_warn("send %s to relay %s", proto_msg_name(type), r->xpeers[xp].name);
        return -1;
    }
    return 0;
}

/* ---- holder side ---- */

static void send_status(struct rt_relay *r, const uint8_t *id, size_t idlen, uint64_t req_id,
                        uint8_t status)
{
    uint8_t body[16];
    struct wire_w w;

    wire_w_init(&w, body, sizeof(body));
    wire_put_u64(&w, req_id);
    wire_put_u8(&w, status);
    wire_put_bytes(&w, NULL, 0);
    if (proto_send(r->router, id, idlen, RR_MSG_XFWD_RESPONSE, body, w.len) < 0 &&
        errno != EHOSTUNREACH)
        r->c.hwm_drops++;
}

void rt_xfwd_answer(struct rt_relay *r, uint32_t ui, uint8_t status, const struct coap_msg *m)
{
    struct rt_ux *u = &r->ux[ui];
    uint8_t coap[RT_MAX_MSG + 16];
    struct wire_w w;
    ssize_t n = 0;

    if (status == RR_EP_OK) {
        struct coap_msg a = *m;
        a.type = COAP_T_ACK;
        a.msgid = 0;
        n = coap_msg_serialize_udp(&a, coap, sizeof(coap));
        if (n < 0) {
            status = RR_EP_UNREACHABLE;
            n = 0;
        }
    }
    wire_w_init(&w, r->txbuf, RT_TXBUF_SIZE);
    wire_put_u64(&w, u->req_id);
    wire_put_u8(&w, status);
    wire_put_bytes(&w, coap, (size_t)n);
    if (w.err)
        return;
    if (proto_send(r->router, u->xid, u->xid_len, RR_MSG_XFWD_RESPONSE, r->txbuf, w.len) < 0) {
        if (errno == EHOSTUNREACH && u->state == UX_OBSERVE) {
            /* the requesting relay is gone: so is its client */
            log_debug("XFWD requester gone: ending observation of %s", u->host);
            rt_proxy_end_observation(r, ui, 0);
        } else if (errno == EAGAIN) {
            r->c.hwm_drops++;
        }
    }
}

static void on_xfwd_request(struct rt_relay *r, const uint8_t *id, size_t idlen,
                            const uint8_t *body, size_t len, uint64_t now)
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
        m.code == 0 || idlen > RR_RELAY_NAME_MAX) {
        log_warnx("malformed XFWD_REQUEST dropped");
        return;
    }
    r->c.xfwd_in++;
    const struct route_table *t = clone_client_routes(r->clone);
    const struct rr_route *route = t ? route_table_get(t, host) : NULL;
    if (!route || !rt_route_is_ours(route)) {
        send_status(r, id, idlen, req_id, RR_EP_NO_ROUTE);
        return;
    }
    uint32_t ci = rt_conn_find(r, route->path.conn_id);
    if (ci == RT_NONE) {
        send_status(r, id, idlen, req_id, RR_EP_UNREACHABLE);
        return;
    }
    uint32_t ui = rt_ux_alloc(r);
    if (ui == RT_NONE) {
        r->c.no_slot++;
        send_status(r, id, idlen, req_id, RR_EP_UNREACHABLE);
        return;
    }
    struct rt_ux *u = &r->ux[ui];
    const struct coap_msg_opt *obs = coap_msg_find(&m, COAP_OPT_OBSERVE);
    u->origin = UX_O_XFWD;
    u->req_id = req_id;
    u->xid_len = (uint8_t)idlen;
    memcpy(u->xid, id, idlen);
    u->observe_req = obs && coap_opt_value_uint(obs) == 0;
    snprintf(u->host, sizeof(u->host), "%s", host);
    if (rt_ux_send_request(r, ui, &m, ci, now) < 0) {
        rt_ux_release(r, ui);
        send_status(r, id, idlen, req_id, RR_EP_UNREACHABLE);
        return;
    }
    r->c.proxied++;
    th_arm(&r->timers, &u->t, now + r->cfg.upstream_timeout_ms);
}

static void on_xfwd_cancel(struct rt_relay *r, const uint8_t *id, size_t idlen, const uint8_t *body,
                           size_t len, uint64_t now)
{
    struct wire_r rd;

    wire_r_init(&rd, body, len);
    uint64_t req_id = wire_get_u64(&rd);
    if (rd.err)
        return;
    /* rare (a client left or cancelled): a scan is fine */
    for (uint32_t i = 0; i < r->nux; i++) {
        struct rt_ux *u = &r->ux[i];
        if (u->state != UX_FREE && u->origin == UX_O_XFWD && u->req_id == req_id &&
            u->xid_len == idlen && memcmp(u->xid, id, idlen) == 0) {
            if (u->state == UX_CANCEL)
                return;
            /* nothing more goes to the requester; an observation is ended
             * at the registrant, a plain request's answer is dropped */
            rt_proxy_end_observation(r, i, now);
            return;
        }
    }
}

void rt_xfwd_on_router(struct rt_relay *r, uint64_t now)
{
    for (int k = 0; k < 256; k++) {
        uint8_t id[256];
        size_t idlen = 0, len;
        uint16_t type;
        if (proto_recv(r->router, true, id, &idlen, &type, r->ctlbuf, RR_PROTO_MAX_BODY, &len) <
            0) {
            if (errno == EAGAIN)
                return;
            continue;
        }
        switch (type) {
        case RR_MSG_XFWD_REQUEST:
            on_xfwd_request(r, id, idlen, r->ctlbuf, len, now);
            break;
        case RR_MSG_XFWD_CANCEL:
            on_xfwd_cancel(r, id, idlen, r->ctlbuf, len, now);
            break;
        default:
            log_warnx("unexpected %s (0x%04x) on the relay endpoint dropped", proto_msg_name(type),
                      type);
            break;
        }
    }
}

void rt_xfwd_on_xpeer(struct rt_relay *r, int xp, uint64_t now)
{
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
            rt_proxy_on_xfwd_response(r, xp, r->ctlbuf, len, now);
            break;
        default:
            log_warnx("unexpected %s (0x%04x) from relay %s dropped", proto_msg_name(type), type,
                      r->xpeers[xp].name);
            break;
        }
    }
}
