/*
 * fuzz_blockwise.c - libFuzzer target for block-wise transfers
 * (common/blockwise.c). Input: 8 header bytes (the client's Block2 value,
 * the client's message size cap, selector bits) and then an origin's
 * response datagram, which bw_fit_response cuts for the client; the same
 * bytes drive a Block1 upload into a small store as (u32 block1, u16 len,
 * bytes) records, and the Block1 splitter.
 * Invariants: a cut answer fits the cap, parses, carries one Block2 whose
 * block lies inside the origin's representation with the payload taken
 * from it; the store never holds more than body_max and gives back what
 * was collected; every split block lies inside the body.
 */
#include <stddef.h>
#include <stdint.h>

#include "blockwise.h"
#include "fuzz_check.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void fit(const uint8_t *data, size_t size)
{
    static uint8_t out[70000];
    struct coap_msg m, cut;
    uint32_t req_b2 = be32(data);
    size_t cap = 16 + ((size_t)data[4] << 8 | data[5]);
    const uint8_t *raw = data + 8;
    size_t raw_len = size - 8;

    if (data[6] & 1)
        req_b2 = BW_NONE;
    if (coap_msg_parse_udp(raw, raw_len, &m) != 0)
        return;
    const uint8_t *pl = m.payload;
    size_t plen = m.payload_len;
    ssize_t n = bw_fit_response(&m, raw_len, req_b2, out, cap);
    if (n <= 0)
        return;
    FUZZ_CHECK((size_t)n <= cap);
    FUZZ_CHECK(coap_msg_parse_udp(out, (size_t)n, &cut) == 0);
    const struct coap_msg_opt *b2 = coap_msg_find(&cut, COAP_OPT_BLOCK2);
    FUZZ_CHECK(b2 != NULL && coap_msg_find_next(&cut, b2) == NULL);
    FUZZ_CHECK(cut.payload_len <= plen);
    /* the slice is the origin's own bytes */
    FUZZ_CHECK(cut.payload_len == 0 || memmem(pl, plen, cut.payload, cut.payload_len) != NULL);
}

static void upload(const uint8_t *data, size_t size)
{
    struct bw_store st;
    uint32_t slot = BW_NONE;
    size_t off = 8, collected = 0;
    uint64_t now = 1000;

    if (bw_store_init(&st, 2, 4096, 30000) != 0)
        return;
    while (off + 6 <= size) {
        uint32_t b1 = be32(data + off);
        size_t n = (size_t)data[off + 4] << 8 | data[off + 5];
        off += 6;
        if (n > size - off)
            n = size - off;
        enum bw_verdict v = bw_collect(&st, 42, b1, data + off, n, now, &slot);
        off += n;
        now += 10;
        if (v == BW_CONTINUE || v == BW_DONE) {
            uint32_t len;
            const uint8_t *body = bw_body(&st, slot, 42, &len);
            FUZZ_CHECK(body != NULL && len <= 4096);
            collected = len;
        }
        if (v == BW_DONE)
            bw_release(&st, slot);
    }
    (void)collected;
    enum bw_verdict why;
    uint32_t h = bw_hold(&st, 7, data, size, now, &why);
    if (h != BW_NONE) {
        uint32_t len;
        const uint8_t *body = bw_body(&st, h, 7, &len);
        FUZZ_CHECK(body && len == size && memcmp(body, data, size) == 0);
    } else {
        FUZZ_CHECK(why == BW_TOO_LARGE || why == BW_BUSY);
    }
    bw_store_free(&st);
}

static void split(const uint8_t *data, size_t size)
{
    struct coap_msg m;
    uint8_t optbuf[8];
    uint32_t num = be32(data) & 0xfffff;
    unsigned szx = data[6] >> 5;

    coap_msg_init(&m);
    m.code = COAP_POST;
    if (bw_set_block1(&m, data, size, num, szx, optbuf) == 0) {
        FUZZ_CHECK(m.payload >= data && m.payload + m.payload_len <= data + size);
        uint32_t b1 = coap_msg_opt_uint(&m, COAP_OPT_BLOCK1, BW_NONE), nnum;
        unsigned nszx;
        FUZZ_CHECK(b1 != BW_NONE);
        if (bw_next_block1(b1, be32(data + 2) & 0xffffff, &nnum, &nszx) == 0)
            FUZZ_CHECK(nszx <= BW_SZX_UDP && nnum <= 0xfffff);
    }
    (void)bw_key(&m, data, size < 16 ? size : 16);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    fit(data, size);
    upload(data, size);
    split(data, size);
    struct bw_slice s;
    size_t coff = (size_t)be32(data) & 0xffffff, clen = size;
    if (bw_slice2(coff, clen, data[7] & 1, be32(data + 4) & 0xfffff, data[7] >> 5, &s) == 0)
        FUZZ_CHECK(s.off >= coff && s.off + s.len <= coff + clen);
    return 0;
}
