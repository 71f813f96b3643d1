/*
 * test_coap_msg_tcp.c - unit tests for common/coap_msg_tcp.c: RFC 8323 §3.2
 * TCP framing (every Len form: 0..12 in the nibble, 13 / 269 / 65805 with an
 * 8/16/32-bit extended length, at and around each boundary), frame length
 * detection on partial input, malformed frames, and §4 WebSocket framing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "coap_msg.h"

/* A GET with token 'ab', Uri-Path "x" and a payload of plen bytes. */
static void mkmsg(struct coap_msg *m, uint8_t *payload, size_t plen)
{
    coap_msg_init(m);
    m->code = COAP_GET;
    m->tkl = 2;
    m->token[0] = 'a';
    m->token[1] = 'b';
    coap_msg_add_opt(m, COAP_OPT_URI_PATH, "x", 1);
    for (size_t i = 0; i < plen; i++)
        payload[i] = (uint8_t)(i * 7);
    m->payload = plen ? payload : NULL;
    m->payload_len = plen;
}

/* rest = options (2 bytes: header + "x") + marker + payload */
static void roundtrip(size_t rest, unsigned expect_nibble, size_t expect_ext)
{
    size_t plen = rest - 3;
    uint8_t *payload = malloc(plen + 1), *buf = malloc(rest + 16);
    struct coap_msg m, p;

    assert_non_null(payload);
    assert_non_null(buf);
    mkmsg(&m, payload, plen);
    ssize_t n = coap_msg_serialize_tcp(&m, buf, rest + 16);
    assert_int_equal(n, (ssize_t)(1 + expect_ext + 1 + 2 + rest));
    assert_int_equal(buf[0] >> 4, expect_nibble);
    assert_int_equal(buf[0] & 0x0f, 2);
    /* the frame length is known from the header bytes alone */
    assert_int_equal(coap_msg_tcp_frame_len(buf, 1 + expect_ext), n);
    if (expect_ext)
        assert_int_equal(coap_msg_tcp_frame_len(buf, expect_ext), 0);
    assert_int_equal(coap_msg_tcp_frame_len(buf, 0), 0);
    assert_int_equal(coap_msg_parse_tcp(buf, (size_t)n, &p), 0);
    assert_int_equal(p.code, COAP_GET);
    assert_int_equal(p.tkl, 2);
    assert_memory_equal(p.token, "ab", 2);
    assert_int_equal(p.nopts, 1);
    assert_int_equal(p.opts[0].num, COAP_OPT_URI_PATH);
    assert_int_equal(p.payload_len, plen);
    assert_memory_equal(p.payload, payload, plen);
    /* one byte short or long is not one whole message */
    assert_int_equal(coap_msg_parse_tcp(buf, (size_t)n - 1, &p), -1);
    /* too small a buffer */
    assert_int_equal(coap_msg_serialize_tcp(&m, buf, (size_t)n - 1), -1);
    free(payload);
    free(buf);
}

static void test_len_forms(void **state)
{
    (void)state;
    roundtrip(4, 4, 0);
    roundtrip(12, 12, 0);
    roundtrip(13, 13, 1);
    roundtrip(14, 13, 1);
    roundtrip(268, 13, 1);
    roundtrip(269, 14, 2);
    roundtrip(270, 14, 2);
    roundtrip(65804, 14, 2);
    roundtrip(65805, 15, 4);
    roundtrip(70000, 15, 4);
}

