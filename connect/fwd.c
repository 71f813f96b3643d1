/*
 * fwd.c - implementation of fwd.h: the transparent message-level forwarder
 * of rdrelay-connect (serve: rdrelay -> local server; reach: local clients
 * -> rdrelay). Owns the three mapping tables described in fwd.h and the
 * copies of the datagrams it may have to send again. Talks to the down and
 * up sockets it was given (send only).
 *
 * Retransmission is end to end: a retransmitted request from the down side
 * is sent up again with the same upstream message id (the upstream peer
 * deduplicates and answers again), and an upstream CON retransmission is
 * sent down again with the same down-side message id. So the forwarder keeps
 * no retransmission timers of its own; its only timer is the 5.04 for a
 * request the upstream peer never answered at all.
 */
#include "fwd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coap_msg.h"
#include "connect.h"
#include "log.h"

#define FWD_EX_MAX 1024
#define FWD_TOK_MAX 1024
#define FWD_NTF_MAX 1024
#define FWD_UP_TKL 4
#define FWD_EXCHANGE_LIFETIME_MS 247000u /* RFC 7252 EXCHANGE_LIFETIME: dedup window */
#define FWD_TOKEN_IDLE_MS 3600000u       /* a silent observation is forgotten after 1 h */
#define FWD_TICK_MS 1000u

enum ex_state { EX_FREE = 0, EX_WAITING, EX_EMPTY_ACKED, EX_ANSWERED };

struct fwd_exchange {
    uint8_t state;
    uint8_t type; /* CON or NON, as received from the down side */
    uint16_t down_mid, up_mid;
    struct rr_addr peer;
    uint8_t tkl, token[COAP_MSG_MAX_TOKEN];
    uint8_t up_token[FWD_UP_TKL];
    bool deregister; /* Observe: 1 in the request: the observation ends */
    uint64_t created, deadline, expires;
    uint8_t *up_buf; /* the datagram sent up, re-sent on retransmission */
    size_t up_len;
    uint8_t *reply; /* the last datagram sent down for it, re-sent likewise */
    size_t reply_len;
};

struct fwd_token {
    bool used;
    bool observing; /* a notification or Observe registration went through */
    struct rr_addr peer;
    uint8_t tkl, token[COAP_MSG_MAX_TOKEN];
    uint8_t up_token[FWD_UP_TKL];
    uint64_t last_used;
};

struct fwd_notif {
    bool used;
    uint8_t type;
    uint16_t up_mid, down_mid;
    struct rr_addr peer;
    uint8_t up_token[FWD_UP_TKL];
    uint64_t expires;
    uint8_t *buf;
    size_t len;
};

/* ---- small helpers ---- */

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);

    if (c != NULL)
        memcpy(c, p, n);
    return c;
}

static void set_cached(uint8_t **dst, size_t *dlen, const uint8_t *p, size_t n)
{
    free(*dst);
    *dst = dup_bytes(p, n);
    *dlen = *dst ? n : 0;
}

static void send_down(struct fwd *f, const uint8_t *buf, size_t len, const struct rr_addr *to,
                      uint64_t now)
{
    if (f->down_send != NULL)
        f->down_send(f->down_ctx, buf, len);
    else
        cn_sendto(f->down_fd, buf, len, to);
    f->last_down_tx = now;
}

static void send_up(struct fwd *f, const uint8_t *buf, size_t len)
{
    if (f->up_send != NULL)
        f->up_send(f->up_ctx, buf, len);
    else
        cn_sendto(f->up_fd, buf, len, &f->up_addr);
}

/* An empty ACK or RST with that message id. */
static void send_empty(struct fwd *f, bool up, uint8_t type, uint16_t mid, const struct rr_addr *to,
                       uint64_t now)
{
    uint8_t b[4] = {(uint8_t)(0x40 | (type << 4)), 0, (uint8_t)(mid >> 8), (uint8_t)mid};

    if (up)
        send_up(f, b, sizeof(b));
    else
        send_down(f, b, sizeof(b), to, now);
}

static void ex_free(struct fwd_exchange *e)
{
    free(e->up_buf);
    free(e->reply);
    memset(e, 0, sizeof(*e));
}

