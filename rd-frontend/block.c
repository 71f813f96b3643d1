/*
 * block.c - building and serialising rd-frontend's CoAP responses, and
 * block-wise transfer (RFC 7959) on the RD side.
 * Owns: the Block1 reassembly slots in struct frontend (registration
 * payloads larger than one block, answered with 2.31 Continue until the
 * last block). Block2: a 2.05 larger than the block size (1024 bytes, or
 * the smaller size the client asked for) is sliced; the client fetches the
 * next blocks with GET + Block2, which re-runs the lookup and slices again.
 * Talks to nothing; rd_request.c and observe.c call it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "frontend.h"

#define BLOCK1_IDLE_MS 60000

void rd_reply_init(struct rd_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->content_format = -1;
    sb_init(&r->body);
}

void rd_reply_free(struct rd_reply *r)
{
    sb_free(&r->body);
}

void rd_reply_error(struct rd_reply *r, uint8_t code, const char *fmt, ...)
{
    char text[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    r->code = code;
    r->content_format = 0; /* text/plain diagnostic */
    r->location = 0;
    r->has_observe = false;
    sb_reset(&r->body);
    sb_puts(&r->body, text);
}

int rd_reply_serialize(struct rd_reply *r, const struct coap_msg *req, unsigned default_szx,
                       struct strbuf *out)
{
    struct coap_msg m;
    uint8_t obuf[7][4];
    char idbuf[24];
    const uint8_t *payload = (const uint8_t *)r->body.buf;
    size_t plen = r->body.len;
    const struct coap_msg_opt *b2 = coap_msg_find(req, COAP_OPT_BLOCK2);
    unsigned szx = default_szx;
    uint32_t num = 0;
    ssize_t n;

    if (b2 != NULL) {
        bool more;
        unsigned rszx;
        coap_block_decode(coap_opt_value_uint(b2), &num, &more, &rszx);
        if (rszx < szx)
            szx = rszx;
    }
    coap_msg_init(&m);
    if (r->code == COAP_CONTENT && (b2 != NULL || plen > (16u << szx))) {
        size_t bsz = 16u << szx, off = (size_t)num * bsz;
        if (off >= plen && !(plen == 0 && num == 0)) {
            rd_reply_error(r, COAP_BAD_OPTION, "block %u out of range", (unsigned)num);
            payload = (const uint8_t *)r->body.buf;
            plen = r->body.len;
        } else {
            bool more = off + bsz < plen;
            payload += off;
            plen = more ? bsz : plen - off;
            coap_msg_add_opt_uint(&m, COAP_OPT_BLOCK2, coap_block_encode(num, more, szx), obuf[0]);
            coap_msg_add_opt_uint(&m, COAP_OPT_SIZE2, (uint32_t)r->body.len, obuf[1]);
        }
    }
    m.type = COAP_T_ACK;
    m.code = r->code;
    m.msgid = req->msgid;
    m.tkl = req->tkl;
    memcpy(m.token, req->token, req->tkl);
    if (r->has_observe)
        coap_msg_add_opt_uint(&m, COAP_OPT_OBSERVE, r->observe & 0xffffff, obuf[2]);
    if (r->location > 0) {
        int l = snprintf(idbuf, sizeof(idbuf), "%lld", (long long)r->location);
        coap_msg_add_opt(&m, COAP_OPT_LOCATION_PATH, "reg", 3);
        coap_msg_add_opt(&m, COAP_OPT_LOCATION_PATH, idbuf, (uint16_t)l);
    }
    if (r->content_format >= 0)
        coap_msg_add_opt_uint(&m, COAP_OPT_CONTENT_FORMAT, (uint32_t)r->content_format, obuf[3]);
    if (r->has_block1)
        coap_msg_add_opt_uint(&m, COAP_OPT_BLOCK1, r->block1, obuf[4]);
    if (r->size1)
        coap_msg_add_opt_uint(&m, COAP_OPT_SIZE1, r->size1, obuf[5]);
    if (r->has_max_age)
        coap_msg_add_opt_uint(&m, COAP_OPT_MAX_AGE, r->max_age, obuf[6]);
    m.payload = plen ? payload : NULL;
    m.payload_len = plen;
    sb_reset(out);
    /* options here are few and short: 128 bytes of headroom is plenty */
    size_t cap = plen + 128;
    char *tmp = malloc(cap);
    if (tmp == NULL)
        return -1;
    n = coap_msg_serialize_udp(&m, (uint8_t *)tmp, cap);
    if (n >= 0)
        sb_append(out, tmp, (size_t)n);
    free(tmp);
    return n < 0 || out->oom ? -1 : 0;
}

