/*
 * conn.c - relay-ws's coap protocol: each WebSocket that upgraded with the
 * subprotocol coap is one stream connection (relay-core/stream_conn.c), so
 * registration, proxying over it, 5.02 when it closes, XFWD and signalling
 * are the stream layer's. Owns the per-session data (struct ws_pss: the
 * output queue, a fragmented message, the close state) and ws_io, the
 * stream layer's view of a WebSocket:
 *   - one CoAP message per binary frame, in RFC 8323 §4.2 framing (no
 *     Length field); the joining of fragments and its rules (1002, 1003,
 *     1009) are ws_join.c's, this file acts on its verdict;
 *   - output: libwebsockets writes only from a writeable callback, so every
 *     message is queued (bounded by tcp_outq_max, then the slow reader is
 *     closed with 1008). We frame it ourselves (server frames are a 2, 4
 *     or 10 byte header, common/ws_client.c) so that one writeable callback
 *     sends every queued frame in one send, and a callback is asked for
 *     only when none is pending (each request costs libuv epoll_ctl calls;
 *     docs/benchmarks.md run M);
 *   - a close from our side (Abort, Ping timeout, Release, limits) sends
 *     what is queued, then a close frame with a status code and the
 *     reason; libwebsockets kills the connection if that takes over 5 s.
 * Talks to the stream layer, evloop.c (kick) and libwebsockets.
 */
#include <arpa/inet.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"
#include "ws_client.h"
#include "ws_relay.h"

#define WS_CLOSE_GRACE_S 5
/* libwebsockets 4.1's opcode for a close frame: in its private header only
 * (lws_write() takes it; the public way, lws_close_reason + return -1,
 * cannot be used, see finish()) */
#define WS_LWS_WRITE_CLOSE ((enum lws_write_protocol)4)

int ws_conns_init(struct ws_relay *r)
{
    char list[RR_CFG_STR];

    r->wsi = calloc(r->s.nconns_max, sizeof(*r->wsi));
    if (!r->wsi) {
        log_warnx("out of memory for %u connections", r->s.nconns_max);
        return -1;
    }
    /* ws_trusted_proxies: addresses (any port) whose X-Forwarded-For counts */
    snprintf(list, sizeof(list), "%s", r->s.cfg.ws_trusted_proxies);
    if (list[0]) {
        r->ntrusted = addr_parse_list(list, 0, r->trusted, WS_MAX_TRUSTED);
        if (r->ntrusted < 0) {
            log_warnx("ws_trusted_proxies \"%s\": not a list of addresses", list);
            return -1;
        }
    }
    return 0;
}

void ws_conns_free(struct ws_relay *r)
{
    outq_spare_free(&r->spare);
    free(r->wsi);
    r->wsi = NULL;
}

/* ---- the client's address ---- */

static bool trusted(const struct ws_relay *r, const struct rr_addr *a)
{
    for (int i = 0; i < r->ntrusted; i++)
        if (addr_equal_host(&r->trusted[i], a))
            return true;
    return false;
}

void ws_client_addr(struct ws_relay *r, struct lws *wsi, struct rr_addr *remote,
                    struct rr_addr *local)
{
    char xff[256];

    rc_sock_addrs(lws_get_socket_fd(wsi), remote, local);
    addr_normalise(remote);
    addr_normalise(local);
    if (r->ntrusted == 0 || !trusted(r, remote))
        return;
    if (lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR) > 0) {
        struct rr_addr a;
        if (ws_xff_client(xff, &a) == 0) {
            addr_normalise(&a);
            *remote = a;
        }
    }
}

/* ---- closing ---- */

/* Close the stream connection of pss now with code + reason (the close
 * frame follows the queued output). */
static void ws_close(struct ws_relay *r, struct ws_pss *p, uint16_t code, const char *why)
{
    if (p->ci == WS_NONE)
        return;
    p->close_code = code;
    st_conn_close(&r->s, p->ci, why, now_mono_ms());
}

