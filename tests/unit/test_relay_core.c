/*
 * test_relay_core.c - unit tests of the relay core (relay-core/) against a
 * fake transport (struct relay_transport whose callbacks record what the
 * core asked): connection ids (never 0, unique, another run's ids are not
 * ours, independent of the wall clock), XFWD ids and the one status
 * mapping (counted as 5.02 / 5.04); the proxy decision (no route -> 5.05,
 * our route with its path down -> 5.02 with the transport's diagnostic,
 * unknown unsafe option -> 4.02, Hop-Limit 1 -> 5.08, no room to add
 * Hop-Limit -> 5.00 (not 5.08), our route -> LOCAL
 * with Uri-Host gone and Hop-Limit added, another relay's route -> XFWD,
 * the same relay name on another transport is not ours); the request
 * classification (a trailing dot and upper case reach proxy_request
 * normalised, the RD's unknown critical option -> 4.02 answer, an unknown
 * name -> 5.05 counted); the RD path's
 * decoders (a malformed RD_RESPONSE never reaches the transport, a good
 * one reaches it with its slot; an RD_NOTIFY for another transport is
 * dropped); XFWD end to end over ipc with a fake holder (the request
 * arrives with the host, the holder's answer reaches the transport's
 * xfwd_response with slot and status; a relay that is not running -> 5.02
 * at once, counted as refused; an XFWD_REQUEST for a route that is not ours
 * -> NO_ROUTE, for ours -> the transport's xfwd_request); and the loop (a
 * registered fd's handler runs, a due timer reaches the transport, tick and
 * flush run every iteration, a signal ends rc_run).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <zmq.h>

#include "core.h"
#include "proto_msg.h"
#include "route_table.h"
#include "timeutil.h"

/* The fake transport's exchanges: the core's heads and a client id. */
#define F_NX 8
struct fdx {
    struct rc_dx h;
    int client;
};
struct fux {
    struct rc_ux h;
};

struct fake {
    struct relay_core core;
    struct fdx dx[F_NX];
    struct fux ux[F_NX];
    int rd_sends, ux_sends, ux_releases, ux_ends, send_rc;
    struct rr_config cfg;
    struct route_table *routes;
    bool down;
    int path_down_calls, timers, ticks, flushes, fd_events;
    int rd_responses, rd_notifies, xfwd_requests, xfwd_responses;
    int rd_requests, proxy_requests, answers;
    uint8_t last_code;
    uint32_t last_slot;
    uint8_t last_status;
    char last_host[RR_HOST_MAX];
    int pipefd[2];
    struct rc_handler h;
    struct rr_timer t;
};

static bool f_path_down(void *tp, const struct rr_route *rt, char *diag, size_t len)
{
    struct fake *f = tp;
    (void)rt;
    f->path_down_calls++;
    if (f->down)
        snprintf(diag, len, "fake path down");
    return f->down;
}

static void f_on_timer(void *tp, struct rr_timer *t, uint64_t now)
{
    struct fake *f = tp;
    (void)t;
    (void)now;
    f->timers++;
    if (f->fd_events > 0)
        raise(SIGTERM); /* the loop test is over: rc_run ends at its next check */
}

static void f_tick(void *tp, uint64_t now)
{
    (void)now;
    ((struct fake *)tp)->ticks++;
}

static void f_flush(void *tp)
{
    ((struct fake *)tp)->flushes++;
}

static void f_rd_response(void *tp, uint32_t slot, uint64_t req_id, const uint8_t *coap, size_t n,
                          uint64_t now)
{
    struct fake *f = tp;
    (void)req_id;
    (void)coap;
    (void)n;
    (void)now;
    f->rd_responses++;
    f->last_slot = slot;
}

static void f_rd_notify(void *tp, const struct rr_peer *p, bool con, const uint8_t *coap, size_t n,
                        uint64_t now)
{
    (void)p;
    (void)con;
    (void)coap;
    (void)n;
    (void)now;
    ((struct fake *)tp)->rd_notifies++;
}

static void f_xfwd_request(void *tp, const struct rc_xreq *x, struct coap_msg *m,
                           const struct rr_route *route, uint64_t now)
{
    struct fake *f = tp;
    (void)m;
    (void)route;
    (void)now;
    f->xfwd_requests++;
    snprintf(f->last_host, sizeof(f->last_host), "%s", x->host);
}

static void f_xfwd_response(void *tp, int xp, uint32_t slot, uint64_t req_id, uint8_t status,
                            const uint8_t *coap, size_t n, uint8_t kind, uint64_t now)
{
    struct fake *f = tp;
    (void)xp;
    (void)kind;
    (void)req_id;
    (void)coap;
    (void)n;
    (void)now;
    f->xfwd_responses++;
    f->last_slot = slot;
    f->last_status = status;
}

static void f_rd_request(void *tp, uint32_t slot, struct coap_msg *m, const uint8_t *raw, size_t n,
                         uint64_t now)
{
    struct fake *f = tp;
    (void)m;
    (void)raw;
    (void)n;
    (void)now;
    f->rd_requests++;
    f->last_slot = slot;
}

static void f_proxy_request(void *tp, uint32_t slot, struct coap_msg *m, const char *host,
                            uint64_t now)
{
    struct fake *f = tp;
    (void)m;
    (void)now;
    f->proxy_requests++;
    f->last_slot = slot;
    snprintf(f->last_host, sizeof(f->last_host), "%s", host);
}

static void f_answer(void *tp, uint32_t slot, uint8_t code, const char *diag, uint64_t now)
{
    struct fake *f = tp;
    (void)diag;
    (void)now;
    f->answers++;
    f->last_slot = slot;
    f->last_code = code;
}

static void f_rd_send(void *tp, uint32_t slot)
{
    struct fake *f = tp;
    f->rd_sends++;
    f->last_slot = slot;
}

static bool f_same_client(void *tp, uint32_t a, uint32_t b)
{
    struct fake *f = tp;
    return f->dx[a].client == f->dx[b].client;
}

static int f_ux_send(void *tp, uint32_t ui, struct coap_msg *m, const struct rr_peer *path,
                     uint64_t now)
{
    struct fake *f = tp;
    (void)ui;
    (void)m;
    (void)path;
    (void)now;
    f->ux_sends++;
    return f->send_rc;
}

static void f_ux_release(void *tp, uint32_t ui)
{
    struct fake *f = tp;
    f->ux_releases++;
    rc_ux_put(&f->core, ui);
}

