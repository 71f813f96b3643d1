/*
 * blockwise.c - Block2 slicing, Block1 assembly and splitting across
 * transports (RFC 7959); see blockwise.h for the model and the bounds.
 * Owns the store's memory (allocated once in bw_store_init). The slicing
 * and splitting functions are pure: they only rearrange a struct coap_msg
 * whose option values and payload stay in the caller's buffers.
 */
#include "blockwise.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static unsigned szx_udp(unsigned szx)
{
    return szx > BW_SZX_UDP ? BW_SZX_UDP : szx; /* BERT (7) is 1024-byte units */
}

int bw_slice2(size_t chunk_off, size_t chunk_len, bool more_after, uint32_t num, unsigned szx,
              struct bw_slice *out)
{
    szx = szx_udp(szx);
    size_t bs = BW_BLOCK_SIZE(szx);
    uint64_t off = (uint64_t)num * bs;
    uint64_t end = (uint64_t)chunk_off + chunk_len;

    if (off < chunk_off || off > end || (off == end && !(off == 0 && !more_after)))
        return -1;
    size_t len = (size_t)(end - off) < bs ? (size_t)(end - off) : bs;
    bool more = off + len < end || more_after;
    if (more && len != bs)
        return -2; /* the chunk ends inside the block: a smaller size may fit */
    out->off = (size_t)off;
    out->len = len;
    out->block2 = coap_block_encode(num, more, szx);
    return 0;
}

ssize_t bw_fit_response(struct coap_msg *m, size_t raw_len, uint32_t req_block2, uint8_t *out,
                        size_t cap)
{
    const struct coap_msg_opt *b2 = coap_msg_find(m, COAP_OPT_BLOCK2);
    size_t chunk_off = 0;
    bool more_after = false;
    uint32_t rnum = 0;
    unsigned rszx = BW_SZX_UDP;

    if (req_block2 != BW_NONE) {
        bool rm;
        coap_block_decode(req_block2, &rnum, &rm, &rszx);
        rszx = szx_udp(rszx);
    }
    if (b2) {
        uint32_t onum;
        unsigned oszx;
        coap_block_decode(coap_opt_value_uint(b2), &onum, &more_after, &oszx);
        chunk_off = (size_t)onum * BW_BLOCK_SIZE(szx_udp(oszx));
    }
    if (raw_len <= cap && (b2 || req_block2 == BW_NONE || m->payload_len <= BW_BLOCK_SIZE(rszx)))
        return 0; /* the plain case: nothing to cut */

    const uint8_t *payload = m->payload;
    size_t plen = m->payload_len;
    uint64_t want = (uint64_t)rnum * BW_BLOCK_SIZE(rszx);
    uint8_t b2buf[4], s2buf[4];
    coap_msg_remove_opt(m, COAP_OPT_BLOCK2);
    if (!b2)
        coap_msg_remove_opt(m, COAP_OPT_SIZE2);
    for (int szx = (int)rszx; szx >= 0; szx--) {
        struct bw_slice s;
        uint32_t num = (uint32_t)(want / BW_BLOCK_SIZE(szx));
        int rc = bw_slice2(chunk_off, plen, more_after, num, (unsigned)szx, &s);
        if (rc == -1)
            return -2;
        if (rc < 0)
            continue;
        if (coap_msg_add_opt_uint(m, COAP_OPT_BLOCK2, s.block2, b2buf) < 0 ||
            (!b2 && plen <= UINT32_MAX &&
             coap_msg_add_opt_uint(m, COAP_OPT_SIZE2, (uint32_t)plen, s2buf) < 0))
            break;
        /* an empty answer has no payload pointer: NULL + 0 is undefined
         * (found by tests/fuzz/fuzz_blockwise.c) */
        m->payload = s.len ? payload + (s.off - chunk_off) : NULL;
        m->payload_len = s.len;
        ssize_t n = coap_msg_serialize_udp(m, out, cap);
        if (n >= 0)
            return n;
        coap_msg_remove_opt(m, COAP_OPT_BLOCK2);
        if (!b2)
            coap_msg_remove_opt(m, COAP_OPT_SIZE2);
    }
    errno = EMSGSIZE;
    return -1;
}

