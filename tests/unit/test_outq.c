/*
 * test_outq.c - unit tests for common/outq.c (the bounded output queue of
 * relay-tcp and relay-ws): order, the bound, compaction and growth, and
 * that an empty queue holds no memory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "outq.h"

static void test_fifo(void **state)
{
    struct outq q = {0};
    (void)state;

    assert_int_equal(outq_push(&q, "abc", 3, 100), 0);
    assert_int_equal(outq_push(&q, "defg", 4, 100), 0);
    assert_int_equal(q.len, 7);
    assert_memory_equal(outq_data(&q), "abcdefg", 7);
    outq_consume(&q, 2);
    assert_memory_equal(outq_data(&q), "cdefg", 5);
    outq_consume(&q, 5);
    assert_int_equal(q.len, 0);
    assert_null(q.buf); /* an idle connection keeps no buffer */
}

static void test_bound(void **state)
{
    struct outq q = {0};
    (void)state;

    assert_int_equal(outq_push(&q, "0123456789", 10, 16), 0);
    errno = 0;
    assert_int_equal(outq_push(&q, "0123456789", 10, 16), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(q.len, 10); /* nothing half-queued */
    outq_consume(&q, 6);
    assert_int_equal(outq_push(&q, "abcdefghijkl", 12, 16), 0);
    assert_memory_equal(outq_data(&q), "6789abcdefghijkl", 16);
    outq_free(&q);
}

static void test_grow_and_compact(void **state)
{
    struct outq q = {0};
    uint8_t big[10000], got[10000];
    (void)state;

    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    /* consume from the front while pushing: the data moves, never breaks */
    for (size_t off = 0; off < sizeof(big); off += 100) {
        assert_int_equal(outq_push(&q, big + off, 100, 1 << 20), 0);
        if (off % 300 == 0)
            outq_consume(&q, 0);
    }
    memcpy(got, outq_data(&q), q.len);
    assert_int_equal(q.len, sizeof(big));
    assert_memory_equal(got, big, sizeof(big));
    uint8_t *at = outq_reserve(&q, 4, 1 << 20);
    assert_non_null(at);
    memcpy(at, "tail", 4);
    assert_memory_equal(outq_data(&q) + sizeof(big), "tail", 4);
    outq_free(&q);
    assert_null(q.buf);
}

static void test_spare(void **state)
{
    struct outq_spare s = {0};
    struct outq a = {.spare = &s}, b = {.spare = &s};
    (void)state;

    assert_int_equal(outq_push(&a, "x", 1, 100), 0);
    uint8_t *buf = a.buf;
    outq_consume(&a, 1);
    assert_null(a.buf);
    assert_int_equal(s.n, 1); /* kept, not freed */
    assert_int_equal(outq_push(&b, "yz", 2, 100), 0);
    assert_ptr_equal(b.buf, buf); /* the next queue reuses it */
    assert_int_equal(s.n, 0);
    assert_memory_equal(outq_data(&b), "yz", 2);
    outq_free(&b);
    outq_spare_free(&s);
    assert_int_equal(s.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_grow_and_compact),
        cmocka_unit_test(test_spare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
