/*
 * test_lookup.c - unit tests for rd-frontend/lookup.c: value matching
 * (exact, trailing-* prefix, list attributes), URI resolution against a
 * base, endpoint and resource lookup with filters ANDed over registration
 * and link attributes, href in path and URI form, page/count with filters,
 * expired registrations hidden, proxy/reachability attributes, anchors
 * only where registered, repeated attributes, and the filtered
 * /.well-known/core document.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "frontend.h"

static struct frontend *fe_new(void)
{
    static struct frontend fe;
    struct rr_config cfg;

    config_defaults(&cfg);
    assert_int_equal(frontend_init(&fe, &cfg, ":memory:"), 0);
    fe.now = 1000000;
    return &fe;
}

static struct rd_reg *add(struct frontend *fe, int64_t id, const char *ep, const char *d,
                          const char *base, const char *links)
{
    struct rd_reg *r = reg_new();
    char err[64];

    r->id = id;
    assert_int_equal(reg_set_names(r, ep, NULL, NULL, NULL), 0);
    assert_int_equal(reg_set_names(r, NULL, d, NULL, NULL), 0);
    assert_int_equal(reg_set_names(r, NULL, NULL, base, NULL), 0);
    r->expires_at = fe->now + 100000;
    assert_int_equal(reg_set_links(r, links, strlen(links), err, sizeof(err)), 0);
    assert_int_equal(registry_insert(&fe->reg, r), 0);
    return r;
}

/* Run a lookup with the given query strings; returns the payload (static). */
static const char *run(struct frontend *fe, bool res, const char **qs)
{
    static char out[4096];
    struct coap_msg m;
    struct rd_query q;
    struct strbuf sb;
    char err[128];

    coap_msg_init(&m);
    for (; qs && *qs; qs++)
        assert_int_equal(coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, *qs, (uint16_t)strlen(*qs)), 0);
    assert_int_equal(rd_query_parse(&m, &q, err, sizeof(err)), 0);
    sb_init(&sb);
    lookup_run(fe, res, &q, &sb);
    snprintf(out, sizeof(out), "%s", sb.buf ? sb.buf : "");
    sb_free(&sb);
    return out;
}

#define Q(...) ((const char *[]){__VA_ARGS__, NULL})

static void setup_three(struct frontend *fe)
{
    struct rd_reg *r;

    r = add(fe, 1, "node1", "", "coap://[2001:db8::1]:61616",
            "</temp>;rt=temperature-c;if=sensor,</light>;rt=\"light-lux core.s\"");
    assert_int_equal(reg_set_attr(r, "et", "tag:example.com,2020:platform", true), 0);
    assert_int_equal(registry_changed(&fe->reg, r), 0); /* the lookup index follows */
    r = add(fe, 2, "node2", "floor-3", "coap://192.0.2.2",
            "</temp>;rt=temperature-c,<http://www.example.com/t>;anchor=\"/temp\";rel=describedby");
    add(fe, 3, "other", "", "coap://192.0.2.3:5683", "</x>;ct=40");
}

static void test_value_match(void **state)
{
    (void)state;
    assert_true(lookup_value_match("abc", "abc"));
    assert_false(lookup_value_match("abc", "abcd"));
    assert_true(lookup_value_match("ab*", "abcd"));
    assert_true(lookup_value_match("*", "anything"));
    assert_true(lookup_value_match("*", ""));
    assert_false(lookup_value_match("b*", "abc"));
}

static void test_resolve(void **state)
{
    char out[256];
    (void)state;

    lookup_resolve("coap://h:1", "/a/b", out, sizeof(out));
    assert_string_equal(out, "coap://h:1/a/b");
    lookup_resolve("coap://h:1", "a", out, sizeof(out));
    assert_string_equal(out, "coap://h:1/a");
    lookup_resolve("coap://h:1/dir/file", "x", out, sizeof(out));
    assert_string_equal(out, "coap://h:1/dir/x");
    lookup_resolve("coap://h:1/dir/file", "/y", out, sizeof(out));
    assert_string_equal(out, "coap://h:1/y");
    lookup_resolve("coap://h:1", "http://e.com/z", out, sizeof(out));
    assert_string_equal(out, "http://e.com/z");
    lookup_resolve("coap://h:1", "", out, sizeof(out));
    assert_string_equal(out, "coap://h:1");
    lookup_resolve("coap://h:1", "//other/p", out, sizeof(out));
    assert_string_equal(out, "coap://other/p");
}

