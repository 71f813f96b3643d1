/*
 * test_fwd.c - unit tests for connect/fwd.c, the message-level forwarder of
 * rdrelay-connect: message id and token rewriting both ways, options and
 * payload passing byte-identical, Uri-Host replacement (reach), duplicate
 * requests riding the cached answer, empty ACK + separate response, ACK/RST
 * mapping back upstream, Observe cancellation by RST, clients with equal
 * tokens kept apart, pings, the 5.04 timer.
 * Owns four loopback UDP sockets per test: a down peer, the forwarder's
 * down and up sockets, and an up peer. The forwarder is driven directly
 * (fwd_on_down / fwd_on_up); what it sends is read from the peers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coap_msg.h"
#include "connect.h"
#include "fwd.h"
#include "log.h"

struct rig {
    int peer_down, peer_down2, fd_down, fd_up, peer_up;
    struct rr_addr a_down, a_down2, a_up;
    struct fwd f;
    uint8_t buf[CN_DGRAM_MAX];
    uint8_t out[CN_DGRAM_MAX];
};

static int udp_bound(struct rr_addr *a)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    if (a != NULL)
        addr_from_sockaddr(a, (struct sockaddr *)&sin, sl);
    return fd;
}

static int setup(void **state)
{
    struct rig *r = calloc(1, sizeof(*r));

    log_init("test_fwd", LOG_LVL_WARN);
    r->peer_down = udp_bound(&r->a_down);
    r->peer_down2 = udp_bound(&r->a_down2);
    r->fd_down = udp_bound(NULL);
    r->fd_up = udp_bound(NULL);
    r->peer_up = udp_bound(&r->a_up);
    assert_int_equal(fwd_init(&r->f, r->fd_down, r->fd_up, &r->a_up), 0);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    struct rig *r = *state;

    fwd_free(&r->f);
    close(r->peer_down);
    close(r->peer_down2);
    close(r->fd_down);
    close(r->fd_up);
    close(r->peer_up);
    free(r);
    return 0;
}

/* The next datagram on fd (within 1 s), parsed into m (pointing into r->out). */
static size_t expect(struct rig *r, int fd, struct coap_msg *m)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;

    assert_int_equal(poll(&p, 1, 1000), 1);
    n = recv(fd, r->out, sizeof(r->out), 0);
    assert_true(n > 0);
    assert_int_equal(coap_msg_parse_udp(r->out, (size_t)n, m), 0);
    return (size_t)n;
}

static void expect_nothing(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    assert_int_equal(poll(&p, 1, 100), 0);
}

/* Serialise m into r->buf; returns the length. */
static size_t build(struct rig *r, const struct coap_msg *m)
{
    ssize_t n = coap_msg_serialize_udp(m, r->buf, sizeof(r->buf));

    assert_true(n > 0);
    return (size_t)n;
}

static void make(struct coap_msg *m, uint8_t type, uint8_t code, uint16_t mid, const char *token)
{
    coap_msg_init(m);
    m->type = type;
    m->code = code;
    m->msgid = mid;
    m->tkl = (uint8_t)strlen(token);
    memcpy(m->token, token, m->tkl);
}

static size_t empty(uint8_t *b, uint8_t type, uint16_t mid)
{
    b[0] = (uint8_t)(0x40 | (type << 4));
    b[1] = 0;
    b[2] = (uint8_t)(mid >> 8);
    b[3] = (uint8_t)mid;
    return 4;
}

/* A CON GET from the down peer with OSCORE, EDHOC, an unknown option and a
 * binary payload: forwarded with everything but mid and token unchanged,
 * and the piggybacked answer comes back with the client's mid and token. */