static void ntf_free(struct fwd_notif *n)
{
    free(n->buf);
    memset(n, 0, sizeof(*n));
}

/* ---- tables ---- */

static struct fwd_token *tok_find_down(struct fwd *f, const struct rr_addr *peer, uint8_t tkl,
                                       const uint8_t *token)
{
    for (unsigned i = 0; i < f->n_tok; i++) {
        struct fwd_token *t = &f->tok[i];
        if (t->used && t->tkl == tkl && memcmp(t->token, token, tkl) == 0 &&
            addr_equal(&t->peer, peer))
            return t;
    }
    return NULL;
}

static struct fwd_token *tok_find_up(struct fwd *f, uint8_t tkl, const uint8_t *up_token)
{
    if (tkl != FWD_UP_TKL)
        return NULL;
    for (unsigned i = 0; i < f->n_tok; i++) {
        struct fwd_token *t = &f->tok[i];
        if (t->used && memcmp(t->up_token, up_token, FWD_UP_TKL) == 0)
            return t;
    }
    return NULL;
}

/* The mapping for (peer, token), created if new; a full table gives up its
 * least recently used entry, preferring one that is not an observation. */
static struct fwd_token *tok_get(struct fwd *f, const struct rr_addr *peer, uint8_t tkl,
                                 const uint8_t *token, uint64_t now)
{
    struct fwd_token *t = tok_find_down(f, peer, tkl, token), *victim = NULL;
    uint32_t v;

    if (t != NULL) {
        t->last_used = now;
        return t;
    }
    for (unsigned i = 0; i < f->n_tok; i++) {
        struct fwd_token *c = &f->tok[i];
        if (!c->used) {
            victim = c;
            break;
        }
        if (victim == NULL || (victim->observing && !c->observing) ||
            (victim->observing == c->observing && c->last_used < victim->last_used))
            victim = c;
    }
    if (victim->used)
        log_debug("token table full: forgetting an old mapping");
    memset(victim, 0, sizeof(*victim));
    victim->used = true;
    victim->peer = *peer;
    victim->tkl = tkl;
    memcpy(victim->token, token, tkl);
    v = f->next_token++;
    memcpy(victim->up_token, &v, FWD_UP_TKL);
    victim->last_used = now;
    return victim;
}

static void tok_release(struct fwd *f, const uint8_t *up_token)
{
    struct fwd_token *t = tok_find_up(f, FWD_UP_TKL, up_token);

    if (t != NULL)
        memset(t, 0, sizeof(*t));
}

static struct fwd_exchange *ex_find_down(struct fwd *f, const struct rr_addr *peer, uint16_t mid)
{
    for (unsigned i = 0; i < f->n_ex; i++) {
        struct fwd_exchange *e = &f->ex[i];
        if (e->state != EX_FREE && e->down_mid == mid && addr_equal(&e->peer, peer))
            return e;
    }
    return NULL;
}

static struct fwd_exchange *ex_find_up(struct fwd *f, uint16_t up_mid)
{
    for (unsigned i = 0; i < f->n_ex; i++) {
        struct fwd_exchange *e = &f->ex[i];
        if (e->state != EX_FREE && e->up_mid == up_mid)
            return e;
    }
    return NULL;
}

static struct fwd_exchange *ex_alloc(struct fwd *f)
{
    struct fwd_exchange *victim = NULL;

    for (unsigned i = 0; i < f->n_ex; i++) {
        struct fwd_exchange *e = &f->ex[i];
        if (e->state == EX_FREE)
            return e;
        /* prefer finished exchanges, then the oldest */
        if (victim == NULL || (victim->state == EX_WAITING && e->state != EX_WAITING) ||
            ((victim->state == EX_WAITING) == (e->state == EX_WAITING) &&
             e->created < victim->created))
            victim = e;
    }
    log_debug("exchange table full: forgetting the oldest exchange");
    ex_free(victim);
    return victim;
}

