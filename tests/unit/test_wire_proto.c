/*
 * test_wire_proto.c - unit tests for common/wire.c and common/proto.c:
 * every body shape round-trips (peers with v4/v6/no address, routes,
 * headers), truncated bodies set err, and ZeroMQ framing works end to end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <zmq.h>

#include "proto.h"

static void make_peer(struct rr_peer *p, const char *remote, const char *local)
{
    memset(p, 0, sizeof(*p));
    p->transport = RR_TRANSPORT_UDP;
    strcpy(p->relay, "udp");
    if (remote)
        assert_int_equal(addr_parse(&p->remote, remote, 5683), 0);
    if (local)
        assert_int_equal(addr_parse(&p->local, local, 5683), 0);
    p->conn_id = 0x0102030405060708ull;
}

static void peer_roundtrip(const char *remote, const char *local)
{
    uint8_t buf[256];
    struct wire_w w;
    struct wire_r r;
    struct rr_peer a, b;

    make_peer(&a, remote, local);
    wire_w_init(&w, buf, sizeof(buf));
    proto_put_peer(&w, &a);
    assert_false(w.err);
    wire_r_init(&r, buf, w.len);
    proto_get_peer(&r, &b);
    assert_false(r.err);
    assert_int_equal(r.off, w.len);
    assert_int_equal(b.transport, a.transport);
    assert_string_equal(b.relay, a.relay);
    assert_true(addr_equal(&a.remote, &b.remote));
    assert_true(addr_equal(&a.local, &b.local));
    assert_int_equal(b.remote.ss.ss_family, a.remote.ss.ss_family);
    assert_true(b.conn_id == a.conn_id);
    /* every truncation is detected */
    for (size_t n = 0; n < w.len; n++) {
        wire_r_init(&r, buf, n);
        proto_get_peer(&r, &b);
        assert_true(r.err);
    }
}

static void test_peer_shapes(void **state)
{
    (void)state;
    peer_roundtrip("192.0.2.1:5683", "198.51.100.1:5683");
    peer_roundtrip("[2001:db8::1]:61616", "[2001:db8::2]:5683");
    peer_roundtrip("[fe80::1%1]:1", "192.0.2.9:1");
    peer_roundtrip(NULL, NULL);
}

static void test_route_roundtrip(void **state)
{
    uint8_t buf[1024];
    struct wire_w w;
    struct wire_r r;
    struct rr_route a, b;

    (void)state;
    memset(&a, 0, sizeof(a));
    strcpy(a.host, "alice.proxy.localhost");
    strcpy(a.ep, "Alice");
    strcpy(a.reg_path, "/reg/17/");
    make_peer(&a.path, "[2001:db8::5]:40000", "[2001:db8::1]:5683");
    a.ka = RR_KA_DEFAULT;
    a.flags = RR_ROUTE_DELETED;
    a.mux_port = 20001;
    wire_w_init(&w, buf, sizeof(buf));
    proto_put_route(&w, &a);
    wire_put_u32(&w, 0xdeadbeef); /* trailing field from a newer version */
    assert_false(w.err);
    wire_r_init(&r, buf, w.len);
    proto_get_route(&r, &b);
    assert_false(r.err);
    assert_string_equal(b.host, a.host);
    assert_string_equal(b.ep, "Alice");
    assert_string_equal(b.d, "");
    assert_string_equal(b.reg_path, a.reg_path);
    assert_true(addr_equal(&b.path.remote, &a.path.remote));
    assert_int_equal(b.ka, RR_KA_DEFAULT);
    assert_int_equal(b.flags, RR_ROUTE_DELETED);
    assert_int_equal(b.mux_port, 20001);
    for (size_t n = 0; n + 4 < w.len; n++) {
        wire_r_init(&r, buf, n);
        proto_get_route(&r, &b);
        assert_true(r.err);
    }
}

static void test_wire_scalars_and_errors(void **state)
{
    uint8_t buf[64], small[5];
    struct wire_w w;
    struct wire_r r;
    const uint8_t *p;
    char s[4];

    (void)state;
    wire_w_init(&w, buf, sizeof(buf));
    wire_put_u8(&w, 0xab);
    wire_put_u16(&w, 0x1234);
    wire_put_u32(&w, 0x89abcdef);
    wire_put_u64(&w, 0x0011223344556677ull);
    wire_put_bytes(&w, "xyz", 3);
    wire_put_str(&w, "toolong");
    assert_false(w.err);
    assert_int_equal(buf[1], 0x12); /* big-endian */
    wire_r_init(&r, buf, w.len);
    assert_int_equal(wire_get_u8(&r), 0xab);
    assert_int_equal(wire_get_u16(&r), 0x1234);
    assert_int_equal(wire_get_u32(&r), 0x89abcdef);
    assert_true(wire_get_u64(&r) == 0x0011223344556677ull);
    assert_int_equal(wire_get_bytes(&r, &p), 3);
    assert_memory_equal(p, "xyz", 3);
    wire_get_str(&r, s, sizeof(s)); /* does not fit */
    assert_true(r.err);
    assert_string_equal(s, "");
    /* writer overflow */
    wire_w_init(&w, small, sizeof(small));
    wire_put_u32(&w, 1);
    wire_put_u16(&w, 1);
    assert_true(w.err);
    /* embedded NUL and unknown address family */
    wire_w_init(&w, buf, sizeof(buf));
    wire_put_bytes(&w, "a\0b", 3);
    wire_r_init(&r, buf, w.len);
    wire_get_str(&r, s, sizeof(s));
    assert_true(r.err);
    buf[0] = 5;
    wire_r_init(&r, buf, 1);
    struct rr_addr a;
    wire_get_addr(&r, &a);
    assert_true(r.err);
}

