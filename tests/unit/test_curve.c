/*
 * test_curve.c - CURVE key checks (common/curve.c) as the configuration
 * uses them: a Z85 key is 40 characters that decode, a list is comma
 * separated, and a bad key in any curve_* setting is refused; xfwd_endpoints
 * (common/xfwd_ep.c): a listed relay is at its tcp:// address, any other at
 * the ipc:// default, and a malformed entry is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "config.h"
#include "curve.h"
#include "xfwd_ep.h"

static void test_keys(void **state)
{
    char pub[41], sec[41], list[200];
    struct rr_config cfg;
    char err[200];

    (void)state;
    assert_int_equal(zmq_curve_keypair(pub, sec), 0);
    assert_true(curve_key_ok(pub));
    assert_true(curve_key_ok(sec));
    assert_false(curve_key_ok(""));
    assert_false(curve_key_ok("short"));
    char bad[41];
    memcpy(bad, pub, 41);
    bad[5] = '"'; /* not in the Z85 alphabet */
    assert_false(curve_key_ok(bad));
    snprintf(list, sizeof(list), "%s, %s", pub, sec);
    assert_true(curve_key_list_ok(list));
    assert_true(curve_key_list_ok(""));
    snprintf(list, sizeof(list), "%s,%s", pub, "tooshort");
    assert_false(curve_key_list_ok(list));

    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "curve_public", pub, err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "curve_public", "", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "curve_secret", "nope", err, sizeof(err)), -1);
    assert_int_equal(config_set(&cfg, "curve_authorized", bad, err, sizeof(err)), -1);
}

static void test_xfwd_endpoints(void **state)
{
    char pub[41], sec[41], list[300], ep[300], err[200];
    struct rr_config cfg;

    (void)state;
    assert_int_equal(zmq_curve_keypair(pub, sec), 0);
    config_defaults(&cfg);
    snprintf(list, sizeof(list), "udp-a=tcp://192.0.2.1:5700;%s, udp-b=tcp://192.0.2.2:5700", pub);
    assert_int_equal(config_set(&cfg, "xfwd_endpoints", list, err, sizeof(err)), 0);
    assert_int_equal(xfwd_endpoint(&cfg, "udp-a", ep, sizeof(ep)), 0);
    assert_string_equal(ep, "tcp://192.0.2.1:5700");
    assert_int_equal(xfwd_endpoint(&cfg, "udp-b", ep, sizeof(ep)), 0);
    assert_string_equal(ep, "tcp://192.0.2.2:5700");
    assert_int_equal(xfwd_endpoint(&cfg, "tcp", ep, sizeof(ep)), 0);
    assert_string_equal(ep, "ipc://state/relay-tcp.sock");
    assert_false(xfwd_endpoints_ok("udp-a=ipc:///x"));
    assert_false(xfwd_endpoints_ok("udp-a"));
    assert_false(xfwd_endpoints_ok("udp-a=tcp://192.0.2.1:5700;notakey"));
    assert_true(xfwd_endpoints_ok(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_keys),
                                       cmocka_unit_test(test_xfwd_endpoints)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
