/*
 * exchange.c - relay-udp's CoAP message layer state (RFC 7252 §4).
 * Owns: the arrays of downstream exchanges (client requests in flight and
 * notifications we push) and upstream exchanges (requests we send to
 * endpoints), whose slots the core's pools hand out (relay-core/dxpool.c,
 * uxpool.c), with what the message layer adds to them: the ack-wait hash
 * (remote, message id) of every CON we retransmit, empty ACKs, separate
 * responses, message ids and the message layer's timers (EMPTY_ACK_DELAY,
 * retransmission; the RD re-send, XFWD and upstream timeouts are the
 * core's); sized once at start from max_exchanges. The duplicate memory (with the answers to
 * repeat) is the per-peer table of dedup.c, sized from dedup_entries / dedup_per_peer. Nothing is
 * allocated per request. Talks to udp_io.c (sends), dedup.c, rd_path.c and proxy.c (timer
 * outcomes).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "fwd_rules.h"
#include "relay.h"

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 64;
    while (p < n)
        p <<= 1;
    return p;
}

static uint32_t key_hash(const struct rr_addr *a, uint16_t msgid)
{
    return (addr_hash(a) ^ ((uint32_t)msgid * 2654435761u)) * 0x9e3779b1u;
}

int exch_init(struct relay *r)
{
    /* two timers per exchange: the core's and the message layer's */
    if (rc_exch_alloc(&r->core, r->cfg.max_exchanges, sizeof(*r->dx), sizeof(*r->ux), 2, 16) < 0)
        return -1;
    r->dx = (struct dexch *)(void *)r->core.dx.base;
    r->ux = (struct uexch *)(void *)r->core.ux.base;
    uint32_t ndx = r->ndx = r->core.dx.n, nux = r->nux = r->core.ux.n;
    r->nack_b = pow2_at_least(ndx + nux);
    r->ack_b = malloc(r->nack_b * sizeof(uint32_t));
    if (!r->ack_b) {
        log_warnx("out of memory for %u exchanges", nux);
        return -1;
    }
    if (dd_init(&r->dd, r->cfg.dedup_entries, r->cfg.dedup_per_peer) < 0) {
        log_warnx("out of memory for %u duplicate entries", r->cfg.dedup_entries);
        return -1;
    }
    if (rc_amp_init(&r->amp, r->cfg.amplification_limit, r->cfg.echo_verified_s,
                    r->cfg.echo_verified_max) < 0) {
        log_warnx("out of memory for %u verified sources", r->cfg.echo_verified_max);
        return -1;
    }
    log_debug("duplicate memory: %u entries, %u per peer, %zu KiB", r->dd.max_entries,
              r->dd.per_peer, dd_memory(r->dd.max_entries, r->dd.per_peer) / 1024);
    memset(r->ack_b, 0xff, r->nack_b * sizeof(uint32_t));
    for (uint32_t i = 0; i < ndx; i++) {
        r->dx[i].dd = RU_NONE;
        r->dx[i].out.hnext = RU_NONE;
        th_timer_init(&r->dx[i].t_ack, RU_T_DX_ACK, i);
    }
    for (uint32_t i = 0; i < nux; i++) {
        r->ux[i].out.hnext = RU_NONE;
        r->ux[i].b1slot = BW_NONE;
        th_timer_init(&r->ux[i].t_rtx, RU_T_UX_RTX, i);
    }
    r->next_msgid = (uint16_t)random();
    return 0;
}

void exch_free(struct relay *r)
{
    rc_exch_free(&r->core);
    free(r->ack_b);
    dd_free(&r->dd);
    rc_amp_free(&r->amp);
    r->dx = NULL;
    r->ux = NULL;
    r->ack_b = NULL;
}

uint16_t exch_new_msgid(struct relay *r)
{
    return r->next_msgid++;
}

/* ---- ack-wait table ---- */

static struct ru_out *out_at(struct relay *r, uint32_t idx)
{
    return idx < r->ndx ? &r->dx[idx].out : &r->ux[idx - r->ndx].out;
}

uint32_t out_find(struct relay *r, const struct rr_addr *remote, uint16_t msgid)
{
    uint32_t b = key_hash(remote, msgid) & (r->nack_b - 1);
    for (uint32_t i = r->ack_b[b]; i != RU_NONE; i = out_at(r, i)->hnext) {
        struct ru_out *o = out_at(r, i);
        if (o->msgid == msgid && addr_equal(&o->remote, remote))
            return i;
    }
    return RU_NONE;
}

static uint32_t rtx_initial_timeout(void)
{
    return RU_ACK_TIMEOUT_MS + (uint32_t)(random() % (RU_ACK_TIMEOUT_MS * RU_ACK_RANDOM_PCT / 100));
}

