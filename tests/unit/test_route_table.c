/*
 * test_route_table.c - unit tests for common/route_table.c: put (insert and
 * replace), get, del (including probe-chain repair), growth by rehash, and
 * foreach with early stop; checked against a simple reference model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "route_table.h"

static struct rr_route mk(const char *host, const char *ep)
{
    struct rr_route rt;

    memset(&rt, 0, sizeof(rt));
    snprintf(rt.host, sizeof(rt.host), "%s", host);
    snprintf(rt.ep, sizeof(rt.ep), "%s", ep);
    rt.ka = RR_KA_DEFAULT;
    return rt;
}

static void test_put_get_del(void **state)
{
    struct route_table *t = route_table_new(0);
    struct rr_route a = mk("alice.proxy.localhost", "alice");
    const struct rr_route *g;

    (void)state;
    assert_non_null(t);
    assert_null(route_table_get(t, "alice.proxy.localhost"));
    assert_int_equal(route_table_put(t, &a), 0);
    g = route_table_get(t, "alice.proxy.localhost");
    assert_non_null(g);
    assert_string_equal(g->ep, "alice");
    strcpy(a.reg_path, "/reg/2/");
    assert_int_equal(route_table_put(t, &a), 0);                   /* replace */
    assert_true(route_table_get(t, "alice.proxy.localhost") == g); /* in the same place */
    assert_int_equal(route_table_count(t), 1);
    assert_string_equal(route_table_get(t, "alice.proxy.localhost")->reg_path, "/reg/2/");
    assert_int_equal(route_table_del(t, "bob.proxy.localhost"), -1);
    assert_int_equal(route_table_del(t, "alice.proxy.localhost"), 0);
    assert_int_equal(route_table_del(t, "alice.proxy.localhost"), -1);
    assert_int_equal(route_table_count(t), 0);
    assert_null(route_table_get(t, "alice.proxy.localhost"));
    route_table_free(t);
    route_table_free(NULL);
}

static void test_grow_and_churn(void **state)
{
    enum { N = 5000 };
    static bool present[N];
    struct route_table *t = route_table_new(4);
    char host[64];

    (void)state;
    for (int i = 0; i < N; i++) {
        snprintf(host, sizeof(host), "ep%d.proxy.localhost", i);
        struct rr_route rt = mk(host, host);
        assert_int_equal(route_table_put(t, &rt), 0);
        present[i] = true;
    }
    assert_int_equal(route_table_count(t), N);
    /* delete every third, then re-add every ninth: exercises shifting */
    for (int i = 0; i < N; i += 3) {
        snprintf(host, sizeof(host), "ep%d.proxy.localhost", i);
        assert_int_equal(route_table_del(t, host), 0);
        present[i] = false;
    }
    for (int i = 0; i < N; i += 9) {
        snprintf(host, sizeof(host), "ep%d.proxy.localhost", i);
        struct rr_route rt = mk(host, "again");
        assert_int_equal(route_table_put(t, &rt), 0);
        present[i] = true;
    }
    size_t want = 0;
    for (int i = 0; i < N; i++) {
        snprintf(host, sizeof(host), "ep%d.proxy.localhost", i);
        const struct rr_route *g = route_table_get(t, host);
        if (present[i]) {
            want++;
            assert_non_null(g);
            assert_string_equal(g->host, host);
        } else {
            assert_null(g);
        }
    }
    assert_int_equal(route_table_count(t), want);
    route_table_free(t);
}

struct visit {
    size_t seen, stop_after;
};

static int visit_fn(const struct rr_route *rt, void *arg)
{
    struct visit *v = arg;

    assert_non_null(strstr(rt->host, ".proxy.localhost"));
    v->seen++;
    return v->stop_after && v->seen >= v->stop_after;
}

static void test_foreach(void **state)
{
    struct route_table *t = route_table_new(100);
    struct visit v = {0, 0};
    char host[64];

    (void)state;
    for (int i = 0; i < 50; i++) {
        snprintf(host, sizeof(host), "h%d.proxy.localhost", i);
        struct rr_route rt = mk(host, "x");
        route_table_put(t, &rt);
    }
    route_table_foreach(t, visit_fn, &v);
    assert_int_equal(v.seen, 50);
    v.seen = 0;
    v.stop_after = 7;
    route_table_foreach(t, visit_fn, &v);
    assert_int_equal(v.seen, 7);
    route_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_grow_and_churn),
        cmocka_unit_test(test_foreach),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