static struct fwd_notif *ntf_find_up(struct fwd *f, uint16_t up_mid)
{
    for (unsigned i = 0; i < f->n_ntf; i++)
        if (f->ntf[i].used && f->ntf[i].up_mid == up_mid)
            return &f->ntf[i];
    return NULL;
}

static struct fwd_notif *ntf_find_down(struct fwd *f, const struct rr_addr *peer, uint16_t mid)
{
    for (unsigned i = 0; i < f->n_ntf; i++) {
        struct fwd_notif *n = &f->ntf[i];
        if (n->used && n->down_mid == mid && addr_equal(&n->peer, peer))
            return n;
    }
    return NULL;
}

static struct fwd_notif *ntf_alloc(struct fwd *f)
{
    struct fwd_notif *victim = NULL;

    for (unsigned i = 0; i < f->n_ntf; i++) {
        struct fwd_notif *n = &f->ntf[i];
        if (!n->used)
            return n;
        if (victim == NULL || n->expires < victim->expires)
            victim = n;
    }
    ntf_free(victim);
    return victim;
}

/* ---- life cycle ---- */

int fwd_init(struct fwd *f, int down_fd, int up_fd, const struct rr_addr *up_addr)
{
    memset(f, 0, sizeof(*f));
    f->down_fd = down_fd;
    f->up_fd = up_fd;
    f->up_addr = *up_addr;
    f->next_down_mid = (uint16_t)cn_random32();
    f->next_up_mid = (uint16_t)cn_random32();
    f->next_token = cn_random32();
    f->ex = calloc(FWD_EX_MAX, sizeof(*f->ex));
    f->tok = calloc(FWD_TOK_MAX, sizeof(*f->tok));
    f->ntf = calloc(FWD_NTF_MAX, sizeof(*f->ntf));
    if (f->ex == NULL || f->tok == NULL || f->ntf == NULL) {
        log_warnx("fwd: out of memory");
        fwd_free(f);
        return -1;
    }
    f->n_ex = FWD_EX_MAX;
    f->n_tok = FWD_TOK_MAX;
    f->n_ntf = FWD_NTF_MAX;
    return 0;
}

void fwd_free(struct fwd *f)
{
    for (unsigned i = 0; f->ex != NULL && i < f->n_ex; i++)
        ex_free(&f->ex[i]);
    for (unsigned i = 0; f->ntf != NULL && i < f->n_ntf; i++)
        ntf_free(&f->ntf[i]);
    free(f->ex);
    free(f->tok);
    free(f->ntf);
    f->ex = NULL;
    f->tok = NULL;
    f->ntf = NULL;
}

uint16_t fwd_alloc_down_mid(struct fwd *f)
{
    return f->next_down_mid++;
}

/* ---- down side ---- */

