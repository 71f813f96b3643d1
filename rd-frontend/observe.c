/*
 * observe.c - RFC 7641 Observe on endpoint and resource lookup.
 * Owns the observer list in struct frontend: one entry per (peer, token),
 * with the lookup query and a hash of the last representation sent. After
 * a batch that changed registrations (fe->dirty) the lookups the changes
 * can affect (lookup_may_change: the lookup index records which keys the
 * batch touched) are re-run and, if the representation changed, a
 * notification (2.05 with the
 * next Observe sequence number, first block if large) goes to the relay
 * named in the peer as RD_NOTIFY; the relay owns the message layer and
 * tells us with OBSERVE_GONE when the client is gone.
 */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "frontend.h"
#include "log.h"

uint64_t observe_hash(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 14695981039346656037ull;

    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

static bool same_peer(const struct rr_peer *a, const struct rr_peer *b)
{
    return a->transport == b->transport && strcmp(a->relay, b->relay) == 0 &&
           addr_equal(&a->remote, &b->remote) && a->conn_id == b->conn_id;
}

static struct rd_observer **find(struct frontend *fe, const struct rr_peer *peer,
                                 const uint8_t *token, size_t tkl)
{
    struct rd_observer **pp;

    for (pp = &fe->observers; *pp; pp = &(*pp)->next)
        if ((*pp)->tkl == tkl && memcmp((*pp)->token, token, tkl) == 0 &&
            same_peer(&(*pp)->peer, peer))
            return pp;
    return NULL;
}

/* ---- the observer index: watch keys -> observers ---- */

static void index_observer(struct frontend *fe, struct rd_observer *o)
{
    uint64_t h[RD_OBS_WATCH];

    o->nwatch = (uint8_t)lookup_watch_keys(o->res, &o->q, h, RD_OBS_WATCH);
    if (o->nwatch == 0) {
        o->unext = fe->obs_unkeyed;
        fe->obs_unkeyed = o;
        return;
    }
    for (unsigned k = 0; k < o->nwatch; k++) {
        struct rd_obs_node *n = &o->watch[k], **b = &fe->obs_index[h[k] % RD_OBS_BUCKETS];
        n->h = h[k];
        n->o = o;
        n->next = *b;
        *b = n;
    }
}

static void unindex_observer(struct frontend *fe, struct rd_observer *o)
{
    struct rd_observer **up;

    if (o->nwatch == 0) {
        for (up = &fe->obs_unkeyed; *up; up = &(*up)->unext)
            if (*up == o) {
                *up = o->unext;
                break;
            }
        return;
    }
    for (unsigned k = 0; k < o->nwatch; k++) {
        struct rd_obs_node **np = &fe->obs_index[o->watch[k].h % RD_OBS_BUCKETS];
        for (; *np; np = &(*np)->next)
            if (*np == &o->watch[k]) {
                *np = o->watch[k].next;
                break;
            }
    }
    o->nwatch = 0;
}

static void unlink_observer(struct frontend *fe, struct rd_observer **pp)
{
    struct rd_observer *o = *pp;

    unindex_observer(fe, o);
    *pp = o->next;
    free(o);
    fe->nobservers--;
}

bool observe_request(struct frontend *fe, const struct rr_peer *peer, const struct coap_msg *req,
                     bool res, const struct rd_query *q, const struct strbuf *rep, uint32_t *seq)
{
    uint32_t v = coap_msg_opt_uint(req, COAP_OPT_OBSERVE, 1);
    struct rd_observer **pp = find(fe, peer, req->token, req->tkl);
    struct rd_observer *o;
    const struct coap_msg_opt *b2 = coap_msg_find(req, COAP_OPT_BLOCK2);
    uint32_t num = 0;
    bool more;
    unsigned szx = RD_DEFAULT_BLOCK_SZX;

    if (b2 != NULL) {
        coap_block_decode(coap_opt_value_uint(b2), &num, &more, &szx);
        if (szx > RD_DEFAULT_BLOCK_SZX)
            szx = RD_DEFAULT_BLOCK_SZX;
    }
    if (v != 0 || num != 0) {
        /* deregistration (Observe: 1), or a later block: not a registration */
        if (v == 1 && pp != NULL)
            unlink_observer(fe, pp);
        return false;
    }
    if (pp != NULL) {
        o = *pp; /* re-registration with the same token: replace the query */
        unindex_observer(fe, o);
    } else {
        if (!lim_observer(fe, peer)) /* counted, logged (rate-limited) */
            return false;
        o = calloc(1, sizeof(*o));
        if (o == NULL)
            return false;
        o->peer = *peer;
        o->tkl = req->tkl;
        memcpy(o->token, req->token, req->tkl);
        o->next = fe->observers;
        fe->observers = o;
        fe->nobservers++;
    }
    o->res = res;
    o->q = *q;
    index_observer(fe, o);
    o->szx = szx;
    o->last_hash = observe_hash(rep->buf ? rep->buf : "", rep->len);
    *seq = ++fe->obs_seq & 0xffffff;
    return true;
}

void observe_gone(struct frontend *fe, const struct rr_peer *peer, const uint8_t *token, size_t tkl)
{
    struct rr_peer p = *peer;
    struct rd_observer **pp;

    addr_normalise(&p.remote);
    pp = find(fe, &p, token, tkl);
    if (pp != NULL)
        unlink_observer(fe, pp);
}

static void notify(struct frontend *fe, struct rd_observer *o, struct rd_reply *reply)
{
    struct coap_msg req;
    struct strbuf coap;
    uint8_t body[2048];
    struct wire_w w;
    uint8_t b2[4];

    /* A fake request carrying the observer's token and block size. */
    coap_msg_init(&req);
    req.tkl = o->tkl;
    memcpy(req.token, o->token, o->tkl);
    if (o->szx < RD_DEFAULT_BLOCK_SZX)
        coap_msg_add_opt_uint(&req, COAP_OPT_BLOCK2, coap_block_encode(0, false, o->szx), b2);
    reply->has_observe = true;
    reply->observe = ++fe->obs_seq & 0xffffff;
    sb_init(&coap);
    if (rd_reply_serialize(reply, &req, RD_DEFAULT_BLOCK_SZX, &coap) == 0) {
        /* confirmable: the relay learns when the client is gone */
        const struct rr_msg_rd_notify m = {
            .peer = o->peer, .confirmable = 1, .coap = {(const uint8_t *)coap.buf, coap.len}};
        wire_w_init(&w, body, sizeof(body));
        if (proto_enc_rd_notify(&w, &m) == 0)
            fe_queue(fe, false, (const uint8_t *)o->peer.relay, strlen(o->peer.relay),
                     RR_MSG_RD_NOTIFY, body, w.len);
    }
    sb_free(&coap);
}

/* Re-run o's lookup if the batch can have changed it; notify on a change. */
static void reevaluate(struct frontend *fe, struct rd_observer *o)
{
    struct rd_reply reply;

    if (!lookup_may_change(fe, o->res, &o->q))
        return;
    rd_reply_init(&reply);
    lookup_run(fe, o->res, &o->q, &reply.body);
    uint64_t h = observe_hash(reply.body.buf ? reply.body.buf : "", reply.body.len);
    if (h != o->last_hash) {
        o->last_hash = h;
        reply.code = COAP_CONTENT;
        reply.content_format = COAP_CF_LINK_FORMAT;
        notify(fe, o, &reply);
    }
    rd_reply_free(&reply);
}

void observe_flush(struct frontend *fe)
{
    const uint64_t *t;
    size_t nt;

    if (!fe->dirty) {
        aidx_touch_reset(&fe->reg.idx);
        return;
    }
    fe->dirty = false;
    if (fe->reg.idx.touched_all) {
        for (struct rd_observer *o = fe->observers; o; o = o->next)
            reevaluate(fe, o);
        aidx_touch_reset(&fe->reg.idx);
        return;
    }
    /* only the observers a touched key names, and those without keys:
     * a change costs what it can affect, not the number of observers */
    fe->obs_mark++;
    t = aidx_touched_list(&fe->reg.idx, &nt);
    for (size_t i = 0; i < nt; i++) {
        if (i > 0 && t[i] == t[i - 1])
            continue;
        for (struct rd_obs_node *n = fe->obs_index[t[i] % RD_OBS_BUCKETS]; n; n = n->next) {
            if (n->h != t[i] || n->o->mark == fe->obs_mark)
                continue;
            n->o->mark = fe->obs_mark;
            reevaluate(fe, n->o);
        }
    }
    for (struct rd_observer *o = fe->obs_unkeyed; o; o = o->unext)
        reevaluate(fe, o);
    aidx_touch_reset(&fe->reg.idx);
}

void observe_free_all(struct frontend *fe)
{
    while (fe->observers)
        unlink_observer(fe, &fe->observers);
}
