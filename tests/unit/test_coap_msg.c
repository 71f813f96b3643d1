/*
 * test_coap_msg.c - unit tests for common/coap_msg.c and coap_opts.c:
 * parse/serialise round trips, every malformed case, option sorting and
 * removal, extended option deltas/lengths (>= 13, >= 269), options >= 2048,
 * URI helpers, block helpers and the option registry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "coap_msg.h"
#include "coap_opts.h"
#include "config.h"

static void roundtrip(const struct coap_msg *m, struct coap_msg *out, uint8_t *buf, size_t cap)
{
    uint8_t again[COAP_MSG_MAX_UDP * 2];
    ssize_t n = coap_msg_serialize_udp(m, buf, cap), n2;

    assert_true(n > 0);
    assert_int_equal(coap_msg_parse_udp(buf, (size_t)n, out), 0);
    n2 = coap_msg_serialize_udp(out, again, sizeof(again));
    assert_int_equal(n2, n);
    assert_memory_equal(again, buf, (size_t)n);
}

static void test_known_bytes(void **state)
{
    /* CON GET mid=0x7d34 token 0x71 Uri-Path "temperature" (RFC 7252 App. A) */
    static const uint8_t pkt[] = {0x41, 0x01, 0x7d, 0x34, 0x71, 0xbb, 't', 'e', 'm',
                                  'p',  'e',  'r',  'a',  't',  'u',  'r', 'e'};
    struct coap_msg m;
    uint8_t out[64];
    char path[32];

    (void)state;
    assert_int_equal(coap_msg_parse_udp(pkt, sizeof(pkt), &m), 0);
    assert_int_equal(m.type, COAP_T_CON);
    assert_int_equal(m.code, COAP_GET);
    assert_int_equal(m.msgid, 0x7d34);
    assert_int_equal(m.tkl, 1);
    assert_int_equal(m.token[0], 0x71);
    assert_int_equal(m.nopts, 1);
    assert_int_equal(m.opts[0].num, COAP_OPT_URI_PATH);
    assert_ptr_equal(m.opts[0].val, pkt + 6); /* zero-copy */
    assert_null(m.payload);
    assert_int_equal(coap_msg_uri_path(&m, path, sizeof(path)), 0);
    assert_string_equal(path, "/temperature");
    assert_int_equal(coap_msg_serialize_udp(&m, out, sizeof(out)), sizeof(pkt));
    assert_memory_equal(out, pkt, sizeof(pkt));
}

static void test_roundtrip_all_fields(void **state)
{
    struct coap_msg m, p;
    uint8_t buf[COAP_MSG_MAX_UDP], ubuf[4], big[400];

    (void)state;
    memset(big, 0xa5, sizeof(big));
    coap_msg_init(&m);
    m.type = COAP_T_NON;
    m.code = COAP_CONTENT;
    m.msgid = 0xbeef;
    m.tkl = 8;
    memcpy(m.token, "12345678", 8);
    assert_int_equal(coap_msg_add_opt_uint(&m, COAP_OPT_CONTENT_FORMAT, 40, ubuf), 0);
    assert_int_equal(coap_msg_add_opt(&m, COAP_OPT_OSCORE, "\x09\x00", 2), 0);
    assert_int_equal(coap_msg_add_opt(&m, COAP_OPT_ETAG, "", 0), 0);
    assert_int_equal(coap_msg_add_opt(&m, 12, big, 12), 0);    /* len < 13 */
    assert_int_equal(coap_msg_add_opt(&m, 13, big, 13), 0);    /* len 13: 1 ext byte */
    assert_int_equal(coap_msg_add_opt(&m, 300, big, 268), 0);  /* delta >= 269 */
    assert_int_equal(coap_msg_add_opt(&m, 2049, big, 269), 0); /* len 269: 2 ext bytes */
    assert_int_equal(coap_msg_add_opt(&m, 65535, "z", 1), 0);
    m.payload = (const uint8_t *)"payload";
    m.payload_len = 7;
    roundtrip(&m, &p, buf, sizeof(buf));
    assert_int_equal(p.type, COAP_T_NON);
    assert_int_equal(p.code, COAP_CONTENT);
    assert_int_equal(p.msgid, 0xbeef);
    assert_memory_equal(p.token, "12345678", 8);
    assert_int_equal(p.nopts, m.nopts);
    for (unsigned i = 0; i < p.nopts; i++) {
        assert_int_equal(p.opts[i].num, m.opts[i].num);
        assert_int_equal(p.opts[i].len, m.opts[i].len);
        assert_memory_equal(p.opts[i].val, m.opts[i].val, m.opts[i].len);
    }
    assert_int_equal(coap_msg_opt_uint(&p, COAP_OPT_CONTENT_FORMAT, 99), 40);
    assert_int_equal(coap_msg_opt_uint(&p, COAP_OPT_MAX_AGE, 60), 60);
    assert_int_equal(p.payload_len, 7);
    assert_memory_equal(p.payload, "payload", 7);
    assert_non_null(coap_msg_find(&p, 65535));
    assert_non_null(coap_msg_find(&p, 2049));
}