static void f_ux_end(void *tp, uint32_t ui, uint64_t now)
{
    struct fake *f = tp;
    (void)now;
    f->ux_ends++;
    rc_ux_put(&f->core, ui);
}

static const struct relay_transport fake_transport = {
    .rd_send = f_rd_send,
    .same_client = f_same_client,
    .ux_send = f_ux_send,
    .ux_release = f_ux_release,
    .ux_end = f_ux_end,
    .rd_request = f_rd_request,
    .proxy_request = f_proxy_request,
    .answer = f_answer,
    .transport = RR_TRANSPORT_UDP,
    .on_timer = f_on_timer,
    .tick = f_tick,
    .flush = f_flush,
    .path_down = f_path_down,
    .rd_response = f_rd_response,
    .rd_notify = f_rd_notify,
    .xfwd_request = f_xfwd_request,
    .xfwd_response = f_xfwd_response,
};

static void add_route(struct fake *f, const char *host, uint8_t transport, const char *relay)
{
    struct rr_route rt;
    memset(&rt, 0, sizeof(rt));
    snprintf(rt.host, sizeof(rt.host), "%s", host);
    rt.path.transport = transport;
    snprintf(rt.path.relay, sizeof(rt.path.relay), "%s", relay);
    assert_int_equal(route_table_put(f->routes, &rt), 0);
}

static int setup(void **state)
{
    struct fake *f = calloc(1, sizeof(*f));
    char err[128], dir[] = "/tmp/test_relay_core.XXXXXX";

    assert_non_null(mkdtemp(dir));
    config_defaults(&f->cfg);
    snprintf(f->cfg.state_dir, sizeof(f->cfg.state_dir), "%s", dir);
    assert_int_equal(config_finish(&f->cfg, err, sizeof(err)), 0);
    assert_int_equal(rc_init(&f->core, &f->cfg, "udp", &fake_transport, f), 0);
    assert_int_equal(th_init(&f->core.timers, 4 * F_NX), 0);
    rc_dx_pool_init(&f->core, f->dx, sizeof(f->dx[0]), F_NX);
    rc_ux_pool_init(&f->core, f->ux, sizeof(f->ux[0]), F_NX);
    f->routes = route_table_new(16);
    f->core.static_routes = f->routes;
    add_route(f, "alice.proxy.localhost", RR_TRANSPORT_UDP, "udp");
    add_route(f, "bob.proxy.localhost", RR_TRANSPORT_TCP, "tcp");
    add_route(f, "carol.proxy.localhost", RR_TRANSPORT_TCP, "udp");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fake *f = *state;
    char ep[RR_CFG_STR + 32];

    rc_free(&f->core);
    th_free(&f->core.timers);
    route_table_free(f->routes);
    proto_relay_endpoint(f->cfg.state_dir, "udp", ep, sizeof(ep));
    unlink(ep + strlen("ipc://"));
    proto_relay_endpoint(f->cfg.state_dir, "tcp", ep, sizeof(ep));
    unlink(ep + strlen("ipc://"));
    rmdir(f->cfg.state_dir);
    free(f);
    return 0;
}

static void test_ids(void **state)
{
    struct fake *f = *state;
    struct relay_core other;
    uint64_t prev = 0;

    for (int k = 0; k < 1000; k++) {
        uint64_t id = rc_conn_id_new(&f->core);
        assert_true(id != 0);
        assert_true(id != prev);
        assert_true(rc_conn_id_ours(&f->core, id));
        prev = id;
    }
    /* another run (another random epoch) never hands out our ids, whatever
     * the wall clock said at its start */
    memset(&other, 0, sizeof(other));
    other.conn_epoch = f->core.conn_epoch + 1;
    other.start_wall_ms = f->core.start_wall_ms - 3600 * 1000; /* clock stepped back */
    uint64_t o = rc_conn_id_new(&other);
    assert_false(rc_conn_id_ours(&f->core, o));
    assert_true(o != rc_conn_id_new(&f->core));

    /* XFWD ids: slot round trip, a new check never matches the old id */
    uint64_t a = rc_xfwd_req_id(7, rc_new_check(&f->core));
    uint64_t b = rc_xfwd_req_id(7, rc_new_check(&f->core));
    assert_int_equal(rc_req_slot(a), 7);
    assert_true(a != b);
    uint64_t r1 = rc_rd_req_id(&f->core, 3), r2 = rc_rd_req_id(&f->core, 3);
    assert_int_equal(rc_req_slot(r1), 3);
    assert_true(r1 != r2);

    const char *why;
    assert_int_equal(rc_xfwd_fail_code(&f->core, RR_EP_TIMEOUT, &why), COAP_GATEWAY_TIMEOUT);
    assert_int_equal(f->core.c.proxy_5_04, 1);
    assert_int_equal(rc_xfwd_fail_code(&f->core, RR_EP_NO_ROUTE, &why), COAP_BAD_GATEWAY);
    assert_int_equal(rc_xfwd_fail_code(&f->core, 99, &why), COAP_BAD_GATEWAY);
    assert_int_equal(f->core.c.proxy_5_02, 2);
    assert_true(rc_relay_name_ok("udp-2"));
    assert_false(rc_relay_name_ok("../x"));
    assert_false(rc_relay_name_ok(""));
}

static enum rc_proxy_verdict decide(struct fake *f, const char *host, uint16_t opt, uint32_t hop,
                                    struct coap_msg *m, uint8_t *code, char *diag)
{
    static uint8_t hl[4], one = 1, hv;
    const struct rr_route *route;
    coap_msg_init(m);
    m->code = COAP_GET;
    coap_msg_add_opt(m, COAP_OPT_URI_HOST, host, strlen(host));
    if (opt)
        coap_msg_add_opt(m, opt, &one, 1);
    if (hop) {
        hv = (uint8_t)hop;
        coap_msg_add_opt(m, COAP_OPT_HOP_LIMIT, &hv, 1);
    }
    return rc_proxy_decide(&f->core, m, host, &route, hl, code, diag, 96);
}

