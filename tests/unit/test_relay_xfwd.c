/*
 * test_relay_xfwd.c - unit tests for relay-udp's cross-transport forwarding
 * (relay-udp/xfwd.c, proxy_rules.c): the XFWD_REQUEST id that names a
 * downstream exchange slot plus a check value (round trip, distinct checks
 * give distinct ids for one slot), the XFWD_RESPONSE status -> CoAP code
 * mapping (NO_ROUTE/UNREACHABLE -> 5.02, TIMEOUT -> 5.04, unknown -> 5.02,
 * each with a diagnostic); then the requester side against a fake holder
 * (a ROUTER bound where relay "tcp" would be): XFWD_REQUEST from routing id
 * "udp" with the host and the request, the OK answer piggybacked to the
 * client with its own token and message id, TIMEOUT -> 5.04, our own
 * timeout -> 5.04 and XFWD_CANCEL to the holder; an observation whose
 * notifications reach the client as CON and whose RST from the client
 * becomes XFWD_CANCEL (and a notification after it another one); and a
 * relay that is not
 * running -> 5.02 at once, with a diagnostic naming it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coap_msg.h"
#include "proto.h"
#include "fwd_rules.h"
#include "relay.h"
#include "timeutil.h"
#include <zmq.h>

static void test_req_id(void **state)
{
    (void)state;
    uint32_t slots[] = {0, 1, 4095, 0x7fffffffu, 0xfffffffeu};
    for (size_t k = 0; k < sizeof(slots) / sizeof(slots[0]); k++) {
        uint64_t a = rc_xfwd_req_id(slots[k], 0x12345678u);
        uint64_t b = rc_xfwd_req_id(slots[k], 0x12345679u);
        assert_int_equal(rc_req_slot(a), slots[k]);
        assert_int_equal(rc_req_slot(b), slots[k]);
        assert_true(a != b); /* a late answer for a reused slot never matches */
    }
    assert_true(rc_xfwd_req_id(1, 7) == ((uint64_t)7 << 32 | 1));
    assert_int_equal(rc_req_slot(0xffffffff00000003ull), 3);
}

static void test_status_code(void **state)
{
    const char *why = NULL;
    (void)state;

    assert_int_equal(rc_xfwd_status_code(RR_EP_OK, &why), 0);
    assert_int_equal(rc_xfwd_status_code(RR_EP_TIMEOUT, &why), COAP_GATEWAY_TIMEOUT);
    assert_string_equal(why, "endpoint did not answer");
    assert_int_equal(rc_xfwd_status_code(RR_EP_UNREACHABLE, &why), COAP_BAD_GATEWAY);
    assert_string_equal(why, "registrant unreachable");
    assert_int_equal(rc_xfwd_status_code(RR_EP_NO_ROUTE, &why), COAP_BAD_GATEWAY);
    assert_non_null(strstr(why, "no route"));
    assert_int_equal(rc_xfwd_status_code(200, &why), COAP_BAD_GATEWAY);
    assert_true(strlen(why) > 0);
}

/* ---- the requester side against a fake holder ---- */

struct fx {
    struct relay *r;
    void *holder; /* ROUTER where relay "tcp" would listen */
    int cli;
    struct rr_addr peer, local;
    struct rr_route route;
    uint64_t now;
    char dir[64];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[128], ep[RR_CFG_STR + 32];
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    int zero = 0;

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_relay_xfwd.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->r = calloc(1, sizeof(*f->r));
    config_defaults(&f->r->cfg);
    snprintf(f->r->cfg.udp_listen, sizeof(f->r->cfg.udp_listen), "127.0.0.1:0");
    snprintf(f->r->cfg.state_dir, sizeof(f->r->cfg.state_dir), "%s", f->dir);
    config_finish(&f->r->cfg, err, sizeof(err));
    f->r->cfg.max_exchanges = 64;
    /* the exchanges here are made without a request datagram (dx_alloc),
     * so there is no request size to limit answers by */
    f->r->cfg.amplification_limit = 0;
    assert_int_equal(exch_init(f->r), 0);
    assert_int_equal(ka_init(f->r), 0);
    assert_int_equal(udp_open_all(f->r), 0);
    assert_int_equal(ru_core_init(f->r), 0);