static void test_ext_delta_boundaries(void **state)
{
    static const uint16_t nums[] = {12, 13, 14, 268, 269, 270, 2048, 2049, 65535};
    struct coap_msg m, p;
    uint8_t buf[256];

    (void)state;
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        coap_msg_init(&m);
        m.code = COAP_GET;
        coap_msg_add_opt(&m, nums[i], "v", 1);
        roundtrip(&m, &p, buf, sizeof(buf));
        assert_int_equal(p.nopts, 1);
        assert_int_equal(p.opts[0].num, nums[i]);
    }
    /* 65535 + 1 more delta wraps: malformed */
    static const uint8_t wrap[] = {0x40, 1, 0, 0, 0xe0, 0xfe, 0xf2, 0x10};
    assert_int_equal(coap_msg_parse_udp(wrap, sizeof(wrap), &p), -1);
    static const uint8_t wrap2[] = {0x40, 1, 0, 0, 0xe0, 0xfe, 0xff};
    assert_int_equal(coap_msg_parse_udp(wrap2, sizeof(wrap2), &p), -1);
}

static void test_malformed(void **state)
{
    static const struct {
        const char *what;
        uint8_t b[12];
        size_t len;
    } bad[] = {
        {"short", {0x40, 1, 0}, 3},
        {"version 0", {0x00, 1, 0, 0}, 4},
        {"version 2", {0x80, 1, 0, 0}, 4},
        {"tkl 9", {0x49, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}, 12},
        {"tkl past end", {0x42, 1, 0, 0, 1}, 5},
        {"marker, empty payload", {0x40, 1, 0, 0, 0xff}, 5},
        {"delta nibble 15", {0x40, 1, 0, 0, 0xf1, 'a'}, 6},
        {"length nibble 15", {0x40, 1, 0, 0, 0xbf, 'a'}, 6},
        {"option past end", {0x40, 1, 0, 0, 0xb5, 'a'}, 6},
        {"ext delta past end", {0x40, 1, 0, 0, 0xd0}, 5},
        {"ext length past end", {0x40, 1, 0, 0, 0x1e, 0x00}, 6},
        {"empty with token", {0x41, 0, 0, 0, 1}, 5},
        {"empty with option", {0x40, 0, 0, 0, 0x10}, 5},
        {"empty with payload", {0x40, 0, 0, 0, 0xff, 'x'}, 6},
    };
    struct coap_msg m;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (coap_msg_parse_udp(bad[i].b, bad[i].len, &m) != -1)
            fail_msg("accepted malformed message: %s", bad[i].what);
    }
    /* an empty message alone is fine (ping / empty ACK) */
    static const uint8_t empty[] = {0x60, 0, 0x12, 0x34};
    assert_int_equal(coap_msg_parse_udp(empty, 4, &m), 0);
    assert_int_equal(m.type, COAP_T_ACK);
    assert_int_equal(m.msgid, 0x1234);
}

