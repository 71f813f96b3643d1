/*
 * test_blockwise.c - unit tests for common/blockwise.c: Block2 slicing of
 * unblocked answers and of an origin's own (larger, BERT) blocks, the
 * datagram fit and its size reduction, ETag and other options kept, block
 * beyond the end; Block1 collection (in order, restart, out of order,
 * repeated block, too large, busy, expiry, malformed sizes), holding a
 * body, splitting it again and the next block after 2.31 (smaller size
 * asked by the server); the key ignores per-block options only.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "blockwise.h"

static uint8_t body[5000];

static void fill(void)
{
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (uint8_t)(i * 7 + i / 256);
}

/* A 2.05 with an ETag and the first len bytes of body. */
static void resp(struct coap_msg *m, size_t len, const uint8_t *etag)
{
    coap_msg_init(m);
    m->type = COAP_T_ACK;
    m->code = COAP_CONTENT;
    m->tkl = 2;
    m->token[0] = 1;
    m->token[1] = 2;
    assert_int_equal(coap_msg_add_opt(m, COAP_OPT_ETAG, etag, 2), 0);
    m->payload = body;
    m->payload_len = len;
}

static uint32_t opt(const struct coap_msg *m, uint16_t n)
{
    return coap_msg_opt_uint(m, n, BW_NONE);
}

static void test_slice2(void **state)
{
    struct bw_slice s;
    (void)state;
    /* 3000 bytes, 1024-byte blocks: 0/M, 1/M, 2/last (952) */
    assert_int_equal(bw_slice2(0, 3000, false, 0, 6, &s), 0);
    assert_int_equal(s.off, 0);
    assert_int_equal(s.len, 1024);
    assert_int_equal(s.block2, coap_block_encode(0, true, 6));
    assert_int_equal(bw_slice2(0, 3000, false, 2, 6, &s), 0);
    assert_int_equal(s.off, 2048);
    assert_int_equal(s.len, 952);
    assert_int_equal(s.block2, coap_block_encode(2, false, 6));
    assert_int_equal(bw_slice2(0, 3000, false, 3, 6, &s), -1); /* beyond */
    assert_int_equal(bw_slice2(0, 2048, false, 2, 6, &s), -1); /* exactly at the end */
    /* empty representation: block 0, empty */
    assert_int_equal(bw_slice2(0, 0, false, 0, 6, &s), 0);
    assert_int_equal(s.len, 0);
    /* an origin's BERT block 1 (bytes 1024..4095, more after): 64-byte block 20 */
    assert_int_equal(bw_slice2(1024, 3072, true, 20, 2, &s), 0);
    assert_int_equal(s.off, 1280);
    assert_int_equal(s.len, 64);
    assert_true(s.block2 & 8);
    /* the last block of the chunk with more after: M set, full size */
    assert_int_equal(bw_slice2(1024, 3072, true, 3, 6, &s), 0);
    assert_true(s.block2 & 8);
    assert_int_equal(bw_slice2(1024, 3072, true, 0, 6, &s), -1); /* before the chunk */
    /* chunk ends inside the block while the origin has more: -2 */
    assert_int_equal(bw_slice2(0, 1000, true, 0, 6, &s), -2);
    /* szx 7 counts as 1024 */
    assert_int_equal(bw_slice2(0, 3000, false, 1, 7, &s), 0);
    assert_int_equal(s.off, 1024);
    assert_int_equal(s.block2 & 7, 6);
}