static void test_empty_and_signal(void **state)
{
    uint8_t buf[64];
    struct coap_msg m, p;
    uint8_t v[4];
    (void)state;

    /* a CSM with Max-Message-Size 1152 and Block-Wise-Transfer */
    coap_msg_init(&m);
    m.code = COAP_SIG_CSM;
    coap_msg_add_opt_uint(&m, 2, 1152, v);
    coap_msg_add_opt(&m, 4, NULL, 0);
    ssize_t n = coap_msg_serialize_tcp(&m, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(coap_msg_parse_tcp(buf, (size_t)n, &p), 0);
    assert_int_equal(p.code, COAP_SIG_CSM);
    assert_int_equal(coap_msg_opt_uint(&p, 2, 0), 1152);
    assert_non_null(coap_msg_find(&p, 4));
    /* bare Ping: 2 bytes */
    static const uint8_t ping[] = {0x00, COAP_SIG_PING};
    assert_int_equal(coap_msg_tcp_frame_len(ping, 2), 2);
    assert_int_equal(coap_msg_parse_tcp(ping, 2, &p), 0);
    assert_int_equal(p.code, COAP_SIG_PING);
}

static void test_malformed(void **state)
{
    struct coap_msg p;
    (void)state;

    /* TKL 9..15 reserved */
    static const uint8_t tkl9[] = {0x09, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(coap_msg_tcp_frame_len(tkl9, sizeof(tkl9)), -1);
    assert_int_equal(coap_msg_parse_tcp(tkl9, sizeof(tkl9), &p), -1);
    /* option whose value runs past the end: Len 2, option delta 11 len 5 */
    static const uint8_t past[] = {0x20, 0x01, 0xb5, 'a'};
    assert_int_equal(coap_msg_parse_tcp(past, sizeof(past), &p), -1);
    /* payload marker with no payload */
    static const uint8_t marker[] = {0x10, 0x45, 0xff};
    assert_int_equal(coap_msg_parse_tcp(marker, sizeof(marker), &p), -1);
    /* empty (0.00) with a payload */
    static const uint8_t empty[] = {0x20, 0x00, 0xff, 'x'};
    assert_int_equal(coap_msg_parse_tcp(empty, sizeof(empty), &p), -1);
    /* option delta nibble 15 outside a marker */
    static const uint8_t res[] = {0x10, 0x01, 0xf0};
    assert_int_equal(coap_msg_parse_tcp(res, sizeof(res), &p), -1);
    /* a Length of 1 GiB is reported as such (the relay compares it with its
     * Max-Message-Size and aborts) */
    uint32_t v = (1u << 30) - 65805u;
    uint8_t big[] = {0xf0, (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v,
                     0x01};
    assert_int_equal(coap_msg_tcp_frame_len(big, sizeof(big)), 1 + 4 + 1 + (1 << 30));
    /* the largest 32-bit Length does not overflow */
    static const uint8_t huge[] = {0xf8, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(coap_msg_tcp_frame_len(huge, sizeof(huge)),
                     (ssize_t)(1 + 4 + 1 + 8 + 65805ull + 0xffffffffull));
    /* unsorted options cannot be serialised */
    struct coap_msg m;
    uint8_t buf[32];
    coap_msg_init(&m);
    m.code = COAP_GET;
    m.nopts = 2;
    m.opts[0] = (struct coap_msg_opt){.num = 11, .len = 0, .val = NULL};
    m.opts[1] = (struct coap_msg_opt){.num = 3, .len = 0, .val = NULL};
    assert_int_equal(coap_msg_serialize_tcp(&m, buf, sizeof(buf)), -1);
}

/* Several messages back to back in one stream, cut at every position. */
static void test_stream_split(void **state)
{
    uint8_t stream[2048], payload[300];
    struct coap_msg m;
    size_t total = 0, sizes[3];
    (void)state;

    for (int k = 0; k < 3; k++) {
        mkmsg(&m, payload, k == 0 ? 0 : k == 1 ? 20 : 300);
        ssize_t n = coap_msg_serialize_tcp(&m, stream + total, sizeof(stream) - total);
        assert_true(n > 0);
        sizes[k] = (size_t)n;
        total += (size_t)n;
    }
    for (size_t cut = 0; cut <= total; cut++) {
        size_t off = 0;
        int k = 0;
        for (;;) {
            ssize_t fl = coap_msg_tcp_frame_len(stream + off, cut - off);
            assert_true(fl >= 0);
            if (fl == 0 || off + (size_t)fl > cut)
                break;
            assert_int_equal((size_t)fl, sizes[k]);
            struct coap_msg p;
            assert_int_equal(coap_msg_parse_tcp(stream + off, (size_t)fl, &p), 0);
            off += (size_t)fl;
            k++;
        }
        assert_true(off <= cut);
    }
}

static void test_ws(void **state)
{
    uint8_t buf[128], payload[40];
    struct coap_msg m, p;
    (void)state;

    mkmsg(&m, payload, sizeof(payload));
    ssize_t n = coap_msg_serialize_ws(&m, buf, sizeof(buf));
    assert_int_equal(n, 2 + 2 + 2 + 1 + 40);
    assert_int_equal(buf[0], 2);
    assert_int_equal(coap_msg_parse_ws(buf, (size_t)n, &p), 0);
    assert_int_equal(p.payload_len, 40);
    assert_memory_equal(p.token, "ab", 2);
    buf[0] = 0x12; /* Len must be 0 over WebSockets */
    assert_int_equal(coap_msg_parse_ws(buf, (size_t)n, &p), -1);
    assert_int_equal(coap_msg_parse_ws(buf, 1, &p), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_len_forms), cmocka_unit_test(test_empty_and_signal),
        cmocka_unit_test(test_malformed), cmocka_unit_test(test_stream_split),
        cmocka_unit_test(test_ws),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
