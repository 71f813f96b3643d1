/*
 * test_relay_rules.c - unit tests for relay-udp/proxy_rules.c: the routing
 * decision from Uri-Host (RD / proxy / reject, IP literals, rd_names, case,
 * trailing dot), Hop-Limit add/decrement/loop, the option checks (unknown
 * unsafe vs safe, operator's extra options), forward-proxy detection and
 * the relay token encode/decode.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "fwd_rules.h"

static struct rr_config mkcfg(const char *rd_names)
{
    struct rr_config c;
    char err[128];
    config_defaults(&c);
    snprintf(c.proxy_domain, sizeof(c.proxy_domain), "proxy.localhost");
    snprintf(c.rd_names, sizeof(c.rd_names), "%s", rd_names);
    config_finish(&c, err, sizeof(err));
    return c;
}

static void test_decide(void **state)
{
    struct rr_config c = mkcfg("");
    (void)state;

    assert_int_equal(fwd_route_decide("", &c), FWD_DEST_RD);
    assert_int_equal(fwd_route_decide("192.0.2.1", &c), FWD_DEST_RD);
    assert_int_equal(fwd_route_decide("2001:db8::1", &c), FWD_DEST_RD);
    assert_int_equal(fwd_route_decide("[2001:db8::1]", &c), FWD_DEST_RD);
    assert_int_equal(fwd_route_decide("proxy.localhost", &c), FWD_DEST_RD);
    assert_int_equal(fwd_route_decide("alice.proxy.localhost", &c), FWD_DEST_PROXY);
    assert_int_equal(fwd_route_decide("alice.proxy.localhost.", &c), FWD_DEST_PROXY);
    assert_int_equal(fwd_route_decide("alice.lab.proxy.localhost", &c), FWD_DEST_PROXY);
    assert_int_equal(fwd_route_decide(".proxy.localhost", &c), FWD_DEST_RD);
    /* not a label boundary: xproxy.localhost is outside the domain */
    assert_int_equal(fwd_route_decide("xproxy.localhost", &c), FWD_DEST_RD);
    /* rd_names empty: any other name is the RD */
    assert_int_equal(fwd_route_decide("rd.example.net", &c), FWD_DEST_RD);

    struct rr_config n = mkcfg("rd.example.net, RD2.example.net");
    assert_int_equal(fwd_route_decide("rd.example.net", &n), FWD_DEST_RD);
    assert_int_equal(fwd_route_decide("rd2.example.net", &n), FWD_DEST_RD);
    assert_int_equal(fwd_route_decide("other.example.net", &n), FWD_DEST_REJECT);
    assert_int_equal(fwd_route_decide("bob.proxy.localhost", &n), FWD_DEST_PROXY);
    assert_int_equal(fwd_route_decide("192.0.2.7", &n), FWD_DEST_RD);

    struct rr_config off = mkcfg("");
    off.proxy_domain[0] = '\0';
    assert_int_equal(fwd_route_decide("alice.proxy.localhost", &off), FWD_DEST_RD);
}

static void test_ip_literal(void **state)
{
    (void)state;
    assert_true(fwd_host_is_ip_literal("127.0.0.1"));
    assert_true(fwd_host_is_ip_literal("::1"));
    assert_true(fwd_host_is_ip_literal("[fe80::1%eth0]"));
    assert_false(fwd_host_is_ip_literal("[::1"));
    assert_false(fwd_host_is_ip_literal("alice.proxy.localhost"));
    assert_false(fwd_host_is_ip_literal("1.2.3"));
}

