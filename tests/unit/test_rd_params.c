/*
 * test_rd_params.c - unit tests for rd-frontend/rd_params.c: registration
 * query parsing (ep, d, lt, base, proxy, ka, extra attributes) and every
 * rejection (missing/empty/long/control-character names, lt range and
 * syntax, repeated single-valued parameters, bad proxy values, bad base),
 * repeated extra attributes kept in order (et twice, RFC 9176 §9.3.1), lookup query
 * parsing (filters, page/count, page without count), DNS label rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "frontend.h"

/* Build a request whose Uri-Query options are the given strings. */
static void req_with(struct coap_msg *m, const char **qs)
{
    coap_msg_init(m);
    m->code = COAP_POST;
    for (; *qs; qs++)
        assert_int_equal(coap_msg_add_opt(m, COAP_OPT_URI_QUERY, *qs, (uint16_t)strlen(*qs)), 0);
}

static int parse(const char **qs, struct rd_params *p, char *err, size_t errlen)
{
    struct coap_msg m;

    req_with(&m, qs);
    return rd_params_parse(&m, p, err, errlen);
}

static void expect_bad(const char **qs, const char *diag)
{
    struct rd_params p;
    char err[128] = "";

    if (parse(qs, &p, err, sizeof(err)) != -1)
        fail_msg("accepted %s", qs[0]);
    if (diag && strstr(err, diag) == NULL)
        fail_msg("diagnostic \"%s\" lacks \"%s\"", err, diag);
}

static void test_full_registration_query(void **state)
{
    const char *qs[] = {"ep=node1",
                        "d=floor-3",
                        "lt=600",
                        "base=coap://[2001:db8::1]:61616",
                        "et=tag:example.com,2020:platform",
                        "proxy=yes",
                        "ka=0",
                        "flag",
                        NULL};
    struct rd_params p;
    char err[128];
    (void)state;

    assert_int_equal(parse(qs, &p, err, sizeof(err)), 0);
    assert_true(p.has_ep && p.has_d && p.has_lt && p.has_base && p.has_proxy && p.has_ka);
    assert_string_equal(p.ep, "node1");
    assert_string_equal(p.d, "floor-3");
    assert_int_equal(p.lt, 600);
    assert_string_equal(p.base, "coap://[2001:db8::1]:61616");
    assert_int_equal(p.proxy, RD_PROXY_YES);
    assert_false(p.proxy_on);
    assert_int_equal(p.ka, 0);
    assert_int_equal(p.nattrs, 2);
    assert_string_equal(p.attrs[0].name, "et");
    assert_string_equal(p.attrs[0].value, "tag:example.com,2020:platform");
    assert_string_equal(p.attrs[1].name, "flag");
    assert_false(p.attrs[1].has_value);
}

static void test_defaults_and_proxy_values(void **state)
{
    const char *q1[] = {"ep=RIOT-0123ABCD", "proxy=on", NULL};
    const char *q2[] = {"ep=x", "proxy=ondemand", NULL};
    const char *q3[] = {"ep=x", "lt=4294967295", NULL};
    const char *q4[] = {"ep=x", "lt=1", NULL};
    struct rd_params p;
    char err[128];
    (void)state;

    assert_int_equal(parse(q1, &p, err, sizeof(err)), 0);
    assert_int_equal(p.proxy, RD_PROXY_YES);
    assert_true(p.proxy_on);
    assert_false(p.has_lt);
    assert_int_equal(p.ka, RR_KA_DEFAULT);
    assert_int_equal(parse(q2, &p, err, sizeof(err)), 0);
    assert_int_equal(p.proxy, RD_PROXY_ONDEMAND);
    assert_int_equal(parse(q3, &p, err, sizeof(err)), 0);
    assert_true(p.lt == 4294967295u);
    assert_int_equal(parse(q4, &p, err, sizeof(err)), 0);
    assert_int_equal(p.lt, 1);
}