static void test_request_and_piggyback(void **state)
{
    struct rig *r = *state;
    struct coap_msg m, up, down;
    static const uint8_t oscore[] = {0x09, 0x01, 0xab}, unknown[] = {0, 0xff, 0};
    static const uint8_t payload[] = {0, 1, 0xff, 0xfe};
    uint8_t etag[] = {1, 2};
    size_t n;

    make(&m, COAP_T_CON, COAP_POST, 0x1234, "tk");
    coap_msg_add_opt(&m, COAP_OPT_OSCORE, oscore, sizeof(oscore));
    coap_msg_add_opt(&m, COAP_OPT_EDHOC, NULL, 0);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "x", 1);
    coap_msg_add_opt(&m, 65000, unknown, sizeof(unknown));
    m.payload = payload;
    m.payload_len = sizeof(payload);
    n = build(r, &m);
    assert_int_equal(fwd_on_down(&r->f, r->buf, n, &r->a_down, 1000), FWD_HANDLED);
    expect(r, r->peer_up, &up);
    assert_int_equal(up.type, COAP_T_CON);
    assert_int_equal(up.code, COAP_POST);
    assert_int_equal(up.tkl, 4);
    assert_int_equal(up.nopts, 4);
    assert_int_equal(up.opts[0].num, COAP_OPT_OSCORE);
    assert_memory_equal(up.opts[0].val, oscore, sizeof(oscore));
    assert_int_equal(up.opts[1].num, COAP_OPT_URI_PATH);
    assert_int_equal(up.opts[2].num, COAP_OPT_EDHOC);
    assert_int_equal(up.opts[2].len, 0);
    assert_int_equal(up.opts[3].num, 65000);
    assert_memory_equal(up.opts[3].val, unknown, sizeof(unknown));
    assert_int_equal(up.payload_len, sizeof(payload));
    assert_memory_equal(up.payload, payload, sizeof(payload));

    /* the answer: ACK 2.05 with ETag and Max-Age */
    {
        uint16_t up_mid = up.msgid;
        uint8_t up_tok[4], mabuf[4];
        memcpy(up_tok, up.token, 4);
        make(&m, COAP_T_ACK, COAP_CONTENT, up_mid, "");
        m.tkl = 4;
        memcpy(m.token, up_tok, 4);
        coap_msg_add_opt(&m, COAP_OPT_ETAG, etag, sizeof(etag));
        coap_msg_add_opt_uint(&m, COAP_OPT_MAX_AGE, 60, mabuf);
        m.payload = (const uint8_t *)"hi";
        m.payload_len = 2;
        n = build(r, &m);
    }
    fwd_on_up(&r->f, r->buf, n, 1001);
    expect(r, r->peer_down, &down);
    assert_int_equal(down.type, COAP_T_ACK);
    assert_int_equal(down.code, COAP_CONTENT);
    assert_int_equal(down.msgid, 0x1234);
    assert_int_equal(down.tkl, 2);
    assert_memory_equal(down.token, "tk", 2);
    assert_int_equal(coap_msg_opt_uint(&down, COAP_OPT_MAX_AGE, 0), 60);
    assert_non_null(coap_msg_find(&down, COAP_OPT_ETAG));
    assert_int_equal(down.payload_len, 2);

    /* the client retransmits: the cached answer, nothing upstream */
    make(&m, COAP_T_CON, COAP_POST, 0x1234, "tk");
    n = build(r, &m);
    fwd_on_down(&r->f, r->buf, n, &r->a_down, 1500);
    expect(r, r->peer_down, &down);
    assert_int_equal(down.msgid, 0x1234);
    assert_int_equal(down.code, COAP_CONTENT);
    expect_nothing(r->peer_up);
}

/* A retransmission while upstream has not answered goes up again with the
 * same upstream message id (upstream deduplicates). */
static void test_retransmission_rides_upstream_mid(void **state)
{
    struct rig *r = *state;
    struct coap_msg m, up1, up2;
    uint16_t mid1;
    size_t n;

    make(&m, COAP_T_CON, COAP_GET, 7, "a");
    n = build(r, &m);
    fwd_on_down(&r->f, r->buf, n, &r->a_down, 1000);
    expect(r, r->peer_up, &up1);
    mid1 = up1.msgid;
    n = build(r, &m);
    fwd_on_down(&r->f, r->buf, n, &r->a_down, 3000);
    expect(r, r->peer_up, &up2);
    assert_int_equal(up2.msgid, mid1);
    assert_int_equal(r->f.stats.requests, 1);
    assert_int_equal(r->f.stats.retransmissions, 1);
}

/* Empty ACK, then a CON separate response; the client's ACK reaches
 * upstream with upstream's message id. */
static void test_separate_response(void **state)
{
    struct rig *r = *state;
    struct coap_msg m, up, down;
    uint8_t tok[4];
    uint16_t down_mid;
    size_t n;

    make(&m, COAP_T_CON, COAP_GET, 0x0101, "sep");
    n = build(r, &m);
    fwd_on_down(&r->f, r->buf, n, &r->a_down, 1000);
    expect(r, r->peer_up, &up);
    memcpy(tok, up.token, 4);
    n = empty(r->buf, COAP_T_ACK, up.msgid);
    fwd_on_up(&r->f, r->buf, n, 1010);
    expect(r, r->peer_down, &down);
    assert_int_equal(down.type, COAP_T_ACK);
    assert_int_equal(down.code, COAP_EMPTY);
    assert_int_equal(down.msgid, 0x0101);

    make(&m, COAP_T_CON, COAP_CONTENT, 0x9999, "");
    m.tkl = 4;
    memcpy(m.token, tok, 4);
    m.payload = (const uint8_t *)"done";
    m.payload_len = 4;
    n = build(r, &m);
    fwd_on_up(&r->f, r->buf, n, 2000);
    expect(r, r->peer_down, &down);
    assert_int_equal(down.type, COAP_T_CON);
    assert_int_equal(down.code, COAP_CONTENT);
    assert_int_equal(down.tkl, 3);
    assert_memory_equal(down.token, "sep", 3);
    down_mid = down.msgid;

    /* upstream retransmits before our ACK: same down message id again */
    n = build(r, &m);
    fwd_on_up(&r->f, r->buf, n, 4000);
    expect(r, r->peer_down, &down);
    assert_int_equal(down.msgid, down_mid);

    n = empty(r->buf, COAP_T_ACK, down_mid);
    assert_int_equal(fwd_on_down(&r->f, r->buf, n, &r->a_down, 4010), FWD_HANDLED);
    expect(r, r->peer_up, &up);
    assert_int_equal(up.type, COAP_T_ACK);
    assert_int_equal(up.code, COAP_EMPTY);
    assert_int_equal(up.msgid, 0x9999);
}