static void test_proxy_decide(void **state)
{
    struct fake *f = *state;
    struct coap_msg m;
    uint8_t code = 0;
    char diag[96];

    assert_int_equal(decide(f, "nobody.proxy.localhost", 0, 0, &m, &code, diag), RC_PROXY_ANSWER);
    assert_int_equal(code, COAP_PROXYING_NOT_SUPPORTED);
    assert_int_equal(f->core.c.proxy_5_05, 1);

    f->down = true;
    assert_int_equal(decide(f, "alice.proxy.localhost", 0, 0, &m, &code, diag), RC_PROXY_ANSWER);
    assert_int_equal(code, COAP_BAD_GATEWAY);
    assert_string_equal(diag, "fake path down");
    f->down = false;

    assert_int_equal(decide(f, "alice.proxy.localhost", 65002, 0, &m, &code, diag),
                     RC_PROXY_ANSWER);
    assert_int_equal(code, COAP_BAD_OPTION);
    assert_non_null(strstr(diag, "65002"));

    assert_int_equal(decide(f, "alice.proxy.localhost", 0, 1, &m, &code, diag), RC_PROXY_ANSWER);
    assert_int_equal(code, COAP_HOP_LIMIT_REACHED);

    /* no option slot left for Hop-Limit: our limit, not a loop -> 5.00 */
    coap_msg_init(&m);
    m.code = COAP_GET;
    coap_msg_add_opt(&m, COAP_OPT_URI_HOST, "alice.proxy.localhost", 21);
    while (coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "a", 1) == 0)
        ;
    {
        static uint8_t hl[4];
        const struct rr_route *route;
        assert_int_equal(
            rc_proxy_decide(&f->core, &m, "alice.proxy.localhost", &route, hl, &code, diag, 96),
            RC_PROXY_ANSWER);
    }
    assert_int_equal(code, COAP_INTERNAL_ERROR);
    assert_non_null(strstr(diag, "Hop-Limit"));

    assert_int_equal(decide(f, "alice.proxy.localhost", 0, 0, &m, &code, diag), RC_PROXY_LOCAL);
    assert_null(coap_msg_find(&m, COAP_OPT_URI_HOST));
    assert_int_equal(coap_msg_opt_uint(&m, COAP_OPT_HOP_LIMIT, 0), 16);

    int calls = f->path_down_calls;
    assert_int_equal(decide(f, "bob.proxy.localhost", 0, 5, &m, &code, diag), RC_PROXY_XFWD);
    assert_int_equal(coap_msg_opt_uint(&m, COAP_OPT_HOP_LIMIT, 0), 4);
    assert_int_equal(f->path_down_calls, calls); /* another relay's path is not ours to judge */
    /* our name, another transport: not ours */
    assert_int_equal(decide(f, "carol.proxy.localhost", 0, 0, &m, &code, diag), RC_PROXY_XFWD);
}

/* rc_on_request: one classification, then the transport's callback */
static void test_on_request(void **state)
{
    struct fake *f = *state;
    struct coap_msg m;
    uint8_t one = 1;
    const char *h = "Alice.Proxy.Localhost.";

    coap_msg_init(&m);
    m.code = COAP_GET;
    coap_msg_add_opt(&m, COAP_OPT_URI_HOST, h, strlen(h));
    rc_on_request(&f->core, 3, &m, NULL, 0, 0);
    assert_int_equal(f->proxy_requests, 1);
    assert_int_equal(f->last_slot, 3);
    assert_string_equal(f->last_host, "alice.proxy.localhost");

    coap_msg_init(&m);
    m.code = COAP_POST;
    rc_on_request(&f->core, 4, &m, NULL, 0, 0);
    assert_int_equal(f->rd_requests, 1);
    coap_msg_add_opt(&m, 65001, &one, 1); /* unknown critical, for the RD */
    rc_on_request(&f->core, 5, &m, NULL, 0, 0);
    assert_int_equal(f->answers, 1);
    assert_int_equal(f->last_code, COAP_BAD_OPTION);

    f->cfg.rd_names[0] = 'x'; /* "x": only that name is the RD */
    f->cfg.rd_names[1] = '\0';
    coap_msg_init(&m);
    coap_msg_add_opt(&m, COAP_OPT_URI_HOST, "other.example", 13);
    rc_on_request(&f->core, 6, &m, NULL, 0, 0);
    assert_int_equal(f->answers, 2);
    assert_int_equal(f->last_code, COAP_PROXYING_NOT_SUPPORTED);
    assert_int_equal(f->core.c.proxy_5_05, 1);
}

static void test_rd_decoders(void **state)
{
    struct fake *f = *state;
    uint8_t body[128];
    struct wire_w w;
    const uint8_t good[] = {0x60, 0x44, 0, 0}, bad[] = {0x6f, 0x44, 0, 0};

    uint32_t s = rc_dx_take(&f->core, NULL, 0);
    assert_int_not_equal(s, RC_NONE);
    rc_dx_rd_start(&f->core, s, 0); /* waits for RD_RESPONSE d->req_id */
    const struct rc_dx *d = rc_dx_at(&f->core, s);

    wire_w_init(&w, body, sizeof(body));
    wire_put_u64(&w, d->req_id);
    wire_put_bytes(&w, bad, sizeof(bad));
    rc_rd_on_response(&f->core, body, w.len, 0);
    assert_int_equal(f->rd_responses, 0);
    /* an earlier request's id for the same slot (a re-sent one, answered
     * already) and a slot that waits for nothing stop in the core */
    wire_w_init(&w, body, sizeof(body));
    wire_put_u64(&w, d->req_id - (1ull << 32));
    wire_put_bytes(&w, good, sizeof(good));
    rc_rd_on_response(&f->core, body, w.len, 0);
    wire_w_init(&w, body, sizeof(body));
    wire_put_u64(&w, rc_rd_req_id(&f->core, s == 5 ? 6 : 5));
    wire_put_bytes(&w, good, sizeof(good));
    rc_rd_on_response(&f->core, body, w.len, 0);
    assert_int_equal(f->rd_responses, 0);
    assert_int_equal(f->core.c.rd_responses, 0);
    wire_w_init(&w, body, sizeof(body));
    wire_put_u64(&w, d->req_id);
    wire_put_bytes(&w, good, sizeof(good));
    rc_rd_on_response(&f->core, body, w.len, 0);
    assert_int_equal(f->rd_responses, 1);
    assert_int_equal(f->last_slot, s);
    assert_int_equal(f->core.c.rd_responses, 1);
    rc_dx_put(&f->core, s);

    struct rr_peer p;
    memset(&p, 0, sizeof(p));
    p.transport = RR_TRANSPORT_TCP; /* not this relay's transport */
    wire_w_init(&w, body, sizeof(body));
    proto_put_peer(&w, &p);
    wire_put_u8(&w, 1);
    wire_put_bytes(&w, good, sizeof(good));
    rc_rd_on_notify(&f->core, body, w.len, 0);
    assert_int_equal(f->rd_notifies, 0);
    p.transport = RR_TRANSPORT_UDP;
    wire_w_init(&w, body, sizeof(body));
    proto_put_peer(&w, &p);
    wire_put_u8(&w, 1);
    wire_put_bytes(&w, good, sizeof(good));
    rc_rd_on_notify(&f->core, body, w.len, 0);
    assert_int_equal(f->rd_notifies, 1);
}