static void test_bad_lifetimes(void **state)
{
    (void)state;
    expect_bad((const char *[]){"ep=x", "lt=0", NULL}, "lt");
    expect_bad((const char *[]){"ep=x", "lt=4294967296", NULL}, "lt");
    expect_bad((const char *[]){"ep=x", "lt=99999999999", NULL}, "lt");
    expect_bad((const char *[]){"ep=x", "lt=abc", NULL}, "lt");
    expect_bad((const char *[]){"ep=x", "lt=-5", NULL}, "lt");
    expect_bad((const char *[]){"ep=x", "lt=", NULL}, "lt");
    expect_bad((const char *[]){"ep=x", "lt=1e3", NULL}, "lt");
}

static void test_bad_names(void **state)
{
    char long_ep[80], ok_ep[80];
    (void)state;

    snprintf(long_ep, sizeof(long_ep), "ep=%064d", 0); /* 64 bytes */
    snprintf(ok_ep, sizeof(ok_ep), "ep=%063d", 0);     /* 63 bytes */
    expect_bad((const char *[]){long_ep, NULL}, "63");
    expect_bad((const char *[]){"ep=a\x01"
                                "b",
                                NULL},
               "control");
    expect_bad((const char *[]){"ep=a\x7f", NULL}, "control");
    expect_bad((const char *[]){"ep=a\xc2\x85", NULL}, "control"); /* U+0085 */
    expect_bad((const char *[]){"ep=x", "d=\x1f", NULL}, "control");
    expect_bad((const char *[]){"ep=", NULL}, "ep");
    struct rd_params p;
    char err[128];
    assert_int_equal(parse((const char *[]){ok_ep, NULL}, &p, err, sizeof(err)), 0);
    /* non-control UTF-8 is fine: U+00E9 */
    assert_int_equal(parse((const char *[]){"ep=caf\xc3\xa9", NULL}, &p, err, sizeof(err)), 0);
    assert_int_equal(parse((const char *[]){"ep=\xf0\x9f\x98\x80", NULL}, &p, err, sizeof(err)), 0);
    /* not UTF-8: a lone continuation byte, a cut sequence, an overlong '/',
     * a surrogate, beyond U+10FFFF, Latin-1 */
    expect_bad((const char *[]){"ep=a\x80", NULL}, "UTF-8");
    expect_bad((const char *[]){"ep=a\xc3", NULL}, "UTF-8");
    expect_bad((const char *[]){"ep=\xc0\xaf", NULL}, "UTF-8");
    expect_bad((const char *[]){"ep=\xed\xa0\x80", NULL}, "UTF-8");
    expect_bad((const char *[]){"ep=\xf4\x90\x80\x80", NULL}, "UTF-8");
    expect_bad((const char *[]){"ep=x", "d=caf\xe9", NULL}, "UTF-8");
    expect_bad((const char *[]){"ep=x", "et=\xff", NULL}, "UTF-8");
    /* sec= is kept apart: never an attribute */
    assert_int_equal(parse((const char *[]){"ep=x", "sec=s", "et=a", NULL}, &p, err, sizeof(err)),
                     0);
    assert_true(p.has_sec);
    assert_string_equal(p.sec, "s");
    assert_int_equal(p.nattrs, 1);
    expect_bad((const char *[]){"ep=x", "sec=a", "sec=b", NULL}, "more than once");
}

static void test_repeats_and_values(void **state)
{
    (void)state;
    expect_bad((const char *[]){"ep=a", "ep=b", NULL}, "more than once");
    expect_bad((const char *[]){"ep=a", "lt=5", "lt=5", NULL}, "more than once");
    expect_bad((const char *[]){"ep=a", "d=x", "d=y", NULL}, "more than once");
    expect_bad((const char *[]){"ep=a", "base=coap://h", "base=coap://h", NULL}, "more than once");
    expect_bad((const char *[]){"ep=a", "proxy=yes", "proxy=yes", NULL}, "more than once");
    expect_bad((const char *[]){"ep=a", "ka=1", "ka=1", NULL}, "more than once");
    expect_bad((const char *[]){"ep=a", "proxy=maybe", NULL}, "proxy");
    expect_bad((const char *[]){"ep=a", "proxy=", NULL}, "proxy");
    expect_bad((const char *[]){"ep=a", "base=not a uri", NULL}, "base");
    expect_bad((const char *[]){"ep=a", "base=/relative", NULL}, "base");
    expect_bad((const char *[]){"ep=a", "ka=x", NULL}, "ka");
    expect_bad((const char *[]){"=x", NULL}, NULL);
}

