/*
 * test_fwd_rules.c - the one request classification every relay applies
 * (common/fwd_rules.c fwd_classify, issue 15 item 5), table-driven: the
 * Uri-Host (absent, IP literal, the proxy domain, a name under it with and
 * without a trailing dot, upper case, an unknown name with rd_names set, too
 * long), forward-proxy options and an unknown critical option on a request
 * for the RD (4.02 on every transport) or for a proxied name (passes: the
 * proxy's own unsafe-option check decides there) -> the verdict, the
 * normalised host and the answer code.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "fwd_rules.h"
#include "route_table.h"

struct classify_case {
    const char *uri_host; /* NULL: no Uri-Host */
    uint16_t extra_opt;   /* 0: none; else added with a 1-byte value */
    const char *rd_names;
    enum fwd_verdict want;
    const char *want_host; /* for RD/PROXY */
    uint8_t want_code;     /* for the others */
};

static const struct classify_case cases[] = {
    {NULL, 0, "", FWD_V_RD, "", 0},
    {"192.0.2.1", 0, "", FWD_V_RD, "192.0.2.1", 0},
    {"[2001:db8::1]", 0, "", FWD_V_RD, "[2001:db8::1]", 0},
    {"proxy.localhost", 0, "", FWD_V_RD, "proxy.localhost", 0},
    {"proxy.localhost.", 0, "", FWD_V_RD, "proxy.localhost", 0},
    {"alice.proxy.localhost", 0, "", FWD_V_PROXY, "alice.proxy.localhost", 0},
    /* the disagreement: a trailing dot names the same host on every relay */
    {"alice.proxy.localhost.", 0, "", FWD_V_PROXY, "alice.proxy.localhost", 0},
    {"ALICE.Proxy.LocalHost.", 0, "", FWD_V_PROXY, "alice.proxy.localhost", 0},
    {"rd.example.net", 0, "rd.example.net", FWD_V_RD, "rd.example.net", 0},
    {"rd.example.net.", 0, "rd.example.net", FWD_V_RD, "rd.example.net", 0},
    {"other.example.net", 0, "rd.example.net", FWD_V_UNKNOWN_HOST, NULL,
     COAP_PROXYING_NOT_SUPPORTED},
    {"other.example.net", 0, "", FWD_V_RD, "other.example.net", 0},
    /* the other disagreement: the RD's critical-option check, everywhere */
    {NULL, 65001, "", FWD_V_BAD_CRITICAL, NULL, COAP_BAD_OPTION},
    {"proxy.localhost", 65001, "", FWD_V_BAD_CRITICAL, NULL, COAP_BAD_OPTION},
    {NULL, 65000, "", FWD_V_RD, "", 0}, /* unknown elective: ignored */
    {"alice.proxy.localhost", 65001, "", FWD_V_PROXY, "alice.proxy.localhost", 0},
    {NULL, COAP_OPT_PROXY_URI, "", FWD_V_FORWARD_PROXY, NULL, COAP_PROXYING_NOT_SUPPORTED},
    {"alice.proxy.localhost", COAP_OPT_PROXY_SCHEME, "", FWD_V_FORWARD_PROXY, NULL,
     COAP_PROXYING_NOT_SUPPORTED},
};

static void test_classify(void **state)
{
    char longname[RR_HOST_MAX + 8];
    (void)state;

    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const struct classify_case *tc = &cases[k];
        struct rr_config c;
        struct coap_msg m;
        char err[128], host[RR_HOST_MAX], diag[64];
        uint16_t bad = 0;
        uint8_t one = 1;

        config_defaults(&c);
        snprintf(c.proxy_domain, sizeof(c.proxy_domain), "proxy.localhost");
        snprintf(c.rd_names, sizeof(c.rd_names), "%s", tc->rd_names);
        assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
        coap_msg_init(&m);
        m.code = COAP_GET;
        if (tc->uri_host)
            coap_msg_add_opt(&m, COAP_OPT_URI_HOST, tc->uri_host, strlen(tc->uri_host));
        if (tc->extra_opt)
            coap_msg_add_opt(&m, tc->extra_opt, &one, 1);
        enum fwd_verdict v = fwd_classify(&m, &c, host, sizeof(host), &bad);
        print_message("case %zu: %s +%u\n", k, tc->uri_host ? tc->uri_host : "(none)",
                      tc->extra_opt);
        assert_int_equal(v, tc->want);
        if (tc->want_host)
            assert_string_equal(host, tc->want_host);
        else
            assert_int_equal(fwd_verdict_answer(v, bad, diag, sizeof(diag)), tc->want_code);
        if (v == FWD_V_BAD_CRITICAL) {
            assert_int_equal(bad, tc->extra_opt);
            assert_non_null(strstr(diag, "65001"));
        }
    }

    /* a Uri-Host longer than any route name */
    struct rr_config c;
    struct coap_msg m;
    char err[128], host[RR_HOST_MAX], diag[64];
    uint16_t bad = 0;
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    config_defaults(&c);
    config_finish(&c, err, sizeof(err));
    coap_msg_init(&m);
    coap_msg_add_opt(&m, COAP_OPT_URI_HOST, longname, strlen(longname));
    assert_int_equal(fwd_classify(&m, &c, host, sizeof(host), &bad), FWD_V_HOST_TOO_LONG);
    assert_int_equal(fwd_verdict_answer(FWD_V_HOST_TOO_LONG, 0, diag, sizeof(diag)),
                     COAP_PROXYING_NOT_SUPPORTED);

    /* bytes no host name has: 4.00, never the RD nor a route */
    static const char *const bad_hosts[] = {
        "a\x01b", "a b.proxy.localhost", "x/y", "\xc3\xa9t\xc3\xa9", "u@h", "h?q", "\x7f"};
    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
        coap_msg_init(&m);
        coap_msg_add_opt(&m, COAP_OPT_URI_HOST, bad_hosts[i], strlen(bad_hosts[i]));
        assert_int_equal(fwd_classify(&m, &c, host, sizeof(host), &bad), FWD_V_BAD_HOST);
    }
    assert_int_equal(fwd_verdict_answer(FWD_V_BAD_HOST, 0, diag, sizeof(diag)), COAP_BAD_REQUEST);
    static const char *const good_hosts[] = {"rd.example.net", "192.0.2.1", "[2001:db8::1]",
                                             "under_score.example", "alice.proxy.localhost."};
    for (size_t i = 0; i < sizeof(good_hosts) / sizeof(good_hosts[0]); i++) {
        coap_msg_init(&m);
        coap_msg_add_opt(&m, COAP_OPT_URI_HOST, good_hosts[i], strlen(good_hosts[i]));
        assert_int_not_equal(fwd_classify(&m, &c, host, sizeof(host), &bad), FWD_V_BAD_HOST);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
