/*
 * test_proto_msg.c - unit tests for common/proto_msg.c: every message type
 * round-trips (decode(encode(m)) encodes to the same bytes, fields
 * checked), every truncated body fails to decode, trailing bytes are
 * ignored, a buffer that is too small fails to encode, and optional
 * trailing fields take their documented default when an older sender
 * leaves them out.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "proto_msg.h"

#define BUFSZ 8192

/* Encode in, decode, re-encode: same bytes. Every prefix shorter than the
 * mandatory fields (len - opt_tail) fails; 5 trailing bytes are ignored;
 * every too small output buffer fails. Leaves the decoded copy in *out. */
#define CHECK_CODEC(name, in, out, opt_tail)                                                       \
    do {                                                                                           \
        uint8_t b1[BUFSZ], b2[BUFSZ + 8], b3[BUFSZ];                                               \
        struct wire_w w;                                                                           \
        struct wire_r r;                                                                           \
        wire_w_init(&w, b1, sizeof(b1));                                                           \
        assert_int_equal(proto_enc_##name(&w, (in)), 0);                                           \
        size_t len_ = w.len;                                                                       \
        for (size_t k_ = 0; k_ + (opt_tail) < len_; k_++) {                                        \
            wire_r_init(&r, b1, k_);                                                               \
            assert_int_equal(proto_dec_##name(&r, (out)), -1);                                     \
        }                                                                                          \
        for (size_t k_ = 0; k_ < len_; k_++) {                                                     \
            wire_w_init(&w, b3, k_);                                                               \
            assert_int_equal(proto_enc_##name(&w, (in)), -1);                                      \
        }                                                                                          \
        memcpy(b2, b1, len_);                                                                      \
        memset(b2 + len_, 0x77, 5);                                                                \
        memset((out), 0xa5, sizeof(*(out)));                                                       \
        wire_r_init(&r, b2, len_ + 5);                                                             \
        assert_int_equal(proto_dec_##name(&r, (out)), 0);                                          \
        memset((out), 0xa5, sizeof(*(out)));                                                       \
        wire_r_init(&r, b1, len_);                                                                 \
        assert_int_equal(proto_dec_##name(&r, (out)), 0);                                          \
        assert_int_equal(r.off, len_);                                                             \
        wire_w_init(&w, b3, sizeof(b3));                                                           \
        assert_int_equal(proto_enc_##name(&w, (out)), 0);                                          \
        assert_int_equal(w.len, len_);                                                             \
        assert_memory_equal(b3, b1, len_);                                                         \
    } while (0)

static const uint8_t COAP[] = {0x50, 0x01, 0x12, 0x34, 0xb2, 'r', 'd'}; /* NON GET */
static const uint8_t TOKEN[] = {0xde, 0xad, 0xbe, 0xef};

static void make_peer(struct rr_peer *p)
{
    memset(p, 0, sizeof(*p));
    p->transport = RR_TRANSPORT_TCP;
    strcpy(p->relay, "tcp");
    assert_int_equal(addr_parse(&p->remote, "[2001:db8::1]:61616", 5683), 0);
    assert_int_equal(addr_parse(&p->local, "192.0.2.1:5683", 5683), 0);
    p->conn_id = 0x0102030405060708ull;
}

static void make_route(struct rr_route *rt)
{
    memset(rt, 0, sizeof(*rt));
    strcpy(rt->host, "alice.proxy.example.net");
    strcpy(rt->ep, "alice");
    strcpy(rt->d, "lab");
    strcpy(rt->reg_path, "/reg/17/");
    make_peer(&rt->path);
    rt->ka = 25;
    rt->flags = RR_ROUTE_DELETED;
    rt->mux_port = 40001;
}

static void assert_peer(const struct rr_peer *a, const struct rr_peer *b)
{
    assert_int_equal(a->transport, b->transport);
    assert_string_equal(a->relay, b->relay);
    assert_true(addr_equal(&a->remote, &b->remote));
    assert_true(addr_equal(&a->local, &b->local));
    assert_true(a->conn_id == b->conn_id);
}

static void assert_route(const struct rr_route *a, const struct rr_route *b)
{
    assert_string_equal(a->host, b->host);
    assert_string_equal(a->ep, b->ep);
    assert_string_equal(a->d, b->d);
    assert_string_equal(a->reg_path, b->reg_path);
    assert_peer(&a->path, &b->path);
    assert_int_equal(a->ka, b->ka);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->mux_port, b->mux_port);
}

static void assert_bytes(const struct rr_bytes *b, const void *p, size_t n)
{
    assert_int_equal(b->len, n);
    if (n)
        assert_memory_equal(b->p, p, n);
}

static void test_route_messages(void **state)
{
    struct rr_msg_route_update u = {.epoch = 0x1122334455667788ull, .seq = 42}, u2;
    struct rr_msg_snapshot_route s = {.snap_id = 7, .epoch = 9}, s2;
    struct rr_msg_heartbeat h = {.epoch = 5, .seq = 6, .interval_ms = 1000}, h2;
    struct rr_msg_snapshot_req q = {.snap_id = 0xfedcba9876543210ull}, q2;
    struct rr_msg_snapshot_end e = {.snap_id = 1, .epoch = 2, .seq = 3, .count = 100000}, e2;

    (void)state;
    make_route(&u.route);
    CHECK_CODEC(route_update, &u, &u2, 0);
    assert_true(u2.epoch == u.epoch && u2.seq == u.seq);
    assert_route(&u2.route, &u.route);

    make_route(&s.route);
    CHECK_CODEC(snapshot_route, &s, &s2, 0);
    assert_true(s2.snap_id == 7 && s2.epoch == 9);
    assert_route(&s2.route, &s.route);

    CHECK_CODEC(heartbeat, &h, &h2, 0);
    assert_true(h2.epoch == 5 && h2.seq == 6 && h2.interval_ms == 1000);
    CHECK_CODEC(snapshot_req, &q, &q2, 0);
    assert_true(q2.snap_id == q.snap_id);
    CHECK_CODEC(snapshot_end, &e, &e2, 0);
    assert_true(e2.snap_id == 1 && e2.epoch == 2 && e2.seq == 3 && e2.count == 100000);
}

static void test_hello(void **state)
{
    struct rr_msg_hello m = {.transport = RR_TRANSPORT_UDP, .pid = 4242, .version = 99}, m2;
    uint8_t old[64];
    struct wire_w w;
    struct wire_r r;

    (void)state;
    strcpy(m.relay, "udp");
    CHECK_CODEC(hello, &m, &m2, 1);
    assert_string_equal(m2.relay, "udp");
    assert_int_equal(m2.transport, RR_TRANSPORT_UDP);
    assert_int_equal(m2.pid, 4242);
    assert_int_equal(m2.version, RR_PROTO_VERSION); /* always this build's */
    /* an older relay's HELLO (no version field) is version 1 */
    wire_w_init(&w, old, sizeof(old));
    wire_put_str(&w, "tcp");
    wire_put_u8(&w, RR_TRANSPORT_TCP);
    wire_put_u32(&w, 7);
    wire_r_init(&r, old, w.len);
    assert_int_equal(proto_dec_hello(&r, &m2), 0);
    assert_string_equal(m2.relay, "tcp");
    assert_int_equal(m2.version, 1);
}

static void test_rd_messages(void **state)
{
    struct rr_msg_rd_request q = {.req_id = 77, .coap = {COAP, sizeof(COAP)}}, q2;
    struct rr_msg_rd_response p = {.req_id = 78, .coap = {COAP, sizeof(COAP)}}, p2;
    struct rr_msg_rd_notify n = {.confirmable = 1, .coap = {COAP, sizeof(COAP)}}, n2;
    struct rr_msg_observe_gone g = {.token = {TOKEN, sizeof(TOKEN)}}, g2;
    struct rr_msg_ep_request eq = {.req_id = 79, .coap = {COAP, sizeof(COAP)}}, eq2;
    struct rr_msg_ep_response ep = {.req_id = 80, .status = RR_EP_TIMEOUT}, ep2;
    struct rr_msg_reachability re = {.reachable = 0, .since_ms = 1700000000000ull}, re2;

    (void)state;
    make_peer(&q.peer);
    CHECK_CODEC(rd_request, &q, &q2, 0);
    assert_true(q2.req_id == 77);
    assert_peer(&q2.peer, &q.peer);
    assert_bytes(&q2.coap, COAP, sizeof(COAP));

    CHECK_CODEC(rd_response, &p, &p2, 0);
    assert_true(p2.req_id == 78);
    assert_bytes(&p2.coap, COAP, sizeof(COAP));

    make_peer(&n.peer);
    CHECK_CODEC(rd_notify, &n, &n2, 0);
    assert_int_equal(n2.confirmable, 1);
    assert_peer(&n2.peer, &n.peer);
    assert_bytes(&n2.coap, COAP, sizeof(COAP));

    make_peer(&g.peer);
    CHECK_CODEC(observe_gone, &g, &g2, 0);
    assert_peer(&g2.peer, &g.peer);
    assert_bytes(&g2.token, TOKEN, sizeof(TOKEN));

    make_peer(&eq.path);
    CHECK_CODEC(ep_request, &eq, &eq2, 0);
    assert_true(eq2.req_id == 79);
    assert_peer(&eq2.path, &eq.path);
    assert_bytes(&eq2.coap, COAP, sizeof(COAP));

    CHECK_CODEC(ep_response, &ep, &ep2, 0);
    assert_true(ep2.req_id == 80);
    assert_int_equal(ep2.status, RR_EP_TIMEOUT);
    assert_bytes(&ep2.coap, NULL, 0);

    strcpy(re.host, "bob.proxy.example.net");
    CHECK_CODEC(reachability, &re, &re2, 0);
    assert_string_equal(re2.host, "bob.proxy.example.net");
    assert_int_equal(re2.reachable, 0);
    assert_true(re2.since_ms == 1700000000000ull);
}

static void test_relay_status(void **state)
{
    static struct rr_msg_relay_status m, m2;
    uint8_t big[BUFSZ];
    struct wire_w w;
    struct wire_r r;

    (void)state;
    strcpy(m.relay, "udp");
    m.n = 3;
    strcpy(m.c[0].name, "proxied");
    m.c[0].value = 1;
    strcpy(m.c[1].name, "hwm_drops");
    m.c[1].value = 0xffffffffffull;
    strcpy(m.c[2].name, "x");
    CHECK_CODEC(relay_status, &m, &m2, 0);
    assert_string_equal(m2.relay, "udp");
    assert_int_equal(m2.n, 3);
    assert_string_equal(m2.c[1].name, "hwm_drops");
    assert_true(m2.c[1].value == 0xffffffffffull);
    /* more counters than a decoder keeps: the rest are skipped, not an error */
    wire_w_init(&w, big, sizeof(big));
    wire_put_str(&w, "tcp");
    wire_put_u16(&w, RR_STATUS_MAX + 2);
    for (unsigned i = 0; i < RR_STATUS_MAX + 2; i++) {
        wire_put_str(&w, "c");
        wire_put_u64(&w, i);
    }
    wire_r_init(&r, big, w.len);
    assert_int_equal(proto_dec_relay_status(&r, &m2), 0);
    assert_int_equal(m2.n, RR_STATUS_MAX);
    assert_true(m2.c[RR_STATUS_MAX - 1].value == RR_STATUS_MAX - 1);
}

static void test_xfwd(void **state)
{
    struct rr_msg_xfwd_request q = {.req_id = 1, .coap = {COAP, sizeof(COAP)}, .kind = RR_XK_CON};
    struct rr_msg_xfwd_response p = {
        .req_id = 2, .status = RR_EP_OK, .coap = {COAP, sizeof(COAP)}, .kind = RR_XK_ACK};
    struct rr_msg_xfwd_request q2;
    struct rr_msg_xfwd_response p2;
    struct rr_msg_xfwd_cancel c = {.req_id = 3}, c2;
    uint8_t old[256];
    struct wire_w w;
    struct wire_r r;

    (void)state;
    strcpy(q.host, "alice.proxy.example.net");
    CHECK_CODEC(xfwd_request, &q, &q2, 1);
    assert_string_equal(q2.host, q.host);
    assert_int_equal(q2.kind, RR_XK_CON); /* the field, not the datagram's NON bits */
    assert_bytes(&q2.coap, COAP, sizeof(COAP));
    CHECK_CODEC(xfwd_response, &p, &p2, 1);
    assert_int_equal(p2.kind, RR_XK_ACK);
    assert_int_equal(p2.status, RR_EP_OK);
    CHECK_CODEC(xfwd_cancel, &c, &c2, 0);
    assert_true(c2.req_id == 3);

    /* an older sender without the kind field: the datagram's type bits */
    wire_w_init(&w, old, sizeof(old));
    wire_put_u64(&w, 9);
    wire_put_str(&w, "h");
    wire_put_bytes(&w, COAP, sizeof(COAP));
    wire_r_init(&r, old, w.len);
    assert_int_equal(proto_dec_xfwd_request(&r, &q2), 0);
    assert_int_equal(q2.kind, RR_XK_NON);
    wire_w_init(&w, old, sizeof(old));
    wire_put_u64(&w, 9);
    wire_put_u8(&w, RR_EP_NO_ROUTE);
    wire_put_bytes(&w, NULL, 0);
    wire_r_init(&r, old, w.len);
    assert_int_equal(proto_dec_xfwd_response(&r, &p2), 0);
    assert_int_equal(p2.status, RR_EP_NO_ROUTE);
    assert_int_equal(p2.kind, RR_XK_CON);
}

static void test_ctl(void **state)
{
    static const char json[] = "{\"process\":\"rd-frontend\"}";
    struct rr_msg_ctl_request q = {.command = "status", .argument = ""}, q2;
    struct rr_msg_ctl_response p = {.ok = 1, .text = {(const uint8_t *)json, sizeof(json) - 1}}, p2;
    struct rr_msg_ctl_request toolong;
    uint8_t buf[512];
    struct wire_w w;
    struct wire_r r;

    (void)state;
    CHECK_CODEC(ctl_request, &q, &q2, 0);
    assert_string_equal(q2.command, "status");
    assert_string_equal(q2.argument, "");
    CHECK_CODEC(ctl_response, &p, &p2, 0);
    assert_int_equal(p2.ok, 1);
    assert_bytes(&p2.text, json, sizeof(json) - 1);
    /* a command longer than the field is malformed, not cut */
    wire_w_init(&w, buf, sizeof(buf));
    wire_put_str(&w, "0123456789012345678901234567890123456789012345678901234567890123456789");
    wire_put_str(&w, "");
    wire_r_init(&r, buf, w.len);
    assert_int_equal(proto_dec_ctl_request(&r, &toolong), -1);
}

/* A message of another protocol version is dropped (EPROTO, logged by
 * proto_recv), and the next one of ours still arrives. */
static void test_version_mismatch(void **state)
{
    void *ctx = zmq_ctx_new(), *a = zmq_socket(ctx, ZMQ_PAIR), *b = zmq_socket(ctx, ZMQ_PAIR);
    uint8_t hdr[RR_PROTO_HDR_LEN] = {RR_PROTO_VERSION + 1, 0, 0x02, 0x01};
    uint8_t body[64];
    size_t len;
    uint16_t type;

    (void)state;
    assert_int_equal(zmq_bind(a, "inproc://vm"), 0);
    assert_int_equal(zmq_connect(b, "inproc://vm"), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(zmq_send(a, hdr, sizeof(hdr), ZMQ_SNDMORE), (int)sizeof(hdr));
        assert_int_equal(zmq_send(a, "x", 1, 0), 1);
    }
    assert_int_equal(proto_send(a, NULL, 0, RR_MSG_XFWD_CANCEL, "12345678", 8), 0);
    for (int i = 0; i < 3; i++) {
        errno = 0;
        assert_int_equal(proto_recv(b, false, NULL, NULL, &type, body, sizeof(body), &len), -1);
        assert_int_equal(errno, EPROTO);
    }
    assert_int_equal(proto_recv(b, false, NULL, NULL, &type, body, sizeof(body), &len), 0);
    assert_int_equal(type, RR_MSG_XFWD_CANCEL);
    assert_int_equal(len, 8);
    zmq_close(a);
    zmq_close(b);
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_messages),
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_rd_messages),
        cmocka_unit_test(test_relay_status),
        cmocka_unit_test(test_xfwd),
        cmocka_unit_test(test_ctl),
        cmocka_unit_test(test_version_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