/* RFC 9176 §9.3.1: several endpoint types are several et parameters. */
static void test_repeated_extra_attributes(void **state)
{
    struct rd_params p;
    char err[128] = "";
    (void)state;

    assert_int_equal(parse((const char *[]){"ep=a", "et=a.b", "lt=60", "et=c.d", "x=1", "x", NULL},
                           &p, err, sizeof(err)),
                     0);
    assert_int_equal(p.nattrs, 4);
    assert_string_equal(p.attrs[0].name, "et");
    assert_string_equal(p.attrs[0].value, "a.b");
    assert_string_equal(p.attrs[1].name, "et");
    assert_string_equal(p.attrs[1].value, "c.d");
    assert_string_equal(p.attrs[2].value, "1");
    assert_true(p.attrs[2].has_value);
    assert_string_equal(p.attrs[3].name, "x");
    assert_false(p.attrs[3].has_value);
    assert_true(p.has_lt);
}

static void test_lookup_query(void **state)
{
    struct coap_msg m;
    struct rd_query q;
    char err[128];
    (void)state;

    req_with(&m, (const char *[]){"rt=temp*", "page=2", "count=5", "obs", NULL});
    assert_int_equal(rd_query_parse(&m, &q, err, sizeof(err)), 0);
    assert_int_equal(q.nf, 2);
    assert_string_equal(q.f[0].name, "rt");
    assert_string_equal(q.f[0].value, "temp*");
    assert_false(q.f[1].has_value);
    assert_true(q.has_page && q.has_count);
    assert_int_equal(q.page, 2);
    assert_int_equal(q.count, 5);
    req_with(&m, (const char *[]){"page=1", NULL});
    assert_int_equal(rd_query_parse(&m, &q, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "count"));
    req_with(&m, (const char *[]){"count=x", NULL});
    assert_int_equal(rd_query_parse(&m, &q, err, sizeof(err)), -1);
    req_with(&m, (const char *[]){"count=3", "count=4", NULL});
    assert_int_equal(rd_query_parse(&m, &q, err, sizeof(err)), -1);
    req_with(&m, (const char *[]){"count=3", NULL});
    assert_int_equal(rd_query_parse(&m, &q, err, sizeof(err)), 0);
    assert_false(q.has_page);
}

static void test_dns_labels(void **state)
{
    char l63[64], l64[65];
    (void)state;

    memset(l63, 'a', 63);
    l63[63] = '\0';
    memset(l64, 'a', 64);
    l64[64] = '\0';
    assert_true(rd_is_dns_label("alice"));
    assert_true(rd_is_dns_label("RIOT-0123ABCD"));
    assert_true(rd_is_dns_label("a1-b2"));
    assert_true(rd_is_dns_label(l63));
    assert_false(rd_is_dns_label(l64));
    assert_false(rd_is_dns_label(""));
    assert_false(rd_is_dns_label("-a"));
    assert_false(rd_is_dns_label("a-"));
    assert_false(rd_is_dns_label("a.b"));
    assert_false(rd_is_dns_label("a_b"));
    assert_false(rd_is_dns_label("caf\xc3\xa9"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_registration_query),
        cmocka_unit_test(test_defaults_and_proxy_values),
        cmocka_unit_test(test_bad_lifetimes),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_repeats_and_values),
        cmocka_unit_test(test_repeated_extra_attributes),
        cmocka_unit_test(test_lookup_query),
        cmocka_unit_test(test_dns_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