/* A request from the down side: deduplicate, map, send up. */
static void down_request(struct fwd *f, struct coap_msg *m, const struct rr_addr *from,
                         uint64_t now)
{
    struct fwd_exchange *e = ex_find_down(f, from, m->msgid);
    struct fwd_token *t;
    uint8_t out[CN_DGRAM_MAX];
    ssize_t n;

    if (e != NULL && e->tkl == m->tkl && memcmp(e->token, m->token, m->tkl) == 0) {
        /* a retransmission: ride it, do not start a second exchange */
        f->stats.retransmissions++;
        if (e->state == EX_WAITING && e->up_buf != NULL)
            send_up(f, e->up_buf, e->up_len);
        else if (e->type == COAP_T_CON && e->reply != NULL)
            send_down(f, e->reply, e->reply_len, from, now);
        return;
    }
    if (e != NULL) /* same message id, other token: the peer restarted */
        ex_free(e);

    t = tok_get(f, from, m->tkl, m->token, now);
    e = ex_alloc(f);
    e->state = EX_WAITING;
    e->type = m->type;
    e->down_mid = m->msgid;
    e->peer = *from;
    e->tkl = m->tkl;
    memcpy(e->token, m->token, m->tkl);
    memcpy(e->up_token, t->up_token, FWD_UP_TKL);
    e->created = now;
    e->expires = now + FWD_EXCHANGE_LIFETIME_MS;
    e->up_mid = f->next_up_mid++;
    if (coap_msg_find(m, COAP_OPT_OBSERVE) != NULL) {
        if (coap_msg_opt_uint(m, COAP_OPT_OBSERVE, 0) == 0)
            t->observing = true;
        else
            e->deregister = true;
    }
    /* No-Response (RFC 7967) may mean no answer ever comes: no 5.04 then */
    if (f->timeout_ms > 0 && coap_msg_find(m, COAP_OPT_NO_RESPONSE) == NULL) {
        e->deadline = now + f->timeout_ms;
        if (e->deadline < f->next_tick)
            f->next_tick = e->deadline;
    }

    m->msgid = e->up_mid;
    m->tkl = FWD_UP_TKL;
    memcpy(m->token, t->up_token, FWD_UP_TKL);
    if (f->uri_host != NULL) {
        coap_msg_remove_opt(m, COAP_OPT_URI_HOST);
        coap_msg_remove_opt(m, COAP_OPT_URI_PORT);
        if (coap_msg_add_opt(m, COAP_OPT_URI_HOST, f->uri_host, (uint16_t)strlen(f->uri_host)) < 0)
            goto toobig;
    }
    n = coap_msg_serialize_udp(m, out, sizeof(out));
    if (n < 0)
        goto toobig;
    set_cached(&e->up_buf, &e->up_len, out, (size_t)n);
    f->stats.requests++;
    send_up(f, out, (size_t)n);
    return;
toobig:
    log_warnx("request too large to forward; dropped");
    f->stats.dropped++;
    ex_free(e);
}

enum fwd_result fwd_on_down(struct fwd *f, const uint8_t *buf, size_t len,
                            const struct rr_addr *from, uint64_t now)
{
    struct coap_msg m;
    struct fwd_notif *n;

    if (coap_msg_parse_udp(buf, len, &m) < 0) {
        /* an RST/ACK needs no parse beyond the header; anything else is junk */
        log_debug("malformed datagram from the down side dropped");
        f->stats.dropped++;
        return FWD_ERROR;
    }
    if (m.code == COAP_EMPTY) {
        switch (m.type) {
        case COAP_T_CON: /* CoAP ping: we are alive */
            send_empty(f, false, COAP_T_RST, m.msgid, from, now);
            return FWD_HANDLED;
        case COAP_T_ACK:
        case COAP_T_RST:
            n = ntf_find_down(f, from, m.msgid);
            if (n == NULL)
                return FWD_NOT_MINE;
            send_empty(f, true, m.type, n->up_mid, NULL, now);
            if (m.type == COAP_T_RST) {
                /* the client rejected a notification: the observation ends
                 * upstream too (the RST does that there) and here */
                tok_release(f, n->up_token);
            }
            return FWD_HANDLED;
        default:
            return FWD_HANDLED;
        }
    }
    if (COAP_CODE_CLASS(m.code) == 0) {
        if (m.type == COAP_T_ACK || m.type == COAP_T_RST) {
            f->stats.dropped++;
            return FWD_ERROR;
        }
        down_request(f, &m, from, now);
        return FWD_HANDLED;
    }
    /* responses from the down side answer requests of the caller's own */
    return FWD_NOT_MINE;
}

/* ---- up side ---- */

/* Is this response the last one for its token (no observation goes on)? */
static void after_final(struct fwd *f, const struct coap_msg *m, const uint8_t *up_token,
                        bool deregister)
{
    struct fwd_token *t = tok_find_up(f, FWD_UP_TKL, up_token);

    if (t == NULL)
        return;
    if (coap_msg_find(m, COAP_OPT_OBSERVE) != NULL && COAP_CODE_CLASS(m->code) == 2) {
        t->observing = true;
        return;
    }
    if (!t->observing || deregister || COAP_CODE_CLASS(m->code) != 2)
        memset(t, 0, sizeof(*t));
}