void out_track(struct relay *r, uint32_t idx, struct ru_out *o)
{
    uint32_t b = key_hash(&o->remote, o->msgid) & (r->nack_b - 1);
    o->hnext = r->ack_b[b];
    r->ack_b[b] = idx;
    o->awaiting = true;
    o->tries = 0;
}

void out_start(struct relay *r, uint32_t idx, struct ru_out *o, struct rr_timer *t, uint64_t now)
{
    if (o->awaiting)
        out_stop(r, idx, o, t);
    out_track(r, idx, o);
    o->timeout_ms = rtx_initial_timeout();
    th_arm(&r->core.timers, t, now + o->timeout_ms);
}

void out_stop(struct relay *r, uint32_t idx, struct ru_out *o, struct rr_timer *t)
{
    th_cancel(&r->core.timers, t);
    if (!o->awaiting)
        return;
    uint32_t b = key_hash(&o->remote, o->msgid) & (r->nack_b - 1);
    uint32_t *pp = &r->ack_b[b];
    while (*pp != RU_NONE) {
        if (*pp == idx) {
            *pp = o->hnext;
            break;
        }
        pp = &out_at(r, *pp)->hnext;
    }
    o->hnext = RU_NONE;
    o->awaiting = false;
}

int out_on_timer(struct relay *r, struct ru_out *o, struct rr_timer *t, uint64_t now)
{
    if (o->tries >= RU_MAX_RETRANSMIT) {
        r->c.rtx_exhausted++;
        return 1;
    }
    o->tries++;
    o->timeout_ms *= 2;
    r->c.retransmissions++;
    udp_send(r, o->sock, &o->remote, &o->local, o->buf, o->len);
    th_arm(&r->core.timers, t, now + o->timeout_ms);
    return 0;
}

/* ---- raw message helpers ---- */

int coap_raw_rest(const uint8_t *buf, size_t len)
{
    if (len < 4 || (buf[0] >> 6) != 1)
        return -1;
    unsigned tkl = buf[0] & 0x0f;
    if (tkl > 8 || 4 + tkl > len)
        return -1;
    return (int)(4 + tkl);
}

ssize_t coap_rewrite(uint8_t *out, size_t cap, uint8_t type, uint8_t code, uint16_t msgid,
                     const uint8_t *tok, uint8_t tkl, const uint8_t *rest, size_t restlen)
{
    size_t n = 4 + (size_t)tkl + restlen;
    if (n > cap || tkl > 8)
        return -1;
    out[0] = (uint8_t)(0x40 | (type << 4) | tkl);
    out[1] = code;
    out[2] = (uint8_t)(msgid >> 8);
    out[3] = (uint8_t)msgid;
    memcpy(out + 4, tok, tkl);
    if (restlen)
        memmove(out + 4 + tkl, rest, restlen);
    return (ssize_t)n;
}

void send_empty(struct relay *r, int sock, const struct rr_addr *remote,
                const struct rr_addr *local, uint8_t type, uint16_t msgid)
{
    uint8_t b[4] = {(uint8_t)(0x40 | (type << 4)), 0, (uint8_t)(msgid >> 8), (uint8_t)msgid};
    udp_send(r, sock, remote, local, b, sizeof(b));
}

/* ---- downstream exchanges ---- */

/* ---- duplicate memory (dedup.c) ---- */

void dx_dedup_insert(struct relay *r, uint32_t i)
{
    struct dexch *d = &r->dx[i];
    uint32_t life = d->req_type == COAP_T_CON ? RU_EXCHANGE_LIFETIME_MS : RU_NON_LIFETIME_MS;
    d->dd = dd_insert(&r->dd, &d->peer, d->req_msgid, i, d->h.start_ms, life);
}

uint32_t dx_find_dup(struct relay *r, const struct rr_addr *peer, uint16_t msgid, uint64_t now)
{
    return dd_find(&r->dd, peer, msgid, now);
}

uint32_t dx_alloc(struct relay *r, uint64_t now)
{
    /* answered exchanges do not stay: their answers live in the duplicate
     * memory, so a free slot is there unless max_exchanges are in flight */
    uint32_t i = rc_dx_take(&r->core, NULL, now);
    if (i == RU_NONE)
        return RU_NONE;
    struct dexch *d = &r->dx[i];
    d->out_kind = DX_O_NONE;
    d->ack_sent = false;
    d->dd = RU_NONE;
    d->out.awaiting = false;
    d->out.len = 0;
    return i;
}