/* Wait (bounded) for a message on sock. */
static void wait_in(void *sock)
{
    zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
    assert_int_equal(zmq_poll(&it, 1, 2000), 1);
}

static void test_xfwd(void **state)
{
    struct fake *f = *state;
    char ep[RR_CFG_STR + 32], host[RR_HOST_MAX], diag[96];
    int zero = 0, xp;
    uint64_t req_id;
    uint8_t code, id[256], body[4096];
    size_t idlen, len;
    uint16_t type;
    struct coap_msg m;
    const uint8_t get[] = {0x40, 0x01, 0, 0};

    /* a relay that is not running: 5.02 at once, counted */
    struct rr_route nowhere;
    memset(&nowhere, 0, sizeof(nowhere));
    snprintf(nowhere.path.relay, sizeof(nowhere.path.relay), "ws");
    assert_int_equal(coap_msg_parse_udp(get, sizeof(get), &m), 0);
    assert_int_equal(rc_xfwd_forward(&f->core, 1, &m, &nowhere, "x.proxy.localhost", &xp, &req_id,
                                     &code, diag, sizeof(diag)),
                     -1);
    assert_int_equal(code, COAP_BAD_GATEWAY);
    assert_non_null(strstr(diag, "ws"));
    assert_int_equal(f->core.c.xfwd_refused, 1);

    /* a fake holder where relay "tcp" listens */
    void *holder = zmq_socket(f->core.zctx, ZMQ_ROUTER);
    zmq_setsockopt(holder, ZMQ_LINGER, &zero, sizeof(zero));
    assert_int_equal(proto_relay_endpoint(f->cfg.state_dir, "tcp", ep, sizeof(ep)), 0);
    assert_int_equal(zmq_bind(holder, ep), 0);
    xp = rc_xpeer_get(&f->core, "tcp");
    assert_true(xp >= 0);
    assert_int_equal(rc_xpeer_get(&f->core, "udp"), -1); /* never ourselves */
    usleep(300 * 1000); /* ZMQ_IMMEDIATE: let the ipc connection come up */

    const struct rr_route *bob = route_table_get(f->routes, "bob.proxy.localhost");
    assert_int_equal(coap_msg_parse_udp(get, sizeof(get), &m), 0);
    assert_int_equal(rc_xfwd_forward(&f->core, 9, &m, bob, "bob.proxy.localhost", &xp, &req_id,
                                     &code, diag, sizeof(diag)),
                     0);
    assert_int_equal(rc_req_slot(req_id), 9);
    assert_int_equal(f->core.c.xfwd_out, 1);
    wait_in(holder);
    assert_int_equal(proto_recv(holder, true, id, &idlen, &type, body, sizeof(body), &len), 0);
    assert_int_equal(type, RR_MSG_XFWD_REQUEST);
    assert_memory_equal(id, "udp", 3);
    struct wire_r rd;
    wire_r_init(&rd, body, len);
    assert_true(wire_get_u64(&rd) == req_id);
    wire_get_str(&rd, host, sizeof(host));
    assert_string_equal(host, "bob.proxy.localhost");

    /* the holder's answer reaches the transport with slot and status */
    struct wire_w w;
    wire_w_init(&w, body, sizeof(body));
    wire_put_u64(&w, req_id);
    wire_put_u8(&w, RR_EP_TIMEOUT);
    wire_put_bytes(&w, NULL, 0);
    assert_int_equal(proto_send(holder, id, idlen, RR_MSG_XFWD_RESPONSE, body, w.len), 0);
    wait_in(f->core.xpeers[xp].sock);
    rc_xfwd_on_peer(&f->core, xp, 0);
    assert_int_equal(f->xfwd_responses, 1);
    assert_int_equal(f->last_slot, 9);
    assert_int_equal(f->last_status, RR_EP_TIMEOUT);

    /* holder side: our ROUTER */
    assert_int_equal(rc_xfwd_open(&f->core), 0);
    void *req = proto_dealer_connect(f->core.zctx, "tcp", ep, 100, false);
    assert_int_equal(proto_relay_endpoint(f->cfg.state_dir, "udp", ep, sizeof(ep)), 0);
    zmq_close(req);
    req = proto_dealer_connect(f->core.zctx, "tcp", ep, 100, false);
    assert_non_null(req);
    const char *hosts[] = {"bob.proxy.localhost", "alice.proxy.localhost"};
    for (int k = 0; k < 2; k++) {
        wire_w_init(&w, body, sizeof(body));
        wire_put_u64(&w, 42);
        wire_put_str(&w, hosts[k]);
        wire_put_bytes(&w, get, sizeof(get));
        assert_int_equal(proto_send(req, NULL, 0, RR_MSG_XFWD_REQUEST, body, w.len), 0);
        wait_in(f->core.xrouter);
        rc_xfwd_on_router(&f->core, 0);
    }
    /* bob is not ours: NO_ROUTE; alice is: the transport's holder side */
    wait_in(req);
    assert_int_equal(proto_recv(req, false, NULL, NULL, &type, body, sizeof(body), &len), 0);
    assert_int_equal(type, RR_MSG_XFWD_RESPONSE);
    wire_r_init(&rd, body, len);
    assert_true(wire_get_u64(&rd) == 42);
    assert_int_equal(wire_get_u8(&rd), RR_EP_NO_ROUTE);
    assert_int_equal(f->xfwd_requests, 1);
    assert_string_equal(f->last_host, "alice.proxy.localhost");
    assert_int_equal(f->core.c.xfwd_in, 2);
    zmq_close(req);
    zmq_close(holder);
}

static void on_pipe(struct rc_handler *h, uint32_t events, uint64_t now)
{
    struct fake *f = h->arg;
    char b[8];
    (void)now;
    if (events & EPOLLIN)
        assert_true(read(f->pipefd[0], b, sizeof(b)) > 0);
    f->fd_events++;
}

