/*
 * fuzz_stream.c - libFuzzer target for the stream half of the relay core
 * (relay-core/stream*.c: classification, signalling glue, exchanges, the RD
 * path, proxying over a registrant's connection, and relay-core/proxy.c's
 * decision and option handling on the forwarding path) behind either
 * transport's receive side: relay-tcp's framing (rt_frame_check, cutting a
 * byte stream into messages the way relay-tcp/conn.c does) or relay-ws's
 * whole-message check (ws_msg_check, as relay-ws/conn.c does before the
 * stream layer). The fake transport of tests/fixtures/fake_stream.c checks
 * and records what is written; no sockets but the core's own (no rd-frontend: RD requests wait).
 * Two relays for the whole run, one per framing. Input: a framing selector byte, then records of
 * [connection, clock step (x 64 ms), length, bytes]; four connections (selector % 4), a closed one
 * is reopened; connection 1 holds the route a.proxy.localhost, so requests
 * for it are proxied over connection 1. A selector with bit 7 set makes the
 * record an answer from that connection to the last request the relay
 * wrote on it (its relay token cannot be guessed): bytes [code, Observe
 * (odd: value >> 1; even: none), payload...]; bit 6 instead makes it
 * rd-frontend's: the answer to the oldest RD request waiting (RD_RESPONSE),
 * or with bit 5 too a notification to that connection's first RD
 * observation (RD_NOTIFY), same bytes.
 * Invariants: everything written is one whole message in the transport's
 * framing within the peer's Max-Message-Size, on an open connection; the
 * pools never count more than they have; once every connection is closed
 * no exchange and no timer is left (nothing outlives its connection).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "fake_stream.h"
#include "log.h"
#include "tcp_rules.h"
#include "ws_relay.h"

#define NC 4
#define MAXMSG 2048
#define ROUTE "a.proxy.localhost"

struct fz {
    struct fake_stream fs;
    uint32_t ci[NC];
    uint8_t in[NC][MAXMSG]; /* relay-tcp: the incomplete message kept */
    size_t in_len[NC];
    uint32_t base_timers;                         /* the core's own timers, not a connection's */
    uint8_t tkl[NC], tok[NC][COAP_MSG_MAX_TOKEN]; /* last request written */
};

static struct fz *F[2];
static char dir[] = "/tmp/fuzz_stream.XXXXXX";

static void f_write(struct fake_stream *fs, uint32_t ci, const uint8_t *buf, size_t len)
{
    struct fz *f = fs->user;
    struct coap_msg m;
    size_t fl = 0;

    FUZZ_CHECK(ci < NC && fs->s.conns[ci].state != RC_FREE);
    FUZZ_CHECK(len <= fs->s.conns[ci].sig.csm.mms);
    FUZZ_CHECK(fs->s.io->parse(buf, len, &m) == 0);
    if (!fs->ws)
        FUZZ_CHECK(rt_frame_check(buf, len, SIZE_MAX, &fl) == RT_FRAME_WHOLE && fl == len);
    else
        FUZZ_CHECK(ws_msg_check(buf, len) == NULL);
    if (COAP_CODE_CLASS(m.code) == 0 && m.code != COAP_EMPTY) {
        f->tkl[ci] = m.tkl;
        memcpy(f->tok[ci], m.token, m.tkl);
    }
}

static void f_closed(struct fake_stream *fs, uint32_t ci, const char *why)
{
    struct fz *f = fs->user;
    FUZZ_CHECK(ci < NC && why != NULL);
    f->in_len[ci] = 0;
}

static void teardown(void)
{
    for (int k = 0; k < 2; k++) {
        if (!F[k])
            continue;
        fake_stream_free(&F[k]->fs);
        free(F[k]);
    }
    rmdir(dir);
}

static struct fz *make(bool ws)
{
    const struct st_limits lim = {.max_conns = NC,
                                  .max_message = MAXMSG,
                                  .max_inflight = 8,
                                  .timeout_ms = 10000,
                                  .pong_timeout_ms = 10000};
    char err[128];
    struct fz *f = calloc(1, sizeof(*f));

