/*
 * test_srccount.c - the shared count table (common/srccount.h): up to the
 * limit then refused without change, down again, keys apart, removal by
 * backward shift keeping every other key's count (many keys in a small
 * table, removed in an order that breaks probe runs; runs that wrap round
 * the table's end), a full table refusing a newcomer instead of evicting,
 * "no limit", growth keeping every count up to its bound, sources keyed as
 * addr_source_key (IPv4 address, IPv6 /64), tags, and a table never made.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "srccount.h"

static void test_limit(void **state)
{
    struct srccount c;
    (void)state;
    assert_int_equal(srccount_init(&c, 16, 0), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(srccount_inc(&c, "a", 1, 3), 0);
    assert_int_equal(srccount_inc(&c, "a", 1, 3), -1);
    assert_int_equal(srccount_get(&c, "a", 1), 3);
    assert_int_equal(srccount_inc(&c, "b", 1, 3), 0);
    srccount_dec(&c, "a", 1);
    assert_int_equal(srccount_inc(&c, "a", 1, 3), 0);
    assert_int_equal(srccount_get(&c, "b", 1), 1);
    srccount_dec(&c, "b", 1);
    srccount_dec(&c, "b", 1); /* holds none: nothing */
    assert_int_equal(srccount_get(&c, "b", 1), 0);
    assert_int_equal(srccount_get(&c, "a", 1), 3);
    assert_int_equal(srccount_inc(&c, "z", 1, 0), 0); /* 0 = no limit */
    assert_int_equal(srccount_keys(&c), 2);
    srccount_free(&c);
}

static void test_shift(void **state)
{
    struct srccount c;
    uint32_t k;
    (void)state;
    assert_int_equal(srccount_init(&c, 32, 0), 0); /* 64 slots */
    for (k = 0; k < 32; k++)
        for (uint32_t j = 0; j <= k % 3; j++)
            assert_int_equal(srccount_inc(&c, &k, sizeof(k), 0), 0);
    /* the table refuses a 33rd key rather than evict one */
    k = 1000;
    assert_int_equal(srccount_inc(&c, &k, sizeof(k), 0), -1);
    /* remove every other key; the rest keep their counts */
    for (k = 0; k < 32; k += 2)
        for (uint32_t j = 0; j <= k % 3; j++)
            srccount_dec(&c, &k, sizeof(k));
    for (k = 0; k < 32; k++)
        assert_int_equal(srccount_get(&c, &k, sizeof(k)), k % 2 ? k % 3 + 1 : 0);
    assert_int_equal(c.used, 16);
    for (k = 1; k < 32; k += 2)
        for (uint32_t j = 0; j <= k % 3; j++)
            srccount_dec(&c, &k, sizeof(k));
    for (uint32_t i = 0; i <= c.mask; i++)
        assert_int_equal(c.t[i].tag, 0);
    srccount_free(&c);
}

/* Tags chosen so that their homes (the high half) sit at the table's end:
 * the probe runs wrap round to slot 0, and removal must shift across it. */
static void test_shift_wraps(void **state)
{
    struct srccount c;
    const uint64_t home62 = (uint64_t)62 << 32, home63 = (uint64_t)63 << 32;
    const uint64_t tags[] = {home62 | 1, home62 | 3, home63 | 1,
                             home63 | 3, home62 | 5, (uint64_t)1 << 32 | 1};
    (void)state;
    assert_int_equal(srccount_init(&c, 32, 0), 0);
    assert_int_equal(c.mask, 63);
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
        for (size_t j = 0; j <= i; j++)
            assert_int_equal(srccount_inc_tag(&c, tags[i], 0), 0);
    /* 62: home62|1, 63: home62|3, 0: home63|1, 1: home63|3, 2: home62|5, 3: home 1 */
    assert_true(c.t[0].tag == (home63 | 1) && c.t[2].tag == (home62 | 5));
    /* remove the run's first: every later one moves back, the one whose
     * home is 1 may not move before it */
    srccount_dec_tag(&c, tags[0]);
    assert_int_equal(c.t[62].tag, home62 | 3);
    assert_int_equal(c.t[63].tag, home63 | 1);
    assert_int_equal(c.t[0].tag, home63 | 3);
    assert_int_equal(c.t[1].tag, home62 | 5);
    assert_int_equal(c.t[2].tag, (uint64_t)1 << 32 | 1);
    assert_int_equal(c.t[3].tag, 0);
    for (size_t i = 1; i < sizeof(tags) / sizeof(tags[0]); i++) {
        assert_int_equal(srccount_inc_tag(&c, tags[i], (uint32_t)i + 1), -1); /* at its max */
        for (size_t j = 0; j <= i; j++)
            srccount_dec_tag(&c, tags[i]);
    }
    assert_int_equal(srccount_keys(&c), 0);
    for (uint32_t i = 0; i <= c.mask; i++)
        assert_int_equal(c.t[i].tag, 0);
    srccount_free(&c);
}

