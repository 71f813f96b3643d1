/*
 * xblock.c - relay-udp's block-wise hooks for cross-transport forwarding
 * (issue 15; common/blockwise.h, docs/architecture.md "Block-wise across
 * transports"). Owns the use of r->bw (one bounded store, sized once):
 *   - requester: a UDP client's Block1 upload towards a TCP/WebSocket
 *     origin is collected here (2.31 Continue per block) and forwarded
 *     whole with the last block;
 *   - holder: another relay's request too large for a datagram goes to our
 *     UDP registrant in Block1 blocks (next block on each 2.31); a
 *     registrant that refuses block-wise makes it 4.13 with Size1.
 * Block2 towards UDP clients is cut in xfwd.c (bw_fit_response): stateless.
 * Talks to exchange.c (dx_answer), proxy.c (ux_send_request), xfwd.c.
 */
#include <string.h>

#include "log.h"
#include "proto_msg.h"
#include "relay.h"

/* The largest body a registrant takes in one datagram (Size1 of a 4.13). */
#define XB_SINGLE_MAX BW_BLOCK_SIZE(BW_SZX_UDP)

/* A response with code, one uint option (num 0: none) and a diagnostic,
 * datagram framing (the token is the caller's business). */
static ssize_t make_answer(uint8_t *buf, size_t cap, uint8_t code, uint16_t opt, uint32_t val,
                           const char *diag)
{
    struct coap_msg a;
    uint8_t v[4];

    coap_msg_init(&a);
    a.type = COAP_T_ACK;
    a.code = code;
    if (opt && coap_msg_add_opt_uint(&a, opt, val, v) < 0)
        return -1;
    if (diag) {
        a.payload = (const uint8_t *)diag;
        a.payload_len = strlen(diag);
    }
    return coap_msg_serialize_udp(&a, buf, cap);
}

static void dx_answer_opt(struct relay *r, uint32_t i, uint8_t code, uint16_t opt, uint32_t val,
                          const char *diag, uint64_t now)
{
    uint8_t b[160];
    ssize_t n = make_answer(b, sizeof(b), code, opt, val, diag);
    if (n < 0 || dx_answer(r, i, b, (size_t)n, 0xff, true, now) < 0)
        dx_answer_local(r, i, code, diag ? diag : "", now);
}

/* The key of a client's block-wise request: its address, the host, the
 * method and the options that stay the same from block to block. */
static uint64_t client_key(const struct dexch *d, const struct coap_msg *m, const char *host)
{
    uint8_t salt[sizeof(d->peer) + RR_HOST_MAX];
    size_t hl = strnlen(host, RR_HOST_MAX);

    memcpy(salt, &d->peer, sizeof(d->peer));
    memcpy(salt + sizeof(d->peer), host, hl);
    return bw_key(m, salt, sizeof(d->peer) + hl);
}

int xblock_collect(struct relay *r, uint32_t i, struct coap_msg *m, const char *host, uint64_t now)
{
    struct dexch *d = &r->dx[i];
    uint32_t slot, len;
    uint64_t key = client_key(d, m, host) & ~(uint64_t)1; /* uploads even, copies odd */
    uint32_t b1 = coap_msg_opt_uint(m, COAP_OPT_BLOCK1, 0);
    switch (bw_collect(&r->bw, key, b1, m->payload, m->payload_len, now, &slot)) {
    case BW_CONTINUE:
        dx_answer_opt(r, i, COAP_CONTINUE, COAP_OPT_BLOCK1, b1, NULL, now);
        return 1;
    case BW_DONE:
        break;
    case BW_INCOMPLETE:
        dx_answer_local(r, i, COAP_REQUEST_INCOMPLETE, "earlier blocks missing", now);
        return 1;
    case BW_TOO_LARGE:
        dx_answer_opt(r, i, COAP_TOO_LARGE, COAP_OPT_SIZE1, r->bw.body_max,
                      "body larger than the relay's block_body_max", now);
        return 1;
    case BW_BUSY:
        dx_answer_local(r, i, COAP_SERVICE_UNAVAILABLE, "too many block-wise transfers", now);
        return 1;
    default:
        dx_answer_local(r, i, COAP_BAD_REQUEST, "malformed Block1", now);
        return 1;
    }
    /* the last block: m carries the whole body from now on. The slot is
     * free again at once; its bytes stay untouched until the caller has
     * serialised m (single-threaded, no other upload in between). */
    m->payload = bw_body(&r->bw, slot, key, &len);
    m->payload_len = len;
    d->b1echo = b1;
    /* the block-wise operation ends here (RFC 9175 §3: Request-Tag
     * belongs to it), the origin sees one plain request */
    coap_msg_remove_opt(m, COAP_OPT_BLOCK1);
    coap_msg_remove_opt(m, COAP_OPT_SIZE1);
    coap_msg_remove_opt(m, COAP_OPT_REQUEST_TAG);
    bw_release(&r->bw, slot);
    return 0;
}