static void test_loop(void **state)
{
    struct fake *f = *state;

    assert_int_equal(pipe(f->pipefd), 0);
    f->h = (struct rc_handler){.fn = on_pipe, .arg = f, .idx = 0};
    assert_int_equal(rc_fd_add(&f->core, f->pipefd[0], EPOLLIN, &f->h), 0);
    th_timer_init(&f->t, 1, 0);
    th_arm(&f->core.timers, &f->t, now_mono_ms() + 20);
    assert_int_equal(rc_signals_install(), 0);
    /* the byte wakes the loop at once, the timer fires 20 ms later and
     * ends it (a bound: ctest's timeout) */
    assert_int_equal(write(f->pipefd[1], "x", 1), 1);
    int rc = rc_run(&f->core);
    assert_int_equal(rc, 0);
    assert_true(f->timers >= 1);
    assert_true(f->fd_events >= 1);
    assert_true(f->ticks >= 1);
    assert_true(f->flushes >= 1);
    rc_fd_del(&f->core, f->pipefd[0], &f->h);
    close(f->pipefd[0]);
    close(f->pipefd[1]);
    signal(SIGTERM, SIG_DFL);
}

/* Two readable pipes in one epoll batch; the first one's handler closes
 * the second (as a transport closing a connection does) and reuses its
 * handler for a new fd: the second's event, already returned by
 * epoll_wait, is not dispatched to anyone. */
struct stale_fix {
    struct relay_core *c;
    int p[2][2], reuse[2];
    struct rc_handler h[2];
    int calls[2];
};

static void on_stale(struct rc_handler *h, uint32_t events, uint64_t now)
{
    struct stale_fix *s = h->arg;
    int other = 1 - (int)h->idx;
    (void)events;
    (void)now;
    char byte;
    s->calls[h->idx]++;
    if (s->calls[0] + s->calls[1] > 1) {
        assert_int_equal(read(s->reuse[0], &byte, 1), 1);
        return;
    }
    assert_int_equal(read(s->p[h->idx][0], &byte, 1), 1);
    rc_fd_del(s->c, s->p[other][0], &s->h[other]);
    close(s->p[other][0]);
    s->p[other][0] = -1;
    /* the slot is free at once: a new fd takes it */
    assert_int_equal(pipe2(s->reuse, O_NONBLOCK), 0);
    assert_int_equal(rc_fd_add(s->c, s->reuse[0], EPOLLIN, &s->h[other]), 0);
}

static void test_loop_stale_event(void **state)
{
    struct fake *f = *state;
    struct stale_fix s = {.c = &f->core};
    struct epoll_event ev[4];

    for (int k = 0; k < 2; k++) {
        assert_int_equal(pipe2(s.p[k], O_NONBLOCK), 0);
        s.h[k] = (struct rc_handler){.fn = on_stale, .arg = &s, .idx = (uint32_t)k};
        assert_int_equal(rc_fd_add(&f->core, s.p[k][0], EPOLLIN, &s.h[k]), 0);
        assert_int_equal(write(s.p[k][1], "x", 1), 1);
    }
    int n = epoll_wait(f->core.epfd, ev, 4, 1000);
    assert_int_equal(n, 2);
    rc_dispatch(&f->core, ev, n, now_mono_ms());
    /* whichever came first ran once; the other was never called */
    assert_int_equal(s.calls[0] + s.calls[1], 1);
    /* the next batch: the reused handler hears only its new fd */
    assert_int_equal(epoll_wait(f->core.epfd, ev, 4, 0), 0);
    assert_int_equal(write(s.reuse[1], "y", 1), 1);
    n = epoll_wait(f->core.epfd, ev, 4, 1000);
    assert_int_equal(n, 1);
    rc_dispatch(&f->core, ev, n, now_mono_ms());
    assert_int_equal(s.calls[0] + s.calls[1], 2);
    assert_int_equal(s.calls[0], 1);
    assert_int_equal(s.calls[1], 1);
    for (int k = 0; k < 2; k++) {
        if (s.p[k][0] >= 0) {
            rc_fd_del(&f->core, s.p[k][0], &s.h[k]);
            close(s.p[k][0]);
        }
        close(s.p[k][1]);
    }
    close(s.reuse[0]);
    close(s.reuse[1]);
}

/* ---- the exchange pools and the outcome of upstream exchanges ---- */

static void get_msg(struct coap_msg *m, uint8_t tkl, uint8_t tokbyte)
{
    coap_msg_init(m);
    m->code = COAP_GET;
    m->tkl = tkl;
    memset(m->token, tokbyte, tkl);
}

static void test_dx_pool(void **state)
{
    struct fake *f = *state;
    struct coap_msg m;
    uint32_t got[F_NX];

    get_msg(&m, 3, 0xab);
    for (unsigned k = 0; k < F_NX; k++) {
        got[k] = rc_dx_take(&f->core, &m, 100 + k);
        assert_true(got[k] < F_NX);
        struct rc_dx *d = rc_dx_at(&f->core, got[k]);
        assert_int_equal(d->state, RC_DX_WAIT);
        assert_int_equal(d->tkl, 3);
        assert_memory_equal(d->token, m.token, 3);
        assert_int_equal(d->up, RC_NONE);
        assert_true(d->start_ms == 100 + k);
    }
    assert_int_equal(f->core.dx.used, F_NX);
    assert_int_equal(rc_dx_take(&f->core, &m, 0), RC_NONE); /* all in flight */
    /* a put cancels the slot's timer; a second put is refused */
    th_arm(&f->core.timers, &rc_dx_at(&f->core, got[2])->t, 1000);
    assert_true(rc_dx_put(&f->core, got[2]));
    assert_false(th_armed(&rc_dx_at(&f->core, got[2])->t));
    assert_false(rc_dx_put(&f->core, got[2]));
    assert_int_equal(f->core.dx.used, F_NX - 1);
    assert_int_equal(rc_dx_take(&f->core, NULL, 0), got[2]);
    assert_int_equal(rc_dx_at(&f->core, got[2])->tkl, 0);
}