static void test_endpoint_lookup_filters(void **state)
{
    struct frontend *fe = fe_new();
    (void)state;

    setup_three(fe);
    /* no filter: all three, registration attributes shown */
    const char *all = run(fe, false, NULL);
    assert_non_null(
        strstr(all, "</reg/1>;ep=\"node1\";base=\"coap://[2001:db8::1]:61616\";rt=\"core.rd-ep\""));
    assert_non_null(strstr(all, "et=\"tag:example.com,2020:platform\""));
    assert_non_null(strstr(all, "</reg/2>;ep=\"node2\";d=\"floor-3\""));
    assert_non_null(strstr(all, "</reg/3>"));
    assert_string_equal(
        run(fe, false, Q("ep=node2")),
        "</reg/2>;ep=\"node2\";d=\"floor-3\";base=\"coap://192.0.2.2\";rt=\"core.rd-ep\""
        ";expires=\"1970-01-01T00:18:20Z\"");
    /* AND of registration attribute and link attribute */
    const char *r = run(fe, false, Q("ep=node*", "rt=temperature-c"));
    assert_non_null(strstr(r, "</reg/1>"));
    assert_non_null(strstr(r, "</reg/2>"));
    assert_null(strstr(r, "</reg/3>"));
    r = run(fe, false, Q("ep=node*", "d=floor-3"));
    assert_null(strstr(r, "</reg/1>"));
    assert_non_null(strstr(r, "</reg/2>"));
    /* list-valued rt matches any item */
    r = run(fe, false, Q("rt=core.s"));
    assert_non_null(strstr(r, "</reg/1>"));
    assert_null(strstr(r, "</reg/2>"));
    /* et and base are filters too */
    assert_non_null(strstr(run(fe, false, Q("et=tag:example.com,2020:platform")), "</reg/1>"));
    assert_null(strstr(run(fe, false, Q("et=tag:example.com,2020:platform")), "</reg/2>"));
    assert_non_null(strstr(run(fe, false, Q("base=coap://192.0.2.2")), "</reg/2>"));
    assert_string_equal(run(fe, false, Q("base=coap://192.0.2.9")), "");
    /* filters that nothing has */
    assert_string_equal(run(fe, false, Q("ep=node1", "d=floor-3")), "");
    assert_string_equal(run(fe, false, Q("nosuch=1")), "");
    frontend_free(fe);
}

static void test_repeated_attrs(void **state)
{
    struct frontend *fe = fe_new();
    struct rd_reg *r;
    (void)state;

    r = add(fe, 1, "multi", "", "coap://192.0.2.1", "</a>");
    assert_int_equal(reg_add_attr(r, "et", "a.b", true), 0);
    assert_int_equal(reg_add_attr(r, "et", "c.d", true), 0);
    assert_int_equal(registry_changed(&fe->reg, r), 0);
    add(fe, 2, "none", "", "coap://192.0.2.2", "</b>");
    const char *want = "</reg/1>;ep=\"multi\";base=\"coap://192.0.2.1\";rt=\"core.rd-ep\";"
                       "et=\"a.b\";et=\"c.d\";expires=\"1970-01-01T00:18:20Z\"";
    assert_string_equal(run(fe, false, Q("et=a.b")), want);
    assert_string_equal(run(fe, false, Q("et=c.d")), want);
    assert_string_equal(run(fe, false, Q("et=c.*")), want);
    assert_string_equal(run(fe, false, Q("et=a.b", "et=c.d")), want);
    assert_string_equal(run(fe, false, Q("et=a.b", "et=x")), "");
    assert_string_equal(run(fe, true, Q("et=c.d")), "<coap://192.0.2.1/a>");
    frontend_free(fe);
}

static void test_href_forms(void **state)
{
    struct frontend *fe = fe_new();
    const char *r;
    (void)state;

    setup_three(fe);
    r = run(fe, false, Q("href=/reg/2"));
    assert_string_equal(strstr(r, "</reg/2>") == r ? "ok" : r, "ok");
    assert_null(strstr(r, "</reg/1>"));
    r = run(fe, false, Q("href=/reg/2/"));
    assert_non_null(strstr(r, "</reg/2>"));
    assert_null(strstr(r, "</reg/3>"));
    r = run(fe, false, Q("href=coap://rd.example:5683/reg/3"));
    assert_non_null(strstr(r, "</reg/3>"));
    assert_null(strstr(r, "</reg/2>"));
    r = run(fe, false, Q("href=/reg/*", "ep=other"));
    assert_non_null(strstr(r, "</reg/3>"));
    assert_null(strstr(r, "</reg/1>"));
    /* resource lookup: href in URI form matches the resolved target */
    r = run(fe, true, Q("href=coap://192.0.2.2/temp"));
    assert_string_equal(r, "<coap://192.0.2.2/temp>;rt=\"temperature-c\"");
    /* and the registration resource in path form selects its links */
    r = run(fe, true, Q("href=/reg/3"));
    assert_string_equal(r, "<coap://192.0.2.3:5683/x>;ct=40");
    frontend_free(fe);
}