static void test_too_many_options(void **state)
{
    uint8_t buf[4 + COAP_MSG_MAX_OPTS + 1];
    struct coap_msg m;

    (void)state;
    buf[0] = 0x40;
    buf[1] = 1;
    buf[2] = buf[3] = 0;
    for (size_t i = 0; i < COAP_MSG_MAX_OPTS + 1; i++)
        buf[4 + i] = i == 0 ? 0xb0 : 0x00; /* Uri-Path "" repeated */
    assert_int_equal(coap_msg_parse_udp(buf, sizeof(buf), &m), -1);
    assert_int_equal(coap_msg_parse_udp(buf, sizeof(buf) - 1, &m), 0);
    assert_int_equal(m.nopts, COAP_MSG_MAX_OPTS);
    assert_int_equal(coap_msg_add_opt(&m, 1, "", 0), -1);
}

static void test_sorting_and_removal(void **state)
{
    struct coap_msg m;
    const struct coap_msg_opt *o;
    uint8_t buf[128];

    (void)state;
    coap_msg_init(&m);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "a", 1);
    coap_msg_add_opt(&m, COAP_OPT_URI_HOST, "h", 1);
    coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, "q", 1);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "b", 1);
    coap_msg_add_opt(&m, COAP_OPT_URI_HOST, "h2", 2);
    assert_int_equal(m.nopts, 5);
    for (unsigned i = 1; i < m.nopts; i++)
        assert_true(m.opts[i - 1].num <= m.opts[i].num);
    o = coap_msg_find(&m, COAP_OPT_URI_PATH);
    assert_memory_equal(o->val, "a", 1);
    o = coap_msg_find_next(&m, o);
    assert_memory_equal(o->val, "b", 1); /* repeats keep their order */
    assert_null(coap_msg_find_next(&m, o));
    assert_int_equal(coap_msg_remove_opt(&m, COAP_OPT_URI_HOST), 2);
    assert_int_equal(coap_msg_remove_opt(&m, COAP_OPT_URI_HOST), 0);
    assert_int_equal(m.nopts, 3);
    assert_null(coap_msg_find(&m, COAP_OPT_URI_HOST));
    /* unsorted input is refused by the serializer */
    m.opts[0].num = 20;
    assert_int_equal(coap_msg_serialize_udp(&m, buf, sizeof(buf)), -1);
}

static void test_serialize_no_room(void **state)
{
    struct coap_msg m;
    uint8_t buf[64];

    (void)state;
    coap_msg_init(&m);
    m.code = COAP_GET;
    m.tkl = 4;
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "abcdefghij", 10);
    m.payload = (const uint8_t *)"xyz";
    m.payload_len = 3;
    ssize_t full = coap_msg_serialize_udp(&m, buf, sizeof(buf));
    assert_int_equal(full, 4 + 4 + 11 + 1 + 3);
    for (size_t cap = 0; cap < (size_t)full; cap++)
        assert_int_equal(coap_msg_serialize_udp(&m, buf, cap), -1);
}

static void test_uri_helpers(void **state)
{
    struct coap_msg m;
    char out[64];

    (void)state;
    coap_msg_init(&m);
    assert_int_equal(coap_msg_uri_path(&m, out, sizeof(out)), 0);
    assert_string_equal(out, "/");
    assert_int_equal(coap_msg_uri_host_lower(&m, out, sizeof(out)), 0);
    assert_string_equal(out, "");
    coap_msg_add_opt(&m, COAP_OPT_URI_HOST, "Alice.PROXY.localhost", 21);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "reg", 3);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "3", 1);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "", 0);
    assert_int_equal(coap_msg_uri_path(&m, out, sizeof(out)), 0);
    assert_string_equal(out, "/reg/3/");
    assert_int_equal(coap_msg_uri_path(&m, out, 7), -1);
    assert_int_equal(coap_msg_uri_host_lower(&m, out, sizeof(out)), 0);
    assert_string_equal(out, "alice.proxy.localhost");
    assert_int_equal(coap_msg_uri_host_lower(&m, out, 21), -1);
    coap_msg_remove_opt(&m, COAP_OPT_URI_PATH);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "a/b?", 4);
    assert_int_equal(coap_msg_uri_path(&m, out, sizeof(out)), 0);
    assert_string_equal(out, "/a%2Fb%3F");
    coap_msg_remove_opt(&m, COAP_OPT_URI_HOST);
    coap_msg_add_opt(&m, COAP_OPT_URI_HOST, "a\0b", 3);
    assert_int_equal(coap_msg_uri_host_lower(&m, out, sizeof(out)), -1);
}