/* Observe: notifications follow the token until the client answers one
 * with RST; that RST goes upstream, and later notifications are rejected. */
static void test_observe_rst(void **state)
{
    struct rig *r = *state;
    struct coap_msg m, up, down;
    uint8_t tok[4], obuf[4];
    size_t n;

    make(&m, COAP_T_CON, COAP_GET, 0x0202, "ob");
    coap_msg_add_opt_uint(&m, COAP_OPT_OBSERVE, 0, obuf);
    n = build(r, &m);
    fwd_on_down(&r->f, r->buf, n, &r->a_down, 1000);
    expect(r, r->peer_up, &up);
    memcpy(tok, up.token, 4);
    make(&m, COAP_T_ACK, COAP_CONTENT, up.msgid, "");
    m.tkl = 4;
    memcpy(m.token, tok, 4);
    coap_msg_add_opt_uint(&m, COAP_OPT_OBSERVE, 1, obuf);
    n = build(r, &m);
    fwd_on_up(&r->f, r->buf, n, 1001);
    expect(r, r->peer_down, &down);
    assert_int_equal(coap_msg_opt_uint(&down, COAP_OPT_OBSERVE, 0), 1);

    for (uint32_t seq = 2; seq <= 3; seq++) {
        make(&m, COAP_T_NON, COAP_CONTENT, (uint16_t)(0x7000 + seq), "");
        m.tkl = 4;
        memcpy(m.token, tok, 4);
        coap_msg_add_opt_uint(&m, COAP_OPT_OBSERVE, seq, obuf);
        n = build(r, &m);
        fwd_on_up(&r->f, r->buf, n, 1000 + seq * 1000);
        expect(r, r->peer_down, &down);
        assert_int_equal(down.type, COAP_T_NON);
        assert_memory_equal(down.token, "ob", 2);
        assert_int_equal(coap_msg_opt_uint(&down, COAP_OPT_OBSERVE, 0), seq);
    }
    /* the client rejects the last one */
    n = empty(r->buf, COAP_T_RST, down.msgid);
    fwd_on_down(&r->f, r->buf, n, &r->a_down, 4000);
    expect(r, r->peer_up, &up);
    assert_int_equal(up.type, COAP_T_RST);
    assert_int_equal(up.msgid, 0x7003);
    /* a later notification for that token is refused upstream */
    make(&m, COAP_T_CON, COAP_CONTENT, 0x7004, "");
    m.tkl = 4;
    memcpy(m.token, tok, 4);
    n = build(r, &m);
    fwd_on_up(&r->f, r->buf, n, 5000);
    expect(r, r->peer_up, &up);
    assert_int_equal(up.type, COAP_T_RST);
    assert_int_equal(up.msgid, 0x7004);
    expect_nothing(r->peer_down);
}

/* Two clients with the same token and message id: different upstream
 * tokens, and each answer goes to its own client. */
static void test_same_token_two_clients(void **state)
{
    struct rig *r = *state;
    struct coap_msg m, up1, up2, down;
    uint8_t t1[4], t2[4];
    uint16_t m1, m2;
    size_t n;

    make(&m, COAP_T_CON, COAP_GET, 5, "t");
    n = build(r, &m);
    fwd_on_down(&r->f, r->buf, n, &r->a_down, 1000);
    expect(r, r->peer_up, &up1);
    memcpy(t1, up1.token, 4);
    m1 = up1.msgid;
    fwd_on_down(&r->f, r->buf, n, &r->a_down2, 1000);
    expect(r, r->peer_up, &up2);
    memcpy(t2, up2.token, 4);
    m2 = up2.msgid;
    assert_memory_not_equal(t1, t2, 4);
    assert_int_not_equal(m1, m2);

    make(&m, COAP_T_ACK, COAP_CONTENT, m2, "");
    m.tkl = 4;
    memcpy(m.token, t2, 4);
    m.payload = (const uint8_t *)"two";
    m.payload_len = 3;
    n = build(r, &m);
    fwd_on_up(&r->f, r->buf, n, 1001);
    expect(r, r->peer_down2, &down);
    assert_int_equal(down.payload_len, 3);
    assert_memory_equal(down.payload, "two", 3);
    expect_nothing(r->peer_down);
}