static void test_resource_lookup_resolution(void **state)
{
    struct frontend *fe = fe_new();
    const char *r;
    (void)state;

    setup_three(fe);
    r = run(fe, true, Q("ep=node2"));
    assert_string_equal(r, "<coap://192.0.2.2/temp>;rt=\"temperature-c\","
                           "<http://www.example.com/t>;rel=describedby;"
                           "anchor=\"coap://192.0.2.2/temp\"");
    /* an endpoint attribute selects the endpoint's links */
    r = run(fe, true, Q("et=tag:example.com,2020:platform", "if=sensor"));
    assert_string_equal(r, "<coap://[2001:db8::1]:61616/temp>;rt=\"temperature-c\";if=\"sensor\"");
    r = run(fe, true, Q("anchor=coap://192.0.2.2/temp"));
    assert_non_null(strstr(r, "<http://www.example.com/t>"));
    assert_null(strstr(r, "<coap://192.0.2.2/temp>"));
    /* RFC 9176 §6.1: no anchor was registered, so none is shown or matched
     * (issue 15 item 2: the target's origin used to be added) */
    assert_null(strstr(run(fe, true, Q("ep=node1")), "anchor"));
    assert_string_equal(run(fe, true, Q("anchor=coap://[2001:db8::1]:61616")), "");
    assert_string_equal(run(fe, true, Q("anchor=*")), "<http://www.example.com/t>;rel=describedby;"
                                                      "anchor=\"coap://192.0.2.2/temp\"");
    frontend_free(fe);
}

static void test_paging(void **state)
{
    struct frontend *fe = fe_new();
    const char *r;
    (void)state;

    setup_three(fe);
    r = run(fe, true, Q("count=2"));
    assert_non_null(strstr(r, "/temp>"));
    assert_non_null(strstr(r, "/light>"));
    assert_null(strstr(r, "192.0.2.2"));
    r = run(fe, true, Q("page=1", "count=2"));
    assert_string_equal(strchr(r, ',') ? "two" : "one", "two");
    assert_non_null(strstr(r, "<coap://192.0.2.2/temp>"));
    assert_non_null(strstr(r, "<http://www.example.com/t>"));
    r = run(fe, true, Q("page=2", "count=2"));
    assert_string_equal(r, "<coap://192.0.2.3:5683/x>;ct=40");
    assert_string_equal(run(fe, true, Q("page=3", "count=2")), "");
    /* paging applies after filtering */
    r = run(fe, false, Q("ep=node*", "page=1", "count=1"));
    assert_non_null(strstr(r, "</reg/2>"));
    assert_null(strstr(r, "</reg/1>"));
    assert_string_equal(run(fe, false, Q("count=0")), "");
    frontend_free(fe);
}

static void test_expired_hidden_and_proxy_attrs(void **state)
{
    struct frontend *fe = fe_new();
    struct rd_reg *r1, *r2;
    const char *r;
    (void)state;

    r1 = add(fe, 1, "gone", "", "coap://192.0.2.1", "</a>");
    r1->expires_at = fe->now; /* expires exactly now */
    r2 = add(fe, 2, "alice", "", "coap://alice.proxy.localhost", "</hello>");
    r2->proxy = RD_PROXY_YES;
    assert_int_equal(reg_set_names(r2, NULL, NULL, NULL, "alice.proxy.localhost"), 0);
    r2->peer.transport = RR_TRANSPORT_TCP;
    r2->peer.relay = (uint16_t)proto_relay_intern("tcp-b");
    r = run(fe, false, NULL);
    assert_null(strstr(r, "</reg/1>"));
    /* the path back and the end of the lifetime (the status page shows them) */
    assert_string_equal(r, "</reg/2>;ep=\"alice\";base=\"coap://alice.proxy.localhost\";"
                           "rt=\"core.rd-ep\";proxy=\"yes\";host=\"alice.proxy.localhost\";"
                           "transport=\"tcp\";relay=\"tcp-b\";expires=\"1970-01-01T00:18:20Z\"");
    /* and they are filters like every other attribute shown */
    assert_non_null(strstr(run(fe, false, Q("host=alice.proxy.localhost")), "</reg/2>"));
    assert_non_null(strstr(run(fe, false, Q("transport=tcp", "relay=tcp-*")), "</reg/2>"));
    assert_non_null(strstr(run(fe, false, Q("expires=1970-01-01T00:18:20Z")), "</reg/2>"));
    assert_string_equal(run(fe, false, Q("transport=udp")), "");
    assert_non_null(strstr(run(fe, true, Q("transport=tcp")), "/hello>"));
    assert_string_equal(run(fe, true, Q("ep=gone")), "");
    r2->unreachable = true;
    r2->unreachable_since = 0;
    r = run(fe, false, Q("proxy=yes"));
    assert_string_equal(r,
                        "</reg/2>;ep=\"alice\";base=\"coap://alice.proxy.localhost\";"
                        "rt=\"core.rd-ep\";proxy=\"yes\";reachable=\"no\";"
                        "unreachable-since=\"1970-01-01T00:00:00Z\";host=\"alice.proxy.localhost\";"
                        "transport=\"tcp\";relay=\"tcp-b\";expires=\"1970-01-01T00:18:20Z\"");
    assert_non_null(strstr(run(fe, false, Q("reachable=no")), "</reg/2>"));
    assert_non_null(strstr(run(fe, false, Q("unreachable-since=1970-*")), "</reg/2>"));
    /* reachable again: since when (the time the relay said so) */
    r2->unreachable = false;
    r2->reachable_since = 2000;
    r = run(fe, false, Q("reachable-since=1970-01-01T00:00:02Z"));
    assert_non_null(strstr(r, ";proxy=\"yes\";reachable-since=\"1970-01-01T00:00:02Z\";host="));
    assert_string_equal(run(fe, false, Q("unreachable-since=1970-*")), "");
    frontend_free(fe);
}