static void up_ack_or_rst(struct fwd *f, struct coap_msg *m, const uint8_t *buf, size_t len,
                          uint64_t now)
{
    struct fwd_exchange *e = ex_find_up(f, m->msgid);
    uint8_t out[CN_DGRAM_MAX];
    ssize_t n;

    (void)buf;
    (void)len;
    if (e == NULL || e->state == EX_ANSWERED) {
        log_debug("late or unknown ACK/RST mid=%u from upstream dropped", m->msgid);
        return;
    }
    if (m->type == COAP_T_RST) {
        if (e->type == COAP_T_CON) {
            uint8_t b[4] = {0x70, 0, (uint8_t)(e->down_mid >> 8), (uint8_t)e->down_mid};
            set_cached(&e->reply, &e->reply_len, b, sizeof(b));
            send_down(f, b, sizeof(b), &e->peer, now);
        }
        e->state = EX_ANSWERED;
        e->deadline = 0;
        tok_release(f, e->up_token);
        return;
    }
    if (m->code == COAP_EMPTY) {
        if (e->state == EX_WAITING) {
            uint8_t b[4] = {0x60, 0, (uint8_t)(e->down_mid >> 8), (uint8_t)e->down_mid};
            e->state = EX_EMPTY_ACKED;
            e->deadline = 0; /* upstream is alive; the separate response follows */
            set_cached(&e->reply, &e->reply_len, b, sizeof(b));
            if (e->type == COAP_T_CON)
                send_down(f, b, sizeof(b), &e->peer, now);
        }
        return;
    }
    /* piggybacked response */
    m->msgid = e->down_mid;
    m->tkl = e->tkl;
    memcpy(m->token, e->token, e->tkl);
    n = coap_msg_serialize_udp(m, out, sizeof(out));
    if (n < 0) {
        f->stats.dropped++;
        return;
    }
    set_cached(&e->reply, &e->reply_len, out, (size_t)n);
    e->state = EX_ANSWERED;
    e->deadline = 0;
    f->stats.responses++;
    send_down(f, out, (size_t)n, &e->peer, now);
    after_final(f, m, e->up_token, e->deregister);
}

/* A CON or NON response from upstream: a separate response or a notification. */
static void up_separate(struct fwd *f, struct coap_msg *m, uint64_t now)
{
    struct fwd_notif *nt = ntf_find_up(f, m->msgid);
    struct fwd_token *t;
    uint8_t out[CN_DGRAM_MAX], up_token[FWD_UP_TKL];
    bool deregister = false;
    ssize_t n;

    if (nt != NULL && nt->type == m->type && m->tkl == FWD_UP_TKL &&
        memcmp(nt->up_token, m->token, FWD_UP_TKL) == 0) {
        f->stats.retransmissions++;
        if (nt->buf != NULL)
            send_down(f, nt->buf, nt->len, &nt->peer, now);
        return;
    }
    t = tok_find_up(f, m->tkl, m->token);
    if (t == NULL) {
        /* nobody wants it (cancelled or forgotten): reject, which also
         * cancels an observation upstream (RFC 7641 §3.6) */
        send_empty(f, true, COAP_T_RST, m->msgid, NULL, now);
        f->stats.dropped++;
        return;
    }
    t->last_used = now;
    memcpy(up_token, t->up_token, FWD_UP_TKL);
    /* any exchange waiting for this token has its answer now */
    for (unsigned i = 0; i < f->n_ex; i++) {
        struct fwd_exchange *e = &f->ex[i];
        if (e->state != EX_FREE && memcmp(e->up_token, up_token, FWD_UP_TKL) == 0 &&
            addr_equal(&e->peer, &t->peer) && e->state != EX_ANSWERED) {
            e->state = EX_ANSWERED;
            e->deadline = 0;
            deregister |= e->deregister;
        }
    }
    if (nt != NULL)
        ntf_free(nt); /* same message id, another message: upstream restarted */
    nt = ntf_alloc(f);
    nt->used = true;
    nt->type = m->type;
    nt->up_mid = m->msgid;
    nt->down_mid = f->next_down_mid++;
    nt->peer = t->peer;
    memcpy(nt->up_token, up_token, FWD_UP_TKL);
    nt->expires = now + FWD_EXCHANGE_LIFETIME_MS;

    m->msgid = nt->down_mid;
    m->tkl = t->tkl;
    memcpy(m->token, t->token, t->tkl);
    n = coap_msg_serialize_udp(m, out, sizeof(out));
    if (n < 0) {
        ntf_free(nt);
        f->stats.dropped++;
        return;
    }
    set_cached(&nt->buf, &nt->len, out, (size_t)n);
    if (coap_msg_find(m, COAP_OPT_OBSERVE) != NULL)
        f->stats.notifications++;
    else
        f->stats.responses++;
    send_down(f, out, (size_t)n, &nt->peer, now);
    after_final(f, m, up_token, deregister);
}