    f->holder = zmq_socket(f->r->core.zctx, ZMQ_ROUTER);
    zmq_setsockopt(f->holder, ZMQ_LINGER, &zero, sizeof(zero));
    assert_int_equal(proto_relay_endpoint(f->dir, "tcp", ep, sizeof(ep)), 0);
    assert_int_equal(zmq_bind(f->holder, ep), 0);
    assert_int_equal(rc_xpeer_get(&f->r->core, "tcp"), 0);
    assert_int_equal(rc_xpeer_get(&f->r->core, "tcp"), 0);  /* one DEALER per relay */
    assert_int_equal(rc_xpeer_get(&f->r->core, "udp"), -1); /* never ourselves */
    assert_int_equal(rc_xpeer_get(&f->r->core, "../x"), -1);
    usleep(300 * 1000); /* ZMQ_IMMEDIATE: let the ipc connection come up */

    f->local = f->r->socks[0].bound;
    f->cli = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(f->cli >= 0);
    assert_int_equal(bind(f->cli, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(f->cli, (struct sockaddr *)&sin, &sl), 0);
    addr_from_sockaddr(&f->peer, (struct sockaddr *)&sin, sl);
    snprintf(f->route.host, sizeof(f->route.host), "alice.proxy.localhost");
    f->route.path.transport = RR_TRANSPORT_TCP;
    snprintf(f->route.path.relay, sizeof(f->route.path.relay), "tcp");
    f->now = now_mono_ms();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char ep[RR_CFG_STR + 32];

    close(f->cli);
    zmq_close(f->holder);
    udp_close_all(f->r);
    ka_free(f->r);
    exch_free(f->r);
    rc_free(&f->r->core);
    free(f->r);
    proto_relay_endpoint(f->dir, "tcp", ep, sizeof(ep));
    unlink(ep + strlen("ipc://"));
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A client's CON GET /hello (token ab, msgid mid) as on_request takes it
 * in: a downstream exchange, then the requester's forwarding. */
static uint32_t client_request_raw(struct fx *f, const uint8_t *raw, size_t len)
{
    struct coap_msg m;
    assert_int_equal(coap_msg_parse_udp(raw, len, &m), 0);
    uint32_t i = dx_alloc(f->r, f->now);
    assert_true(i != RU_NONE);
    struct dexch *d = &f->r->dx[i];
    d->sock = 0;
    d->peer = f->peer;
    d->local = f->local;
    d->req_type = m.type;
    d->req_msgid = m.msgid;
    d->h.tkl = m.tkl;
    memcpy(d->h.token, m.token, m.tkl);
    dx_dedup_insert(f->r, i);
    xfwd_on_request(f->r, i, &m, &f->route, f->route.host, f->now);
    udp_flush(f->r);
    return i;
}

static uint32_t client_request(struct fx *f, uint16_t mid)
{
    uint8_t raw[] = {0x41, 0x01, (uint8_t)(mid >> 8), (uint8_t)mid, 0xab, 0xb5, 'h', 'e', 'l',
                     'l',  'o'};
    return client_request_raw(f, raw, sizeof(raw));
}

/* The holder's next message (bounded wait): type, req_id, body. */
static uint16_t holder_recv(struct fx *f, uint64_t *req_id, uint8_t *body, size_t *len)
{
    uint8_t id[256];
    size_t idlen = 0;
    uint16_t type = 0;
    zmq_pollitem_t it = {.socket = f->holder, .events = ZMQ_POLLIN};
    assert_true(zmq_poll(&it, 1, 2000) == 1);
    assert_int_equal(proto_recv(f->holder, true, id, &idlen, &type, body, 4096, len), 0);
    assert_int_equal(idlen, 3);
    assert_memory_equal(id, "udp", 3); /* the requester's routing id */
    struct wire_r rd;
    wire_r_init(&rd, body, *len);
    *req_id = wire_get_u64(&rd);
    return type;
}

static void holder_answer(struct fx *f, uint64_t req_id, uint8_t status, const uint8_t *coap,
                          size_t n)
{
    uint8_t body[256];
    struct wire_w w;
    wire_w_init(&w, body, sizeof(body));
    wire_put_u64(&w, req_id);
    wire_put_u8(&w, status);
    wire_put_bytes(&w, coap, n);
    assert_int_equal(proto_send(f->holder, "udp", 3, RR_MSG_XFWD_RESPONSE, body, w.len), 0);
    zmq_pollitem_t it = {.socket = f->r->core.xpeers[0].sock, .events = ZMQ_POLLIN};
    assert_true(zmq_poll(&it, 1, 2000) == 1);
    rc_xfwd_on_peer(&f->r->core, 0, f->now);
    udp_flush(f->r);
}

static size_t client_recv(struct fx *f, uint8_t *buf, size_t cap)
{
    struct pollfd p = {.fd = f->cli, .events = POLLIN};
    if (poll(&p, 1, 1000) != 1)
        return 0;
    ssize_t n = recv(f->cli, buf, cap, 0);
    return n > 0 ? (size_t)n : 0;
}

static void test_requester(void **state)
{
    struct fx *f = *state;
    uint8_t body[4096], buf[512];
    size_t len;
    uint64_t req_id;
    struct coap_msg m;

    /* 1: forwarded, answered OK -> piggybacked with the client's token */
    uint32_t i = client_request(f, 0x1234);
    assert_int_equal(holder_recv(f, &req_id, body, &len), RR_MSG_XFWD_REQUEST);
    assert_int_equal(rc_req_slot(req_id), i);
    struct wire_r rd;
    char host[RR_HOST_MAX];
    const uint8_t *coap;
    wire_r_init(&rd, body, len);
    wire_get_u64(&rd);
    wire_get_str(&rd, host, sizeof(host));
    size_t n = wire_get_bytes(&rd, &coap);
    assert_false(rd.err);
    assert_string_equal(host, "alice.proxy.localhost");
    assert_int_equal(coap_msg_parse_udp(coap, n, &m), 0);
    assert_int_equal(m.code, COAP_CODE(0, 1));
    assert_non_null(coap_msg_find(&m, COAP_OPT_URI_PATH));
    const uint8_t ans[] = {0x61, 0x45, 0, 0, 0xab, 0xff, 'h', 'i'};
    holder_answer(f, req_id, RR_EP_OK, ans, sizeof(ans));
    n = client_recv(f, buf, sizeof(buf));
    assert_int_equal(n, 8);
    assert_int_equal(buf[0], 0x61); /* ACK, tkl 1 */
    assert_int_equal(buf[1], 0x45); /* 2.05 */
    assert_int_equal(buf[2] << 8 | buf[3], 0x1234);
    assert_int_equal(buf[4], 0xab);
    assert_memory_equal(buf + 6, "hi", 2);
    /* a second answer for the same req_id is stale: nothing more */
    holder_answer(f, req_id, RR_EP_OK, ans, sizeof(ans));
    assert_int_equal(client_recv(f, buf, sizeof(buf)), 0);

    /* 2: the holder reports TIMEOUT -> 5.04 */
    client_request(f, 0x1235);
    assert_int_equal(holder_recv(f, &req_id, body, &len), RR_MSG_XFWD_REQUEST);
    holder_answer(f, req_id, RR_EP_TIMEOUT, NULL, 0);
    n = client_recv(f, buf, sizeof(buf));
    assert_true(n >= 5);
    assert_int_equal(buf[1], COAP_GATEWAY_TIMEOUT);

    /* 3: NO_ROUTE -> 5.02 with the diagnostic */
    client_request(f, 0x1236);
    assert_int_equal(holder_recv(f, &req_id, body, &len), RR_MSG_XFWD_REQUEST);
    holder_answer(f, req_id, RR_EP_NO_ROUTE, NULL, 0);
    n = client_recv(f, buf, sizeof(buf));
    assert_true(n > 6);
    assert_int_equal(buf[1], COAP_BAD_GATEWAY);
    buf[n] = 0;
    assert_non_null(strstr((char *)buf + 6, "no route"));

    /* 4: our own timeout -> 5.04 to the client, XFWD_CANCEL to the holder */
    i = client_request(f, 0x1237);
    uint64_t want = 0;
    assert_int_equal(holder_recv(f, &want, body, &len), RR_MSG_XFWD_REQUEST);
    rc_dx_on_timer(&f->r->core, i, f->now + f->r->cfg.upstream_timeout_ms);
    udp_flush(f->r);
    n = client_recv(f, buf, sizeof(buf));
    assert_true(n >= 5);
    assert_int_equal(buf[1], COAP_GATEWAY_TIMEOUT);
    assert_int_equal(holder_recv(f, &req_id, body, &len), RR_MSG_XFWD_CANCEL);
    assert_true(req_id == want);
}

static void test_observe_rst(void **state)
{
    struct fx *f = *state;
    uint8_t body[4096], buf[512];
    size_t len, n;
    uint64_t req_id, again;

    /* CON GET /obs with Observe 0 (token ab) */
    const uint8_t req[] = {0x41, 0x01, 0x30, 0x00, 0xab, 0x60, 0x53, 'o', 'b', 's'};
    client_request_raw(f, req, sizeof(req));
    assert_int_equal(holder_recv(f, &req_id, body, &len), RR_MSG_XFWD_REQUEST);
    /* first answer: 2.05 Observe 1, as a TCP holder sends it (ACK) */
    const uint8_t first[] = {0x61, 0x45, 0, 0, 0xab, 0x61, 0x01, 0xff, 'a'};
    holder_answer(f, req_id, RR_EP_OK, first, sizeof(first));
    n = client_recv(f, buf, sizeof(buf));
    assert_int_equal(n, sizeof(first));
    assert_int_equal(buf[0], 0x61); /* piggybacked */
    assert_int_equal(buf[2] << 8 | buf[3], 0x3000);
    /* a notification: CON to the client, the client's token */
    const uint8_t note[] = {0x61, 0x45, 0, 0, 0xab, 0x61, 0x02, 0xff, 'b'};
    holder_answer(f, req_id, RR_EP_OK, note, sizeof(note));
    n = client_recv(f, buf, sizeof(buf));
    assert_int_equal(n, sizeof(note));
    assert_int_equal(buf[0], 0x41); /* CON */
    assert_int_equal(buf[4], 0xab);
    assert_int_equal(buf[6], 0x02);
    /* the client rejects it: XFWD_CANCEL for that req_id */
    uint8_t rst[4] = {0x70, 0, buf[2], buf[3]};
    msg_on_datagram(f->r, 0, &f->peer, &f->local, rst, sizeof(rst), f->now);
    assert_int_equal(holder_recv(f, &again, body, &len), RR_MSG_XFWD_CANCEL);
    assert_true(again == req_id);
    /* a notification that crossed the cancel: nothing to the client, and
     * the holder is told again */
    holder_answer(f, req_id, RR_EP_OK, note, sizeof(note));
    assert_int_equal(client_recv(f, buf, sizeof(buf)), 0);
    assert_int_equal(holder_recv(f, &again, body, &len), RR_MSG_XFWD_CANCEL);
}

static void test_not_running(void **state)
{
    struct fx *f = *state;
    uint8_t buf[512];

    /* nobody listens for relay "ws": 5.02 at once, naming it */
    snprintf(f->route.path.relay, sizeof(f->route.path.relay), "ws");
    client_request(f, 0x2000);
    size_t n = client_recv(f, buf, sizeof(buf));
    assert_true(n > 6);
    assert_int_equal(buf[0] >> 4 & 3, 2); /* piggybacked */
    assert_int_equal(buf[1], COAP_BAD_GATEWAY);
    buf[n] = 0;
    assert_non_null(strstr((char *)buf + 6, "\"ws\" is not running"));
    assert_int_equal(f->r->core.c.xfwd_refused, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_req_id),
        cmocka_unit_test(test_status_code),
        cmocka_unit_test_setup_teardown(test_requester, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observe_rst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_running, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
