/*
 * fuzz_xfwd.c - libFuzzer target for cross-transport forwarding between
 * relays (relay-core/xfwd.c and what sits behind it in the stream half:
 * relay-core/stream_proxy.c, answer.c's vetting of an XFWD_RESPONSE, the
 * exchange pools): the holder side (another relay's XFWD_REQUEST and
 * XFWD_CANCEL on our ROUTER, the request going upstream over a
 * registrant's connection and its answer going back as XFWD_RESPONSE) and
 * the requester side (a client's request for an endpoint another relay
 * holds goes out as XFWD_REQUEST; that relay's XFWD_RESPONSE comes back).
 * One relay "tcp" on the fake stream transport (tests/fixtures/
 * fake_stream.c) with its real ROUTER and DEALERs (ipc in a temporary
 * state directory) and a fake relay "udp": a ROUTER where our DEALER
 * sends, and a DEALER named "udp" on our ROUTER that gets our responses.
 * Both connections open with the peer's (empty) CSM. Routes: h.proxy.localhost over our connection
 * 1 (ours), x.proxy.localhost held by relay udp. Messages are handed to rc_xfwd_router_msg /
 * rc_xfwd_peer_msg as the receive loops would; what the relay sends over
 * ZeroMQ is read back and checked.
 * Input: records [selector, clock step (x 64 ms), length, bytes]; selector % 8:
 *   0 a client request on connection 0: bytes [code, flags (bit 0 for x,
 *     else h; bit 1 Observe 0), payload...]
 *   1 an XFWD_REQUEST body as is, from routing id "udp" (bit 3 of the
 *     selector: from a routing id made of the first bytes)
 *   2 a well-formed XFWD_REQUEST: bytes [req_id byte, kind, host selector
 *     (0 h, 1 x, 2 a name of no route, else the next bytes), datagram...]
 *   3 an XFWD_RESPONSE body as is, from relay udp
 *   4 a well-formed XFWD_RESPONSE to the oldest XFWD exchange waiting (bit
 *     3: another req_id): bytes [status, kind, code, Observe, payload...]
 *   5 an XFWD_CANCEL for a req_id (bytes: [req_id byte]) from "udp"
 *   6 the registrant on connection 1 answers the last request written on
 *     it: bytes [code, Observe (odd: value >> 1), payload...]
 *   7 any message type (first two bytes) with the rest as body, to our
 *     ROUTER (bit 3) or from relay udp
 * Invariants: everything written to a connection is one whole message
 * within the peer's Max-Message-Size, on an open connection; every
 * XFWD_REQUEST / XFWD_CANCEL we send decodes, with a request datagram
 * inside; every XFWD_RESPONSE we send decodes, with a response datagram
 * when its status is OK; the pools stay within their size; once every
 * connection closed no exchange and no timer is left.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "core.h"
#include "fake_stream.h"
#include "fuzz_check.h"
#include "log.h"
#include "proto.h"
#include "proto_msg.h"
#include "wire.h"
#include "xfwd_ep.h"

#define NC 2
#define MAXMSG 2048
#define HOST_OURS "h.proxy.localhost"
#define HOST_THEIRS "x.proxy.localhost"

static struct fake_stream FS;
static bool started;
static char dir[] = "/tmp/fuzz_xfwd.XXXXXX";
static void *peer_router, *peer_dealer; /* relay "udp" */
static int xp_udp;
static uint32_t ci[NC] = {ST_NONE, ST_NONE};
static uint32_t base_timers;
static uint8_t reg_tkl, reg_tok[COAP_MSG_MAX_TOKEN]; /* last request on connection 1 */
static uint8_t tok_next;

static void f_write(struct fake_stream *fs, uint32_t c, const uint8_t *buf, size_t len)
{
    struct coap_msg m;

    FUZZ_CHECK(c < NC && fs->s.conns[c].state != RC_FREE);
    FUZZ_CHECK(len <= fs->s.conns[c].sig.csm.mms);
    FUZZ_CHECK(fs->s.io->parse(buf, len, &m) == 0);
    if (c == ci[1] && COAP_CODE_CLASS(m.code) == 0 && m.code != COAP_EMPTY) {
        reg_tkl = m.tkl;
        memcpy(reg_tok, m.token, m.tkl);
    }
}