/* Ask libwebsockets for a writeable callback unless one is pending: every
 * lws_callback_on_writable outside the writeable callback restarts the
 * libuv poll watcher (epoll_ctl DEL now, ADD at libuv's next poll), which
 * per message was 17 % of the relay's time (run L). The kick makes libuv
 * apply it in this loop iteration; with the request pending it is due
 * already. */
static void want_writeable(struct ws_relay *r, struct lws *wsi, struct ws_pss *p)
{
    if (p->write_asked)
        return;
    p->write_asked = true;
    lws_callback_on_writable(wsi);
    ws_evloop_kick(r);
}

/* In pss's own callback, when a close is due: ask for the writeable
 * callback, which sends the queued output, then the close frame. (Not
 * "lws_close_reason + return -1": Debian's libwebsockets is a _DEBUG build
 * whose libuv path closes a second time at once, "uv repeat test", and
 * kills the connection before the close frame goes out.) */
static int finish(struct ws_relay *r, struct lws *wsi, struct ws_pss *p)
{
    if (p->closing && !p->close_sent)
        want_writeable(r, wsi, p);
    return 0;
}

/* The close frame (RFC 6455 §5.5.1: status code, then the reason), written
 * by us; the peer's answer (or the timeout) ends the connection. */
static int send_close(struct lws *wsi, struct ws_pss *p)
{
    uint8_t buf[LWS_PRE + 2 + WS_REASON_MAX];
    size_t rl = strnlen(p->reason, WS_REASON_MAX - 1);

    buf[LWS_PRE] = (uint8_t)(p->close_code >> 8);
    buf[LWS_PRE + 1] = (uint8_t)p->close_code;
    memcpy(buf + LWS_PRE + 2, p->reason, rl);
    p->close_sent = true;
    if (lws_write(wsi, buf + LWS_PRE, 2 + rl, WS_LWS_WRITE_CLOSE) < 0)
        return -1;
    lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, WS_CLOSE_GRACE_S);
    return 0;
}

/* ---- st_io ---- */

static int io_write(void *io, uint32_t ci, const uint8_t *buf, size_t len)
{
    struct ws_relay *r = io;
    struct lws *wsi = r->wsi[ci];
    struct ws_pss *p = wsi ? lws_wsi_user(wsi) : NULL;

    if (!p || p->closing)
        return -1;
    size_t h = ws_frame_header_len(len);
    uint8_t *at = outq_reserve(&p->out, h + len, r->s.cfg.tcp_outq_max + h);
    if (!at) {
        r->s.c.slow_readers++;
        ws_close(r, p, LWS_CLOSE_STATUS_POLICY_VIOLATION, "peer does not read (output queue full)");
        return -1;
    }
    ws_frame_header(at, WS_OP_BINARY, len, false);
    memcpy(at + h, buf, len);
    want_writeable(r, wsi, p);
    return 0;
}

static void io_release(void *io, uint32_t ci, uint64_t now)
{
    struct ws_relay *r = io;
    struct lws *wsi = r->wsi[ci];
    struct ws_pss *p = wsi ? lws_wsi_user(wsi) : NULL;

    if (!p || r->s.conns[ci].state != RC_OPEN)
        return;
    if (p->out.len == 0) {
        p->close_code = LWS_CLOSE_STATUS_NORMAL;
        st_conn_close(&r->s, ci, "released", now);
        return;
    }
    /* nothing more goes out on it, nor is it a path any more */
    r->s.conns[ci].state = RC_CLOSING;
    p->releasing = true;
}

static void io_closed(void *io, uint32_t ci, const char *why)
{
    struct ws_relay *r = io;
    struct lws *wsi = r->wsi[ci];

    r->wsi[ci] = NULL;
    if (!wsi)
        return;
    struct ws_pss *p = lws_wsi_user(wsi);
    p->ci = WS_NONE;
    if (p->dead)
        return; /* libwebsockets is closing it already */
    p->closing = true;
    if (!p->close_code)
        p->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
    snprintf(p->reason, sizeof(p->reason), "%s", why);
    r->c.closes_sent++;
    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, WS_CLOSE_GRACE_S);
    want_writeable(r, wsi, p);
    ws_evloop_kick(r); /* the timeout: libuv's timer is re-read after a run */
}