/* reach: Uri-Host replaced, Uri-Port dropped. */
static void test_uri_host_rewrite(void **state)
{
    struct rig *r = *state;
    struct coap_msg m, up;
    uint8_t pbuf[4];
    size_t n;

    r->f.uri_host = "alice.proxy.example";
    make(&m, COAP_T_CON, COAP_GET, 9, "h");
    coap_msg_add_opt(&m, COAP_OPT_URI_HOST, "127.0.0.1", 9);
    coap_msg_add_opt_uint(&m, COAP_OPT_URI_PORT, 5684, pbuf);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "time", 4);
    n = build(r, &m);
    fwd_on_down(&r->f, r->buf, n, &r->a_down, 1000);
    expect(r, r->peer_up, &up);
    assert_int_equal(up.nopts, 2);
    assert_int_equal(up.opts[0].num, COAP_OPT_URI_HOST);
    assert_int_equal(up.opts[0].len, strlen("alice.proxy.example"));
    assert_memory_equal(up.opts[0].val, "alice.proxy.example", up.opts[0].len);
    assert_int_equal(up.opts[1].num, COAP_OPT_URI_PATH);
}

/* Nothing from upstream within timeout_ms: 5.04 piggybacked, with a
 * diagnostic; an empty ACK from upstream first cancels the timer. */
static void test_gateway_timeout(void **state)
{
    struct rig *r = *state;
    struct coap_msg m, up, down;
    size_t n;

    r->f.timeout_ms = 2000;
    make(&m, COAP_T_CON, COAP_GET, 0x0303, "to");
    n = build(r, &m);
    fwd_on_down(&r->f, r->buf, n, &r->a_down, 1000);
    expect(r, r->peer_up, &up);
    assert_true(fwd_next_timer(&r->f, 1000) <= 3000);
    fwd_tick(&r->f, 2999);
    expect_nothing(r->peer_down);
    fwd_tick(&r->f, 3000);
    expect(r, r->peer_down, &down);
    assert_int_equal(down.type, COAP_T_ACK);
    assert_int_equal(down.code, COAP_GATEWAY_TIMEOUT);
    assert_int_equal(down.msgid, 0x0303);
    assert_memory_equal(down.token, "to", 2);
    assert_true(down.payload_len > 0);

    make(&m, COAP_T_CON, COAP_GET, 0x0304, "ok");
    n = build(r, &m);
    fwd_on_down(&r->f, r->buf, n, &r->a_down, 4000);
    expect(r, r->peer_up, &up);
    n = empty(r->buf, COAP_T_ACK, up.msgid);
    fwd_on_up(&r->f, r->buf, n, 4001);
    expect(r, r->peer_down, &down);
    assert_int_equal(down.code, COAP_EMPTY);
    fwd_tick(&r->f, 9000);
    expect_nothing(r->peer_down);
}

/* A CoAP ping from either side is answered with RST; responses that are
 * not part of a forwarded exchange are left to the caller. */
static void test_ping_and_not_mine(void **state)
{
    struct rig *r = *state;
    struct coap_msg m, got;
    size_t n;

    n = empty(r->buf, COAP_T_CON, 0x4242);
    assert_int_equal(fwd_on_down(&r->f, r->buf, n, &r->a_down, 1000), FWD_HANDLED);
    expect(r, r->peer_down, &got);
    assert_int_equal(got.type, COAP_T_RST);
    assert_int_equal(got.msgid, 0x4242);

    fwd_on_up(&r->f, r->buf, n, 1000);
    expect(r, r->peer_up, &got);
    assert_int_equal(got.type, COAP_T_RST);

    make(&m, COAP_T_ACK, COAP_CREATED, 0x5555, "own");
    n = build(r, &m);
    assert_int_equal(fwd_on_down(&r->f, r->buf, n, &r->a_down, 1000), FWD_NOT_MINE);
    n = empty(r->buf, COAP_T_ACK, 0x5556);
    assert_int_equal(fwd_on_down(&r->f, r->buf, n, &r->a_down, 1000), FWD_NOT_MINE);
    r->buf[0] = 0x80; /* version 2: junk */
    assert_int_equal(fwd_on_down(&r->f, r->buf, 4, &r->a_down, 1000), FWD_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_and_piggyback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retransmission_rides_upstream_mid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_separate_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observe_rst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_token_two_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uri_host_rewrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gateway_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping_and_not_mine, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