int xblock_from_copy(struct relay *r, uint32_t i, const struct coap_msg *m, const char *host,
                     uint64_t now)
{
    struct dexch *d = &r->dx[i];
    uint8_t out[COAP_MSG_MAX_UDP];
    struct coap_msg a;
    uint32_t len;

    d->bkey = 0;
    if (m->code == COAP_GET || m->code == COAP_FETCH || r->bw.nslots == 0)
        return 0;                         /* safe: later blocks are fetched again and cut */
    d->bkey = client_key(d, m, host) | 1; /* never 0; uploads have even keys */
    if (d->blk2 == BW_NONE || d->blk2 >> 4 == 0)
        return 0;
    uint32_t s = bw_find(&r->bw, d->bkey, now);
    const uint8_t *raw = s == BW_NONE ? NULL : bw_body(&r->bw, s, d->bkey, &len);
    if (!raw || coap_msg_parse_udp(raw, len, &a) < 0)
        return 0;
    ssize_t k = bw_fit_response(&a, len, d->blk2, out, sizeof(out));
    if (k <= 0) {
        bw_release(&r->bw, s);
        if (k == -2) {
            dx_answer_local(r, i, COAP_BAD_OPTION, "block beyond the end of the representation",
                            now);
            return 1;
        }
        return 0;
    }
    if (coap_msg_opt_uint(&a, COAP_OPT_BLOCK2, 0) & 8)
        bw_touch(&r->bw, s, now);
    else
        bw_release(&r->bw, s); /* the last block went out */
    d->bkey = 0;
    dx_answer(r, i, out, (size_t)k, 0xff, true, now);
    return 1;
}

void xblock_keep(struct relay *r, uint32_t i, const uint8_t *raw, size_t n, uint64_t now)
{
    struct dexch *d = &r->dx[i];
    enum bw_verdict why;

    /* only block 0 starts a copy: a later block without one is the
     * origin's own answer again */
    if (d->bkey && (d->blk2 == BW_NONE || d->blk2 >> 4 == 0) &&
        bw_hold(&r->bw, d->bkey, raw, n, now, &why) == BW_NONE)
        log_debug("no room to keep a %zu-byte answer for its later blocks", n);
}

/* Send block (num, szx) of the held body; m is the request (any block). */
static int send_block(struct relay *r, uint32_t ui, struct coap_msg *m, uint32_t num, unsigned szx,
                      uint64_t now)
{
    struct uexch *u = &r->ux[ui];
    const uint8_t *body;
    uint8_t opts[8], probe[COAP_MSG_MAX_UDP];
    uint32_t total;
    struct rr_peer path;

    body = bw_body(&r->bw, u->b1slot, u->h.req_id, &total);
    if (!body)
        return -1;
    /* the largest block whose datagram fits (the options stay as sent) */
    for (;; szx--) {
        if (bw_set_block1(m, body, total, num, szx, opts) < 0)
            return -1;
        if (coap_msg_serialize_udp(m, probe, sizeof(probe)) >= 0 || szx == 0)
            break;
        num *= 2;
    }
    u->b1sent = coap_msg_opt_uint(m, COAP_OPT_BLOCK1, 0);
    memset(&path, 0, sizeof(path));
    path.remote = u->out.remote;
    path.local = u->out.local;
    bw_touch(&r->bw, u->b1slot, now);
    u->h.state = UX_SENT; /* a separate answer to the last block may have left it WAITSEP */
    return ux_send_request(r, ui, m, &path, now);
}

/* XFWD_RESPONSE with a datagram we made (or the endpoint's final answer):
 * its type is the kind. 0 / -1. */