static void test_code_block_uint(void **state)
{
    char buf[8];
    uint32_t num;
    bool more;
    unsigned szx;
    struct coap_msg m;
    uint8_t v[4];

    (void)state;
    assert_string_equal(coap_code_str(COAP_CONTENT, buf), "2.05");
    assert_string_equal(coap_code_str(COAP_PROXYING_NOT_SUPPORTED, buf), "5.05");
    assert_string_equal(coap_code_str(COAP_GET, buf), "0.01");
    assert_int_equal(coap_block_encode(5, true, 6), (5 << 4) | 8 | 6);
    coap_block_decode(coap_block_encode(1048575, false, 2), &num, &more, &szx);
    assert_int_equal(num, 1048575);
    assert_false(more);
    assert_int_equal(szx, 2);
    coap_msg_init(&m);
    coap_msg_add_opt_uint(&m, COAP_OPT_MAX_AGE, 0, v);
    assert_int_equal(m.opts[0].len, 0);
    assert_int_equal(coap_msg_opt_uint(&m, COAP_OPT_MAX_AGE, 7), 0);
    coap_msg_init(&m);
    coap_msg_add_opt_uint(&m, COAP_OPT_OBSERVE, 0x10203, v);
    assert_int_equal(m.opts[0].len, 3);
    assert_int_equal(coap_opt_value_uint(&m.opts[0]), 0x10203);
}

static void test_option_registry(void **state)
{
    struct rr_config cfg;
    char err[64];

    (void)state;
    assert_string_equal(coap_opt_name(COAP_OPT_OSCORE), "OSCORE");
    assert_string_equal(coap_opt_name(COAP_OPT_EDHOC), "EDHOC");
    assert_string_equal(coap_opt_name(COAP_OPT_REQUEST_TAG), "Request-Tag");
    assert_string_equal(coap_opt_name(COAP_OPT_HOP_LIMIT), "Hop-Limit");
    assert_string_equal(coap_opt_name(1), "If-Match");
    assert_string_equal(coap_opt_name(2053), "OCF-Content-Format-Version");
    assert_null(coap_opt_name(0));
    assert_null(coap_opt_name(128));
    assert_null(coap_opt_name(65001));
    assert_true(coap_opt_is_critical(COAP_OPT_URI_HOST));
    assert_true(coap_opt_is_unsafe(COAP_OPT_URI_HOST));
    assert_false(coap_opt_is_unsafe(COAP_OPT_OSCORE)); /* safe-to-forward */
    assert_false(coap_opt_is_unsafe(COAP_OPT_EDHOC));
    config_defaults(&cfg);
    strcpy(cfg.extra_options, "65001");
    assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
    assert_true(coap_opt_is_known(65001, &cfg));
    assert_false(coap_opt_is_known(65003, &cfg));
    assert_true(coap_opt_is_known(COAP_OPT_BLOCK2, NULL));
    assert_false(coap_opt_is_known(65001, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_bytes),          cmocka_unit_test(test_roundtrip_all_fields),
        cmocka_unit_test(test_ext_delta_boundaries), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_too_many_options),     cmocka_unit_test(test_sorting_and_removal),
        cmocka_unit_test(test_serialize_no_room),    cmocka_unit_test(test_uri_helpers),
        cmocka_unit_test(test_code_block_uint),      cmocka_unit_test(test_option_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