    FUZZ_CHECK(f != NULL);
    f->fs.on_write = f_write;
    f->fs.on_closed = f_closed;
    f->fs.user = f;
    fake_stream_config(&f->fs, dir);
    FUZZ_CHECK(fake_stream_start(&f->fs, ws, &lim, err, sizeof(err)) == 0);
    f->base_timers = f->fs.s.core.timers.n;
    for (int i = 0; i < NC; i++)
        f->ci[i] = ST_NONE;
    return f;
}

static void setup(void)
{
    log_init("fuzz", LOG_LVL_ERROR);
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    F[0] = make(false);
    F[1] = make(true);
    atexit(teardown);
}

/* Connection k open (reopened if the relay closed it); connection 1's id
 * is the route's path. */
static uint32_t conn(struct fz *f, int k, uint64_t now)
{
    if (f->ci[k] != ST_NONE && f->fs.s.conns[f->ci[k]].state != RC_FREE)
        return f->ci[k];
    uint32_t ci = fake_stream_open(&f->fs, "192.0.2.7", (uint16_t)(40000 + k), now);
    FUZZ_CHECK(ci != ST_NONE && ci < NC);
    f->ci[k] = ci;
    f->in_len[ci] = 0;
    f->tkl[ci] = 0;
    if (k == 1)
        FUZZ_CHECK(fake_stream_route(&f->fs, ROUTE, f->fs.s.conns[ci].id) == 0);
    return ci;
}

/* relay-tcp/conn.c's process(): whole messages off the front of the kept
 * bytes plus the new ones; an oversized or malformed header aborts. */
static void rx_tcp(struct fz *f, uint32_t ci, const uint8_t *p, size_t n, uint64_t now)
{
    static uint8_t buf[2 * MAXMSG];
    uint64_t id = f->fs.s.conns[ci].id;
    size_t have = f->in_len[ci], off = 0;

    memcpy(buf, f->in[ci], have);
    memcpy(buf + have, p, n);
    have += n;
    f->in_len[ci] = 0;
    while (off < have) {
        size_t fl = 0;
        switch (rt_frame_check(buf + off, have - off, f->fs.s.lim.max_message, &fl)) {
        case RT_FRAME_NEED_MORE:
            FUZZ_CHECK(have - off < MAXMSG + 8);
            memcpy(f->in[ci], buf + off, have - off < MAXMSG ? have - off : MAXMSG);
            f->in_len[ci] = have - off < MAXMSG ? have - off : MAXMSG;
            return;
        case RT_FRAME_TOO_BIG:
            FUZZ_CHECK(fl > f->fs.s.lim.max_message);
            st_sig_abort(&f->fs.s, ci, "too big", 0, now);
            return;
        case RT_FRAME_BAD:
            st_sig_abort(&f->fs.s, ci, "malformed message header", 0, now);
            return;
        case RT_FRAME_WHOLE:
            break;
        }
        FUZZ_CHECK(fl >= 2 && fl <= have - off);
        st_msg_on_message(&f->fs.s, ci, buf + off, fl, now);
        if (!st_conn_alive(&f->fs.s, ci, id))
            return;
        off += fl;
    }
}

/* relay-ws/conn.c's on_message(): one whole message per frame. */
static void rx_ws(struct fz *f, uint32_t ci, const uint8_t *p, size_t n, uint64_t now)
{
    if (n > f->fs.s.lim.max_message || ws_msg_check(p, n) != NULL) {
        st_conn_close(&f->fs.s, ci, "protocol error", now);
        return;
    }
    st_msg_on_message(&f->fs.s, ci, p, n, now);
}

/* A response from bytes [code, Observe, payload...] with that token. */
static bool make_resp(struct coap_msg *m, uint8_t *obs, const uint8_t *p, size_t n,
                      const uint8_t *tok, uint8_t tkl)
{
    if (n < 2)
        return false;
    coap_msg_init(m);
    m->code = p[0];
    m->tkl = tkl;
    memcpy(m->token, tok, tkl);
    if (p[1] & 1) {
        obs[0] = p[1] >> 1;
        coap_msg_add_opt(m, COAP_OPT_OBSERVE, obs, 1);
    }
    m->payload = p + 2;
    m->payload_len = n - 2;
    return true;
}