static unsigned io_counters(void *io, struct rc_counter *f, unsigned max)
{
    struct ws_relay *r = io;
    const struct rc_counter mine[] = {
        {"ws_upgrades_refused", r->c.upgrades_refused},
        {"ws_http_refused", r->c.http_refused},
        {"ws_text_frames", r->c.text_frames},
        {"ws_length_nibble", r->c.length_nibble},
        {"ws_closes_sent", r->c.closes_sent},
        {"http_files", r->c.http_files},
        {"uv_runs", r->c.uv_runs},
    };
    unsigned n = 0;
    for (; n < sizeof(mine) / sizeof(mine[0]) && n < max; n++)
        f[n] = mine[n];
    return n;
}

static void io_on_timer(void *io, struct rr_timer *t, uint64_t now)
{
    (void)t;
    ws_evloop_on_timer(io, now);
}

static void io_flush(void *io)
{
    ws_evloop_flush(io);
}

const struct st_io ws_io = {
    .what = "WebSocket",
    .serialize = coap_msg_serialize_ws,
    .parse = coap_msg_parse_ws,
    .write = io_write,
    .release = io_release,
    .closed = io_closed,
    .counters = io_counters,
    .on_timer = io_on_timer,
    .flush = io_flush,
};

/* ---- libwebsockets' callbacks ---- */

static int on_established(struct ws_relay *r, struct lws *wsi, struct ws_pss *p)
{
    struct rr_addr remote, local;
    uint64_t now = now_mono_ms();

    p->wsi = wsi;
    p->ci = WS_NONE;
    p->out.spare = &r->spare; /* every message is queued: reuse buffers */
    ws_client_addr(r, wsi, &remote, &local);
    uint32_t ci = st_conn_open(&r->s, &remote, &local);
    if (ci == WS_NONE) {
        p->closing = true;
        p->close_code = LWS_CLOSE_STATUS_POLICY_VIOLATION;
        snprintf(p->reason, sizeof(p->reason), "too many connections");
        return finish(r, wsi, p);
    }
    p->ci = ci;
    p->id = r->s.conns[ci].id;
    r->wsi[ci] = wsi;
    /* RFC 8323 §5.3: our CSM is the first message, sent at once */
    st_sig_open(&r->s, ci, now);
    return finish(r, wsi, p);
}

static int on_receive(struct ws_relay *r, struct lws *wsi, struct ws_pss *p, const uint8_t *in,
                      size_t len)
{
    uint64_t now = now_mono_ms();
    const uint8_t *msg;
    size_t mlen;
    uint16_t code;
    char why[WS_REASON_MAX];

    if (p->ci == WS_NONE || p->closing)
        return finish(r, wsi, p); /* closing: input is dropped */
    struct st_conn *c = &r->s.conns[p->ci];
    sig_on_rx(&c->sig, now);
    const struct ws_piece pc = {.in = in,
                                .len = len,
                                .rest = lws_remaining_packet_payload(wsi),
                                .binary = lws_frame_is_binary(wsi),
                                .final = lws_is_final_fragment(wsi)};
    switch (ws_join_feed(&p->in, &pc, r->s.lim.max_message, &msg, &mlen, &code, why, sizeof(why))) {
    case WS_JOIN_MORE:
        /* the half-message clock starts when a message starts */
        if (c->sig.partial_since_ms == 0)
            c->sig.partial_since_ms = now;
        break;
    case WS_JOIN_MSG:
        c->sig.partial_since_ms = 0;
        r->s.c.rx_msgs++;
        st_msg_on_message(&r->s, p->ci, msg, mlen, now);
        ws_join_next(&p->in);
        break;
    case WS_JOIN_TEXT:
        r->c.text_frames++;
        ws_close(r, p, code, why);
        break;
    case WS_JOIN_TOO_BIG:
        r->s.c.too_big++;
        ws_close(r, p, code, why);
        break;
    case WS_JOIN_BAD:
        r->c.length_nibble++;
        ws_close(r, p, code, why);
        break;
    case WS_JOIN_NOMEM:
        ws_close(r, p, code, why);
        break;
    }
    if (p->ci != WS_NONE)
        st_sig_rearm(&r->s, p->ci);
    return finish(r, wsi, p);
}