void fwd_on_up(struct fwd *f, const uint8_t *buf, size_t len, uint64_t now)
{
    struct coap_msg m;

    if (coap_msg_parse_udp(buf, len, &m) < 0) {
        log_debug("malformed datagram from upstream dropped");
        f->stats.dropped++;
        return;
    }
    if (m.type == COAP_T_ACK || m.type == COAP_T_RST) {
        up_ack_or_rst(f, &m, buf, len, now);
        return;
    }
    if (m.code == COAP_EMPTY) { /* ping */
        if (m.type == COAP_T_CON)
            send_empty(f, true, COAP_T_RST, m.msgid, NULL, now);
        return;
    }
    if (COAP_CODE_CLASS(m.code) >= 2) {
        up_separate(f, &m, now);
        return;
    }
    /* requests from the upstream side are not relayed (no role reversal
     * through one path: both sides run `serve`, README) */
    if (m.type == COAP_T_CON)
        send_empty(f, true, COAP_T_RST, m.msgid, NULL, now);
    f->stats.dropped++;
}

/* ---- timers ---- */

static void ex_timeout(struct fwd *f, struct fwd_exchange *e, uint64_t now)
{
    static const char diag[] = "no answer from the server behind this proxy";
    struct coap_msg m;
    uint8_t out[256];
    ssize_t n;

    coap_msg_init(&m);
    m.type = e->type == COAP_T_CON ? COAP_T_ACK : COAP_T_NON;
    m.code = COAP_GATEWAY_TIMEOUT;
    m.msgid = e->type == COAP_T_CON ? e->down_mid : f->next_down_mid++;
    m.tkl = e->tkl;
    memcpy(m.token, e->token, e->tkl);
    m.payload = (const uint8_t *)diag;
    m.payload_len = sizeof(diag) - 1;
    e->state = EX_ANSWERED;
    e->deadline = 0;
    f->stats.timeouts++;
    log_info("no answer upstream within %u ms: 5.04", f->timeout_ms);
    n = coap_msg_serialize_udp(&m, out, sizeof(out));
    if (n < 0)
        return;
    set_cached(&e->reply, &e->reply_len, out, (size_t)n);
    send_down(f, out, (size_t)n, &e->peer, now);
    tok_release(f, e->up_token);
}

void fwd_tick(struct fwd *f, uint64_t now)
{
    uint64_t next = now + FWD_TICK_MS;

    /* the tables are scanned at most once a second, or at the earliest 5.04 */
    if (now < f->next_tick)
        return;
    for (unsigned i = 0; i < f->n_ex; i++) {
        struct fwd_exchange *e = &f->ex[i];
        if (e->state == EX_FREE)
            continue;
        if (e->state == EX_WAITING && e->deadline != 0 && now >= e->deadline)
            ex_timeout(f, e, now);
        if (now >= e->expires)
            ex_free(e);
        else if (e->state == EX_WAITING && e->deadline != 0 && e->deadline < next)
            next = e->deadline;
    }
    f->next_tick = next;
    for (unsigned i = 0; i < f->n_tok; i++) {
        struct fwd_token *t = &f->tok[i];
        if (t->used && now - t->last_used > FWD_TOKEN_IDLE_MS)
            memset(t, 0, sizeof(*t));
    }
    for (unsigned i = 0; i < f->n_ntf; i++)
        if (f->ntf[i].used && now >= f->ntf[i].expires)
            ntf_free(&f->ntf[i]);
}

uint64_t fwd_next_timer(const struct fwd *f, uint64_t now)
{
    return f->next_tick > now ? f->next_tick : now;
}