void dx_release(struct relay *r, uint32_t i)
{
    struct dexch *d = &r->dx[i];
    if (d->h.state == DX_FREE)
        return;
    out_stop(r, i, &d->out, &d->t_ack);
    th_cancel(&r->core.timers, &d->t_ack);
    dd_forget(&r->dd, d->dd, i); /* ended without an answer to keep */
    d->dd = RU_NONE;
    rc_dx_put(&r->core, i);
}

void dx_done(struct relay *r, uint32_t i, uint64_t now)
{
    struct dexch *d = &r->dx[i];
    (void)now;
    /* a duplicate gets the piggybacked / NON answer byte for byte, or an
     * empty ACK when the answer went separately (or nothing, if neither);
     * the copy lets the slot go at once */
    bool repeat = d->out_kind == DX_O_PIGGY || d->out_kind == DX_O_NON;
    dd_complete(&r->dd, d->dd, i, d->out.buf, repeat ? d->out.len : 0,
                d->req_type == COAP_T_CON && d->ack_sent);
    d->dd = RU_NONE;
    dx_release(r, i);
}

void dx_send_empty_ack(struct relay *r, uint32_t i)
{
    struct dexch *d = &r->dx[i];
    if (d->req_type != COAP_T_CON || d->ack_sent)
        return;
    send_empty(r, d->sock, &d->peer, &d->local, COAP_T_ACK, d->req_msgid);
    d->ack_sent = true;
    r->c.separate++;
}

void dx_arm_empty_ack(struct relay *r, uint32_t i, uint64_t now)
{
    struct dexch *d = &r->dx[i];
    if (d->req_type != COAP_T_CON)
        return;
    if (r->cfg.empty_ack_delay_ms == 0)
        dx_send_empty_ack(r, i);
    else
        th_arm(&r->core.timers, &d->t_ack, now + r->cfg.empty_ack_delay_ms);
}

void dx_on_duplicate(struct relay *r, uint32_t di, int sock, const struct rr_addr *local,
                     size_t req_len, uint64_t now)
{
    const struct dd_entry *e = &r->dd.e[di];
    const struct rr_addr *peer = &r->dd.p[e->peer].addr;
    bool ack = e->ack;

    r->c.dup_requests++;
    if (e->state == DD_PENDING) {
        /* still working (or observing): the client only needs to know we
         * have it */
        const struct dexch *d = &r->dx[e->ref];
        ack = d->req_type == COAP_T_CON && d->ack_sent;
    } else if (e->len) {
        /* the kept answer, byte for byte, from where the request came in;
         * it was sized for the first request: a short datagram with the
         * same message id must not draw it (amplify.h) */
        if (rc_amp_allows(&r->amp, peer, req_len, e->len, now))
            udp_send(r, sock, peer, local, r->dd.ans[di], e->len);
        else
            r->amp.c.dropped++;
        return;
    }
    if (ack)
        send_empty(r, sock, peer, local, COAP_T_ACK, e->msgid);
}

int dx_answer(struct relay *r, uint32_t i, const uint8_t *resp, size_t len, uint8_t notify_type,
              bool final, uint64_t now)
{
    struct dexch *d = &r->dx[i];
    int rest = coap_raw_rest(resp, len);
    uint8_t type;
    uint16_t msgid;

    if (rest < 0)
        return -1;
    /* the delay timer and any earlier notification in flight are over */
    out_stop(r, i, &d->out, &d->t_ack);
    if (notify_type != 0xff) {
        type = notify_type;
        msgid = exch_new_msgid(r);
        d->out_kind = type == COAP_T_CON ? DX_O_SEP : DX_O_NON;
    } else if (d->req_type == COAP_T_CON && !d->ack_sent) {
        type = COAP_T_ACK;
        msgid = d->req_msgid;
        d->out_kind = DX_O_PIGGY;
    } else if (d->req_type == COAP_T_CON) {
        type = COAP_T_CON;
        msgid = exch_new_msgid(r);
        d->out_kind = DX_O_SEP;
    } else {
        type = COAP_T_NON;
        msgid = exch_new_msgid(r);
        d->out_kind = DX_O_NON;
    }
    ssize_t n = coap_rewrite(d->out.buf, sizeof(d->out.buf), type, resp[1], msgid, d->h.token,
                             d->h.tkl, resp + rest, len - (size_t)rest);
    if (n < 0)
        return -1;
    d->out.len = (uint16_t)dx_amp_limit(r, i, (size_t)n, now);
    d->out.msgid = msgid;
    d->out.sock = d->sock;
    d->out.remote = d->peer;
    d->out.local = d->local;
    if (d->out.len)
        udp_send(r, d->sock, &d->peer, &d->local, d->out.buf, d->out.len);
    if (type == COAP_T_CON)
        out_start(r, i, &d->out, &d->t_ack, now);
    else if (notify_type != 0xff && !final)
        out_track(r, i, &d->out); /* a client may reject a NON notification with RST */
    if (!final) {
        d->h.state = DX_OBSERVE;
    } else if (type == COAP_T_CON) {
        th_cancel(&r->core.timers, &d->h.t);
        d->h.state = DX_SEP;
    } else {
        dx_done(r, i, now);
    }
    return 0;
}