static void test_dx_find_observation(void **state)
{
    struct fake *f = *state;
    struct coap_msg m;

    get_msg(&m, 2, 0x11);
    uint32_t a = rc_dx_take(&f->core, &m, 0), b = rc_dx_take(&f->core, &m, 0);
    f->dx[a].client = f->dx[b].client = 7;
    rc_dx_at(&f->core, a)->kind = RC_DX_K_PROXY;
    rc_dx_at(&f->core, a)->state = RC_DX_OBSERVE;
    /* an observation without an upstream exchange is not one to reuse */
    assert_int_equal(rc_dx_find_observation(&f->core, b, RC_DX_K_PROXY), RC_NONE);
    rc_dx_at(&f->core, a)->up = 3;
    assert_int_equal(rc_dx_find_observation(&f->core, b, RC_DX_K_PROXY), a);
    assert_int_equal(rc_dx_find_observation(&f->core, b, RC_DX_K_XFWD), RC_NONE);
    f->dx[b].client = 8; /* another client, same token */
    assert_int_equal(rc_dx_find_observation(&f->core, b, RC_DX_K_PROXY), RC_NONE);
    f->dx[b].client = 7;
    rc_dx_at(&f->core, b)->token[1] = 0x12; /* another token */
    assert_int_equal(rc_dx_find_observation(&f->core, b, RC_DX_K_PROXY), RC_NONE);
}

/* RD_REQUEST: sent at once, re-sent on the core timer, 5.03 at the end */
static void test_dx_rd_resend(void **state)
{
    struct fake *f = *state;
    struct coap_msg m;
    struct rr_timer *t;

    get_msg(&m, 1, 0x01);
    uint32_t i = rc_dx_take(&f->core, &m, 1000);
    rc_dx_rd_start(&f->core, i, 1000);
    assert_int_equal(f->rd_sends, 1);
    assert_int_equal(f->core.c.rd_requests, 1);
    assert_int_equal(rc_req_slot(rc_dx_at(&f->core, i)->req_id), i);
    assert_null(th_pop_due(&f->core.timers, 1000 + RC_RD_RESEND_MS - 1));
    t = th_pop_due(&f->core.timers, 1000 + RC_RD_RESEND_MS);
    assert_non_null(t);
    assert_int_equal(t->kind, RC_T_DX);
    rc_on_timer(&f->core, t, 1000 + RC_RD_RESEND_MS);
    assert_int_equal(f->rd_sends, 2);
    assert_int_equal(f->core.c.rd_resends, 1);
    assert_int_equal(f->answers, 0);
    rc_dx_on_timer(&f->core, i, 1000 + RC_RD_GIVEUP_MS);
    assert_int_equal(f->rd_sends, 2);
    assert_int_equal(f->answers, 1);
    assert_int_equal(f->last_code, COAP_SERVICE_UNAVAILABLE);
    assert_int_equal(f->core.c.rd_giveups, 1);
}

/* XFWD requester: the holder never answered -> 5.04 (only while waiting) */
static void test_dx_xfwd_timeout(void **state)
{
    struct fake *f = *state;
    uint32_t i = rc_dx_take(&f->core, NULL, 0);
    struct rc_dx *d = rc_dx_at(&f->core, i);

    d->kind = RC_DX_K_XFWD;
    d->state = RC_DX_OBSERVE; /* an observation has no timeout */
    rc_dx_on_timer(&f->core, i, 5000);
    assert_int_equal(f->answers, 0);
    d->state = RC_DX_WAIT;
    rc_dx_on_timer(&f->core, i, 5000);
    assert_int_equal(f->answers, 1);
    assert_int_equal(f->last_slot, i);
    assert_int_equal(f->last_code, COAP_GATEWAY_TIMEOUT);
    assert_int_equal(f->core.c.proxy_5_04, 1);
}

/* Failures by origin: EP and XFWD are released (their requester gets the
 * status), a proxied one's client gets the code, counted */
static void test_ux_fail(void **state)
{
    struct fake *f = *state;

    uint32_t ui = rc_ux_take(&f->core);
    rc_ux_at(&f->core, ui)->origin = UX_O_EP;
    rc_ux_fail(&f->core, ui, COAP_GATEWAY_TIMEOUT, "endpoint did not answer", 0);
    assert_int_equal(f->ux_releases, 1);
    assert_int_equal(f->answers, 0);
    rc_ux_fail(&f->core, ui, COAP_GATEWAY_TIMEOUT, "again", 0); /* free: nothing */
    assert_int_equal(f->ux_releases, 1);

    ui = rc_ux_take(&f->core);
    rc_ux_at(&f->core, ui)->origin = UX_O_XFWD;
    rc_ux_fail(&f->core, ui, COAP_BAD_GATEWAY, "gone", 0);
    assert_int_equal(f->ux_releases, 2);
    assert_int_equal(f->answers, 0);

    uint32_t di = rc_dx_take(&f->core, NULL, 0);
    ui = rc_ux_take(&f->core);
    rc_ux_at(&f->core, ui)->dx = di;
    rc_dx_at(&f->core, di)->up = ui;
    rc_ux_fail(&f->core, ui, COAP_BAD_GATEWAY, "registrant unreachable", 0);
    assert_int_equal(f->ux_releases, 3);
    assert_int_equal(f->answers, 1);
    assert_int_equal(f->last_slot, di);
    assert_int_equal(f->last_code, COAP_BAD_GATEWAY);
    assert_int_equal(f->core.c.proxy_5_02, 1);
    assert_int_equal(rc_dx_at(&f->core, di)->up, RC_NONE);

    /* a deregistration that fails has no client any more */
    ui = rc_ux_take(&f->core);
    rc_ux_at(&f->core, ui)->dx = di;
    rc_ux_at(&f->core, ui)->state = RC_UX_CANCEL;
    rc_ux_fail(&f->core, ui, COAP_GATEWAY_TIMEOUT, "endpoint did not answer", 0);
    assert_int_equal(f->answers, 1);
    assert_int_equal(f->core.c.proxy_5_04, 0);

    /* the upstream timeout is the core's timer */
    ui = rc_ux_take(&f->core);
    rc_ux_at(&f->core, ui)->dx = di;
    th_arm(&f->core.timers, &rc_ux_at(&f->core, ui)->t, 10);
    struct rr_timer *t = th_pop_due(&f->core.timers, 10);
    assert_non_null(t);
    rc_on_timer(&f->core, t, 10);
    assert_int_equal(f->answers, 2);
    assert_int_equal(f->last_code, COAP_GATEWAY_TIMEOUT);
    assert_int_equal(f->core.c.proxy_5_04, 1);
    assert_int_equal(f->core.ux.used, 0);
}