int bw_store_init(struct bw_store *st, uint32_t nslots, uint32_t body_max, uint32_t timeout_ms)
{
    memset(st, 0, sizeof(*st));
    st->nslots = nslots;
    st->body_max = body_max;
    st->timeout_ms = timeout_ms;
    st->scratch = malloc(2 * ((size_t)body_max + BW_SCRATCH_EXTRA));
    if (!st->scratch)
        goto fail;
    if (nslots == 0)
        return 0;
    st->slots = calloc(nslots, sizeof(*st->slots));
    st->mem = malloc((size_t)nslots * (body_max ? body_max : 1));
    if (!st->slots || !st->mem)
        goto fail;
    return 0;
fail:
    bw_store_free(st);
    return -1;
}

void bw_store_free(struct bw_store *st)
{
    free(st->slots);
    free(st->mem);
    free(st->scratch);
    memset(st, 0, sizeof(*st));
}

uint8_t *bw_scratch(const struct bw_store *st, int which, size_t *cap)
{
    *cap = (size_t)st->body_max + BW_SCRATCH_EXTRA;
    return st->scratch + (which ? *cap : 0);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t bw_key(const struct coap_msg *m, const void *salt, size_t saltlen)
{
    uint64_t h = fnv(0xcbf29ce484222325ULL, salt, saltlen);
    h = fnv(h, &m->code, 1);
    for (uint16_t i = 0; i < m->nopts; i++) {
        const struct coap_msg_opt *o = &m->opts[i];
        if (o->num == COAP_OPT_BLOCK1 || o->num == COAP_OPT_BLOCK2 || o->num == COAP_OPT_SIZE1 ||
            o->num == COAP_OPT_SIZE2 || o->num == COAP_OPT_HOP_LIMIT || o->num == COAP_OPT_OSCORE)
            continue;
        uint8_t hdr[4] = {(uint8_t)(o->num >> 8), (uint8_t)o->num, (uint8_t)(o->len >> 8),
                          (uint8_t)o->len};
        h = fnv(h, hdr, sizeof(hdr));
        h = fnv(h, o->val, o->len);
    }
    return h;
}

static bool slot_live(const struct bw_store *st, const struct bw_slot *s, uint64_t now)
{
    return s->used && now - s->last_ms < st->timeout_ms;
}

/* The live slot of key, or a free (or expired) one when alloc; BW_NONE. */
static uint32_t slot_find(struct bw_store *st, uint64_t key, bool alloc, uint64_t now)
{
    uint32_t spare = BW_NONE;
    for (uint32_t i = 0; i < st->nslots; i++) {
        struct bw_slot *s = &st->slots[i];
        if (slot_live(st, s, now)) {
            if (s->key == key)
                return i;
        } else if (spare == BW_NONE) {
            spare = i;
        }
    }
    if (!alloc || spare == BW_NONE)
        return BW_NONE;
    st->slots[spare] = (struct bw_slot){.key = key, .last_ms = now, .used = true};
    return spare;
}

enum bw_verdict bw_collect(struct bw_store *st, uint64_t key, uint32_t block1, const uint8_t *p,
                           size_t n, uint64_t now_ms, uint32_t *slot)
{
    uint32_t num;
    bool more;
    unsigned szx;

    coap_block_decode(block1, &num, &more, &szx);
    if (szx > BW_SZX_UDP)
        return BW_BAD; /* BERT is for reliable transports only */
    size_t bs = BW_BLOCK_SIZE(szx);
    if (n > bs || (more && n != bs))
        return BW_BAD;
    uint32_t i = slot_find(st, key, num == 0, now_ms);
    if (i == BW_NONE)
        return num == 0 ? BW_BUSY : BW_INCOMPLETE;
    struct bw_slot *s = &st->slots[i];
    uint64_t off = (uint64_t)num * bs;
    if (num == 0)
        s->len = 0;
    if (off < s->len && off + n == s->len) {
        /* the same block again (its 2.31 got lost): nothing to add */
    } else if (off != s->len) {
        bw_release(st, i);
        return BW_INCOMPLETE;
    } else if (s->len + n > st->body_max) {
        bw_release(st, i);
        return BW_TOO_LARGE;
    } else {
        memcpy(st->mem + (size_t)i * st->body_max + s->len, p, n);
        s->len += (uint32_t)n;
    }
    s->last_ms = now_ms;
    *slot = i;
    return more ? BW_CONTINUE : BW_DONE;
}

uint32_t bw_hold(struct bw_store *st, uint64_t key, const uint8_t *body, size_t len,
                 uint64_t now_ms, enum bw_verdict *why)
{
    if (len > st->body_max) {
        *why = BW_TOO_LARGE;
        return BW_NONE;
    }
    uint32_t i = slot_find(st, key, true, now_ms);
    if (i == BW_NONE) {
        *why = BW_BUSY;
        return BW_NONE;
    }
    memcpy(st->mem + (size_t)i * st->body_max, body, len);
    st->slots[i].len = (uint32_t)len;
    st->slots[i].last_ms = now_ms;
    *why = BW_DONE;
    return i;
}

uint32_t bw_find(struct bw_store *st, uint64_t key, uint64_t now_ms)
{
    return slot_find(st, key, false, now_ms);
}

const uint8_t *bw_body(const struct bw_store *st, uint32_t slot, uint64_t key, uint32_t *len)
{
    if (slot >= st->nslots || !st->slots[slot].used || st->slots[slot].key != key)
        return NULL;
    *len = st->slots[slot].len;
    return st->mem + (size_t)slot * st->body_max;
}

void bw_touch(struct bw_store *st, uint32_t slot, uint64_t now_ms)
{
    if (slot < st->nslots)
        st->slots[slot].last_ms = now_ms;
}

void bw_release(struct bw_store *st, uint32_t slot)
{
    if (slot < st->nslots)
        st->slots[slot].used = false;
}

int bw_set_block1(struct coap_msg *m, const uint8_t *body, size_t total, uint32_t num, unsigned szx,
                  uint8_t *optbuf)
{
    size_t bs = BW_BLOCK_SIZE(szx_udp(szx));
    uint64_t off = (uint64_t)num * bs;

    if (off > total || (off == total && total != 0) || total > UINT32_MAX)
        return -1;
    size_t len = total - (size_t)off < bs ? total - (size_t)off : bs;
    bool more = off + len < total;
    coap_msg_remove_opt(m, COAP_OPT_BLOCK1);
    coap_msg_remove_opt(m, COAP_OPT_SIZE1);
    if (coap_msg_add_opt_uint(m, COAP_OPT_BLOCK1, coap_block_encode(num, more, szx_udp(szx)),
                              optbuf) < 0 ||
        coap_msg_add_opt_uint(m, COAP_OPT_SIZE1, (uint32_t)total, optbuf + 4) < 0)
        return -1;
    m->payload = body + off;
    m->payload_len = len;
    return 0;
}

int bw_next_block1(uint32_t sent, uint32_t answer, uint32_t *num, unsigned *szx)
{
    uint32_t snum, anum;
    bool smore, amore;
    unsigned sszx, aszx;

    coap_block_decode(sent, &snum, &smore, &sszx);
    coap_block_decode(answer, &anum, &amore, &aszx);
    sszx = szx_udp(sszx);
    aszx = szx_udp(aszx);
    if (!smore || (uint64_t)anum * BW_BLOCK_SIZE(aszx) > (uint64_t)snum * BW_BLOCK_SIZE(sszx))
        return -1;
    uint64_t next = ((uint64_t)snum + 1) * BW_BLOCK_SIZE(sszx);
    *szx = aszx < sszx ? aszx : sszx;
    if (next / BW_BLOCK_SIZE(*szx) > 0xfffff)
        return -1;
    *num = (uint32_t)(next / BW_BLOCK_SIZE(*szx));
    return 0;
}
