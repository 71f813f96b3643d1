/*
 * test_curve.c - CURVE key checks (common/curve.c) as the configuration
 * uses them: a Z85 key is 40 characters that decode, a list is comma
 * separated, and a bad key in any curve_* setting is refused.
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

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_keys)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