static void test_fit_unblocked(void **state)
{
    struct coap_msg m, p;
    uint8_t out[COAP_MSG_MAX_UDP];
    static const uint8_t et[2] = {'v', '1'};
    (void)state;
    fill();
    /* no Block2 asked, too large for a datagram: block 0 of 1024 + Size2 */
    resp(&m, 3000, et);
    ssize_t n = bw_fit_response(&m, 3010, BW_NONE, out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal(coap_msg_parse_udp(out, (size_t)n, &p), 0);
    assert_int_equal(opt(&p, COAP_OPT_BLOCK2), coap_block_encode(0, true, 6));
    assert_int_equal(opt(&p, COAP_OPT_SIZE2), 3000);
    assert_memory_equal(coap_msg_find(&p, COAP_OPT_ETAG)->val, et, 2);
    assert_int_equal(p.payload_len, 1024);
    assert_memory_equal(p.payload, body, 1024);
    assert_int_equal(p.code, COAP_CONTENT);
    /* block 2 asked (the origin answered whole again) */
    resp(&m, 3000, et);
    n = bw_fit_response(&m, 3010, coap_block_encode(2, false, 6), out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal(coap_msg_parse_udp(out, (size_t)n, &p), 0);
    assert_int_equal(opt(&p, COAP_OPT_BLOCK2), coap_block_encode(2, false, 6));
    assert_int_equal(p.payload_len, 952);
    assert_memory_equal(p.payload, body + 2048, 952);
    /* the client's small block size, though the whole answer fits */
    resp(&m, 300, et);
    n = bw_fit_response(&m, 310, coap_block_encode(3, false, 2), out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal(coap_msg_parse_udp(out, (size_t)n, &p), 0);
    assert_int_equal(opt(&p, COAP_OPT_BLOCK2), coap_block_encode(3, true, 2));
    assert_memory_equal(p.payload, body + 192, 64);
    /* beyond the end */
    resp(&m, 3000, et);
    assert_int_equal(bw_fit_response(&m, 3010, coap_block_encode(5, false, 6), out, sizeof(out)),
                     -2);
}

static void test_fit_passes_plain(void **state)
{
    struct coap_msg m;
    uint8_t out[COAP_MSG_MAX_UDP], b2[4];
    static const uint8_t et[2] = {'v', '1'};
    (void)state;
    /* fits, no Block2 asked: unchanged */
    resp(&m, 500, et);
    assert_int_equal(bw_fit_response(&m, 510, BW_NONE, out, sizeof(out)), 0);
    assert_int_equal(m.payload_len, 500);
    /* asked a block, answer no larger than it: unchanged */
    assert_int_equal(bw_fit_response(&m, 510, coap_block_encode(0, false, 6), out, sizeof(out)), 0);
    /* the origin's own block that fits passes as it is (its size wins) */
    resp(&m, 512, et);
    coap_msg_add_opt_uint(&m, COAP_OPT_BLOCK2, coap_block_encode(2, true, 5), b2);
    assert_int_equal(bw_fit_response(&m, 530, coap_block_encode(1, false, 6), out, sizeof(out)), 0);
}

static void test_fit_origin_blocks(void **state)
{
    struct coap_msg m, p;
    uint8_t out[COAP_MSG_MAX_UDP], b2[4], s2[4];
    static const uint8_t et[2] = {'v', '2'};
    (void)state;
    fill();
    /* a BERT block 1 (3072 bytes at 1024, more follows) from a TCP origin,
     * the client asked for 1024-byte block 2 */
    resp(&m, 3072, et);
    coap_msg_add_opt_uint(&m, COAP_OPT_BLOCK2, coap_block_encode(1, true, 7), b2);
    coap_msg_add_opt_uint(&m, COAP_OPT_SIZE2, 9000, s2);
    ssize_t n = bw_fit_response(&m, 3090, coap_block_encode(2, false, 6), out, sizeof(out));
    assert_true(n > 0);
    assert_int_equal(coap_msg_parse_udp(out, (size_t)n, &p), 0);
    assert_int_equal(opt(&p, COAP_OPT_BLOCK2), coap_block_encode(2, true, 6));
    assert_int_equal(opt(&p, COAP_OPT_SIZE2), 9000); /* the origin's Size2 stays */
    assert_memory_equal(p.payload, body + 1024, 1024);
    /* options too large for 1024 + header: a smaller block that fits */
    static uint8_t big[400];
    resp(&m, 3000, et);
    coap_msg_add_opt(&m, 65000, big, sizeof(big));
    n = bw_fit_response(&m, 3420, BW_NONE, out, 1152);
    assert_true(n > 0 && n <= 1152);
    assert_int_equal(coap_msg_parse_udp(out, (size_t)n, &p), 0);
    assert_int_equal(opt(&p, COAP_OPT_BLOCK2), coap_block_encode(0, true, 5));
    assert_int_equal(p.payload_len, 512);
    /* nothing fits at all */
    resp(&m, 3000, et);
    coap_msg_add_opt(&m, 65000, big, sizeof(big));
    assert_int_equal(bw_fit_response(&m, 3420, BW_NONE, out, 300), -1);
}

static uint64_t key_of(const char *path, uint32_t block1, const char *salt)
{
    struct coap_msg m;
    uint8_t b1[4], hl[4];
    coap_msg_init(&m);
    m.code = COAP_POST;
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, path, (uint16_t)strlen(path));
    coap_msg_add_opt_uint(&m, COAP_OPT_BLOCK1, block1, b1);
    coap_msg_add_opt_uint(&m, COAP_OPT_HOP_LIMIT, block1 & 0xff, hl);
    return bw_key(&m, salt, strlen(salt));
}

static void test_key(void **state)
{
    (void)state;
    uint64_t k = key_of("sink", coap_block_encode(0, true, 6), "a");
    assert_true(k == key_of("sink", coap_block_encode(1, true, 6), "a"));
    assert_true(k != key_of("sink", coap_block_encode(0, true, 6), "b"));
    assert_true(k != key_of("sank", coap_block_encode(0, true, 6), "a"));
}

static void test_collect(void **state)
{
    struct bw_store st;
    uint32_t slot, len;
    (void)state;
    fill();
    assert_int_equal(bw_store_init(&st, 2, 4096, 1000), 0);
    uint64_t k = 42;
    assert_int_equal(bw_collect(&st, k, coap_block_encode(0, true, 6), body, 1024, 10, &slot),
                     BW_CONTINUE);
    /* the same block again (lost 2.31): accepted, not added twice */
    assert_int_equal(bw_collect(&st, k, coap_block_encode(0, true, 6), body, 1024, 11, &slot),
                     BW_CONTINUE);
    assert_int_equal(
        bw_collect(&st, k, coap_block_encode(1, true, 6), body + 1024, 1024, 12, &slot),
        BW_CONTINUE);
    assert_int_equal(
        bw_collect(&st, k, coap_block_encode(2, false, 6), body + 2048, 952, 13, &slot), BW_DONE);
    const uint8_t *b = bw_body(&st, slot, k, &len);
    assert_non_null(b);
    assert_int_equal(len, 3000);
    assert_memory_equal(b, body, 3000);
    assert_null(bw_body(&st, slot, k + 1, &len));
    bw_release(&st, slot);
    assert_null(bw_body(&st, slot, k, &len));
    /* out of order / no earlier blocks: 4.08 */
    assert_int_equal(bw_collect(&st, k, coap_block_encode(1, true, 6), body, 1024, 20, &slot),
                     BW_INCOMPLETE);
    assert_int_equal(bw_collect(&st, k, coap_block_encode(0, true, 6), body, 1024, 20, &slot),
                     BW_CONTINUE);
    assert_int_equal(bw_collect(&st, k, coap_block_encode(2, true, 6), body, 1024, 20, &slot),
                     BW_INCOMPLETE);
    /* malformed: a middle block of the wrong size, BERT from a datagram */
    assert_int_equal(bw_collect(&st, k, coap_block_encode(0, true, 6), body, 1000, 20, &slot),
                     BW_BAD);
    assert_int_equal(bw_collect(&st, k, coap_block_encode(0, true, 7), body, 1024, 20, &slot),
                     BW_BAD);
    /* too large: 4 x 1024 fits, a fifth block does not */
    for (uint32_t n = 0; n < 4; n++)
        assert_int_equal(bw_collect(&st, 7, coap_block_encode(n, true, 6), body, 1024, 30, &slot),
                         BW_CONTINUE);
    assert_int_equal(bw_collect(&st, 7, coap_block_encode(4, false, 6), body, 10, 30, &slot),
                     BW_TOO_LARGE);
    /* restart with block 0 resets */
    assert_int_equal(bw_collect(&st, 7, coap_block_encode(0, false, 6), body, 10, 30, &slot),
                     BW_DONE);
    bw_release(&st, slot);
    bw_store_free(&st);
}

static void test_busy_and_expiry(void **state)
{
    struct bw_store st;
    uint32_t slot;
    (void)state;
    assert_int_equal(bw_store_init(&st, 2, 2048, 1000), 0);
    assert_int_equal(bw_collect(&st, 1, coap_block_encode(0, true, 6), body, 1024, 0, &slot),
                     BW_CONTINUE);
    assert_int_equal(bw_collect(&st, 2, coap_block_encode(0, true, 6), body, 1024, 0, &slot),
                     BW_CONTINUE);
    assert_int_equal(bw_collect(&st, 3, coap_block_encode(0, true, 6), body, 1024, 999, &slot),
                     BW_BUSY);
    /* upload 1 idle for timeout_ms: its slot goes to upload 3 */
    assert_int_equal(bw_collect(&st, 2, coap_block_encode(1, true, 6), body, 1024, 500, &slot),
                     BW_CONTINUE);
    assert_int_equal(bw_collect(&st, 3, coap_block_encode(0, true, 6), body, 1024, 1000, &slot),
                     BW_CONTINUE);
    assert_int_equal(bw_collect(&st, 1, coap_block_encode(1, true, 6), body, 1024, 1000, &slot),
                     BW_INCOMPLETE);
    bw_store_free(&st);
    /* no slots at all */
    assert_int_equal(bw_store_init(&st, 0, 2048, 1000), 0);
    assert_int_equal(bw_collect(&st, 1, coap_block_encode(0, true, 6), body, 1024, 0, &slot),
                     BW_BUSY);
    size_t cap;
    assert_non_null(bw_scratch(&st, 1, &cap));
    assert_int_equal(cap, 2048 + BW_SCRATCH_EXTRA);
    bw_store_free(&st);
}

static void test_hold_and_split(void **state)
{
    struct bw_store st;
    struct coap_msg m;
    enum bw_verdict why;
    uint8_t ob[8], got[5000];
    uint32_t len, num;
    unsigned szx;
    size_t got_len = 0;
    (void)state;
    fill();
    assert_int_equal(bw_store_init(&st, 1, 4096, 1000), 0);
    assert_int_equal(bw_hold(&st, 9, body, 5000, 0, &why), BW_NONE);
    assert_int_equal(why, BW_TOO_LARGE);
    uint32_t s = bw_hold(&st, 9, body, 3000, 0, &why);
    assert_int_not_equal(s, BW_NONE);
    assert_int_equal(bw_hold(&st, 10, body, 10, 0, &why), BW_NONE);
    assert_int_equal(why, BW_BUSY);
    assert_int_equal(bw_find(&st, 9, 999), s);
    assert_int_equal(bw_find(&st, 9, 1000), BW_NONE); /* expired */
    assert_int_equal(bw_find(&st, 10, 0), BW_NONE);
    const uint8_t *b = bw_body(&st, s, 9, &len);
    assert_int_equal(len, 3000);
    /* send 1024-byte blocks; the server asks for 512 after block 0 */
    coap_msg_init(&m);
    m.code = COAP_POST;
    num = 0;
    szx = 6;
    for (int k = 0; k < 10; k++) {
        assert_int_equal(bw_set_block1(&m, b, len, num, szx, ob), 0);
        uint32_t sent = coap_msg_opt_uint(&m, COAP_OPT_BLOCK1, 0);
        assert_int_equal(coap_msg_opt_uint(&m, COAP_OPT_SIZE1, 0), 3000);
        assert_int_equal(coap_msg_find(&m, COAP_OPT_BLOCK1) - m.opts + 1, m.nopts - 1);
        memcpy(got + got_len, m.payload, m.payload_len);
        got_len += m.payload_len;
        if (!(sent & 8))
            break;
        uint32_t answer = k == 0 ? coap_block_encode(0, true, 5) : sent;
        assert_int_equal(bw_next_block1(sent, answer, &num, &szx), 0);
        if (k == 0) {
            assert_int_equal(szx, 5);
            assert_int_equal(num, 2);
        }
    }
    assert_int_equal(got_len, 3000);
    assert_memory_equal(got, body, 3000);
    /* the last block has no next; a block past the end is refused */
    assert_int_equal(
        bw_next_block1(coap_block_encode(5, false, 5), coap_block_encode(5, false, 5), &num, &szx),
        -1);
    assert_int_equal(bw_set_block1(&m, b, len, 3, 6, ob), -1);
    /* an answer for a later block than we sent is not ours */
    assert_int_equal(
        bw_next_block1(coap_block_encode(0, true, 6), coap_block_encode(4, true, 6), &num, &szx),
        -1);
    bw_release(&st, s);
    bw_store_free(&st);
}

/* Regression (tests/fuzz/corpus/blockwise/regress-empty-payload-null): an
 * answer with no payload whose options alone exceed the client's size was
 * cut with NULL + 0 as its payload pointer (undefined behaviour that
 * clang's UBSan reports and gcc's does not: fuzz.smoke replays the input
 * under clang). */
static void test_fit_no_payload(void **state)
{
    struct coap_msg m, p;
    uint8_t out[COAP_MSG_MAX_UDP], loc[200];
    (void)state;
    memset(loc, 'l', sizeof(loc));
    coap_msg_init(&m);
    m.type = COAP_T_ACK;
    m.code = COAP_CONTENT;
    assert_int_equal(coap_msg_add_opt(&m, COAP_OPT_LOCATION_PATH, loc, sizeof(loc)), 0);
    ssize_t n = bw_fit_response(&m, 210, coap_block_encode(0, false, 0), out, 80);
    assert_true(n < 0 ||
                (n > 0 && coap_msg_parse_udp(out, (size_t)n, &p) == 0 && p.payload_len == 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slice2),
        cmocka_unit_test(test_fit_unblocked),
        cmocka_unit_test(test_fit_passes_plain),
        cmocka_unit_test(test_fit_no_payload),
        cmocka_unit_test(test_fit_origin_blocks),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_collect),
        cmocka_unit_test(test_busy_and_expiry),
        cmocka_unit_test(test_hold_and_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
