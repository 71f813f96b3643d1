/*
 * test_ports.c - unit tests for rd-frontend/ports.c (port-based hosting,
 * issue 18): ports are handed out in order, a released port is quarantined
 * (never given out before its time, then last in line), the range runs out,
 * the per-source limit counts an IPv4 address and an IPv6 /64 (and its
 * counts stay right under churn: the hash table against a scan), loading puts
 * stored assignments and quarantines back in the right order, and port
 * hosting off assigns nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "frontend.h"

static struct rr_config cfg_range(uint16_t lo, uint16_t hi, uint32_t q, uint32_t per)
{
    struct rr_config c;
    config_defaults(&c);
    c.port_lo = lo;
    c.port_hi = hi;
    c.port_quarantine = q;
    c.port_per_source = per;
    return c;
}

static struct rr_addr A(const char *s) {
    struct rr_addr a;
    assert_int_equal(addr_parse(&a, s, 0), 0);
    return a;
}

static void
test_off(void **state)
{
    (void)state;
    struct rr_config c = cfg_range(0, 0, 10, 8);
    struct rd_ports p;
    enum rd_port_why why;
    struct rr_addr src = A("192.0.2.1:1000");

    assert_int_equal(ports_init(&p, &c), 0);
    assert_false(ports_on(&p));
    assert_int_equal(ports_assign(&p, &src, 0, &why), 0);
    assert_int_equal(why, RD_PORT_OFF);
    ports_free(&p);
}

static void test_order_exhaustion_quarantine(void **state)
{
    (void)state;
    struct rr_config c = cfg_range(5701, 5703, 10, 8);
    struct rd_ports p;
    enum rd_port_why why;
    struct rr_addr src = A("192.0.2.1:1000");

    assert_int_equal(ports_init(&p, &c), 0);
    assert_int_equal(ports_assign(&p, &src, 1000, &why), 5701);
    assert_int_equal(why, RD_PORT_OK);
    assert_int_equal(ports_assign(&p, &src, 1000, &why), 5702);
    assert_int_equal(ports_assign(&p, &src, 1000, &why), 5703);
    assert_int_equal(ports_assign(&p, &src, 1000, &why), 0);
    assert_int_equal(why, RD_PORT_EXHAUSTED);

    /* 5702 released at t=2000: quarantined until 12000 */
    assert_int_equal(ports_release(&p, 5702, 2000), 12000);
    assert_int_equal(ports_release(&p, 5702, 2000), 0); /* not assigned any more */
    assert_int_equal(ports_assign(&p, &src, 11999, &why), 0);
    assert_int_equal(why, RD_PORT_EXHAUSTED);
    assert_int_equal(ports_assign(&p, &src, 12000, &why), 5702);

    /* released in the order 5703, 5701: given out again in that order */
    ports_release(&p, 5703, 3000);
    ports_release(&p, 5701, 4000);
    assert_int_equal(ports_assign(&p, &src, 20000, &why), 5703);
    assert_int_equal(ports_assign(&p, &src, 20000, &why), 5701);
    ports_free(&p);
}

static void test_never_used_first(void **state)
{
    (void)state;
    struct rr_config c = cfg_range(100, 103, 0, 8);
    struct rd_ports p;
    enum rd_port_why why;
    struct rr_addr src = A("192.0.2.1:1000");

    assert_int_equal(ports_init(&p, &c), 0);
    assert_int_equal(ports_assign(&p, &src, 0, &why), 100);
    ports_release(&p, 100, 0); /* quarantine 0: free at once, but last in line */
    assert_int_equal(ports_assign(&p, &src, 0, &why), 101);
    assert_int_equal(ports_assign(&p, &src, 0, &why), 102);
    assert_int_equal(ports_assign(&p, &src, 0, &why), 103);
    assert_int_equal(ports_assign(&p, &src, 0, &why), 100);
    ports_free(&p);
}

static void test_per_source(void **state)
{
    (void)state;
    struct rr_config c = cfg_range(6000, 6009, 10, 2);
    struct rd_ports p;
    enum rd_port_why why;
    struct rr_addr v4a = A("192.0.2.1:1000"), v4a2 = A("192.0.2.1:2000");
    struct rr_addr v4b = A("192.0.2.2:1000");
    struct rr_addr v6a = A("[2001:db8:1:2::1]:1000"), v6a2 = A("[2001:db8:1:2:ffff::9]:7");
    struct rr_addr v6b = A("[2001:db8:1:3::1]:1000");

    assert_true(ports_same_source(&v4a, &v4a2));
    assert_false(ports_same_source(&v4a, &v4b));
    assert_true(ports_same_source(&v6a, &v6a2)); /* same /64 */
    assert_false(ports_same_source(&v6a, &v6b));
    assert_false(ports_same_source(&v4a, &v6a));

    assert_int_equal(ports_init(&p, &c), 0);
    assert_int_not_equal(ports_assign(&p, &v4a, 0, &why), 0);
    uint16_t second = ports_assign(&p, &v4a2, 0, &why); /* another port, same address */
    assert_int_not_equal(second, 0);
    assert_int_equal(ports_assign(&p, &v4a, 0, &why), 0);
    assert_int_equal(why, RD_PORT_SOURCE_LIMIT);
    assert_int_equal(ports_held_by(&p, &v4a), 2);
    assert_int_not_equal(ports_assign(&p, &v4b, 0, &why), 0); /* another address: fine */

    assert_int_not_equal(ports_assign(&p, &v6a, 0, &why), 0);
    assert_int_not_equal(ports_assign(&p, &v6a2, 0, &why), 0);
    assert_int_equal(ports_assign(&p, &v6a, 0, &why), 0);
    assert_int_equal(why, RD_PORT_SOURCE_LIMIT);
    assert_int_not_equal(ports_assign(&p, &v6b, 0, &why), 0);

    /* giving one back makes room for that source again */
    ports_release(&p, second, 0);
    assert_int_not_equal(ports_assign(&p, &v4a, 0, &why), 0);
    ports_free(&p);
}