static void test_ux_answer(void **state)
{
    struct fake *f = *state;
    struct coap_msg m;
    uint8_t zero = 0;

    coap_msg_init(&m);
    m.code = COAP_CONTENT;
    uint32_t ui = rc_ux_take(&f->core);
    rc_ux_at(&f->core, ui)->origin = UX_O_EP;
    assert_int_equal(rc_ux_answer(&f->core, ui, &m, -1, 0), 1);
    assert_int_equal(f->ux_releases, 1);

    /* proxied: the transport's to deliver */
    ui = rc_ux_take(&f->core);
    assert_int_equal(rc_ux_answer(&f->core, ui, &m, -1, 0), 0);
    assert_int_equal(f->ux_releases, 1);
    assert_int_equal(f->core.c.proxy_responses, 2);

    /* deregistering: a notification that crossed it is dropped, the
     * answer ends it */
    rc_ux_at(&f->core, ui)->state = RC_UX_CANCEL;
    coap_msg_add_opt(&m, COAP_OPT_OBSERVE, &zero, 1);
    assert_int_equal(rc_ux_answer(&f->core, ui, &m, -1, 0), 1);
    assert_int_equal(f->ux_releases, 1);
    coap_msg_init(&m);
    m.code = COAP_CONTENT;
    assert_int_equal(rc_ux_answer(&f->core, ui, &m, -1, 0), 1);
    assert_int_equal(f->ux_releases, 2);

    /* XFWD: a plain answer ends it; a notification keeps the observation
     * (no ROUTER here: the send fails, but the requester is not "gone") */
    ui = rc_ux_take(&f->core);
    rc_ux_at(&f->core, ui)->origin = UX_O_XFWD;
    assert_int_equal(rc_ux_answer(&f->core, ui, &m, -1, 0), 1);
    assert_int_equal(f->ux_releases, 3);
    ui = rc_ux_take(&f->core);
    struct rc_ux *u = rc_ux_at(&f->core, ui);
    u->origin = UX_O_XFWD;
    u->observe_req = true;
    th_arm(&f->core.timers, &u->t, 10);
    coap_msg_add_opt(&m, COAP_OPT_OBSERVE, &zero, 1);
    assert_true(rc_ux_is_notification(u, &m));
    assert_int_equal(rc_ux_answer(&f->core, ui, &m, -1, 0), 1);
    assert_int_equal(f->ux_releases, 3);
    assert_int_equal(u->state, RC_UX_OBSERVE);
    assert_false(th_armed(&u->t));
    assert_int_equal(f->core.c.observations, 1);
}

/* The core as holder of EP_REQUEST and XFWD through ux_send / ux_end */
static void test_ux_holder(void **state)
{
    struct fake *f = *state;
    struct coap_msg m;
    struct rr_peer path;
    const struct route_table *t = rc_routes(&f->core);
    const struct rr_route *alice = route_table_get(t, "alice.proxy.localhost");

    memset(&path, 0, sizeof(path));
    path.transport = RR_TRANSPORT_TCP; /* not ours: never sent */
    get_msg(&m, 2, 0x42);
    rc_ux_on_ep_request(&f->core, 77, &path, &m, 0);
    assert_int_equal(f->ux_sends, 0);
    assert_int_equal(f->core.ux.used, 0);
    path.transport = RR_TRANSPORT_UDP;
    f->send_rc = -1; /* no way to send: answered UNREACHABLE, released */
    rc_ux_on_ep_request(&f->core, 77, &path, &m, 0);
    assert_int_equal(f->ux_sends, 1);
    assert_int_equal(f->core.ux.used, 0);
    f->send_rc = 0;
    rc_ux_on_ep_request(&f->core, 78, &path, &m, 0);
    assert_int_equal(f->core.ux.used, 1);
    uint32_t ui = 0;
    while (rc_ux_at(&f->core, ui)->state == RC_UX_FREE)
        ui++;
    struct rc_ux *u = rc_ux_at(&f->core, ui);
    assert_int_equal(u->origin, UX_O_EP);
    assert_true(u->req_id == 78);
    assert_int_equal(u->ep_tkl, 2);
    assert_true(th_armed(&u->t));
    rc_ux_fail(&f->core, ui, COAP_GATEWAY_TIMEOUT, "endpoint did not answer", 0);

    /* XFWD_REQUEST: a path that is down is answered at once */
    const uint8_t rid[] = "tcp";
    struct rc_xreq x = {.id = rid, .idlen = 3, .req_id = 99, .host = alice->host, .coap_len = 40};
    f->down = true;
    rc_ux_on_xfwd_request(&f->core, &x, &m, alice, 0);
    assert_int_equal(f->ux_sends, 2);
    assert_int_equal(f->core.ux.used, 0);
    f->down = false;
    rc_ux_on_xfwd_request(&f->core, &x, &m, alice, 0);
    assert_int_equal(f->ux_sends, 3);
    assert_int_equal(f->core.ux.used, 1);
    assert_int_equal(f->core.c.proxied, 1);
    while (rc_ux_at(&f->core, ui)->state == RC_UX_FREE)
        ui = (ui + 1) % F_NX;
    u = rc_ux_at(&f->core, ui);
    assert_int_equal(u->origin, UX_O_XFWD);
    assert_int_equal(u->xid_len, 3);
    assert_true(u->xlen == 40);
    assert_string_equal(u->host, "alice.proxy.localhost");
    /* XFWD_CANCEL: another requester's id does not match; ours ends it */
    struct rc_xreq other = {.id = (const uint8_t *)"ws", .idlen = 2, .req_id = 99, .host = ""};
    rc_ux_on_xfwd_cancel(&f->core, &other, 0);
    assert_int_equal(f->ux_ends, 0);
    rc_ux_on_xfwd_cancel(&f->core, &x, 0);
    assert_int_equal(f->ux_ends, 1);
    assert_int_equal(f->core.ux.used, 0);
}

