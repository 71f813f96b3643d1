/*
 * xfwd.c - cross-transport forwarding in the relay core (common/proto.h,
 * "Cross-transport forwarding"; docs/architecture.md). Owns:
 *   - our ROUTER at proto_relay_endpoint(state_dir, our name): other relays
 *     send XFWD_REQUEST / XFWD_CANCEL for routes whose path is ours. The
 *     request is decoded and checked here (a routing id of 1 ..
 *     RR_RELAY_NAME_MAX bytes, a request code, a route that is ours, else
 *     NO_ROUTE) and handed to the transport (xfwd_request), which sends it
 *     upstream like a local one and answers with rc_xfwd_send_response;
 *   - one DEALER per other relay (routing id = our name, ZMQ_IMMEDIATE, so a
 *     send to a relay that is not running fails at once and the client gets
 *     5.02, not a timeout). The relays named by xfwd_peers connect at start,
 *     any other when a route names it (ctl.c), up to xfwd_max_peers;
 *   - the one XFWD status -> CoAP code mapping and the one way an XFWD
 *     req_id is made (ids.c), and rc_zsend, through which every ZeroMQ send
 *     of a relay goes (one rule for counting high-water-mark drops).
 * Talks to proto.c (framing), loop.c (the registry), the transport.
 */
#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "core.h"
#include "curve.h"
#include "xfwd_ep.h"
#include "log.h"
#include "statedir.h"
#include "proto_msg.h"
#include "strcopy.h"

int rc_zsend(struct relay_core *c, void *sock, const void *id, size_t idlen, uint16_t type,
             const void *body, size_t len)
{
    int rc = proto_send(sock, id, idlen, type, body, len);
    int e = errno;

    rc_zsock_used(c, sock);
    if (rc < 0) {
        if (e == EAGAIN)
            c->c.hwm_drops++;
        else if (e != EHOSTUNREACH)
            log_warnx("send %s: %s", proto_msg_name(type), zmq_strerror(e));
        errno = e;
        return -1;
    }
    return 0;
}

bool rc_relay_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= RR_RELAY_NAME_MAX)
        return false;
    for (size_t k = 0; k < n; k++)
        if (!((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= '0' && s[k] <= '9') || s[k] == '-'))
            return false;
    return true;
}

const char *rc_xpeer_name(const struct relay_core *c, int xp)
{
    return xp >= 0 && xp < c->nxpeers ? c->xpeers[xp].name : "?";
}

int rc_xpeer_get(struct relay_core *c, const char *name)
{
    char ep[RR_CFG_STR + 32];

    if (!c->zctx || !rc_relay_name_ok(name) || strcmp(name, c->name) == 0)
        return -1;
    for (int i = 0; i < c->nxpeers; i++)
        if (strcmp(c->xpeers[i].name, name) == 0)
            return i;
    if (c->nxpeers >= c->max_xpeers || xfwd_endpoint(c->cfg, name, ep, sizeof(ep)) < 0)
        return -1;
    void *s = proto_dealer_connect(c->zctx, c->name, ep, RC_XF_HWM, true);
    if (!s)
        return -1;
    int i = c->nxpeers++;
    snprintf(c->xpeers[i].name, sizeof(c->xpeers[i].name), "%s", name);
    c->xpeers[i].sock = s;
    rc_zsock_add(c, s, i);
    log_info("cross-transport peer %s at %s", name, ep);
    return i;
}

/* Connect the DEALERs to the relays named in xfwd_peers (comma list). */
static void connect_configured(struct relay_core *c)
{
    const char *p = c->cfg->xfwd_peers;
    while (*p) {
        char name[RR_RELAY_NAME_MAX];
        size_t n = 0;
        while (*p == ' ' || *p == ',')
            p++;
        while (p[n] && p[n] != ',' && p[n] != ' ')
            n++;
        if (n > 0 && n < sizeof(name)) {
            memcpy(name, p, n);
            name[n] = '\0';
            if (strcmp(name, c->name) != 0 && rc_xpeer_get(c, name) < 0)
                log_warnx("xfwd_peers: cannot connect to relay \"%s\"", name);
        }
        p += n;
    }
}