static void test_ep_index(void **state)
{
    struct frontend *fe = fe_new();
    const char *r;
    (void)state;

    /* the same ep in two sectors, inserted out of id order */
    add(fe, 7, "dup", "b", "coap://192.0.2.7", "</b>");
    add(fe, 4, "dup", "a", "coap://192.0.2.4", "</a>");
    add(fe, 5, "dupe", "", "coap://192.0.2.5", "</c>");
    r = run(fe, false, Q("ep=dup"));
    assert_string_equal(r, "</reg/4>;ep=\"dup\";d=\"a\";base=\"coap://192.0.2.4\";rt=\"core.rd-ep\""
                           ";expires=\"1970-01-01T00:18:20Z\","
                           "</reg/7>;ep=\"dup\";d=\"b\";base=\"coap://192.0.2.7\";rt=\"core.rd-ep\""
                           ";expires=\"1970-01-01T00:18:20Z\"");
    r = run(fe, true, Q("ep=dup", "d=b"));
    assert_string_equal(r, "<coap://192.0.2.7/b>");
    r = run(fe, true, Q("ep=dup", "page=1", "count=1"));
    assert_string_equal(r, "<coap://192.0.2.7/b>");
    assert_string_equal(run(fe, false, Q("ep=du")), "");
    /* index follows removal */
    struct rd_reg *x = registry_by_id(&fe->reg, 4);
    registry_remove(&fe->reg, x);
    reg_free(x);
    assert_null(strstr(run(fe, false, Q("ep=dup")), "</reg/4>"));
    assert_non_null(strstr(run(fe, false, Q("ep=dup*")), "</reg/5>"));
    frontend_free(fe);
}

static void test_discovery(void **state)
{
    struct frontend *fe = fe_new();
    struct coap_msg m;
    struct rd_query q;
    struct strbuf sb;
    char err[64];
    (void)state;

    coap_msg_init(&m);
    sb_init(&sb);
    assert_int_equal(rd_query_parse(&m, &q, err, sizeof(err)), 0);
    lookup_discovery(fe, &q, &sb);
    assert_string_equal(sb.buf, LOOKUP_WKC);
    sb_reset(&sb);
    coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, "rt=core.rd", 10);
    assert_int_equal(rd_query_parse(&m, &q, err, sizeof(err)), 0);
    lookup_discovery(fe, &q, &sb);
    assert_string_equal(sb.buf, "</rd>;rt=core.rd;ct=40"); /* RIOT wants it short */
    sb_reset(&sb);
    coap_msg_init(&m);
    coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, "rt=core.rd-lookup*", 18);
    assert_int_equal(rd_query_parse(&m, &q, err, sizeof(err)), 0);
    lookup_discovery(fe, &q, &sb);
    assert_string_equal(sb.buf, "</rd-lookup/ep>;rt=core.rd-lookup-ep;ct=40;obs,"
                                "</rd-lookup/res>;rt=core.rd-lookup-res;ct=40;obs");
    sb_free(&sb);
    frontend_free(fe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_match),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_endpoint_lookup_filters),
        cmocka_unit_test(test_repeated_attrs),
        cmocka_unit_test(test_href_forms),
        cmocka_unit_test(test_resource_lookup_resolution),
        cmocka_unit_test(test_paging),
        cmocka_unit_test(test_expired_hidden_and_proxy_attrs),
        cmocka_unit_test(test_ep_index),
        cmocka_unit_test(test_discovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
