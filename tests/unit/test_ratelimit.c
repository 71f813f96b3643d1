/*
 * test_ratelimit.c - the relay core's token buckets (relay-core/
 * ratelimit.h): burst then rate, the Max-Age it asks for, refill capped at
 * the burst, sources by IPv4 address and IPv6 /64, endpoints apart from
 * sources, a full table never refusing a newcomer, and "off".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "ratelimit.h"

static struct rr_addr mk(const char *s)
{
    struct rr_addr a;
    assert_int_equal(addr_parse(&a, s, 5683), 0);
    return a;
}

static void init(struct rc_limits *l, uint32_t src_rate, uint32_t src_burst, uint32_t ep_rate,
                 uint32_t ep_burst, uint32_t buckets)
{
    struct rr_config cfg;
    config_defaults(&cfg);
    cfg.proxy_rate_source = src_rate;
    cfg.proxy_burst_source = src_burst;
    cfg.proxy_rate_endpoint = ep_rate;
    cfg.proxy_burst_endpoint = ep_burst;
    cfg.limit_buckets = buckets;
    assert_int_equal(rc_limits_init(l, &cfg), 0);
}

static void test_bucket(void **state)
{
    (void)state;
    struct rc_limits l;
    uint64_t now = 1000;

    init(&l, 10, 5, 0, 0, 64);
    for (int i = 0; i < 5; i++)
        assert_int_equal(rc_bucket_take(&l, "k", 1, 10, 5, now), 0);
    /* empty: 100 ms to the next token at 10/s -> Max-Age 1 s */
    assert_int_equal(rc_bucket_take(&l, "k", 1, 10, 5, now), 1);
    assert_int_equal(rc_bucket_take(&l, "k", 1, 10, 5, now + 100), 0);
    assert_int_equal(rc_bucket_take(&l, "k", 1, 10, 5, now + 100), 1);
    /* a long pause refills to the burst, not beyond */
    now += 1000000;
    for (int i = 0; i < 5; i++)
        assert_int_equal(rc_bucket_take(&l, "k", 1, 10, 5, now), 0);
    assert_int_not_equal(rc_bucket_take(&l, "k", 1, 10, 5, now), 0);
    /* another key is untouched */
    assert_int_equal(rc_bucket_take(&l, "other", 5, 10, 5, now), 0);
    /* at 1/s an empty bucket asks for Max-Age 1 */
    assert_int_equal(rc_bucket_take(&l, "slow", 4, 1, 1, now), 0);
    assert_int_equal(rc_bucket_take(&l, "slow", 4, 1, 1, now), 1);
    rc_limits_free(&l);
}

static void test_proxy_sources(void **state)
{
    (void)state;
    struct rc_limits l;
    struct rr_addr a = mk("192.0.2.1:1000"), a2 = mk("192.0.2.1:2000"), b = mk("192.0.2.2:1000");
    struct rr_addr v6 = mk("[2001:db8:1:2::1]:1000"), v6same = mk("[2001:db8:1:2::ffff]:9"),
                   v6other = mk("[2001:db8:1:3::1]:1000");
    uint64_t now = 5000;

    init(&l, 1, 2, 0, 0, 64);
    assert_int_equal(rc_limit_proxy(&l, &a, "x.proxy.localhost", now), 0);
    assert_int_equal(rc_limit_proxy(&l, &a2, "x.proxy.localhost", now), 0); /* same address */
    assert_int_equal(rc_limit_proxy(&l, &a, "y.proxy.localhost", now), 1);
    assert_int_equal(l.hit_source, 1);
    assert_int_equal(rc_limit_proxy(&l, &b, "x.proxy.localhost", now), 0);
    /* IPv6: one /64 is one source */
    assert_int_equal(rc_limit_proxy(&l, &v6, "x", now), 0);
    assert_int_equal(rc_limit_proxy(&l, &v6same, "x", now), 0);
    assert_int_not_equal(rc_limit_proxy(&l, &v6same, "x", now), 0);
    assert_int_equal(rc_limit_proxy(&l, &v6other, "x", now), 0);
    rc_limits_free(&l);
}

static void test_proxy_endpoints(void **state)
{
    (void)state;
    struct rc_limits l;
    char s[64];
    uint64_t now = 5000;

    init(&l, 0, 0, 1, 3, 64);
    for (int i = 0; i < 3; i++) {
        snprintf(s, sizeof(s), "198.51.100.%d:5683", i + 1);
        struct rr_addr p = mk(s);
        assert_int_equal(rc_limit_proxy(&l, &p, "alice.proxy.localhost", now), 0);
    }
    struct rr_addr p = mk("198.51.100.9:5683");
    assert_int_equal(rc_limit_proxy(&l, &p, "alice.proxy.localhost", now), 1);
    assert_int_equal(l.hit_endpoint, 1);
    assert_int_equal(rc_limit_proxy(&l, &p, "bob.proxy.localhost", now), 0);
    rc_limits_free(&l);
}

static void test_full_table_and_off(void **state)
{
    (void)state;
    struct rc_limits l, off;
    char k[32];

    init(&l, 1, 1, 0, 0, 64);
    /* 10,000 keys in 64 buckets: every newcomer starts with a full bucket */
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(k, sizeof(k), "key%d", i);
        assert_int_equal(rc_bucket_take(&l, k, (size_t)n, 1, 1, 100 + (uint64_t)i), 0);
    }
    init(&off, 0, 0, 0, 0, 64);
    struct rr_addr a = mk("203.0.113.5:1");
    for (int i = 0; i < 1000; i++)
        assert_int_equal(rc_limit_proxy(&off, &a, "x", 1), 0);
    assert_null(off.b); /* nothing allocated when off */
    rc_limits_free(&l);
    rc_limits_free(&off);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_proxy_sources),
        cmocka_unit_test(test_proxy_endpoints),
        cmocka_unit_test(test_full_table_and_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