static void test_grow(void **state)
{
    struct srccount c;
    uint32_t k;
    (void)state;
    assert_int_equal(srccount_init(&c, 8, 1000), 0); /* 64 slots, up to 2048 */
    assert_int_equal(c.mask, 63);
    for (k = 0; k < 1024; k++)
        for (uint32_t j = 0; j <= k % 4; j++)
            assert_int_equal(srccount_inc(&c, &k, sizeof(k), 4), 0);
    assert_int_equal(c.mask, 2047);
    assert_int_equal(srccount_keys(&c), 1024);
    /* grown as far as allowed: a newcomer is refused, a known key still counts */
    k = 5000;
    assert_int_equal(srccount_inc(&c, &k, sizeof(k), 0), -1);
    k = 0;
    assert_int_equal(srccount_inc(&c, &k, sizeof(k), 4), 0);
    srccount_dec(&c, &k, sizeof(k));
    for (k = 0; k < 1024; k++) {
        assert_int_equal(srccount_get(&c, &k, sizeof(k)), k % 4 + 1);
        assert_int_equal(srccount_inc(&c, &k, sizeof(k), k % 4 + 1), -1);
    }
    for (k = 0; k < 1024; k++)
        for (uint32_t j = 0; j <= k % 4; j++)
            srccount_dec(&c, &k, sizeof(k));
    assert_int_equal(srccount_keys(&c), 0);
    for (uint32_t i = 0; i <= c.mask; i++)
        assert_int_equal(c.t[i].tag, 0);
    srccount_free(&c);
}

static struct rr_addr addr(const char *s)
{
    struct rr_addr a;
    assert_int_equal(addr_parse(&a, s, 5683), 0);
    return a;
}

static void test_sources(void **state)
{
    struct srccount c;
    struct rr_addr v4a = addr("192.0.2.1:1000"), v4a2 = addr("192.0.2.1:2000");
    struct rr_addr v4b = addr("192.0.2.2:1000"), mapped = addr("[::ffff:192.0.2.1]:3000");
    struct rr_addr v6a = addr("[2001:db8:1:2::1]:1000"), v6a2 = addr("[2001:db8:1:2:ffff::9]");
    struct rr_addr v6b = addr("[2001:db8:1:3::1]:1000");
    uint8_t k[ADDR_SOURCE_KEY_LEN];
    (void)state;
    assert_int_equal(srccount_init(&c, 16, 0), 0);
    /* one IPv4 address, any port (and its v4-mapped form) */
    assert_int_equal(srccount_inc_addr(&c, &v4a, 3), 0);
    assert_int_equal(srccount_inc_addr(&c, &v4a2, 3), 0);
    assert_int_equal(srccount_inc_addr(&c, &mapped, 3), 0);
    assert_int_equal(srccount_inc_addr(&c, &v4a, 3), -1);
    assert_int_equal(srccount_get_addr(&c, &v4a2), 3);
    assert_int_equal(srccount_get_addr(&c, &v4b), 0);
    /* one IPv6 /64, any interface identifier */
    assert_int_equal(srccount_inc_addr(&c, &v6a, 2), 0);
    assert_int_equal(srccount_inc_addr(&c, &v6a2, 2), 0);
    assert_int_equal(srccount_inc_addr(&c, &v6a, 2), -1);
    assert_int_equal(srccount_inc_addr(&c, &v6b, 2), 0);
    assert_int_equal(srccount_get_addr(&c, &v6a2), 2);
    assert_int_equal(srccount_get_addr(&c, &v6b), 1);
    /* by address, by key bytes and by tag: one count */
    addr_source_key(&v6b, k);
    assert_int_equal(srccount_get(&c, k, sizeof(k)), 1);
    assert_true(srccount_tag_addr(&c, &v6b) == srccount_tag(&c, k, sizeof(k)));
    srccount_dec_tag(&c, srccount_tag(&c, k, sizeof(k)));
    assert_int_equal(srccount_get_addr(&c, &v6b), 0);
    srccount_dec_addr(&c, &v4a2);
    assert_int_equal(srccount_get_addr(&c, &mapped), 2);
    assert_int_equal(srccount_keys(&c), 2);
    srccount_free(&c);
}

static void test_tags(void **state)
{
    struct srccount c;
    (void)state;
    assert_int_equal(srccount_init(&c, 16, 0), 0);
    for (uint32_t k = 0; k < 1000; k++)
        assert_true(srccount_tag(&c, &k, sizeof(k)) != 0); /* 0 is the empty slot */
    uint64_t t = srccount_tag(&c, "host.example", 12);
    assert_int_equal(srccount_inc_tag(&c, t, 2), 0);
    assert_int_equal(srccount_inc(&c, "host.example", 12, 2), 0);
    assert_int_equal(srccount_inc_tag(&c, t, 2), -1);
    srccount_dec(&c, "host.example", 12);
    srccount_dec_tag(&c, t);
    assert_int_equal(srccount_get(&c, "host.example", 12), 0);
    srccount_free(&c);
}

/* A table never made (its limit off): counts nothing, refuses nothing. */
static void test_off(void **state)
{
    struct srccount c;
    struct rr_addr a = addr("192.0.2.7");
    (void)state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(srccount_inc(&c, "a", 1, 1), 0);
    assert_int_equal(srccount_inc(&c, "a", 1, 1), 0);
    assert_int_equal(srccount_inc_addr(&c, &a, 1), 0);
    assert_int_equal(srccount_inc_tag(&c, 3, 1), 0);
    srccount_dec(&c, "a", 1);
    srccount_dec_addr(&c, &a);
    srccount_dec_tag(&c, 3);
    assert_int_equal(srccount_get(&c, "a", 1), 0);
    assert_int_equal(srccount_get_addr(&c, &a), 0);
    assert_int_equal(srccount_keys(&c), 0);
    srccount_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit),       cmocka_unit_test(test_shift),
        cmocka_unit_test(test_shift_wraps), cmocka_unit_test(test_grow),
        cmocka_unit_test(test_sources),     cmocka_unit_test(test_tags),
        cmocka_unit_test(test_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