static void test_hop_limit(void **state)
{
    struct coap_msg m;
    uint8_t buf[4], v;
    (void)state;

    coap_msg_init(&m);
    m.code = COAP_GET;
    assert_int_equal(fwd_hop_limit_apply(&m, 16, buf), 0);
    assert_int_equal(coap_msg_opt_uint(&m, COAP_OPT_HOP_LIMIT, 0), 16);

    coap_msg_init(&m);
    v = 5;
    coap_msg_add_opt(&m, COAP_OPT_HOP_LIMIT, &v, 1);
    assert_int_equal(fwd_hop_limit_apply(&m, 16, buf), 0);
    assert_int_equal(coap_msg_opt_uint(&m, COAP_OPT_HOP_LIMIT, 0), 4);
    assert_int_equal(v, 5); /* the received bytes are not touched */

    coap_msg_init(&m);
    v = 1;
    coap_msg_add_opt(&m, COAP_OPT_HOP_LIMIT, &v, 1);
    assert_int_equal(fwd_hop_limit_apply(&m, 16, buf), -1);

    coap_msg_init(&m);
    coap_msg_add_opt(&m, COAP_OPT_HOP_LIMIT, NULL, 0); /* value 0 */
    assert_int_equal(fwd_hop_limit_apply(&m, 16, buf), -1);

    /* through a serialised message: the relay's own datagram */
    coap_msg_init(&m);
    m.code = COAP_GET;
    v = 2;
    coap_msg_add_opt(&m, COAP_OPT_HOP_LIMIT, &v, 1);
    assert_int_equal(fwd_hop_limit_apply(&m, 16, buf), 0);
    uint8_t out[64];
    struct coap_msg p;
    ssize_t n = coap_msg_serialize_udp(&m, out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal(coap_msg_parse_udp(out, (size_t)n, &p), 0);
    assert_int_equal(coap_msg_opt_uint(&p, COAP_OPT_HOP_LIMIT, 0), 1);
    assert_int_equal(fwd_hop_limit_apply(&p, 16, buf), -1);

    /* a value longer than one byte counts as 255, not as its low byte
     * (fuzz regression: 0x0201 became 0, 0x0100 became 255) */
    static const uint8_t v2[][2] = {{0x02, 0x01}, {0x01, 0x00}};
    for (unsigned i = 0; i < 2; i++) {
        coap_msg_init(&m);
        m.code = COAP_GET;
        coap_msg_add_opt(&m, COAP_OPT_HOP_LIMIT, v2[i], 2);
        assert_int_equal(fwd_hop_limit_apply(&m, 16, buf), 0);
        assert_int_equal(coap_msg_opt_uint(&m, COAP_OPT_HOP_LIMIT, 0), 254);
    }
}

/* a loop and "no room for Hop-Limit" are different verdicts with different
 * answers: only the loop is 5.08 */
static void test_hop_limit_no_room(void **state)
{
    struct coap_msg m;
    uint8_t buf[4], v = 1;
    char diag[96];
    (void)state;

    coap_msg_init(&m);
    m.code = COAP_GET;
    for (unsigned i = 0; i < COAP_MSG_MAX_OPTS; i++)
        assert_int_equal(coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "a", 1), 0);
    assert_int_equal(fwd_hop_limit_apply(&m, 16, buf), FWD_HL_NO_ROOM);
    assert_null(coap_msg_find(&m, COAP_OPT_HOP_LIMIT));
    assert_int_equal(fwd_hop_limit_answer(FWD_HL_NO_ROOM, diag, sizeof(diag)), COAP_INTERNAL_ERROR);
    assert_non_null(strstr(diag, "no room to add Hop-Limit"));

    /* full, but Hop-Limit present: decremented in place, no slot needed */
    m.nopts--;
    v = 3;
    assert_int_equal(coap_msg_add_opt(&m, COAP_OPT_HOP_LIMIT, &v, 1), 0);
    assert_int_equal(fwd_hop_limit_apply(&m, 16, buf), 0);
    assert_int_equal(coap_msg_opt_uint(&m, COAP_OPT_HOP_LIMIT, 0), 2);

    coap_msg_init(&m);
    v = 1;
    coap_msg_add_opt(&m, COAP_OPT_HOP_LIMIT, &v, 1);
    assert_int_equal(fwd_hop_limit_apply(&m, 16, buf), FWD_HL_LOOP);
    assert_int_equal(fwd_hop_limit_answer(FWD_HL_LOOP, diag, sizeof(diag)), COAP_HOP_LIMIT_REACHED);
    assert_non_null(strstr(diag, "hop limit"));
}

static void test_options(void **state)
{
    struct rr_config c = mkcfg("");
    struct coap_msg m;
    uint16_t bad = 0;
    uint8_t x = 1;
    (void)state;

    coap_msg_init(&m);
    coap_msg_add_opt(&m, COAP_OPT_OSCORE, &x, 1);
    coap_msg_add_opt(&m, COAP_OPT_EDHOC, NULL, 0);
    coap_msg_add_opt(&m, COAP_OPT_ECHO, &x, 1);
    coap_msg_add_opt(&m, COAP_OPT_REQUEST_TAG, &x, 1);
    coap_msg_add_opt(&m, COAP_OPT_MAX_AGE, &x, 1);
    coap_msg_add_opt(&m, 65004, &x, 1); /* unknown, safe-to-forward */
    assert_int_equal(fwd_check_options(&m, &c, &bad), 0);
    coap_msg_add_opt(&m, 65002, &x, 1); /* unknown, unsafe */
    assert_int_equal(fwd_check_options(&m, &c, &bad), -1);
    assert_int_equal(bad, 65002);

    char err[128];
    assert_int_equal(config_set(&c, "extra_options", "65002", err, sizeof(err)), 0);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_int_equal(fwd_check_options(&m, &c, &bad), 0);
}

static void test_critical(void **state)
{
    struct rr_config c = mkcfg("");
    struct coap_msg m;
    uint16_t bad = 0;
    uint8_t x = 1;
    (void)state;

    coap_msg_init(&m);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "rd", 2);
    coap_msg_add_opt(&m, 65000, &x, 1); /* unknown elective */
    coap_msg_add_opt(&m, 65002, &x, 1); /* unknown unsafe but elective */
    assert_int_equal(fwd_check_critical(&m, &c, &bad), 0);
    coap_msg_add_opt(&m, 65001, &x, 1); /* unknown critical */
    assert_int_equal(fwd_check_critical(&m, &c, &bad), -1);
    assert_int_equal(bad, 65001);
}

static void test_forward_proxy(void **state)
{
    struct coap_msg m;
    (void)state;
    coap_msg_init(&m);
    assert_false(fwd_is_forward_proxy_request(&m));
    coap_msg_add_opt(&m, COAP_OPT_PROXY_SCHEME, "coap", 4);
    assert_true(fwd_is_forward_proxy_request(&m));
    coap_msg_init(&m);
    coap_msg_add_opt(&m, COAP_OPT_PROXY_URI, "coap://a/", 9);
    assert_true(fwd_is_forward_proxy_request(&m));
}

static void test_token(void **state)
{
    uint8_t t[FWD_TOKEN_LEN];
    uint32_t s, c;
    (void)state;
    fwd_token_encode(0x01020304, 0xdeadbeef, t);
    assert_int_equal(fwd_token_decode(t, sizeof(t), &s, &c), 0);
    assert_int_equal(s, 0x01020304);
    assert_int_equal(c, 0xdeadbeef);
    assert_int_equal(fwd_token_decode(t, 4, &s, &c), -1);
    assert_int_equal(fwd_token_decode(t, 0, &s, &c), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide),    cmocka_unit_test(test_ip_literal),
        cmocka_unit_test(test_hop_limit), cmocka_unit_test(test_hop_limit_no_room),
        cmocka_unit_test(test_options),   cmocka_unit_test(test_forward_proxy),
        cmocka_unit_test(test_token),     cmocka_unit_test(test_critical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