int rc_xfwd_open(struct relay_core *c)
{
    char ep[RR_CFG_STR + 32];
    int one = 1, zero = 0, hwm = RC_XF_HWM;

    if (xfwd_endpoint(c->cfg, c->name, ep, sizeof(ep)) < 0) {
        log_warnx("relay endpoint for state_dir \"%s\" is too long", c->cfg->state_dir);
        return -1;
    }
    if (statedir_prepare(c->cfg->state_dir) < 0) /* our ipc socket: 0600 in a 0700 dir */
        return -1;
    c->xrouter = zmq_socket(c->zctx, ZMQ_ROUTER);
    if (!c->xrouter)
        goto fail;
    /* a restarted requester takes its routing id back; a response to a
     * requester that is gone fails (EHOSTUNREACH) instead of vanishing */
    if (zmq_setsockopt(c->xrouter, ZMQ_ROUTER_HANDOVER, &one, sizeof(one)) < 0 ||
        zmq_setsockopt(c->xrouter, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) < 0 ||
        zmq_setsockopt(c->xrouter, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
        zmq_setsockopt(c->xrouter, ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0 ||
        zmq_setsockopt(c->xrouter, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0)
        goto fail;
    /* on another host's list (xfwd_endpoints): tcp://, with CURVE and a
     * ZAP handler of our own when CURVE is on (common/curve.h) */
    bool zap_err = false;
    if (strncmp(ep, "tcp://", 6) == 0 && !c->zap)
        c->zap = curve_zap_start(c->zctx, true, &zap_err);
    if (zap_err || curve_server(c->xrouter, ep, true) < 0)
        return -1;
    if (zmq_bind(c->xrouter, ep) < 0) {
        log_warnx("bind %s: %s", ep, zmq_strerror(errno));
        return -1;
    }
    if (statedir_secure_ipc(ep) < 0)
        return -1;
    log_info("cross-transport endpoint %s", ep);
    if (rc_zsock_add(c, c->xrouter, -1) < 0)
        return -1;
    connect_configured(c);
    return 0;
fail:
    log_warnx("zeromq relay socket: %s", zmq_strerror(errno));
    return -1;
}

void rc_xfwd_close(struct relay_core *c)
{
    /* out of the registry first (their ZMQ_FDs close with the sockets) */
    for (int i = 0; i < c->nzs; i++)
        if (c->zs[i].sock && (c->zs[i].xp >= 0 || c->zs[i].sock == c->xrouter)) {
            rc_fd_del(c, c->zs[i].fd, &c->zs[i].h);
            c->zs[i].sock = NULL;
        }
    for (int i = 0; i < c->nxpeers; i++)
        zmq_close(c->xpeers[i].sock);
    c->nxpeers = 0;
    if (c->xrouter)
        zmq_close(c->xrouter);
    c->xrouter = NULL;
}

/* ---- the status mapping ---- */

uint8_t rc_xfwd_status_code(uint8_t status, const char **diag)
{
    switch (status) {
    case RR_EP_OK:
        *diag = "";
        return 0;
    case RR_EP_TIMEOUT:
        *diag = "endpoint did not answer";
        return COAP_GATEWAY_TIMEOUT;
    case RR_EP_NO_ROUTE:
        *diag = "registrant's relay has no route for it";
        return COAP_BAD_GATEWAY;
    case RR_EP_UNREACHABLE:
        *diag = "registrant unreachable";
        return COAP_BAD_GATEWAY;
    default:
        *diag = "registrant's relay failed";
        return COAP_BAD_GATEWAY;
    }
}

uint8_t rc_xfwd_fail_code(struct relay_core *c, uint8_t status, const char **diag)
{
    uint8_t code = rc_xfwd_status_code(status, diag);
    if (code == COAP_GATEWAY_TIMEOUT)
        c->c.proxy_5_04++;
    else if (code == COAP_BAD_GATEWAY)
        c->c.proxy_5_02++;
    return code;
}

/* ---- requester side ---- */

int rc_xfwd_forward(struct relay_core *c, uint32_t slot, struct coap_msg *m,
                    const struct rr_route *route, const char *host, int *xp, uint64_t *req_id,
                    uint8_t *code, char *diag, size_t dlen)
{
    struct wire_w w;
    struct rr_msg_xfwd_request q;

    *xp = rc_xpeer_get(c, route->path.relay);
    if (*xp < 0) {
        c->c.proxy_5_02++;
        *code = COAP_BAD_GATEWAY;
        snprintf(diag, dlen, "registrant's relay \"%.32s\" is not available", route->path.relay);
        return -1;
    }
    /* the type (CON/NON) travels along as kind: a UDP holder keeps it
     * upstream */
    m->msgid = 0;
    ssize_t n = coap_msg_serialize_udp(m, c->coapbuf, RC_COAP_MAX);
    if (n < 0) {
        *code = COAP_TOO_LARGE;
        snprintf(diag, dlen, "request too large");
        return -1;
    }
    *req_id = rc_xfwd_req_id(slot, rc_new_check(c));
    q.req_id = *req_id;
    str_copy(q.host, sizeof(q.host), host);
    q.coap = (struct rr_bytes){c->coapbuf, (size_t)n};
    q.kind = m->type == COAP_T_NON ? RR_XK_NON : RR_XK_CON;
    wire_w_init(&w, c->txbuf, RR_PROTO_MAX_BODY);
    if (proto_enc_xfwd_request(&w, &q) < 0 ||
        rc_zsend(c, c->xpeers[*xp].sock, NULL, 0, RR_MSG_XFWD_REQUEST, c->txbuf, w.len) < 0) {
        c->c.xfwd_refused++;
        c->c.proxy_5_02++;
        *code = COAP_BAD_GATEWAY;
        snprintf(diag, dlen, "registrant's relay \"%s\" is not running", c->xpeers[*xp].name);
        return -1;
    }
    c->c.xfwd_out++;
    return 0;
}

void rc_xfwd_send_cancel(struct relay_core *c, int xp, uint64_t req_id)
{
    uint8_t body[8];
    struct wire_w w;
    struct rr_msg_xfwd_cancel m = {.req_id = req_id};

    if (xp < 0 || xp >= c->nxpeers)
        return;
    wire_w_init(&w, body, sizeof(body));
    if (proto_enc_xfwd_cancel(&w, &m) == 0)
        rc_zsend(c, c->xpeers[xp].sock, NULL, 0, RR_MSG_XFWD_CANCEL, body, w.len);
}

static void on_response(struct relay_core *c, int xp, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r rd;
    struct rr_msg_xfwd_response a;
    struct coap_msg m;

    wire_r_init(&rd, body, len);
    if (proto_dec_xfwd_response(&rd, &a) < 0 ||
        (a.status == RR_EP_OK &&
         (coap_msg_parse_udp(a.coap.p, a.coap.len, &m) < 0 || COAP_CODE_CLASS(m.code) < 2))) {
        log_warnx("malformed XFWD_RESPONSE from relay %s dropped", rc_xpeer_name(c, xp));
        return;
    }
    bool ok = a.status == RR_EP_OK;
    if (c->tp->xfwd_response)
        c->tp->xfwd_response(c->tpa, xp, rc_req_slot(a.req_id), a.req_id, a.status,
                             ok ? a.coap.p : NULL, ok ? a.coap.len : 0, a.kind, now);
}

void rc_xfwd_peer_msg(struct relay_core *c, int xp, uint16_t type, const uint8_t *body, size_t len,
                      uint64_t now)
{
    switch (type) {
    case RR_MSG_XFWD_RESPONSE:
        on_response(c, xp, body, len, now);
        break;
    default:
        log_warnx("unexpected %s (0x%04x) from relay %s dropped", proto_msg_name(type), type,
                  rc_xpeer_name(c, xp));
        break;
    }
}

void rc_xfwd_on_peer(struct relay_core *c, int xp, uint64_t now)
{
    /* bounded per wake-up; the loop comes back for the rest */
    for (int k = 0; k < 256; k++) {
        uint16_t type;
        size_t len;
        if (proto_recv(c->xpeers[xp].sock, false, NULL, NULL, &type, c->ctlbuf, RR_PROTO_MAX_BODY,
                       &len) < 0) {
            if (errno == EAGAIN)
                return;
            continue;
        }
        rc_xfwd_peer_msg(c, xp, type, c->ctlbuf, len, now);
    }
}

/* ---- holder side ---- */

int rc_xfwd_send_response(struct relay_core *c, const uint8_t *id, size_t idlen, uint64_t req_id,
                          uint8_t status, const uint8_t *coap, size_t n, uint8_t kind)
{
    struct wire_w w;
    bool ok = status == RR_EP_OK;
    struct rr_msg_xfwd_response m = {
        .req_id = req_id, .status = status, .coap = {ok ? coap : NULL, ok ? n : 0}, .kind = kind};

    if (!c->xrouter) {
        errno = ENOTCONN;
        return -1;
    }
    wire_w_init(&w, c->txbuf, RR_PROTO_MAX_BODY);
    if (proto_enc_xfwd_response(&w, &m) < 0) {
        errno = EMSGSIZE;
        return -1;
    }
    return rc_zsend(c, c->xrouter, id, idlen, RR_MSG_XFWD_RESPONSE, c->txbuf, w.len);
}

static void on_request(struct relay_core *c, const uint8_t *id, size_t idlen, const uint8_t *body,
                       size_t len, uint64_t now)
{
    struct wire_r rd;
    struct rr_msg_xfwd_request q;
    struct coap_msg m;

    wire_r_init(&rd, body, len);
    /* one rule for routing ids: a ROUTER always names its peer, so an
     * empty one (or one longer than a relay name) is malformed */
    if (proto_dec_xfwd_request(&rd, &q) < 0 || coap_msg_parse_udp(q.coap.p, q.coap.len, &m) < 0 ||
        COAP_CODE_CLASS(m.code) != 0 || m.code == 0 || idlen == 0 || idlen > RR_RELAY_NAME_MAX) {
        log_warnx("malformed XFWD_REQUEST dropped");
        return;
    }
    c->c.xfwd_in++;
    /* the kind field, not the datagram's type bits, says CON or NON */
    m.type = q.kind == RR_XK_NON ? COAP_T_NON : COAP_T_CON;
    const char *host = q.host;
    uint64_t req_id = q.req_id;
    struct rc_xreq x = {
        .id = id, .idlen = idlen, .req_id = req_id, .host = host, .coap_len = q.coap.len};
    const struct route_table *t = rc_routes(c);
    const struct rr_route *route = t ? route_table_get(t, host) : NULL;
    if (!route || !rc_route_is_ours(c, route)) {
        rc_xfwd_send_response(c, id, idlen, req_id, RR_EP_NO_ROUTE, NULL, 0, RR_XK_ACK);
        return;
    }
    if (c->tp->xfwd_request)
        c->tp->xfwd_request(c->tpa, &x, &m, route, now);
    else if (c->tp->ux_send)
        rc_ux_on_xfwd_request(c, &x, &m, route, now);
}

static void on_cancel(struct relay_core *c, const uint8_t *id, size_t idlen, const uint8_t *body,
                      size_t len, uint64_t now)
{
    struct wire_r rd;
    struct rr_msg_xfwd_cancel m;

    wire_r_init(&rd, body, len);
    if (proto_dec_xfwd_cancel(&rd, &m) < 0 || idlen == 0 || idlen > RR_RELAY_NAME_MAX)
        return;
    struct rc_xreq x = {.id = id, .idlen = idlen, .req_id = m.req_id, .host = ""};
    if (c->tp->xfwd_cancel)
        c->tp->xfwd_cancel(c->tpa, &x, now);
    else if (c->tp->ux_end)
        rc_ux_on_xfwd_cancel(c, &x, now);
}

void rc_xfwd_router_msg(struct relay_core *c, const uint8_t *id, size_t idlen, uint16_t type,
                        const uint8_t *body, size_t len, uint64_t now)
{
    switch (type) {
    case RR_MSG_XFWD_REQUEST:
        on_request(c, id, idlen, body, len, now);
        break;
    case RR_MSG_XFWD_CANCEL:
        on_cancel(c, id, idlen, body, len, now);
        break;
    default:
        log_warnx("unexpected %s (0x%04x) on the relay endpoint dropped", proto_msg_name(type),
                  type);
        break;
    }
}

void rc_xfwd_on_router(struct relay_core *c, uint64_t now)
{
    for (int k = 0; k < 256; k++) {
        uint8_t id[256];
        size_t idlen = 0, len;
        uint16_t type;
        if (proto_recv(c->xrouter, true, id, &idlen, &type, c->ctlbuf, RR_PROTO_MAX_BODY, &len) <
            0) {
            if (errno == EAGAIN)
                return;
            continue;
        }
        rc_xfwd_router_msg(c, id, idlen, type, c->ctlbuf, len, now);
    }
}
