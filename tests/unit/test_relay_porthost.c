/*
 * test_relay_porthost.c - unit tests of relay-core/porthost.c (port-based
 * hosting, issue 18) against a fake transport recording port_open /
 * port_close and what a request on a hosting port reached: a route update
 * with a port opens it once, a deletion closes it, a port change moves it,
 * a port outside the range is ignored, a whole-table swap reconciles the
 * range (opens what the table has, closes what it lost), a failed open is
 * retried on the next update; a request on a hosting port reaches
 * proxy_request with the route's host whatever Uri-Host says (never the
 * RD), a port without a route answers 5.02, a forward-proxy request 5.05.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "route_table.h"

struct fake {
    struct relay_core core;
    struct rr_config cfg;
    struct route_table *routes;
    bool fail_open;
    int opens, closes, proxy_requests, rd_requests, answers;
    uint16_t last_port;
    uint8_t last_code;
    char last_host[RR_HOST_MAX];
    bool open[8]; /* ports 7000..7007 */
};

static int f_port_open(void *tp, uint16_t port)
{
    struct fake *f = tp;
    f->opens++;
    f->last_port = port;
    if (f->fail_open)
        return -1;
    assert_false(f->open[port - 7000]); /* never opened twice */
    f->open[port - 7000] = true;
    return 0;
}

static void f_port_close(void *tp, uint16_t port)
{
    struct fake *f = tp;
    f->closes++;
    f->last_port = port;
    assert_true(f->open[port - 7000]);
    f->open[port - 7000] = false;
}

static void f_proxy_request(void *tp, uint32_t slot, struct coap_msg *m, const char *host,
                            uint64_t now)
{
    struct fake *f = tp;
    (void)slot;
    (void)m;
    (void)now;
    f->proxy_requests++;
    snprintf(f->last_host, sizeof(f->last_host), "%s", host);
}

static void f_rd_request(void *tp, uint32_t slot, struct coap_msg *m, const uint8_t *raw, size_t n,
                         uint64_t now)
{
    struct fake *f = tp;
    (void)slot, (void)m, (void)raw, (void)n, (void)now;
    f->rd_requests++;
}

static void f_answer(void *tp, uint32_t slot, uint8_t code, const char *diag, uint64_t now)
{
    struct fake *f = tp;
    (void)slot, (void)diag, (void)now;
    f->answers++;
    f->last_code = code;
}

static const struct relay_transport fake_transport = {
    .transport = RR_TRANSPORT_UDP,
    .port_open = f_port_open,
    .port_close = f_port_close,
    .proxy_request = f_proxy_request,
    .rd_request = f_rd_request,
    .answer = f_answer,
};

static struct rr_route route(const char *host, uint16_t port)
{
    struct rr_route rt;
    memset(&rt, 0, sizeof(rt));
    snprintf(rt.host, sizeof(rt.host), "%s", host);
    rt.path.transport = RR_TRANSPORT_UDP;
    snprintf(rt.path.relay, sizeof(rt.path.relay), "udp");
    rt.mux_port = port;
    return rt;
}

static int setup(void **state)
{
    struct fake *f = calloc(1, sizeof(*f));
    char err[128];

    config_defaults(&f->cfg);
    snprintf(f->cfg.port_hosting_range, sizeof(f->cfg.port_hosting_range), "7000-7007");
    assert_int_equal(config_finish(&f->cfg, err, sizeof(err)), 0);
    assert_int_equal(rc_init(&f->core, &f->cfg, "udp", &fake_transport, f), 0);
    f->routes = route_table_new(16);
    f->core.static_routes = f->routes;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fake *f = *state;
    rc_free(&f->core);
    route_table_free(f->routes);
    free(f);
    return 0;
}