static void teardown(void)
{
    zmq_close(peer_router);
    zmq_close(peer_dealer);
    rc_xfwd_close(&FS.s.core);
    fake_stream_free(&FS);
    char p[sizeof(dir) + 32];
    snprintf(p, sizeof(p), "%s/relay-tcp.sock", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/relay-udp.sock", dir);
    unlink(p);
    rmdir(dir);
}

/* Bounded wait for a ZeroMQ connection: send until it goes, at setup only. */
static void probe(void *sock, const char *id)
{
    uint8_t body[8] = {0};
    for (int k = 0; k < 2000; k++) {
        if (proto_send(sock, id, id ? strlen(id) : 0, RR_MSG_XFWD_CANCEL, body, sizeof(body)) == 0)
            return;
        usleep(1000);
    }
    FUZZ_CHECK(!"no ZeroMQ connection within 2 s");
}

static void drain(void *sock, bool router)
{
    static uint8_t body[RR_PROTO_MAX_BODY];
    for (int k = 0; k < 256; k++) {
        uint8_t id[256];
        size_t idlen = 0, len;
        uint16_t type;
        if (proto_recv(sock, router, id, &idlen, &type, body, sizeof(body), &len) < 0) {
            if (errno == EAGAIN)
                return;
            continue;
        }
        struct wire_r rd;
        struct coap_msg m;
        wire_r_init(&rd, body, len);
        if (router && type == RR_MSG_XFWD_REQUEST) {
            struct rr_msg_xfwd_request q;
            FUZZ_CHECK(proto_dec_xfwd_request(&rd, &q) == 0);
            FUZZ_CHECK(coap_msg_parse_udp(q.coap.p, q.coap.len, &m) == 0);
            FUZZ_CHECK(COAP_CODE_CLASS(m.code) == 0 && m.code != 0);
        } else if (router) {
            struct rr_msg_xfwd_cancel q;
            FUZZ_CHECK(type == RR_MSG_XFWD_CANCEL && proto_dec_xfwd_cancel(&rd, &q) == 0);
        } else {
            struct rr_msg_xfwd_response a;
            FUZZ_CHECK(type == RR_MSG_XFWD_RESPONSE && proto_dec_xfwd_response(&rd, &a) == 0);
            if (a.status == RR_EP_OK) {
                FUZZ_CHECK(coap_msg_parse_udp(a.coap.p, a.coap.len, &m) == 0);
                FUZZ_CHECK(COAP_CODE_CLASS(m.code) >= 2);
            }
        }
    }
}

static void setup(void)
{
    const struct st_limits lim = {.max_conns = NC,
                                  .max_message = MAXMSG,
                                  .max_inflight = 8,
                                  .timeout_ms = 10000,
                                  .pong_timeout_ms = 10000};
    char err[128], ep[RR_CFG_STR + 32];
    int zero = 0;

    log_init("fuzz", LOG_LVL_ERROR);
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    FS.on_write = f_write;
    fake_stream_config(&FS, dir);
    snprintf(FS.s.cfg.xfwd_peers, sizeof(FS.s.cfg.xfwd_peers), "udp");
    FUZZ_CHECK(fake_stream_start(&FS, false, &lim, err, sizeof(err)) == 0);
    struct relay_core *c = &FS.s.core;

    /* relay udp's ROUTER before ours connects to it */
    FUZZ_CHECK(xfwd_endpoint(&FS.s.cfg, "udp", ep, sizeof(ep)) == 0);
    peer_router = zmq_socket(c->zctx, ZMQ_ROUTER);
    FUZZ_CHECK(peer_router && zmq_setsockopt(peer_router, ZMQ_LINGER, &zero, sizeof(zero)) == 0);
    FUZZ_CHECK(zmq_bind(peer_router, ep) == 0);
    FUZZ_CHECK(rc_xfwd_open(c) == 0);
    xp_udp = rc_xpeer_get(c, "udp");
    FUZZ_CHECK(xp_udp >= 0);
    probe(c->xpeers[xp_udp].sock, NULL);
    /* relay udp's DEALER on our ROUTER, named udp */
    FUZZ_CHECK(xfwd_endpoint(&FS.s.cfg, "tcp", ep, sizeof(ep)) == 0);
    peer_dealer = proto_dealer_connect(c->zctx, "udp", ep, 1000, false);
    FUZZ_CHECK(peer_dealer != NULL);
    probe(peer_dealer, NULL);
    for (int k = 0; k < 2000; k++) { /* our ROUTER has it: the way back is up */
        zmq_pollitem_t pi = {.socket = c->xrouter, .events = ZMQ_POLLIN};
        if (zmq_poll(&pi, 1, 1) == 1)
            break;
    }
    rc_xfwd_on_router(c, 1);
    base_timers = c->timers.n;
    started = true;
    atexit(teardown);
}

static uint32_t conn(int k, uint64_t now)
{
    if (ci[k] != ST_NONE && FS.s.conns[ci[k]].state != RC_FREE)
        return ci[k];
    uint32_t c = fake_stream_open(&FS, "192.0.2.7", (uint16_t)(40000 + k), now);
    FUZZ_CHECK(c != ST_NONE && c < NC);
    ci[k] = c;
    static const uint8_t csm[] = {0x00, 0xe1}; /* RFC 8323 §5.3: the peer's CSM first */
    st_msg_on_message(&FS.s, c, csm, sizeof(csm), now);
    if (k == 1) {
        reg_tkl = 0;
        FUZZ_CHECK(fake_stream_route(&FS, HOST_OURS, FS.s.conns[c].id) == 0);
        struct rr_route rt;
        memset(&rt, 0, sizeof(rt));
        snprintf(rt.host, sizeof(rt.host), "%s", HOST_THEIRS);
        rt.path.transport = RR_TRANSPORT_UDP;
        snprintf(rt.path.relay, sizeof(rt.path.relay), "udp");
        FUZZ_CHECK(route_table_put(FS.routes, &rt) == 0);
    }
    return c;
}

/* A message [code, Observe?, payload] with token tok (its own bytes). */
static ssize_t build(struct coap_msg *m, uint8_t code, const uint8_t *tok, uint8_t tkl,
                     const char *host, int obs, const uint8_t *p, size_t n, uint8_t *out,
                     size_t cap, bool udp)
{
    static uint8_t ov[1];
    coap_msg_init(m);
    m->code = code;
    m->tkl = tkl;
    memcpy(m->token, tok, tkl);
    if (host)
        coap_msg_add_opt(m, COAP_OPT_URI_HOST, (const uint8_t *)host, (uint16_t)strlen(host));
    if (obs >= 0) {
        ov[0] = (uint8_t)obs;
        coap_msg_add_opt(m, COAP_OPT_OBSERVE, ov, obs ? 1 : 0);
    }
    m->payload = p;
    m->payload_len = n;
    return udp ? coap_msg_serialize_udp(m, out, cap) : FS.s.io->serialize(m, out, cap);
}

static void send_router(uint16_t type, const uint8_t *id, size_t idlen, const uint8_t *b, size_t n,
                        uint64_t now)
{
    static uint8_t copy[RR_PROTO_MAX_BODY]; /* a copy: reads past it are caught */
    uint8_t *body = n ? malloc(n) : copy;
    FUZZ_CHECK(body != NULL);
    memcpy(body, b, n);
    rc_xfwd_router_msg(&FS.s.core, id, idlen, type, body, n, now);
    if (n)
        free(body);
}

static void send_peer(uint16_t type, const uint8_t *b, size_t n, uint64_t now)
{
    uint8_t *body = malloc(n ? n : 1);
    FUZZ_CHECK(body != NULL);
    memcpy(body, b, n);
    rc_xfwd_peer_msg(&FS.s.core, xp_udp, type, body, n, now);
    free(body);
}

/* The oldest XFWD exchange waiting for relay udp: its slot, or ST_NONE. */
static uint32_t xfwd_waiting(void)
{
    for (uint32_t i = 0; i < FS.s.ndx; i++) {
        const struct st_dx *d = &FS.s.dx[i];
        if (d->h.kind == DX_K_XFWD && (d->h.state == DX_WAIT || d->h.state == DX_OBSERVE))
            return i;
    }
    return ST_NONE;
}

static void record(uint8_t sel, const uint8_t *p, size_t n, uint64_t now)
{
    static uint8_t out[RR_PROTO_MAX_BODY], dg[MAXMSG];
    static const uint8_t udp_id[] = "udp";
    struct coap_msg m;
    struct wire_w w;
    ssize_t len;

    switch (sel % 8) {
    case 0: { /* a client's request */
        if (n < 2)
            return;
        uint8_t tok[2] = {0xc1, tok_next++};
        len = build(&m, p[0], tok, 2, p[1] & 1 ? HOST_THEIRS : HOST_OURS, p[1] & 2 ? 0 : -1, p + 2,
                    n - 2, dg, sizeof(dg), false);
        if (len > 0)
            st_msg_on_message(&FS.s, conn(0, now), dg, (size_t)len, now);
        return;
    }
    case 1:
        if (sel & 8) {
            if (n < 1)
                return;
            size_t idlen = p[0] % 40 < n - 1 ? p[0] % 40 : n - 1;
            send_router(RR_MSG_XFWD_REQUEST, p + 1, idlen, p + 1 + idlen, n - 1 - idlen, now);
        } else {
            send_router(RR_MSG_XFWD_REQUEST, udp_id, 3, p, n, now);
        }
        return;
    case 2: {
        if (n < 3)
            return;
        struct rr_msg_xfwd_request q = {.req_id = p[0], .kind = p[1]};
        size_t off = 3;
        const char *host = p[2] == 0   ? HOST_OURS
                           : p[2] == 1 ? HOST_THEIRS
                                       : "nobody.proxy.localhost";
        if (p[2] > 2) {
            size_t hl = n - off < RR_HOST_MAX - 1 ? n - off : RR_HOST_MAX - 1;
            hl = hl > (size_t)(p[2] - 3) ? (size_t)(p[2] - 3) : hl;
            memcpy(q.host, p + off, hl);
            q.host[hl] = '\0';
            off += hl;
        } else {
            snprintf(q.host, sizeof(q.host), "%s", host);
        }
        q.coap = (struct rr_bytes){p + off, n - off};
        wire_w_init(&w, out, sizeof(out));
        if (proto_enc_xfwd_request(&w, &q) == 0)
            send_router(RR_MSG_XFWD_REQUEST, udp_id, 3, out, w.len, now);
        return;
    }
    case 3:
        send_peer(RR_MSG_XFWD_RESPONSE, p, n, now);
        return;
    case 4: {
        if (n < 4)
            return;
        uint32_t i = xfwd_waiting();
        uint64_t req_id = i != ST_NONE ? FS.s.dx[i].h.req_id : 0;
        if (sel & 8)
            req_id ^= (uint64_t)p[0] << 8 | 1;
        static const uint8_t tok[2] = {0x55, 0xaa};
        len = build(&m, p[2], tok, 2, NULL, p[3] & 1 ? p[3] >> 1 : -1, p + 4, n - 4, dg, sizeof(dg),
                    true);
        if (len <= 0)
            return;
        struct rr_msg_xfwd_response a = {
            .req_id = req_id, .status = p[0] % 5, .coap = {dg, (size_t)len}, .kind = p[1] % 4};
        if (a.status != RR_EP_OK)
            a.coap = (struct rr_bytes){NULL, 0};
        wire_w_init(&w, out, sizeof(out));
        if (proto_enc_xfwd_response(&w, &a) == 0)
            send_peer(RR_MSG_XFWD_RESPONSE, out, w.len, now);
        return;
    }
    case 5: {
        struct rr_msg_xfwd_cancel q = {.req_id = n ? p[0] : 0};
        wire_w_init(&w, out, sizeof(out));
        if (proto_enc_xfwd_cancel(&w, &q) == 0)
            send_router(RR_MSG_XFWD_CANCEL, udp_id, 3, out, w.len, now);
        return;
    }
    case 6: {
        if (n < 2)
            return;
        uint32_t c = conn(1, now);
        len = build(&m, p[0], reg_tok, reg_tkl, NULL, p[1] & 1 ? p[1] >> 1 : -1, p + 2, n - 2, dg,
                    sizeof(dg), false);
        if (len > 0)
            st_msg_on_message(&FS.s, c, dg, (size_t)len, now);
        return;
    }
    default:
        if (n < 2)
            return;
        if (sel & 8)
            send_router((uint16_t)(p[0] << 8 | p[1]), udp_id, 3, p + 2, n - 2, now);
        else
            send_peer((uint16_t)(p[0] << 8 | p[1]), p + 2, n - 2, now);
        return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t now = 100000;
    size_t off = 0;

    if (!started)
        setup();
    struct relay_core *c = &FS.s.core;
    conn(1, now); /* the registrant first: its routes */
    while (off + 3 <= size) {
        uint8_t sel = data[off];
        now += (uint64_t)data[off + 1] * 64;
        size_t len = data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        struct rr_timer *t;
        while ((t = th_pop_due(&c->timers, now)) != NULL)
            c->tp->on_timer(c->tpa, t, now);
        record(sel, data + off, len, now);
        off += len;
        drain(peer_router, true);
        drain(peer_dealer, false);
        FUZZ_CHECK(FS.s.nconns <= NC);
        FUZZ_CHECK(c->dx.used <= c->dx.n);
        FUZZ_CHECK(c->ux.used <= c->ux.n);
    }
    for (int k = 0; k < NC; k++) {
        if (ci[k] != ST_NONE && FS.s.conns[ci[k]].state != RC_FREE)
            st_conn_close(&FS.s, ci[k], "end of input", now);
        ci[k] = ST_NONE;
    }
    route_table_del(FS.routes, HOST_OURS);
    route_table_del(FS.routes, HOST_THEIRS);
    drain(peer_router, true);
    drain(peer_dealer, false);
    FUZZ_CHECK(FS.s.nconns == 0);
    FUZZ_CHECK(c->dx.used == 0);
    FUZZ_CHECK(c->ux.used == 0);
    FUZZ_CHECK(c->timers.n == base_timers);
    return 0;
}
