/*
 * test_route_digest.c - the route-set digest (common/route_digest.c): the
 * same routes in any order give the same digest, any field of one route
 * changed, a route added or removed gives another; 53 bits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "route_digest.h"

static void mk(struct rr_route *rt, const char *host, uint16_t port)
{
    memset(rt, 0, sizeof(*rt));
    snprintf(rt->host, sizeof(rt->host), "%s", host);
    snprintf(rt->ep, sizeof(rt->ep), "%s", host);
    snprintf(rt->reg_path, sizeof(rt->reg_path), "/reg/1");
    rt->path.transport = RR_TRANSPORT_UDP;
    snprintf(rt->path.relay, sizeof(rt->path.relay), "udp");
    assert_int_equal(addr_parse(&rt->path.remote, "192.0.2.1", port), 0);
}

static void test_order_and_change(void **state)
{
    struct route_table *a = route_table_new(4), *b = route_table_new(4);
    struct rr_route r1, r2, r3;
    (void)state;

    assert_int_equal(route_digest_table(NULL), 0);
    assert_int_equal(route_digest_table(a), 0);
    mk(&r1, "alice.p", 1000);
    mk(&r2, "bob.p", 1001);
    mk(&r3, "carol.p", 1002);
    route_table_put(a, &r1);
    route_table_put(a, &r2);
    route_table_put(a, &r3);
    route_table_put(b, &r3);
    route_table_put(b, &r1);
    route_table_put(b, &r2);
    uint64_t d = route_digest_table(a);
    assert_int_not_equal(d, 0);
    assert_true(d <= ROUTE_DIGEST_MASK);
    assert_int_equal(d, route_digest_table(b)); /* insertion order does not matter */
    r2.path.remote.ss.ss_family = AF_INET;
    addr_set_port(&r2.path.remote, 1009); /* the NAT binding moved */
    route_table_put(b, &r2);
    assert_int_not_equal(d, route_digest_table(b));
    mk(&r2, "bob.p", 1001);
    r2.mux_port = 5701; /* a hosting port given */
    route_table_put(b, &r2);
    assert_int_not_equal(d, route_digest_table(b));
    mk(&r2, "bob.p", 1001);
    route_table_put(b, &r2);
    assert_int_equal(d, route_digest_table(b));
    route_table_del(b, "carol.p");
    assert_int_not_equal(d, route_digest_table(b));
    route_table_free(a);
    route_table_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