/* Requester: what an XFWD_RESPONSE must pass before the transport sees it */
static void test_xfwd_vet(void **state)
{
    struct fake *f = *state;
    struct coap_msg m;
    bool notif = false;
    const uint8_t ok[] = {0x60, 0x45, 0, 0};                             /* ACK 2.05 */
    const uint8_t obs[] = {0x60, 0x45, 0, 0, 0x61, 0x05};                /* with Observe 5 */
    const uint8_t unsafe[] = {0x60, 0x45, 0, 0, 0xe1, 0xfc, 0xdd, 0x01}; /* option 65002 */

    uint32_t i = rc_dx_take(&f->core, NULL, 0);
    struct rc_dx *d = rc_dx_at(&f->core, i);
    uint64_t rid = rc_xfwd_req_id(i, 5);
    /* not an XFWD exchange: dropped */
    assert_int_equal(
        rc_xfwd_response_vet(&f->core, 0, i, rid, RR_EP_OK, ok, sizeof(ok), &m, &notif, 0), 1);
    assert_int_equal(f->answers, 0);
    d->kind = RC_DX_K_XFWD;
    d->req_id = rid;
    assert_int_equal(
        rc_xfwd_response_vet(&f->core, 0, i, rid + 1, RR_EP_OK, ok, sizeof(ok), &m, &notif, 0), 1);
    assert_int_equal(f->answers, 0); /* a late one for a reused slot */
    assert_int_equal(
        rc_xfwd_response_vet(&f->core, 0, i, rid, RR_EP_TIMEOUT, NULL, 0, &m, &notif, 0), 1);
    assert_int_equal(f->answers, 1);
    assert_int_equal(f->last_code, COAP_GATEWAY_TIMEOUT);
    assert_int_equal(
        rc_xfwd_response_vet(&f->core, 0, i, rid, RR_EP_OK, unsafe, sizeof(unsafe), &m, &notif, 0),
        1);
    assert_int_equal(f->answers, 2);
    assert_int_equal(f->last_code, COAP_BAD_GATEWAY);
    assert_int_equal(
        rc_xfwd_response_vet(&f->core, 0, i, rid, RR_EP_OK, ok, sizeof(ok), &m, &notif, 0), 0);
    assert_false(notif);
    assert_int_equal(m.code, COAP_CONTENT);
    d->observe_req = true;
    assert_int_equal(
        rc_xfwd_response_vet(&f->core, 0, i, rid, RR_EP_OK, obs, sizeof(obs), &m, &notif, 0), 0);
    assert_true(notif);
    assert_int_equal(f->answers, 2);
}

/* One-shots the DEALER's high-water mark refuses are kept, in order, and
 * re-sent once rd-frontend takes them; beyond ctl_resend_max they are
 * dropped and counted. (A DEALER with no peer refuses every send, as a
 * full high-water mark does.) */
static void test_resend(void **state)
{
    struct fake *f = *state;
    int zero = 0;
    char ep[64];

    snprintf(ep, sizeof(ep), "inproc://test-resend-%d", (int)getpid());
    f->core.dealer = zmq_socket(f->core.zctx, ZMQ_DEALER);
    zmq_setsockopt(f->core.dealer, ZMQ_LINGER, &zero, sizeof(zero));
    rc_send_reachability(&f->core, "a.proxy.localhost", false, 1000);
    assert_int_equal(f->core.c.hwm_drops, 1);
    assert_int_equal(f->core.c.resend_queued, 1);
    /* one waits: the next queues behind it without a try of its own */
    rc_send_reachability(&f->core, "b.proxy.localhost", true, 2000);
    assert_int_equal(f->core.c.hwm_drops, 1);
    rc_send_observe_gone(&f->core, &(struct rr_peer){.transport = RR_TRANSPORT_UDP},
                         (const uint8_t *)"\x01", 1);
    assert_int_equal(f->core.resend.n, 3);
    rc_resend_flush(&f->core, 50); /* still refused: kept, retried later */
    assert_int_equal(f->core.resend.n, 3);
    assert_true(f->core.resend.next_ms == 50 + RC_RESEND_RETRY_MS);
    assert_int_equal(f->core.c.hwm_drops, 1); /* a retry is no new drop */

    void *fe = zmq_socket(f->core.zctx, ZMQ_ROUTER);
    zmq_setsockopt(fe, ZMQ_LINGER, &zero, sizeof(zero));
    assert_int_equal(zmq_bind(fe, ep), 0);
    assert_int_equal(zmq_connect(f->core.dealer, ep), 0);
    rc_resend_flush(&f->core, 200);
    assert_int_equal(f->core.resend.n, 0);
    assert_int_equal(f->core.c.resend_sent, 3);
    const char *hosts[] = {"a.proxy.localhost", "b.proxy.localhost"};
    for (int k = 0; k < 3; k++) {
        uint8_t id[64], body[512];
        size_t idlen, len;
        uint16_t type;
        wait_in(fe);
        assert_int_equal(proto_recv(fe, true, id, &idlen, &type, body, sizeof(body), &len), 0);
        if (k == 2) {
            assert_int_equal(type, RR_MSG_OBSERVE_GONE);
            break;
        }
        struct wire_r rd;
        struct rr_msg_reachability m;
        assert_int_equal(type, RR_MSG_REACHABILITY);
        wire_r_init(&rd, body, len);
        assert_int_equal(proto_dec_reachability(&rd, &m), 0);
        assert_string_equal(m.host, hosts[k]); /* in order */
        assert_int_equal(m.reachable, k);
    }
    zmq_close(fe);

    /* the bound: beyond ctl_resend_max the newest is lost, counted */
    zmq_close(f->core.dealer);
    f->core.dealer = zmq_socket(f->core.zctx, ZMQ_DEALER);
    zmq_setsockopt(f->core.dealer, ZMQ_LINGER, &zero, sizeof(zero));
    rc_resend_free(&f->core);
    assert_int_equal(rc_resend_init(&f->core, 2), 0);
    for (int k = 0; k < 3; k++)
        rc_send_reachability(&f->core, hosts[0], false, 1000);
    assert_int_equal(f->core.resend.n, 2);
    assert_int_equal(f->core.c.resend_dropped, 1);
    /* and the bytes they hold together are bounded too */
    rc_resend_free(&f->core);
    assert_int_equal(rc_resend_init(&f->core, 8), 0);
    uint8_t *big = calloc(1, RC_RESEND_MAX_BYTES + 1);
    assert_non_null(big);
    assert_int_equal(
        rc_ctl_send_oneshot(&f->core, RR_MSG_EP_RESPONSE, big, RC_RESEND_MAX_BYTES + 1), -1);
    free(big);
    assert_int_equal(f->core.resend.n, 0);
    assert_int_equal(f->core.c.resend_dropped, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_decide, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rd_decoders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xfwd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop_stale_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dx_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dx_find_observation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dx_rd_resend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dx_xfwd_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ux_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ux_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ux_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_xfwd_vet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resend, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
