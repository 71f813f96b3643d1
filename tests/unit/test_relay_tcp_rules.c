/*
 * test_relay_tcp_rules.c - unit tests for relay-tcp/tcp_rules.c and
 * relay-core/sig8323.c (CSM): the receive-side frame check against our
 * Max-Message-Size (partial header, partial body, whole, a Length of 1 GiB,
 * reserved TKL), CSM handling (Max-Message-Size, Block-Wise-Transfer, later
 * CSM updates, unknown elective ignored, unknown critical -> abort) and the
 * routing / Hop-Limit / option / token rules shared with relay-udp.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "sig8323.h"
#include "tcp_rules.h"

static void test_frame_check(void **state)
{
    uint8_t buf[64];
    struct coap_msg m;
    size_t len = 0;
    uint8_t payload[20];
    (void)state;

    coap_msg_init(&m);
    m.code = COAP_GET;
    m.tkl = 1;
    m.token[0] = 7;
    memset(payload, 'p', sizeof(payload));
    m.payload = payload;
    m.payload_len = sizeof(payload); /* 21 bytes of body: Len 13 + 1 ext byte */
    ssize_t n = coap_msg_serialize_tcp(&m, buf, sizeof(buf));
    assert_int_equal(n, 1 + 1 + 1 + 1 + 21);

    assert_int_equal(rt_frame_check(buf, 0, 1152, &len), RT_FRAME_NEED_MORE);
    assert_int_equal(rt_frame_check(buf, 1, 1152, &len), RT_FRAME_NEED_MORE);
    assert_int_equal(rt_frame_check(buf, 2, 1152, &len), RT_FRAME_NEED_MORE);
    assert_int_equal(len, (size_t)n); /* known from the header already */
    assert_int_equal(rt_frame_check(buf, (size_t)n - 1, 1152, &len), RT_FRAME_NEED_MORE);
    assert_int_equal(rt_frame_check(buf, (size_t)n, 1152, &len), RT_FRAME_WHOLE);
    assert_int_equal(len, (size_t)n);
    /* a second message behind it does not change the verdict */
    assert_int_equal(rt_frame_check(buf, sizeof(buf), 1152, &len), RT_FRAME_WHOLE);
    assert_int_equal(len, (size_t)n);
    /* above our limit: known as soon as the header is in, body or not */
    assert_int_equal(rt_frame_check(buf, 2, (size_t)n - 1, &len), RT_FRAME_TOO_BIG);

    /* Length of 1 GiB: aborted from the 5 header bytes */
    uint32_t v = (1u << 30) - 65805u;
    uint8_t big[] = {0xf0, (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    assert_int_equal(rt_frame_check(big, 4, 16384, &len), RT_FRAME_NEED_MORE);
    assert_int_equal(rt_frame_check(big, 5, 16384, &len), RT_FRAME_TOO_BIG);
    assert_true(len > (1u << 30));

    /* reserved TKL */
    static const uint8_t bad[] = {0x0c, 0x01};
    assert_int_equal(rt_frame_check(bad, sizeof(bad), 16384, &len), RT_FRAME_BAD);
}

static void test_csm(void **state)
{
    struct coap_msg m;
    struct sig_csm csm = {.mms = SIG_BASE_MMS, .bwt = false};
    uint8_t v[4], v2[4];
    uint16_t bad = 0;
    (void)state;

    /* empty CSM: base values stay */
    coap_msg_init(&m);
    m.code = COAP_SIG_CSM;
    assert_int_equal(sig_csm_apply(&m, &csm, &bad), 0);
    assert_int_equal(csm.mms, 1152);
    assert_false(csm.bwt);

    coap_msg_add_opt_uint(&m, SIG_OPT_MAX_MESSAGE_SIZE, 8192, v);
    coap_msg_add_opt(&m, SIG_OPT_BLOCK_WISE, NULL, 0);
    coap_msg_add_opt(&m, 6, "x", 1); /* unknown elective (even): ignored */
    assert_int_equal(sig_csm_apply(&m, &csm, &bad), 0);
    assert_int_equal(csm.mms, 8192);
    assert_true(csm.bwt);

    /* a later CSM updates only what it carries */
    coap_msg_init(&m);
    m.code = COAP_SIG_CSM;
    coap_msg_add_opt_uint(&m, SIG_OPT_MAX_MESSAGE_SIZE, 2000, v2);
    assert_int_equal(sig_csm_apply(&m, &csm, &bad), 0);
    assert_int_equal(csm.mms, 2000);
    assert_true(csm.bwt);

    /* unknown critical (odd): abort, naming the option */
    coap_msg_add_opt(&m, 9, NULL, 0);
    assert_int_equal(sig_csm_apply(&m, &csm, &bad), -1);
    assert_int_equal(bad, 9);
}

static struct rr_config mkcfg(void)
{
    struct rr_config c;
    char err[128];
    config_defaults(&c);
    snprintf(c.proxy_domain, sizeof(c.proxy_domain), "proxy.localhost");
    c.rd_names[0] = '\0';
    config_finish(&c, err, sizeof(err));
    return c;
}

static void test_shared_rules(void **state)
{
    struct rr_config c = mkcfg();
    struct coap_msg m;
    uint8_t hl[4], tok[FWD_TOKEN_LEN];
    uint16_t bad;
    uint32_t slot, check;
    (void)state;

    assert_int_equal(fwd_route_decide("", &c), FWD_DEST_RD);
    assert_int_equal(fwd_route_decide("127.0.0.1", &c), FWD_DEST_RD);
    assert_int_equal(fwd_route_decide("alice.proxy.localhost", &c), FWD_DEST_PROXY);
    assert_int_equal(fwd_route_decide("proxy.localhost", &c), FWD_DEST_RD);

    coap_msg_init(&m);
    m.code = COAP_GET;
    assert_int_equal(fwd_hop_limit_apply(&m, 16, hl), 0);
    assert_int_equal(coap_msg_opt_uint(&m, COAP_OPT_HOP_LIMIT, 0), 16);
    static const uint8_t one = 1;
    coap_msg_init(&m);
    coap_msg_add_opt(&m, COAP_OPT_HOP_LIMIT, &one, 1);
    assert_int_equal(fwd_hop_limit_apply(&m, 16, hl), -1);

    coap_msg_init(&m);
    coap_msg_add_opt(&m, 65002, "x", 1); /* unsafe, unknown */
    assert_int_equal(fwd_check_options(&m, &c, &bad), -1);
    assert_int_equal(bad, 65002);
    coap_msg_init(&m);
    coap_msg_add_opt(&m, 65004, "x", 1); /* safe-to-forward, unknown */
    coap_msg_add_opt(&m, COAP_OPT_OSCORE, "x", 1);
    assert_int_equal(fwd_check_options(&m, &c, &bad), 0);

    fwd_token_encode(4095, 0xdeadbeef, tok);
    assert_int_equal(fwd_token_decode(tok, sizeof(tok), &slot, &check), 0);
    assert_int_equal(slot, 4095);
    assert_int_equal(check, 0xdeadbeef);
    assert_int_equal(fwd_token_decode(tok, 4, &slot, &check), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_check),
        cmocka_unit_test(test_csm),

        cmocka_unit_test(test_shared_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
