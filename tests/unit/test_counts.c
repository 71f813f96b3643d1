/*
 * test_counts.c - live counts per key (relay-core/counts.h): up to the
 * limit then refused without change, down again, keys apart, removal by
 * backward shift keeping every other key's count (many keys in a small
 * table, removed in an order that breaks probe runs), a full table
 * refusing a newcomer instead of evicting, and "no limit".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "counts.h"

static void test_limit(void **state)
{
    struct rc_counts c;
    (void)state;
    assert_int_equal(rc_counts_init(&c, 16), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rc_count_inc(&c, "a", 1, 3), 0);
    assert_int_equal(rc_count_inc(&c, "a", 1, 3), -1);
    assert_int_equal(rc_count_get(&c, "a", 1), 3);
    assert_int_equal(rc_count_inc(&c, "b", 1, 3), 0);
    rc_count_dec(&c, "a", 1);
    assert_int_equal(rc_count_inc(&c, "a", 1, 3), 0);
    assert_int_equal(rc_count_get(&c, "b", 1), 1);
    rc_count_dec(&c, "b", 1);
    rc_count_dec(&c, "b", 1); /* holds none: nothing */
    assert_int_equal(rc_count_get(&c, "b", 1), 0);
    assert_int_equal(c.used, 1);
    assert_int_equal(rc_count_inc(&c, "z", 1, 0), 0); /* 0 = no limit */
    rc_counts_free(&c);
}

static void test_shift(void **state)
{
    struct rc_counts c;
    uint32_t k;
    (void)state;
    assert_int_equal(rc_counts_init(&c, 32), 0); /* 64 slots */
    for (k = 0; k < 32; k++)
        for (uint32_t j = 0; j <= k % 3; j++)
            assert_int_equal(rc_count_inc(&c, &k, sizeof(k), 0), 0);
    /* the table refuses a 33rd key rather than evict one */
    k = 1000;
    assert_int_equal(rc_count_inc(&c, &k, sizeof(k), 0), -1);
    /* remove every other key; the rest keep their counts */
    for (k = 0; k < 32; k += 2)
        for (uint32_t j = 0; j <= k % 3; j++)
            rc_count_dec(&c, &k, sizeof(k));
    for (k = 0; k < 32; k++)
        assert_int_equal(rc_count_get(&c, &k, sizeof(k)), k % 2 ? k % 3 + 1 : 0);
    assert_int_equal(c.used, 16);
    for (k = 1; k < 32; k += 2)
        for (uint32_t j = 0; j <= k % 3; j++)
            rc_count_dec(&c, &k, sizeof(k));
    for (uint32_t i = 0; i <= c.mask; i++)
        assert_int_equal(c.t[i].key, 0);
    rc_counts_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_shift),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
