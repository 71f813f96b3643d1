/*
 * test_amplify.c - the relay core's amplification limit (relay-core/
 * amplify.h): SipHash-2-4 against the paper's test vector, the Echo maker
 * and checker (slots, sources, forgery), the verified-source table (expiry,
 * ports, a full table) and the 4.01 challenge on the wire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "amplify.h"
#include "siphash.h"

static struct rr_addr mk(const char *s)
{
    struct rr_addr a;
    assert_int_equal(addr_parse(&a, s, 5683), 0);
    return a;
}

static void test_siphash_vector(void **state)
{
    (void)state;
    uint8_t key[16], msg[15];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    /* SipHash paper, appendix A */
    assert_true(siphash24(key, msg, 15) == 0xa129ca6149be45e5ULL);
    assert_true(siphash24(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
}

static void test_echo_check(void **state)
{
    (void)state;
    struct rc_amp a;
    struct rr_addr p = mk("192.0.2.1:40000"), other_port = mk("192.0.2.1:40001"),
                   other = mk("[2001:db8::1]:40000");
    uint8_t e[RC_ECHO_LEN], bad[RC_ECHO_LEN];
    uint64_t now = 1000000;

    assert_int_equal(rc_amp_init(&a, 3, 300, 64), 0);
    rc_amp_make_echo(&a, &p, now, e);
    assert_true(rc_amp_check_echo(&a, &p, e, sizeof(e), now));
    /* good in its slot and the next, not after */
    assert_true(rc_amp_check_echo(&a, &p, e, sizeof(e), now + RC_ECHO_SLOT_MS));
    assert_false(rc_amp_check_echo(&a, &p, e, sizeof(e), now + 2 * RC_ECHO_SLOT_MS));
    /* bound to address and port */
    assert_false(rc_amp_check_echo(&a, &other_port, e, sizeof(e), now));
    assert_false(rc_amp_check_echo(&a, &other, e, sizeof(e), now));
    /* any changed byte, or length, fails */
    for (int i = 0; i < RC_ECHO_LEN; i++) {
        memcpy(bad, e, sizeof(bad));
        bad[i] ^= 0x01;
        assert_false(rc_amp_check_echo(&a, &p, bad, sizeof(bad), now));
    }
    assert_false(rc_amp_check_echo(&a, &p, e, sizeof(e) - 1, now));
    /* another start has another key: its values are worthless here */
    struct rc_amp b;
    assert_int_equal(rc_amp_init(&b, 3, 300, 64), 0);
    rc_amp_make_echo(&b, &p, now, bad);
    assert_memory_not_equal(e, bad, sizeof(e));
    assert_false(rc_amp_check_echo(&a, &p, bad, sizeof(bad), now));
    rc_amp_free(&a);
    rc_amp_free(&b);
}

static void test_verified_table(void **state)
{
    (void)state;
    struct rc_amp a;
    struct rr_addr p = mk("192.0.2.1:40000"), q = mk("192.0.2.1:40001");
    uint64_t now = 5000;

    assert_int_equal(rc_amp_init(&a, 3, 10, 64), 0);
    assert_false(rc_amp_is_verified(&a, &p, now));
    rc_amp_set_verified(&a, &p, now);
    assert_true(rc_amp_is_verified(&a, &p, now + 9999));
    assert_false(rc_amp_is_verified(&a, &q, now));
    assert_false(rc_amp_is_verified(&a, &p, now + 10000)); /* echo_verified_s ran out */
    /* refresh */
    rc_amp_set_verified(&a, &p, now + 10000);
    assert_true(rc_amp_is_verified(&a, &p, now + 15000));

    /* far more sources than slots: no failure, the newest is always in */
    char s[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(s, sizeof(s), "[2001:db8::%x]:%d", i, 1000 + i % 50000);
        struct rr_addr x = mk(s);
        rc_amp_set_verified(&a, &x, now + 20000 + (uint64_t)i);
        assert_true(rc_amp_is_verified(&a, &x, now + 20000 + (uint64_t)i));
    }
    rc_amp_free(&a);
}

static void test_allows(void **state)
{
    (void)state;
    struct rc_amp a, off;
    struct rr_addr p = mk("198.51.100.7:5000");

    assert_int_equal(rc_amp_init(&a, 3, 300, 64), 0);
    assert_true(rc_amp_allows(&a, &p, 21, 63, 1));
    assert_false(rc_amp_allows(&a, &p, 21, 64, 1));
    rc_amp_set_verified(&a, &p, 1);
    assert_true(rc_amp_allows(&a, &p, 21, 1400, 2));
    assert_int_equal(rc_amp_init(&off, 0, 300, 64), 0);
    assert_true(rc_amp_allows(&off, &p, 4, 1400, 1));
    assert_false(rc_amp_is_verified(&off, &p, 1));
    rc_amp_free(&a);
    rc_amp_free(&off);
}

static void test_on_request_and_challenge(void **state)
{
    (void)state;
    struct rc_amp a;
    struct rr_addr p = mk("203.0.113.9:6000"), q = mk("203.0.113.10:6000");
    uint8_t tok[3] = {1, 2, 3}, out[RC_AMP_CHALLENGE_MAX], req[64];
    struct coap_msg m, c;
    uint64_t now = 77777;

    assert_int_equal(rc_amp_init(&a, 3, 300, 64), 0);
    size_t n = rc_amp_challenge(&a, &p, COAP_T_ACK, 0x1234, tok, 3, now, out);
    assert_int_equal(n, 4 + 3 + 2 + RC_ECHO_LEN);
    assert_int_equal(coap_msg_parse_udp(out, n, &c), 0);
    assert_int_equal(c.type, COAP_T_ACK);
    assert_int_equal(c.code, COAP_CODE(4, 1));
    assert_int_equal(c.msgid, 0x1234);
    assert_memory_equal(c.token, tok, 3);
    const struct coap_msg_opt *echo = coap_msg_find(&c, COAP_OPT_ECHO);
    assert_non_null(echo);
    assert_int_equal(echo->len, RC_ECHO_LEN);
    assert_int_equal(a.c.challenged, 1);

    /* a request from q carrying p's Echo: not ours for q, left in place */
    coap_msg_init(&m);
    m.code = COAP_GET;
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "x", 1);
    coap_msg_add_opt(&m, COAP_OPT_ECHO, echo->val, echo->len);
    ssize_t rl = coap_msg_serialize_udp(&m, req, sizeof(req));
    assert_true(rl > 0);
    assert_int_equal(coap_msg_parse_udp(req, (size_t)rl, &m), 0);
    rc_amp_on_request(&a, &q, &m, now);
    assert_non_null(coap_msg_find(&m, COAP_OPT_ECHO));
    assert_false(rc_amp_is_verified(&a, &q, now));
    assert_int_equal(a.c.echo_stale, 1);
    /* from p: verified, and the Echo does not travel on */
    rc_amp_on_request(&a, &p, &m, now + 5);
    assert_null(coap_msg_find(&m, COAP_OPT_ECHO));
    assert_true(rc_amp_is_verified(&a, &p, now + 5));
    assert_int_equal(a.c.verified, 1);
    rc_amp_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_siphash_vector),           cmocka_unit_test(test_echo_check),
        cmocka_unit_test(test_verified_table),           cmocka_unit_test(test_allows),
        cmocka_unit_test(test_on_request_and_challenge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