static void test_updates(void **state)
{
    struct fake *f = *state;
    struct rr_route a = route("alice.proxy.localhost", 7001), a2 = a;

    rc_port_route_change(&f->core, NULL, &a, false);
    assert_int_equal(f->opens, 1);
    assert_int_equal(f->last_port, 7001);
    assert_string_equal(rc_port_host(&f->core, 7001), "alice.proxy.localhost");
    assert_int_equal(f->core.c.ports_open, 1);
    rc_port_route_change(&f->core, &a, &a, false); /* a refresh: nothing to do */
    assert_int_equal(f->opens, 1);

    a2.mux_port = 7003; /* the port moved */
    rc_port_route_change(&f->core, &a, &a2, false);
    assert_false(f->open[1]);
    assert_true(f->open[3]);
    assert_null(rc_port_host(&f->core, 7001));

    rc_port_route_change(&f->core, &a2, NULL, false); /* deleted */
    assert_false(f->open[3]);
    assert_int_equal(f->closes, 2);
    assert_int_equal(f->core.c.ports_open, 0);

    struct rr_route out = route("far.proxy.localhost", 9000); /* outside the range */
    rc_port_route_change(&f->core, NULL, &out, false);
    assert_int_equal(f->opens, 2);
    struct rr_route none = route("plain.proxy.localhost", 0);
    rc_port_route_change(&f->core, NULL, &none, false);
    assert_int_equal(f->opens, 2);

    /* a failed open (port taken) is retried with the next update */
    struct rr_route b = route("bob.proxy.localhost", 7002);
    f->fail_open = true;
    rc_port_route_change(&f->core, NULL, &b, false);
    assert_false(f->open[2]);
    f->fail_open = false;
    rc_port_route_change(&f->core, &b, &b, false);
    assert_true(f->open[2]);
}

static void test_swap(void **state)
{
    struct fake *f = *state;
    struct rr_route a = route("alice.proxy.localhost", 7000);
    struct rr_route b = route("bob.proxy.localhost", 7005);
    struct rr_route c = route("carol.proxy.localhost", 7006);

    rc_port_route_change(&f->core, NULL, &a, false);
    rc_port_route_change(&f->core, NULL, &b, false);
    /* the new table (a resync): alice and carol, bob gone */
    assert_int_equal(route_table_put(f->routes, &a), 0);
    assert_int_equal(route_table_put(f->routes, &c), 0);
    rc_port_route_change(&f->core, NULL, NULL, true);
    assert_true(f->open[0]);
    assert_false(f->open[5]);
    assert_true(f->open[6]);
    assert_int_equal(f->opens, 3); /* alice's stayed open */
    assert_string_equal(rc_port_host(&f->core, 7006), "carol.proxy.localhost");
    assert_null(rc_port_host(&f->core, 7005));
}

static void test_request(void **state)
{
    struct fake *f = *state;
    struct rr_route a = route("alice.proxy.localhost", 7001);
    struct coap_msg m;

    rc_port_route_change(&f->core, NULL, &a, false);
    coap_msg_init(&m);
    m.code = COAP_GET;
    coap_msg_add_opt(&m, COAP_OPT_URI_HOST, "bob.proxy.localhost", 19);
    rc_port_request(&f->core, 7001, 1, &m, 0);
    assert_int_equal(f->proxy_requests, 1);
    assert_string_equal(f->last_host, "alice.proxy.localhost"); /* Uri-Host plays no part */

    coap_msg_init(&m); /* no Uri-Host: for the RD by name, not here */
    m.code = COAP_POST;
    rc_port_request(&f->core, 7001, 2, &m, 0);
    assert_int_equal(f->proxy_requests, 2);
    assert_int_equal(f->rd_requests, 0);
    assert_int_equal(f->core.c.port_requests, 2);

    rc_port_request(&f->core, 7002, 3, &m, 0); /* no route on it */
    assert_int_equal(f->answers, 1);
    assert_int_equal(f->last_code, COAP_BAD_GATEWAY);

    coap_msg_init(&m);
    m.code = COAP_GET;
    coap_msg_add_opt(&m, COAP_OPT_PROXY_URI, "coap://x/", 9);
    rc_port_request(&f->core, 7001, 4, &m, 0);
    assert_int_equal(f->answers, 2);
    assert_int_equal(f->last_code, COAP_PROXYING_NOT_SUPPORTED);
    assert_int_equal(f->proxy_requests, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