/* Many sources taking and giving back ports at random: every source's
 * count (hash table, backward-shift deletion) equals a scan of the slots. */
static void test_source_counts_churn(void **state)
{
    (void)state;
    /* 16 ports: a 32-slot table for 40 sources, so keys collide often */
    struct rr_config c = cfg_range(10000, 10015, 0, 3);
    struct rd_ports p;
    enum rd_port_why why;
    struct rr_addr src[40];
    uint16_t held[16];
    unsigned nheld = 0;
    uint32_t rng = 12345;

    for (int i = 0; i < 40; i++) {
        char a[64];
        if (i % 2)
            snprintf(a, sizeof(a), "192.0.2.%d:1000", i);
        else
            snprintf(a, sizeof(a), "[2001:db8:%x::1]:1000", i);
        src[i] = A(a);
    }
    assert_int_equal(ports_init(&p, &c), 0);
    for (int step = 0; step < 20000; step++) {
        rng = rng * 1103515245u + 12345u;
        unsigned r = rng >> 8;
        if (nheld && (r % 3 == 0 || nheld == 16)) {
            unsigned k = (r / 3) % nheld;
            assert_true(ports_release(&p, held[k], 0) == 0); /* quarantine 0 */
            held[k] = held[--nheld];
        } else {
            uint16_t port = ports_assign(&p, &src[(r / 3) % 40], 0, &why);
            if (port)
                held[nheld++] = port;
            else
                assert_true(why == RD_PORT_SOURCE_LIMIT || why == RD_PORT_EXHAUSTED);
        }
        if (step % 97 == 0) {
            for (int i = 0; i < 40; i++) {
                unsigned n = 0;
                for (uint32_t k = 0; k < p.n; k++)
                    n += p.slot[k].state == 1 /* assigned */ &&
                         ports_same_source(&p.slot[k].src, &src[i]);
                assert_int_equal(ports_held_by(&p, &src[i]), n);
                assert_true(n <= 3);
            }
        }
    }
    ports_free(&p);
}

static void test_load(void **state)
{
    (void)state;
    struct rr_config c = cfg_range(7000, 7004, 10, 8);
    struct rd_ports p;
    enum rd_port_why why;
    struct rr_addr src = A("192.0.2.1:1000");

    assert_int_equal(ports_init(&p, &c), 0);
    /* stored: 7001 and 7003 assigned; 7004 quarantined until 500, 7000
     * until 900 */
    assert_int_equal(ports_load_assigned(&p, 7001, &src), 0);
    assert_int_equal(ports_load_assigned(&p, 7003, &src), 0);
    assert_int_equal(ports_load_assigned(&p, 7003, &src), -1); /* taken twice */
    assert_int_equal(ports_load_assigned(&p, 8000, &src), -1); /* outside the range */
    ports_load_quarantined(&p, 7000, 900);
    ports_load_quarantined(&p, 7004, 500);
    ports_load_quarantined(&p, 7001, 900); /* assigned: a stale row changes nothing */
    ports_load_end(&p);
    assert_int_equal(ports_held_by(&p, &src), 2);

    /* the never-used one first, then the quarantined ones by time */
    assert_int_equal(ports_assign(&p, &src, 100, &why), 7002);
    assert_int_equal(ports_assign(&p, &src, 100, &why), 0);
    assert_int_equal(why, RD_PORT_EXHAUSTED);
    assert_int_equal(ports_assign(&p, &src, 500, &why), 7004);
    assert_int_equal(ports_assign(&p, &src, 899, &why), 0);
    assert_int_equal(ports_assign(&p, &src, 900, &why), 7000);
    ports_free(&p);
}

static void test_config_range(void **state)
{
    (void)state;
    struct rr_config c;
    char err[128];

    config_defaults(&c);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_int_equal(c.port_lo, 0); /* off by default */
    assert_int_equal(config_set(&c, "port_hosting_range", "5701-5799", err, sizeof(err)), 0);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_int_equal(c.port_lo, 5701);
    assert_int_equal(c.port_hi, 5799);
    assert_int_equal(config_set(&c, "port_hosting_range", "6000", err, sizeof(err)), 0);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_int_equal(c.port_lo, 6000);
    assert_int_equal(c.port_hi, 6000);
    const char *bad[] = {"5799-5701", "0-10", "1-70000", "a-b", "5701-", "5701-5799x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(config_set(&c, "port_hosting_range", bad[i], err, sizeof(err)), 0);
        assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off),
        cmocka_unit_test(test_order_exhaustion_quarantine),
        cmocka_unit_test(test_never_used_first),
        cmocka_unit_test(test_per_source),
        cmocka_unit_test(test_source_counts_churn),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_config_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
