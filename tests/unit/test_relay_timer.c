/*
 * test_relay_timer.c - unit tests for relay-udp/timerheap.c: pop order,
 * cancel from the middle, re-arm earlier and later, capacity, and a
 * randomised run checked against a sorted reference.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>

#include "timerheap.h"

static void test_order_and_cancel(void **state)
{
    struct timerheap th;
    struct rr_timer t[5];
    (void)state;

    assert_int_equal(th_init(&th, 5), 0);
    for (int i = 0; i < 5; i++)
        th_timer_init(&t[i], 1, (uint32_t)i);
    assert_false(th_armed(&t[0]));
    assert_int_equal(th_arm(&th, &t[0], 50), 0);
    assert_int_equal(th_arm(&th, &t[1], 10), 0);
    assert_int_equal(th_arm(&th, &t[2], 30), 0);
    assert_int_equal(th_arm(&th, &t[3], 20), 0);
    assert_int_equal(th_arm(&th, &t[4], 40), 0);
    assert_true(th_armed(&t[2]));
    th_cancel(&th, &t[2]);
    assert_false(th_armed(&t[2]));
    th_cancel(&th, &t[2]); /* idempotent */
    assert_ptr_equal(th_peek(&th), &t[1]);
    assert_null(th_pop_due(&th, 9));
    assert_ptr_equal(th_pop_due(&th, 100), &t[1]);
    assert_ptr_equal(th_pop_due(&th, 100), &t[3]);
    assert_ptr_equal(th_pop_due(&th, 100), &t[4]);
    assert_ptr_equal(th_pop_due(&th, 100), &t[0]);
    assert_null(th_pop_due(&th, 100));
    assert_null(th_peek(&th));
    th_free(&th);
}

static void test_rearm(void **state)
{
    struct timerheap th;
    struct rr_timer a, b, c;
    (void)state;

    assert_int_equal(th_init(&th, 3), 0);
    th_timer_init(&a, 1, 0);
    th_timer_init(&b, 1, 1);
    th_timer_init(&c, 1, 2);
    th_arm(&th, &a, 10);
    th_arm(&th, &b, 20);
    th_arm(&th, &c, 30);
    th_arm(&th, &c, 5);  /* earlier */
    th_arm(&th, &a, 25); /* later */
    assert_int_equal(th.n, 3);
    assert_ptr_equal(th_pop_due(&th, 100), &c);
    assert_ptr_equal(th_pop_due(&th, 100), &b);
    assert_ptr_equal(th_pop_due(&th, 100), &a);
    th_free(&th);
}

static void test_capacity(void **state)
{
    struct timerheap th;
    struct rr_timer a, b;
    (void)state;

    assert_int_equal(th_init(&th, 1), 0);
    th_timer_init(&a, 1, 0);
    th_timer_init(&b, 1, 1);
    assert_int_equal(th_arm(&th, &a, 1), 0);
    assert_int_equal(th_arm(&th, &b, 1), -1);
    assert_false(th_armed(&b));
    th_free(&th);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_random_against_sort(void **state)
{
    enum { N = 500 };
    struct timerheap th;
    static struct rr_timer t[N];
    uint64_t ref[N];
    int nref = 0;
    (void)state;

    srandom(42);
    assert_int_equal(th_init(&th, N), 0);
    for (int i = 0; i < N; i++) {
        th_timer_init(&t[i], 1, (uint32_t)i);
        th_arm(&th, &t[i], (uint64_t)(random() % 10000));
    }
    /* cancel every third, re-arm every fifth */
    for (int i = 0; i < N; i += 3)
        th_cancel(&th, &t[i]);
    for (int i = 0; i < N; i += 5)
        th_arm(&th, &t[i], (uint64_t)(random() % 10000));
    for (int i = 0; i < N; i++)
        if (th_armed(&t[i]))
            ref[nref++] = t[i].due;
    qsort(ref, (size_t)nref, sizeof(ref[0]), cmp_u64);
    for (int k = 0; k < nref; k++) {
        struct rr_timer *p = th_pop_due(&th, UINT64_MAX);
        assert_non_null(p);
        assert_int_equal(p->due, ref[k]);
        assert_false(th_armed(p));
    }
    assert_null(th_peek(&th));
    th_free(&th);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_cancel),
        cmocka_unit_test(test_rearm),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_random_against_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