static void block1_key(const struct rr_peer *peer, const struct coap_msg *req, char *key,
                       size_t len)
{
    char a[RR_ADDRSTRLEN];
    int n = snprintf(key, len, "%s|%s|%llu", peer->relay, addr_to_str(&peer->remote, a, sizeof(a)),
                     (unsigned long long)peer->conn_id);

    for (const struct coap_msg_opt *o = req->opts; o < req->opts + req->nopts; o++) {
        if ((o->num == COAP_OPT_URI_PATH || o->num == COAP_OPT_URI_QUERY) && n >= 0 &&
            (size_t)n < len)
            n += snprintf(key + n, len - (size_t)n, "|%u:%.*s", o->num, (int)o->len,
                          (const char *)o->val);
    }
}

void rd_block1_gc(struct frontend *fe)
{
    for (int i = 0; i < RD_MAX_BLOCK1; i++) {
        struct rd_block1 *b = &fe->block1[i];
        if (b->used && fe->now > b->last + BLOCK1_IDLE_MS) {
            b->used = false;
            sb_free(&b->buf);
        }
    }
}

int rd_block1_feed(struct frontend *fe, const struct rr_peer *peer, const struct coap_msg *req,
                   struct rd_reply *reply, const uint8_t **payload, size_t *len)
{
    const struct coap_msg_opt *o = coap_msg_find(req, COAP_OPT_BLOCK1);
    struct rd_block1 *b = NULL, *oldest = NULL;
    char key[512];
    uint32_t num;
    bool more;
    unsigned szx;

    if (o == NULL) {
        *payload = req->payload;
        *len = req->payload_len;
        return 1;
    }
    coap_block_decode(coap_opt_value_uint(o), &num, &more, &szx);
    if (szx > 6) {
        rd_reply_error(reply, COAP_BAD_OPTION, "BERT blocks not supported");
        return 0;
    }
    if (lim_payload(fe, peer, coap_msg_opt_uint(req, COAP_OPT_SIZE1, 0), reply) < 0)
        return 0;
    block1_key(peer, req, key, sizeof(key));
    for (int i = 0; i < RD_MAX_BLOCK1; i++) {
        struct rd_block1 *c = &fe->block1[i];
        if (c->used && strcmp(c->key, key) == 0)
            b = c;
        if (oldest == NULL || !c->used || (oldest->used && c->last < oldest->last))
            if (oldest == NULL || oldest->used)
                oldest = c;
    }
    if (num == 0) {
        if (b == NULL && lim_block1_busy(fe, peer, oldest->used, oldest->last, reply) < 0)
            return 0; /* every slot busy: nobody's transfer is pushed out */
        if (b == NULL) {
            b = oldest; /* a free slot, or the least recently used, idle one */
            sb_free(&b->buf);
            sb_init(&b->buf);
        }
        b->used = true;
        snprintf(b->key, sizeof(b->key), "%s", key);
        sb_reset(&b->buf);
        b->next_num = 0;
        b->szx = szx;
    }
    if (b == NULL || num != b->next_num) {
        rd_reply_error(reply, COAP_REQUEST_INCOMPLETE, "block %u out of sequence", (unsigned)num);
        return 0;
    }
    b->last = fe->now;
    if (lim_payload(fe, peer, b->buf.len + req->payload_len, reply) < 0) {
        b->used = false;
        return 0;
    }
    sb_append(&b->buf, req->payload, req->payload_len);
    b->next_num = num + 1;
    reply->has_block1 = true;
    reply->block1 = coap_block_encode(num, more, szx);
    if (more) {
        reply->code = COAP_CONTINUE;
        return 0;
    }
    b->used = false; /* complete; the buffer stays valid until the slot is reused */
    *payload = (const uint8_t *)b->buf.buf;
    *len = b->buf.len;
    return 1;
}
