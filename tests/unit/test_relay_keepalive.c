/*
 * test_relay_keepalive.c - unit tests for relay-udp/keepalive.c's state
 * machine on a virtual clock (no sockets: pings have nowhere to go, which
 * is exactly an endpoint that never answers): a quiet route is pinged after
 * its ka interval, becomes unreachable after the RFC 7252 retransmissions,
 * and reachable again on any datagram from its binding or a route update;
 * ka=0 is never pinged; an ICMP error marks it unreachable at once; a
 * deleted route is forgotten.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "relay.h"
#include "timeutil.h"

static struct relay *mkrelay(void)
{
    struct relay *r = calloc(1, sizeof(*r));
    char err[128];
    config_defaults(&r->cfg);
    config_finish(&r->cfg, err, sizeof(err));
    r->cfg.max_exchanges = 4;
    assert_int_equal(ru_core_init(r), 0);
    assert_int_equal(exch_init(r), 0);
    assert_int_equal(ka_init(r), 0);
    return r;
}

static void freerelay(struct relay *r)
{
    ka_free(r);
    exch_free(r);
    rc_free(&r->core);
    free(r);
}

static struct rr_route mkroute(const char *host, const char *remote, uint32_t ka)
{
    struct rr_route rt;
    memset(&rt, 0, sizeof(rt));
    snprintf(rt.host, sizeof(rt.host), "%s", host);
    rt.path.transport = RR_TRANSPORT_UDP;
    snprintf(rt.path.relay, sizeof(rt.path.relay), "udp");
    assert_int_equal(addr_parse(&rt.path.remote, remote, 5683), 0);
    assert_int_equal(addr_parse(&rt.path.local, "127.0.0.1:5683", 5683), 0);
    rt.ka = ka;
    return rt;
}

/* Run ka_tick every 100 ms from *now until the host is unreachable or
 * limit_ms passed; returns the time it took. */
static uint64_t run_until_unreachable(struct relay *r, const char *host, uint64_t *now,
                                      uint64_t limit_ms)
{
    uint64_t start = *now;
    while (*now - start < limit_ms) {
        *now += 100;
        ka_tick(r, *now);
        if (ka_unreachable_since(r, host))
            break;
    }
    return *now - start;
}

static void test_unreachable_after_retransmissions(void **state)
{
    struct relay *r = mkrelay();
    (void)state;
    struct rr_route rt = mkroute("alice.proxy.localhost", "192.0.2.5:40000", 2);
    uint64_t now = now_mono_ms();

    ka_on_route_change(r, NULL, &rt, false);
    assert_int_equal(r->ka.n, 1);
    assert_int_equal(ka_unreachable_since(r, "alice.proxy.localhost"), 0);
    /* 2 s quiet, then ping + 4 retransmissions (31 x 2..3 s) */
    uint64_t took = run_until_unreachable(r, "alice.proxy.localhost", &now, 200000);
    assert_true(took >= 1800 + 62000);
    assert_true(took <= 2000 + 93000 + 2000);
    assert_true(ka_unreachable_since(r, "alice.proxy.localhost") != 0);
    assert_int_equal(r->c.ka_unreachable, 1);

    /* any datagram from the binding: reachable again */
    struct rr_addr from = rt.path.remote;
    ka_on_rx(r, &from, now);
    assert_int_equal(ka_unreachable_since(r, "alice.proxy.localhost"), 0);
    assert_int_equal(r->c.ka_reachable, 1);
    /* a datagram from another port of that host does not count */
    ka_on_icmp(r, &from, now);
    assert_true(ka_unreachable_since(r, "alice.proxy.localhost") != 0);
    struct rr_addr other;
    addr_parse(&other, "192.0.2.5:40001", 0);
    ka_on_rx(r, &other, now);
    assert_true(ka_unreachable_since(r, "alice.proxy.localhost") != 0);
    /* a route update (the registrant refreshed) makes it reachable */
    ka_on_route_change(r, &rt, &rt, false);
    assert_int_equal(ka_unreachable_since(r, "alice.proxy.localhost"), 0);
    /* delete */
    ka_on_route_change(r, &rt, NULL, false);
    assert_int_equal(r->ka.n, 0);
    freerelay(r);
}

static void test_traffic_keeps_alive(void **state)
{
    struct relay *r = mkrelay();
    (void)state;
    struct rr_route rt = mkroute("bob.proxy.localhost", "192.0.2.6:40000", 2);
    uint64_t now = now_mono_ms();

    ka_on_route_change(r, NULL, &rt, false);
    /* the binding answers every ping at once: never unreachable */
    for (int k = 0; k < 3000; k++) {
        now += 100;
        ka_tick(r, now);
        if (r->ka.e[0].pinging)
            ka_on_rx(r, &rt.path.remote, now);
    }
    assert_int_equal(ka_unreachable_since(r, "bob.proxy.localhost"), 0);
    freerelay(r);
}

static void test_ka_zero_and_foreign(void **state)
{
    struct relay *r = mkrelay();
    (void)state;
    struct rr_route sleepy = mkroute("sleepy.proxy.localhost", "192.0.2.7:40000", 0);
    struct rr_route tcp = mkroute("tcp.proxy.localhost", "192.0.2.8:40000", 2);
    tcp.path.transport = RR_TRANSPORT_TCP;
    snprintf(tcp.path.relay, sizeof(tcp.path.relay), "tcp");
    uint64_t now = now_mono_ms();

    ka_on_route_change(r, NULL, &sleepy, false);
    ka_on_route_change(r, NULL, &tcp, false);
    assert_int_equal(r->ka.n, 1); /* another relay's route is not ours to watch */
    uint64_t took = run_until_unreachable(r, "sleepy.proxy.localhost", &now, 200000);
    assert_int_equal(took, 200000);
    assert_int_equal(ka_unreachable_since(r, "sleepy.proxy.localhost"), 0);
    freerelay(r);
}

static void test_many_routes_grow(void **state)
{
    struct relay *r = mkrelay();
    (void)state;
    char host[64], addr[64];

    for (int k = 0; k < 1000; k++) {
        snprintf(host, sizeof(host), "ep%d.proxy.localhost", k);
        snprintf(addr, sizeof(addr), "192.0.2.%d:%d", k % 250 + 1, 20000 + k);
        struct rr_route rt = mkroute(host, addr, RR_KA_DEFAULT);
        ka_on_route_change(r, NULL, &rt, false);
    }
    assert_int_equal(r->ka.n, 1000);
    struct rr_addr a;
    addr_parse(&a, "192.0.2.100:20099", 0);
    ka_on_icmp(r, &a, now_mono_ms());
    assert_true(ka_unreachable_since(r, "ep99.proxy.localhost") != 0);
    assert_int_equal(ka_unreachable_since(r, "ep98.proxy.localhost"), 0);
    freerelay(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unreachable_after_retransmissions),
        cmocka_unit_test(test_traffic_keeps_alive),
        cmocka_unit_test(test_ka_zero_and_foreign),
        cmocka_unit_test(test_many_routes_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
