/*
 * test_slotpool.c - the fixed slot array (relay-core/slotpool.h): every
 * slot handed out once, then none; a put slot comes back first; a put of a
 * free slot (or one out of range) is refused and changes nothing; the link
 * lives where the caller says inside its entries, the rest of an entry
 * untouched; an empty pool hands out nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "slotpool.h"

struct entry {
    uint8_t state;
    char name[7];
    uint32_t link;
    uint64_t payload;
};

#define N 5

static void test_take_all_then_none(void **state)
{
    struct entry e[N];
    struct rc_slotpool p;
    uint8_t seen[N] = {0};
    (void)state;

    memset(e, 0, sizeof(e));
    rc_sp_init(&p, e, sizeof(e[0]), offsetof(struct entry, link), N);
    assert_int_equal(p.used, 0);
    for (unsigned k = 0; k < N; k++) {
        uint32_t i = rc_sp_take(&p);
        assert_true(i < N);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        assert_true(rc_sp_taken(&p, i));
        assert_ptr_equal(rc_sp_at(&p, i), &e[i]);
    }
    assert_int_equal(p.used, N);
    assert_int_equal(rc_sp_take(&p), RC_SP_NONE);
    assert_int_equal(p.used, N);
}

static void test_put_comes_back(void **state)
{
    struct entry e[N];
    struct rc_slotpool p;
    (void)state;

    memset(e, 0, sizeof(e));
    rc_sp_init(&p, e, sizeof(e[0]), offsetof(struct entry, link), N);
    for (unsigned k = 0; k < N; k++)
        (void)rc_sp_take(&p);
    e[3].payload = 0x1122334455667788u;
    strcpy(e[3].name, "alice");
    assert_true(rc_sp_put(&p, 3));
    assert_false(rc_sp_taken(&p, 3));
    assert_int_equal(p.used, N - 1);
    /* only the link changed */
    assert_int_equal(e[3].payload, 0x1122334455667788u);
    assert_string_equal(e[3].name, "alice");
    assert_true(rc_sp_put(&p, 1));
    assert_int_equal(rc_sp_take(&p), 1);
    assert_int_equal(rc_sp_take(&p), 3);
    assert_int_equal(rc_sp_take(&p), RC_SP_NONE);
}

static void test_put_free_refused(void **state)
{
    struct entry e[N];
    struct rc_slotpool p;
    (void)state;

    memset(e, 0, sizeof(e));
    rc_sp_init(&p, e, sizeof(e[0]), offsetof(struct entry, link), N);
    assert_false(rc_sp_put(&p, 2)); /* never taken */
    assert_false(rc_sp_put(&p, N)); /* out of range */
    assert_false(rc_sp_put(&p, RC_SP_NONE));
    assert_int_equal(p.used, 0);
    uint32_t i = rc_sp_take(&p);
    assert_true(rc_sp_put(&p, i));
    assert_false(rc_sp_put(&p, i)); /* twice */
    assert_int_equal(p.used, 0);
    /* the free list is intact: all N still come out, each once */
    uint8_t seen[N] = {0};
    for (unsigned k = 0; k < N; k++) {
        uint32_t j = rc_sp_take(&p);
        assert_true(j < N);
        assert_int_equal(seen[j]++, 0);
    }
    assert_int_equal(rc_sp_take(&p), RC_SP_NONE);
}

static void test_empty_pool(void **state)
{
    struct rc_slotpool p;
    struct entry e[1];
    (void)state;

    rc_sp_init(&p, NULL, sizeof(struct entry), offsetof(struct entry, link), 4);
    assert_int_equal(p.n, 0);
    assert_int_equal(rc_sp_take(&p), RC_SP_NONE);
    rc_sp_init(&p, e, sizeof(e[0]), offsetof(struct entry, link), 0);
    assert_int_equal(rc_sp_take(&p), RC_SP_NONE);
    assert_false(rc_sp_taken(&p, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_take_all_then_none),
        cmocka_unit_test(test_put_comes_back),
        cmocka_unit_test(test_put_free_refused),
        cmocka_unit_test(test_empty_pool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