/* Answer with a locally made response (code, text payload), as a plain
 * answer (notify_type 0xff) or a final notification. */
static int answer_text_age(struct relay *r, uint32_t i, uint8_t code, uint32_t max_age,
                           const char *payload, uint8_t notify_type, uint64_t now)
{
    uint8_t b[4 + 8 + 6 + 1 + 256];
    size_t n = 4, pl = payload ? strlen(payload) : 0;
    struct dexch *d = &r->dx[i];

    if (pl > 256)
        pl = 256;
    b[0] = (uint8_t)(0x40 | d->h.tkl);
    b[1] = code;
    b[2] = b[3] = 0;
    memcpy(b + 4, d->h.token, d->h.tkl);
    n += d->h.tkl;
    if (max_age) {
        /* Max-Age (14): delta nibble 13 + 1 extended byte, 1..4 value bytes */
        uint8_t len = max_age > 0xffffff ? 4 : max_age > 0xffff ? 3 : max_age > 0xff ? 2 : 1;
        b[n++] = (uint8_t)(13 << 4 | len);
        b[n++] = COAP_OPT_MAX_AGE - 13;
        for (int k = len - 1; k >= 0; k--)
            b[n++] = (uint8_t)(max_age >> (8 * k));
    }
    if (pl) {
        b[n++] = 0xff;
        memcpy(b + n, payload, pl);
        n += pl;
    }
    return dx_answer(r, i, b, n, notify_type, true, now);
}

static int answer_text(struct relay *r, uint32_t i, uint8_t code, const char *payload,
                       uint8_t notify_type, uint64_t now)
{
    return answer_text_age(r, i, code, 0, payload, notify_type, now);
}

int dx_answer_local_max_age(struct relay *r, uint32_t i, uint8_t code, uint32_t max_age,
                            const char *payload, uint64_t now)
{
    return answer_text_age(r, i, code, max_age, payload, 0xff, now);
}

int dx_answer_local(struct relay *r, uint32_t i, uint8_t code, const char *payload, uint64_t now)
{
    return answer_text(r, i, code, payload, 0xff, now);
}

void dx_answer_end(void *tp, uint32_t i, uint8_t code, const char *why, uint64_t now)
{
    struct relay *r = tp;
    /* an observation ends with a final (non-2.xx, RFC 7641 §3.2) CON
     * notification */
    answer_text(r, i, code, why, r->dx[i].h.state == DX_OBSERVE ? COAP_T_CON : 0xff, now);
}

/* ---- upstream exchanges ---- */

void ux_release(void *tp, uint32_t i)
{
    struct relay *r = tp;
    struct uexch *u = &r->ux[i];
    if (u->h.state == UX_FREE)
        return;
    out_stop(r, r->ndx + i, &u->out, &u->t_rtx);
    xblock_forget(r, i);
    u->have_last = false;
    rc_ux_put(&r->core, i); /* and its timeout */
}

/* ---- timers ---- */

void exch_on_timer(struct relay *r, struct rr_timer *t, uint64_t now)
{
    uint32_t i = t->owner;

    switch (t->kind) {
    case RU_T_DX_ACK: {
        struct dexch *d = &r->dx[i];
        if (!d->out.awaiting) {
            /* EMPTY_ACK_DELAY ran out: tell the client we have it */
            if (d->h.state == DX_WAIT)
                dx_send_empty_ack(r, i);
            break;
        }
        if (d->h.state == DX_NOTIFY && d->out_kind == DX_O_NON) {
            dx_release(r, i); /* nobody rejected it */
            break;
        }
        if (out_on_timer(r, &d->out, t, now) == 0)
            break;
        out_stop(r, i, &d->out, t);
        if (d->h.state == DX_OBSERVE)
            proxy_cancel_observation(r, i, now);
        else if (d->h.state == DX_NOTIFY) {
            rd_notify_gone(r, i);
            dx_release(r, i);
        } else
            dx_done(r, i, now);
        break;
    }
    case RU_T_UX_RTX: {
        struct uexch *u = &r->ux[i];
        if (out_on_timer(r, &u->out, t, now) == 0)
            break;
        out_stop(r, r->ndx + i, &u->out, t);
        rc_ux_fail(&r->core, i, COAP_GATEWAY_TIMEOUT, "endpoint did not answer", now);
        break;
    }
    default:
        log_warnx("unknown timer kind %u", t->kind);
        break;
    }
}