static int answer_requester(struct relay *r, uint32_t ui, const uint8_t *buf, ssize_t n)
{
    struct coap_msg a;
    if (n < 0 || coap_msg_parse_udp(buf, (size_t)n, &a) < 0)
        return -1;
    return rc_ux_xfwd_answer(&r->core, ui, RR_EP_OK, &a, a.type == COAP_T_RST ? RR_XK_ACK : a.type);
}

int xblock_split_start(struct relay *r, uint32_t ui, struct coap_msg *m, const struct rr_peer *path,
                       uint64_t now)
{
    struct uexch *u = &r->ux[ui];
    enum bw_verdict why;

    u->b1slot = bw_hold(&r->bw, u->h.req_id, m->payload, m->payload_len, now, &why);
    if (u->b1slot == BW_NONE) {
        uint8_t buf[160];
        ssize_t n = why == BW_TOO_LARGE
                        ? make_answer(buf, sizeof(buf), COAP_TOO_LARGE, COAP_OPT_SIZE1,
                                      r->bw.body_max, "body larger than the relay's block_body_max")
                        : make_answer(buf, sizeof(buf), COAP_SERVICE_UNAVAILABLE, 0, 0,
                                      "too many block-wise transfers");
        if (answer_requester(r, ui, buf, n) < 0)
            return -1;
        return 1;
    }
    /* ux_send_request needs the path's socket: the first block takes it */
    u->out.remote = path->remote;
    u->out.local = path->local;
    if (send_block(r, ui, m, 0, BW_SZX_UDP, now) < 0) {
        bw_release(&r->bw, u->b1slot);
        u->b1slot = BW_NONE;
        return -1;
    }
    return 0;
}

int xblock_on_answer(struct relay *r, uint32_t ui, const struct coap_msg *m, uint64_t now)
{
    struct uexch *u = &r->ux[ui];
    uint8_t buf[COAP_MSG_MAX_UDP];
    bool more = (u->b1sent & 8) != 0;
    ssize_t n;

    if (m->code == COAP_CONTINUE && more) {
        uint32_t num;
        unsigned szx;
        struct coap_msg req;
        uint8_t sent[COAP_MSG_MAX_UDP];
        memcpy(sent, u->out.buf, u->out.len);
        if (bw_next_block1(u->b1sent, coap_msg_opt_uint(m, COAP_OPT_BLOCK1, u->b1sent), &num,
                           &szx) == 0 &&
            coap_msg_parse_udp(sent, u->out.len, &req) == 0 &&
            send_block(r, ui, &req, num, szx, now) == 0) {
            th_arm(&r->core.timers, &u->h.t, now + r->cfg.upstream_timeout_ms);
            return 1;
        }
        n = make_answer(buf, sizeof(buf), COAP_BAD_GATEWAY, 0, 0, "block-wise upload failed");
    } else if (more && (m->code == COAP_BAD_OPTION || m->code == COAP_TOO_LARGE ||
                        m->code == COAP_CODE(5, 1) || m->code == COAP_BAD_REQUEST)) {
        /* the registrant refuses block-wise: what fits in one datagram */
        uint32_t size1 = coap_msg_opt_uint(m, COAP_OPT_SIZE1, XB_SINGLE_MAX);
        log_debug("%s refuses Block1 (%u.%02u): 4.13", u->h.host, COAP_CODE_CLASS(m->code),
                  COAP_CODE_DETAIL(m->code));
        n = make_answer(buf, sizeof(buf), COAP_TOO_LARGE, COAP_OPT_SIZE1, size1,
                        "registrant takes no block-wise request bodies");
    } else {
        /* the final answer: our Block1 is no business of the requester's */
        struct coap_msg a = *m;
        coap_msg_remove_opt(&a, COAP_OPT_BLOCK1);
        n = coap_msg_serialize_udp(&a, buf, sizeof(buf));
    }
    bw_release(&r->bw, u->b1slot);
    u->b1slot = BW_NONE;
    if (answer_requester(r, ui, buf, n) < 0)
        rc_ux_xfwd_answer(&r->core, ui, RR_EP_UNREACHABLE, NULL, RR_XK_ACK);
    ux_release(r, ui);
    return 1;
}

void xblock_forget(struct relay *r, uint32_t ui)
{
    struct uexch *u = &r->ux[ui];
    if (u->h.origin == UX_O_XFWD && u->b1slot != BW_NONE) {
        bw_release(&r->bw, u->b1slot);
        u->b1slot = BW_NONE;
    }
}