/* An answer on ci to the last request written on it; its length, or 0. */
static size_t answer(struct fz *f, uint32_t ci, const uint8_t *p, size_t n, uint8_t *out)
{
    struct coap_msg m;
    uint8_t obs[1];

    if (!make_resp(&m, obs, p, n, f->tok[ci], f->tkl[ci]))
        return 0;
    ssize_t len = f->fs.s.io->serialize(&m, out, MAXMSG);
    return len > 0 ? (size_t)len : 0;
}

/* rd-frontend's side (what relay-core/rd.c decodes and hands over). */
static void from_frontend(struct fz *f, uint32_t ci, bool notify, const uint8_t *p, size_t n,
                          uint64_t now)
{
    static uint8_t out[MAXMSG];
    struct coap_msg m;
    uint8_t obs[1];
    ssize_t len;

    if (n < 2)
        return;
    if (notify) {
        struct st_conn *c = &f->fs.s.conns[ci];
        struct rr_peer peer;
        static const uint8_t none[1];
        if (!make_resp(&m, obs, p, n, c->nobs ? c->obs[0] + 1 : none, c->nobs ? c->obs[0][0] : 0))
            return;
        m.type = COAP_T_NON;
        if ((len = coap_msg_serialize_udp(&m, out, sizeof(out))) <= 0)
            return;
        st_conn_peer(&f->fs.s, ci, &peer);
        st_rd_on_notify(&f->fs.s, &peer, false, out, (size_t)len, now);
        return;
    }
    for (uint32_t i = 0; i < f->fs.s.ndx; i++) {
        struct st_dx *d = &f->fs.s.dx[i];
        if (d->h.state != DX_WAIT || d->h.kind != DX_K_RD)
            continue;
        if (!make_resp(&m, obs, p, n, d->h.token, d->h.tkl))
            return;
        m.type = COAP_T_ACK;
        if ((len = coap_msg_serialize_udp(&m, out, sizeof(out))) > 0)
            st_rd_on_response(&f->fs.s, i, d->h.req_id, out, (size_t)len, now);
        return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t msg[MAXMSG];
    uint64_t now = 100000;
    size_t off = 1;

    if (!F[0])
        setup();
    if (size < 1)
        return 0;
    struct fz *f = F[data[0] & 1];
    while (off + 3 <= size) {
        int k = data[off] % NC;
        bool ans = data[off] & 0x80, fe = !ans && (data[off] & 0x40);
        now += (uint64_t)data[off + 1] * 64;
        size_t len = data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        struct rr_timer *t;
        while ((t = th_pop_due(&f->fs.s.core.timers, now)) != NULL)
            f->fs.s.core.tp->on_timer(f->fs.s.core.tpa, t, now);
        uint32_t ci = conn(f, k, now);
        size_t n = len;
        if (ans)
            n = answer(f, ci, data + off, len, msg);
        else if (!fe)
            memcpy(msg, data + off, len); /* a copy: reads past it are caught */
        if (fe)
            from_frontend(f, ci, data[off - 3] & 0x20, data + off, len, now);
        else if (f->fs.ws)
            rx_ws(f, ci, msg, n, now);
        else
            rx_tcp(f, ci, msg, n, now);
        off += len;
        FUZZ_CHECK(f->fs.s.nconns <= NC);
        FUZZ_CHECK(f->fs.s.core.dx.used <= f->fs.s.core.dx.n);
        FUZZ_CHECK(f->fs.s.core.ux.used <= f->fs.s.core.ux.n);
    }
    /* the end of the input: every connection closes */
    for (int k = 0; k < NC; k++) {
        if (f->ci[k] != ST_NONE)
            st_conn_close(&f->fs.s, f->ci[k], "end of input", now);
        f->ci[k] = ST_NONE;
    }
    FUZZ_CHECK(f->fs.s.nconns == 0);
    FUZZ_CHECK(f->fs.s.core.dx.used == 0);
    FUZZ_CHECK(f->fs.s.core.ux.used == 0);
    FUZZ_CHECK(f->fs.s.core.timers.n == f->base_timers);
    return 0;
}