static void test_header_and_names(void **state)
{
    uint8_t hdr[RR_PROTO_HDR_LEN];
    uint16_t type;

    (void)state;
    proto_put_header(hdr, RR_MSG_RD_REQUEST);
    assert_int_equal(proto_parse_header(hdr, sizeof(hdr), &type), 0);
    assert_int_equal(type, RR_MSG_RD_REQUEST);
    assert_int_equal(proto_parse_header(hdr, 3, &type), -1);
    hdr[0] = 99;
    assert_int_equal(proto_parse_header(hdr, sizeof(hdr), &type), -1);
    assert_string_equal(proto_msg_name(RR_MSG_ROUTE_UPDATE), "ROUTE_UPDATE");
    assert_string_equal(proto_msg_name(RR_MSG_CTL_RESPONSE), "CTL_RESPONSE");
    assert_string_equal(proto_msg_name(0x7777), "UNKNOWN");
    assert_string_equal(proto_transport_name(RR_TRANSPORT_UDP), "udp");
    assert_string_equal(proto_transport_name(RR_TRANSPORT_TCP), "tcp");
    assert_string_equal(proto_transport_name(RR_TRANSPORT_WS), "ws");
    assert_string_equal(proto_transport_name(0), "none");
}

/* Receive with a bounded wait (the inproc pipe is asynchronous). */
static int recv_wait(void *s, bool want_id, uint8_t *id, size_t *idlen, uint16_t *type,
                     uint8_t *body, size_t cap, size_t *len)
{
    for (int i = 0; i < 200; i++) {
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 10);
        if (proto_recv(s, want_id, id, idlen, type, body, cap, len) == 0)
            return 0;
        if (errno != EAGAIN)
            return -1;
    }
    return -1;
}

static void test_zmq_framing(void **state)
{
    void *ctx = zmq_ctx_new();
    void *router = zmq_socket(ctx, ZMQ_ROUTER), *dealer = zmq_socket(ctx, ZMQ_DEALER);
    uint8_t id[255], body[64];
    size_t idlen, len;
    uint16_t type;
    int linger = 0;

    (void)state;
    zmq_setsockopt(router, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(dealer, ZMQ_ROUTING_ID, "udp", 3);
    assert_int_equal(zmq_bind(router, "inproc://wire-test"), 0);
    assert_int_equal(zmq_connect(dealer, "inproc://wire-test"), 0);
    assert_int_equal(proto_recv(router, true, id, &idlen, &type, body, sizeof(body), &len), -1);
    assert_int_equal(errno, EAGAIN);

    assert_int_equal(proto_send(dealer, NULL, 0, RR_MSG_HELLO, "abc", 3), 0);
    assert_int_equal(recv_wait(router, true, id, &idlen, &type, body, sizeof(body), &len), 0);
    assert_int_equal(idlen, 3);
    assert_memory_equal(id, "udp", 3);
    assert_int_equal(type, RR_MSG_HELLO);
    assert_int_equal(len, 3);
    assert_memory_equal(body, "abc", 3);

    assert_int_equal(proto_send(router, "udp", 3, RR_MSG_RD_RESPONSE, NULL, 0), 0);
    assert_int_equal(recv_wait(dealer, false, NULL, NULL, &type, body, sizeof(body), &len), 0);
    assert_int_equal(type, RR_MSG_RD_RESPONSE);
    assert_int_equal(len, 0);

    /* malformed: a bad header, then an oversized body; both drained */
    zmq_send(dealer, "xx", 2, ZMQ_SNDMORE);
    zmq_send(dealer, "body", 4, 0);
    assert_int_equal(recv_wait(router, true, id, &idlen, &type, body, sizeof(body), &len), -1);
    assert_int_equal(errno, EPROTO);
    uint8_t big[100] = {0};
    assert_int_equal(proto_send(dealer, NULL, 0, RR_MSG_HELLO, big, sizeof(big)), 0);
    assert_int_equal(recv_wait(router, true, id, &idlen, &type, body, sizeof(body), &len), -1);
    assert_int_equal(errno, EPROTO);
    /* the socket is still in sync afterwards */
    assert_int_equal(proto_send(dealer, NULL, 0, RR_MSG_SNAPSHOT_REQ, "12345678", 8), 0);
    assert_int_equal(recv_wait(router, true, id, &idlen, &type, body, sizeof(body), &len), 0);
    assert_int_equal(type, RR_MSG_SNAPSHOT_REQ);
    assert_int_equal(len, 8);

    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_shapes),
        cmocka_unit_test(test_route_roundtrip),
        cmocka_unit_test(test_wire_scalars_and_errors),
        cmocka_unit_test(test_header_and_names),
        cmocka_unit_test(test_zmq_framing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