/* Send the queued frames: whole frames, at most WS_TX_MAX bytes unless one
 * frame is larger, in one lws_write. LWS_WRITE_HTTP makes lws 4.1.6 send
 * the bytes as they are (rops_write_role_protocol_ws: "send_raw"), through
 * its TLS if any; a short send leaves the rest in lws's own buffer, sent
 * before anything else (its Pong, our close frame), so frames never
 * interleave. 0, or -1 when the connection is to die. */
static int write_frames(struct ws_relay *r, struct lws *wsi, struct ws_pss *p)
{
    const uint8_t *q = outq_data(&p->out);
    size_t n = ws_frame_size(q);

    while (n < p->out.len && n + ws_frame_size(q + n) <= WS_TX_MAX)
        n += ws_frame_size(q + n);
    if (lws_write(wsi, (uint8_t *)q, n, LWS_WRITE_HTTP) < (int)n) {
        if (p->ci != WS_NONE) {
            p->close_code = LWS_CLOSE_STATUS_ABNORMAL_CLOSE;
            st_conn_close(&r->s, p->ci, "write failed", now_mono_ms());
        }
        return -1;
    }
    outq_consume(&p->out, n);
    return 0;
}

/* Everything queued goes out in this callback, WS_TX_MAX bytes per send,
 * until the socket is full: then lws holds the rest of that send
 * (lws_partial_buffered, no syscall; lws 4.1.6 allows back-to-back writes)
 * and we wait for the next callback, so lws never holds more than one send
 * of ours. (Not lws_send_pipe_choked before each write: one poll() each.)
 * The close frame goes only after everything queued, lws's buffer too. */
static int on_writeable(struct ws_relay *r, struct lws *wsi, struct ws_pss *p)
{
    p->write_asked = false;
    if (p->close_sent)
        return 0;
    while (p->out.len && !lws_partial_buffered(wsi))
        if (write_frames(r, wsi, p) < 0)
            return -1;
    if (p->out.len || ((p->releasing || p->closing) && lws_partial_buffered(wsi))) {
        want_writeable(r, wsi, p);
        return 0;
    }
    if (p->releasing && p->ci != WS_NONE) {
        p->close_code = LWS_CLOSE_STATUS_NORMAL;
        st_conn_close(&r->s, p->ci, "released", now_mono_ms());
    }
    if (p->closing && !p->close_sent)
        return send_close(wsi, p);
    return 0;
}

static void on_closed(struct ws_relay *r, struct ws_pss *p)
{
    p->dead = true;
    if (p->ci != WS_NONE) {
        if (r->ctx_dying)
            r->wsi[p->ci] = NULL; /* shutting down: st_free ends the rest */
        else
            st_conn_close(&r->s, p->ci,
                          p->in.len ? "closed in the middle of a message" : "closed by peer",
                          now_mono_ms());
    }
    ws_join_free(&p->in);
    outq_free(&p->out);
}

int ws_coap_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
    struct ws_relay *r = lws_context_user(lws_get_context(wsi));
    struct ws_pss *p = user;

    ws_evloop_kick(r); /* whatever lws does next needs libuv to run */
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(r, wsi, p);
    case LWS_CALLBACK_RECEIVE:
        return on_receive(r, wsi, p, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_writeable(r, wsi, p);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2)
            log_debug("WebSocket closed by peer with %u",
                      (unsigned)(((const uint8_t *)in)[0] << 8 | ((const uint8_t *)in)[1]));
        return 0;
    case LWS_CALLBACK_CLOSED:
        on_closed(r, p);
        return 0;
    default:
        break;
    }
    return 0;
}
