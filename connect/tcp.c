/*
 * tcp.c - `rdrelay-connect serve --transport tcp`: the local server behind
 * rdrelay over CoAP over TCP (RFC 8323), with role reversal: rdrelay-tcp
 * sends its requests for our name back over the connection we opened.
 * Owns, per name: one TCP connection to rdrelay (CSM exchange, Ping/Pong,
 * Release/Abort, reconnect after 100 ms + jitter, doubling to 30 s), the registration over
 * it (discovery, POST proxy=yes, endpoint lookup, updates before lt, 4.04 ->
 * register again, DELETE on SIGINT/SIGTERM), one UDP socket to the local
 * server and a forwarder (fwd.h) between the two.
 * Talks to: rdrelay-tcp and the local server (UDP, unchanged).
 *
 * Over WebSockets (--rd coap+ws://, RFC 8323 §4) the same state machine
 * runs on a WebSocket to rdrelay-ws: after the TCP connect comes the
 * opening handshake (common/ws_client.h, bounded like the connect), and
 * every message is one binary frame without the Length field instead of
 * an RFC 8323 §3.2 frame; WebSocket Pings get Pongs, a Close (or a
 * protocol error, a text frame) drops the connection like EOF. The CoAP
 * signalling (CSM, Ping/Pong, Release/Abort) is the same on both.
 *
 * The forwarder speaks datagrams on both sides. A request from the
 * connection becomes a CON datagram with a message id of ours and goes
 * through fwd_on_down (token mapping, 5.04, Observe bookkeeping exactly as
 * over UDP); what the forwarder sends down comes back through the
 * down_send hook, loses its message layer (empty ACKs are dropped, a CON
 * response is ACKed to the local server at once, as a TCP peer never ACKs)
 * and goes out as one RFC 8323 frame with rdrelay's token.
 * A new connection always registers again: rdrelay routes a registration
 * over the connection it came from, so the route follows the connection.
 */
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coap_msg.h"
#include "fwd.h"
#include "log.h"
#include "timeutil.h"
#include "ws_client.h"

#define TCP_MAX_EPS 16
#define TCP_TKL 4
#define TCP_MAX_MSG 65536u /* our Max-Message-Size (CSM) */
#define TCP_IN_MAX (TCP_MAX_MSG + 16)
#define TCP_CONNECT_TIMEOUT_MS 10000u
#define TCP_REQ_TIMEOUT_MS 15000u /* no answer to our request: the connection is dead */
#define TCP_PONG_TIMEOUT_MS 10000u
/* A lost connection (a relay killed or restarted) is noticed at once (read
 * returns 0 or ECONNRESET) and the first reconnect follows 100 ms later,
 * plus up to 100 ms of jitter so that thousands of registrants do not come
 * back in one burst; a relay that stays down sees the wait double to 30 s. */
#define TCP_RECONNECT_FIRST_MS 100u
#define TCP_RECONNECT_JITTER_MS 100u
#define TCP_BACKOFF_MIN_MS 1000u
#define TCP_BACKOFF_MAX_MS 30000u
#define TCP_STOP_WAIT_MS 5000u
#define TCP_SEND_TIMEOUT_S 5
#define TCP_PEND_ACKS 64

enum tc_conn { TC_IDLE, TC_CONNECTING, TC_OPEN };
enum tc_reg { TR_DISCOVER, TR_REGISTER, TR_LOOKUP, TR_REGISTERED, TR_DELETING, TR_DONE };
enum tc_own { TO_NONE, TO_DISCOVER, TO_REGISTER, TO_LOOKUP, TO_REFRESH, TO_DELETE };

struct tcp_serve;

struct tcp_ep {
    const struct serve_target *t;
    struct tcp_serve *srv; /* for the forwarder's down_send hook */
    int fd, fd_local;
    enum tc_conn conn;
    enum tc_reg st;
    struct fwd fwd;
    struct rr_addr peer; /* the connection as the forwarder's down peer */
    uint8_t *in;         /* bytes of an incomplete frame */
    size_t in_len;
    struct ws_rx wsrx;  /* over WebSockets: the frame decoder instead of in */
    struct ws_conn wsc; /* ... and the connection (wsc.fd == fd; TLS state) */
    uint64_t conn_deadline, next_connect, backoff_ms;
    enum tc_own own;
    uint8_t own_token[TCP_TKL];
    uint64_t own_deadline;
    bool ping_out;
    uint8_t ping_token[TCP_TKL];
    uint64_t ping_deadline;
    uint64_t last_tx, next_action, next_refresh, stop_deadline;
    unsigned retry_ms;
    char reg_iface[CN_PATHLEN], reg_loc[CN_PATHLEN], host[CN_HOSTLEN];
    unsigned port; /* hosting port from the lookup, 0 = none */
    uint16_t next_mid;
    uint16_t pend[TCP_PEND_ACKS]; /* CON responses to ACK to the local server */
    unsigned npend;
    unsigned connections;
};

struct tcp_serve {
    const struct serve_opts *o;
    struct tcp_ep eps[TCP_MAX_EPS];
    unsigned n;
    bool stopping;
    int exit_code;
    uint8_t rx[TCP_IN_MAX];      /* the one read buffer */
    uint8_t dg[CN_DGRAM_MAX];    /* a frame turned into a datagram */
    uint8_t frame[CN_DGRAM_MAX]; /* a datagram turned into a frame */
};

/* ---- the connection ---- */

static int tc_write(struct tcp_ep *e, const uint8_t *buf, size_t len, uint64_t now)
{
    while (len > 0) {
        ssize_t n = send(e->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_warn("%s: send to rdrelay", e->t->ep);
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    e->last_tx = now;
    return 0;
}

static const char *tc_name(const struct tcp_serve *s)
{
    return s->o->ws ? "WebSocket" : "TCP";
}

/* One message in the connection's framing: RFC 8323 §3.2 over TCP, one
 * binary frame (§4) over a WebSocket. buf is scratch for the TCP form. */
static int tc_send_coap(const struct tcp_serve *s, struct tcp_ep *e, const struct coap_msg *m,
                        uint8_t *buf, size_t cap, uint64_t now)
{
    ssize_t n;

    if (s->o->ws) {
        if (ws_send_coap(&e->wsc, m, TCP_SEND_TIMEOUT_S * 1000u) < 0) {
            log_warnx("%s: could not send a message over the WebSocket", e->t->ep);
            return -1;
        }
        e->last_tx = now;
        return 0;
    }
    n = coap_msg_serialize_tcp(m, buf, cap);
    if (n < 0) {
        log_warnx("%s: message too large for a frame; dropped", e->t->ep);
        return -1;
    }
    return tc_write(e, buf, (size_t)n, now);
}

static int tc_send_msg(struct tcp_serve *s, struct tcp_ep *e, const struct coap_msg *m,
                       uint64_t now)
{
    return tc_send_coap(s, e, m, s->frame, sizeof(s->frame), now);
}

static void tc_signal(struct tcp_serve *s, struct tcp_ep *e, uint8_t code, const uint8_t *tok,
                      uint8_t tkl, uint64_t now)
{
    struct coap_msg m;
    uint8_t mms[4];

    coap_msg_signal(&m, code, tok, tkl, TCP_MAX_MSG, true, mms);
    tc_send_msg(s, e, &m, now);
}

/* Forget the connection and everything that lived on it; reconnect later. */
static void tc_drop(struct tcp_serve *s, struct tcp_ep *e, const char *why, uint64_t now)
{
    if (e->fd >= 0 && s->o->ws && e->conn == TC_OPEN)
        ws_send_close(&e->wsc, WS_CLOSE_NORMAL, why, 1000); /* fails harmlessly when gone */
    ws_conn_release(&e->wsc);
    if (e->fd >= 0)
        close(e->fd);
    e->fd = -1;
    free(e->in);
    e->in = NULL;
    ws_rx_free(&e->wsrx);
    e->in_len = 0;
    e->conn = TC_IDLE;
    e->own = TO_NONE;
    e->ping_out = false;
    e->npend = 0;
    /* observations and exchanges of the old connection end with it */
    fwd_free(&e->fwd);
    memset(&e->fwd, 0, sizeof(e->fwd));
    if (s->stopping) {
        e->st = TR_DONE;
        return;
    }
    if (e->backoff_ms < TCP_RECONNECT_FIRST_MS)
        e->backoff_ms = TCP_RECONNECT_FIRST_MS;
    uint64_t wait = e->backoff_ms + cn_random32() % TCP_RECONNECT_JITTER_MS;
    e->next_connect = now + wait;
    log_warnx("%s: connection to rdrelay lost (%s); reconnecting in %u ms", e->t->ep, why,
              (unsigned)wait);
    e->backoff_ms = e->backoff_ms * 2 > TCP_BACKOFF_MAX_MS ? TCP_BACKOFF_MAX_MS : e->backoff_ms * 2;
}

static void tc_down_send(void *ctx, const uint8_t *buf, size_t len);
static void tc_ws_events(struct tcp_serve *s, struct tcp_ep *e, uint64_t now);

static void tc_connect(struct tcp_serve *s, struct tcp_ep *e, uint64_t now)
{
    const struct rr_addr *a = &s->o->rd.addr;
    int one = 1;

    e->fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (e->fd < 0) {
        tc_drop(s, e, "socket failed", now);
        return;
    }
    setsockopt(e->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(e->fd, (const struct sockaddr *)&a->ss, a->len) < 0 && errno != EINPROGRESS) {
        tc_drop(s, e, strerror(errno), now);
        return;
    }
    e->conn = TC_CONNECTING;
    e->conn_deadline = now + TCP_CONNECT_TIMEOUT_MS;
}

/* The connection is up: blocking writes with a bound, our CSM first,
 * then the registration (discovery only the first time). */
static void tc_connected(struct tcp_serve *s, struct tcp_ep *e, uint64_t now)
{
    struct timeval tv = {.tv_sec = TCP_SEND_TIMEOUT_S};
    int err = 0;
    socklen_t el = sizeof(err);

    if (getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
        tc_drop(s, e, err ? strerror(err) : "connect failed", now);
        return;
    }
    fcntl(e->fd, F_SETFL, fcntl(e->fd, F_GETFL) & ~O_NONBLOCK);
    setsockopt(e->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (s->o->ws) {
        char why[256];
        ws_rx_init(&e->wsrx, TCP_IN_MAX);
        ws_conn_init(&e->wsc, e->fd);
        if (s->o->tls.on && ws_tls_start(&e->wsc, s->o->rd.host, &s->o->tls, TCP_CONNECT_TIMEOUT_MS,
                                         why, sizeof(why)) < 0) {
            log_warnx("%s: TLS with rdrelay: %s", e->t->ep, why);
            tc_drop(s, e, "TLS handshake failed", now);
            return;
        }
        if (ws_client_handshake(&e->wsc, s->o->rd.host, s->o->rd.port, WS_COAP_PATH, &e->wsrx,
                                TCP_CONNECT_TIMEOUT_MS, why, sizeof(why)) < 0) {
            log_warnx("%s: WebSocket handshake with rdrelay: %s", e->t->ep, why);
            tc_drop(s, e, "WebSocket handshake failed", now);
            return;
        }
    }
    if (fwd_init(&e->fwd, -1, e->fd_local, &e->t->local->addr) < 0) {
        tc_drop(s, e, "out of memory", now);
        return;
    }
    e->fwd.timeout_ms = s->o->timeout_ms;
    e->fwd.down_send = tc_down_send;
    e->fwd.down_ctx = e;
    e->conn = TC_OPEN;
    e->connections++;
    log_info("%s: connected to rdrelay over %s", e->t->ep, tc_name(s));
    tc_signal(s, e, COAP_SIG_CSM, NULL, 0, now);
    e->st = e->reg_iface[0] != '\0' ? TR_REGISTER : TR_DISCOVER;
    e->next_action = now;
    e->retry_ms = 0;
    if (s->o->ws)
        tc_ws_events(s, e, now); /* what came with the handshake response */
}

/* ---- our own requests ---- */

static void own_send(struct tcp_serve *s, struct tcp_ep *e, enum tc_own kind, uint8_t code,
                     const char *path, const char *query, const char *payload, int cf, uint64_t now)
{
    struct coap_msg m;
    char storage[1024];
    uint8_t cfbuf[4];
    uint32_t t = cn_random32();

    coap_msg_init(&m);
    m.code = code;
    m.tkl = TCP_TKL;
    memcpy(m.token, &t, TCP_TKL);
    if (cn_add_path_query(&m, path, query ? query : "", storage, sizeof(storage)) < 0)
        return;
    if (cf >= 0)
        coap_msg_add_opt_uint(&m, COAP_OPT_CONTENT_FORMAT, (uint32_t)cf, cfbuf);
    if (payload != NULL && payload[0] != '\0') {
        m.payload = (const uint8_t *)payload;
        m.payload_len = strlen(payload);
    }
    if (tc_send_msg(s, e, &m, now) < 0) {
        tc_drop(s, e, "send failed", now);
        return;
    }
    e->own = kind;
    memcpy(e->own_token, m.token, TCP_TKL);
    e->own_deadline = now + TCP_REQ_TIMEOUT_MS;
}

static void retry_later(struct tcp_ep *e, uint64_t now)
{
    e->retry_ms = e->retry_ms < TCP_BACKOFF_MIN_MS       ? TCP_BACKOFF_MIN_MS
                  : e->retry_ms * 2 > TCP_BACKOFF_MAX_MS ? TCP_BACKOFF_MAX_MS
                                                         : e->retry_ms * 2;
    e->next_action = now + e->retry_ms;
}

static void own_done(struct tcp_serve *s, struct tcp_ep *e, const struct coap_msg *m, uint64_t now)
{
    enum tc_own kind = e->own;
    char cb[8];
    const char *cs = coap_code_str(m->code, cb);

    e->own = TO_NONE;
    switch (kind) {
    case TO_DISCOVER:
        if (m->code == COAP_CONTENT && m->payload_len > 0)
            serve_take_iface(m, e->reg_iface, sizeof(e->reg_iface));
        else
            snprintf(e->reg_iface, sizeof(e->reg_iface), "/rd");
        log_info("%s: registration interface %s", e->t->ep, e->reg_iface);
        e->st = TR_REGISTER;
        e->next_action = now;
        break;
    case TO_REGISTER:
        if (m->code == COAP_CREATED &&
            serve_take_location(m, e->reg_loc, sizeof(e->reg_loc)) == 0) {
            log_info("%s: registered at %s over %s", e->t->ep, e->reg_loc, tc_name(s));
            e->retry_ms = 0;
            e->st = TR_LOOKUP;
            e->next_action = now;
            e->next_refresh = now + serve_refresh_interval_ms(s->o);
        } else if (m->code == COAP_NOT_FOUND && strcmp(e->reg_iface, "/rd") != 0) {
            log_warnx("%s: %s answered 4.04; trying /rd", e->t->ep, e->reg_iface);
            snprintf(e->reg_iface, sizeof(e->reg_iface), "/rd");
            e->next_action = now;
        } else if (COAP_CODE_CLASS(m->code) == 4) {
            log_warnx("%s: registration refused: %s %.*s", e->t->ep, cs, (int)m->payload_len,
                      (const char *)m->payload);
            s->exit_code = CN_EXIT_CONFIG;
            cn_sig.stop = 1;
        } else {
            log_warnx("%s: registration: %s; retrying", e->t->ep, cs);
            retry_later(e, now);
        }
        break;
    case TO_LOOKUP:
        serve_take_host(s->o, e->t->ep, m, e->host, sizeof(e->host), &e->port);
        serve_print(s->o, e->t->ep, e->host, e->port, e->reg_loc, &e->t->local->addr);
        e->st = TR_REGISTERED;
        e->backoff_ms = 0; /* a working connection: reconnects start quick again */
        break;
    case TO_REFRESH:
        if (m->code == COAP_CHANGED) {
            log_debug("%s: registration %s refreshed", e->t->ep, e->reg_loc);
            e->retry_ms = 0;
            e->next_refresh = now + serve_refresh_interval_ms(s->o);
        } else if (m->code == COAP_NOT_FOUND) {
            log_warnx("%s: registration %s is gone (4.04); registering again", e->t->ep,
                      e->reg_loc);
            e->reg_loc[0] = '\0';
            e->st = TR_REGISTER;
            e->next_action = now;
        } else {
            log_warnx("%s: refresh of %s: %s; retrying", e->t->ep, e->reg_loc, cs);
            retry_later(e, now);
            e->next_refresh = e->next_action;
        }
        break;
    case TO_DELETE:
        log_info("%s: registration %s removed (%s)", e->t->ep, e->reg_loc, cs);
        e->reg_loc[0] = '\0';
        tc_signal(s, e, COAP_SIG_RELEASE, NULL, 0, now);
        tc_drop(s, e, "released", now);
        break;
    case TO_NONE:
        break;
    }
}

/* Start the request the registration state wants, if it is due. */
static void tc_step(struct tcp_serve *s, struct tcp_ep *e, uint64_t now)
{
    char q[512];

    if (e->conn != TC_OPEN || e->own != TO_NONE)
        return;
    switch (e->st) {
    case TR_DISCOVER:
        if (now >= e->next_action)
            own_send(s, e, TO_DISCOVER, COAP_GET, "/.well-known/core", "rt=core.rd", NULL, -1, now);
        break;
    case TR_REGISTER:
        if (now < e->next_action)
            break;
        serve_reg_query(s->o, e->t->ep, q, sizeof(q));
        own_send(s, e, TO_REGISTER, COAP_POST, e->reg_iface, q, e->t->links, COAP_CF_LINK_FORMAT,
                 now);
        break;
    case TR_LOOKUP:
        if (s->o->d[0] != '\0')
            snprintf(q, sizeof(q), "ep=%s&d=%s", e->t->ep, s->o->d);
        else
            snprintf(q, sizeof(q), "ep=%s", e->t->ep);
        own_send(s, e, TO_LOOKUP, COAP_GET, "/rd-lookup/ep", q, NULL, -1, now);
        break;
    case TR_REGISTERED:
        if (now >= e->next_refresh) {
            own_send(s, e, TO_REFRESH, COAP_POST, e->reg_loc, serve_auth_query(s->o, q, sizeof(q)),
                     NULL, -1, now);
        } else if (s->o->ping_ms > 0 && !e->ping_out && now >= e->last_tx + s->o->ping_ms) {
            uint32_t t = cn_random32();
            memcpy(e->ping_token, &t, TCP_TKL);
            tc_signal(s, e, COAP_SIG_PING, e->ping_token, TCP_TKL, now);
            e->ping_out = true;
            e->ping_deadline = now + TCP_PONG_TIMEOUT_MS;
        }
        break;
    case TR_DELETING:
        own_send(s, e, TO_DELETE, COAP_DELETE, e->reg_loc, serve_auth_query(s->o, q, sizeof(q)),
                 NULL, -1, now);
        break;
    case TR_DONE:
        break;
    }
}

/* ---- forwarding ---- */

/* What the forwarder sends down: one datagram -> one frame (or nothing). */
static void tc_down_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct tcp_ep *e = ctx;
    struct coap_msg m;
    uint64_t now = now_mono_ms();

    if (e->conn != TC_OPEN || coap_msg_parse_udp(buf, len, &m) < 0 || m.code == COAP_EMPTY)
        return; /* empty ACK / RST / ping: no message layer on TCP */
    if (m.type == COAP_T_CON && e->npend < TCP_PEND_ACKS)
        e->pend[e->npend++] = m.msgid;
    {
        uint8_t frame[CN_DGRAM_MAX + 16];
        if (tc_send_coap(e->srv, e, &m, frame, sizeof(frame), now) < 0)
            log_warnx("%s: could not send an answer to rdrelay", e->t->ep);
    }
}

/* ACK the CON responses the forwarder sent down (as the down side would). */
static void tc_flush_acks(struct tcp_ep *e, uint64_t now)
{
    while (e->npend > 0 && e->conn == TC_OPEN) {
        uint16_t mid = e->pend[--e->npend];
        uint8_t b[4] = {0x60, 0, (uint8_t)(mid >> 8), (uint8_t)mid};
        fwd_on_down(&e->fwd, b, sizeof(b), &e->peer, now);
    }
}

/* A request from rdrelay: a datagram of ours for the forwarder. */
static void tc_request(struct tcp_serve *s, struct tcp_ep *e, struct coap_msg *m, uint64_t now)
{
    ssize_t n;

    m->type = COAP_T_CON;
    m->msgid = e->next_mid++;
    n = coap_msg_serialize_udp(m, s->dg, sizeof(s->dg));
    if (n < 0) {
        log_warnx("%s: request too large for the local server; dropped", e->t->ep);
        return;
    }
    fwd_on_down(&e->fwd, s->dg, (size_t)n, &e->peer, now);
    tc_flush_acks(e, now);
}

static void tc_message(struct tcp_serve *s, struct tcp_ep *e, const uint8_t *buf, size_t len,
                       uint64_t now)
{
    struct coap_msg m;

    if ((s->o->ws ? coap_msg_parse_ws(buf, len, &m) : coap_msg_parse_tcp(buf, len, &m)) < 0) {
        tc_signal(s, e, COAP_SIG_ABORT, NULL, 0, now);
        tc_drop(s, e, "malformed message", now);
        return;
    }
    if (COAP_CODE_CLASS(m.code) == 7) {
        switch (m.code) {
        case COAP_SIG_CSM:
            log_debug("%s: rdrelay's CSM (Max-Message-Size %u)", e->t->ep,
                      (unsigned)coap_msg_opt_uint(&m, 2, 1152));
            break;
        case COAP_SIG_PING:
            log_debug("%s: Ping from rdrelay: Pong", e->t->ep);
            tc_signal(s, e, COAP_SIG_PONG, m.token, m.tkl, now);
            break;
        case COAP_SIG_PONG:
            if (e->ping_out && m.tkl == TCP_TKL && memcmp(m.token, e->ping_token, TCP_TKL) == 0) {
                e->ping_out = false;
                log_debug("%s: Pong from rdrelay", e->t->ep);
            }
            break;
        case COAP_SIG_RELEASE:
            tc_drop(s, e, "rdrelay sent Release", now);
            break;
        case COAP_SIG_ABORT:
            log_warnx("%s: Abort from rdrelay: %.*s", e->t->ep, (int)m.payload_len,
                      (const char *)m.payload);
            tc_drop(s, e, "rdrelay sent Abort", now);
            break;
        default:
            break;
        }
        return;
    }
    if (m.code == COAP_EMPTY)
        return; /* RFC 8323 §3.4: ignored */
    if (COAP_CODE_CLASS(m.code) == 0) {
        tc_request(s, e, &m, now);
        return;
    }
    if (e->own != TO_NONE && m.tkl == TCP_TKL && memcmp(m.token, e->own_token, TCP_TKL) == 0)
        own_done(s, e, &m, now);
    else
        log_debug("%s: a response nobody waits for; dropped", e->t->ep);
}

/* Over a WebSocket: decoded frames -> messages; WebSocket Ping, Close and
 * errors. */
static void tc_ws_events(struct tcp_serve *s, struct tcp_ep *e, uint64_t now)
{
    struct ws_event ev;
    char why[160];

    while (e->conn == TC_OPEN) {
        ws_conn_next(&e->wsc, &e->wsrx, &ev, TCP_SEND_TIMEOUT_S * 1000u);
        switch (ev.kind) {
        case WS_EV_NONE:
            return;
        case WS_EV_MESSAGE:
            tc_message(s, e, ev.data, ev.len, now);
            break;
        default: /* Pings: answered by ws_conn_next */
            break;
        case WS_EV_CLOSE:
            snprintf(why, sizeof(why), "rdrelay closed the WebSocket: %u %.*s", ev.code,
                     (int)(ev.len > 100 ? 100 : ev.len), (const char *)ev.data);
            tc_drop(s, e, why, now);
            return;
        case WS_EV_ERROR:
            snprintf(why, sizeof(why), "WebSocket: %.*s", (int)ev.len, (const char *)ev.data);
            ws_send_close(&e->wsc, ev.code, why, 1000);
            ws_conn_release(&e->wsc);
            close(e->fd); /* no second Close from tc_drop */
            e->fd = -1;
            tc_drop(s, e, why, now);
            return;
        }
    }
}

static void tc_read_ws(struct tcp_serve *s, struct tcp_ep *e, uint64_t now)
{
    ssize_t n = ws_rx_read(&e->wsc, &e->wsrx);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        tc_drop(s, e, n == 0 ? "closed by rdrelay" : strerror(errno), now);
        return;
    }
    tc_ws_events(s, e, now);
}

static void tc_read(struct tcp_serve *s, struct tcp_ep *e, uint64_t now)
{
    ssize_t n = recv(e->fd, s->rx, sizeof(s->rx), MSG_DONTWAIT);
    uint8_t *p;
    size_t have;

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        tc_drop(s, e, n == 0 ? "closed by rdrelay" : strerror(errno), now);
        return;
    }
    if (n < 0)
        return;
    p = realloc(e->in, e->in_len + (size_t)n);
    if (p == NULL) {
        tc_drop(s, e, "out of memory", now);
        return;
    }
    e->in = p;
    memcpy(e->in + e->in_len, s->rx, (size_t)n);
    e->in_len += (size_t)n;
    have = 0;
    while (e->conn == TC_OPEN && have < e->in_len) {
        ssize_t fl = coap_msg_tcp_frame_len(e->in + have, e->in_len - have);
        if (fl < 0 || fl > (ssize_t)TCP_IN_MAX) {
            tc_signal(s, e, COAP_SIG_ABORT, NULL, 0, now);
            tc_drop(s, e, fl < 0 ? "malformed frame" : "message too large", now);
            return;
        }
        if (fl == 0 || (size_t)fl > e->in_len - have)
            break;
        tc_message(s, e, e->in + have, (size_t)fl, now);
        have += (size_t)fl;
    }
    if (e->conn != TC_OPEN)
        return;
    memmove(e->in, e->in + have, e->in_len - have);
    e->in_len -= have;
}

static void tc_read_local(struct tcp_serve *s, struct tcp_ep *e, uint64_t now)
{
    struct rr_addr from;

    for (int i = 0; i < 64; i++) {
        ssize_t n = cn_recvfrom(e->fd_local, s->dg, sizeof(s->dg), &from);
        if (n < 0)
            return;
        if (!addr_equal(&from, &e->t->local->addr) || e->conn != TC_OPEN)
            continue;
        fwd_on_up(&e->fwd, s->dg, (size_t)n, now);
        tc_flush_acks(e, now);
    }
}

/* ---- timers and the loop ---- */

static void tc_timers(struct tcp_serve *s, struct tcp_ep *e, uint64_t now)
{
    switch (e->conn) {
    case TC_IDLE:
        if (!s->stopping && e->st != TR_DONE && now >= e->next_connect)
            tc_connect(s, e, now);
        return;
    case TC_CONNECTING:
        if (now >= e->conn_deadline)
            tc_drop(s, e, "connect timed out", now);
        return;
    case TC_OPEN:
        break;
    }
    if (e->own != TO_NONE && now >= e->own_deadline) {
        tc_drop(s, e, "no answer to our request", now);
        return;
    }
    if (e->ping_out && now >= e->ping_deadline) {
        tc_drop(s, e, "no Pong", now);
        return;
    }
    if (s->stopping && now >= e->stop_deadline) {
        tc_signal(s, e, COAP_SIG_RELEASE, NULL, 0, now);
        tc_drop(s, e, "stopping", now);
        return;
    }
    fwd_tick(&e->fwd, now);
    tc_flush_acks(e, now);
    tc_step(s, e, now);
}

static uint64_t tc_next(const struct tcp_serve *s, const struct tcp_ep *e, uint64_t now)
{
    uint64_t next = now + 1000;

    if (e->conn == TC_IDLE)
        return e->next_connect < next ? e->next_connect : next;
    if (e->conn == TC_CONNECTING)
        return e->conn_deadline < next ? e->conn_deadline : next;
    next = fwd_next_timer(&e->fwd, now) < next ? fwd_next_timer(&e->fwd, now) : next;
    if (e->own != TO_NONE && e->own_deadline < next)
        next = e->own_deadline;
    if (e->own == TO_NONE && e->next_action < next)
        next = e->next_action;
    if (e->st == TR_REGISTERED && e->own == TO_NONE) {
        if (e->next_refresh < next)
            next = e->next_refresh;
        if (s->o->ping_ms > 0 && !e->ping_out && e->last_tx + s->o->ping_ms < next)
            next = e->last_tx + s->o->ping_ms;
    }
    if (e->ping_out && e->ping_deadline < next)
        next = e->ping_deadline;
    return next > now ? next : now;
}

static void tc_begin_stop(struct tcp_serve *s, uint64_t now)
{
    s->stopping = true;
    log_info("stopping: removing registrations");
    for (unsigned i = 0; i < s->n; i++) {
        struct tcp_ep *e = &s->eps[i];
        e->stop_deadline = now + TCP_STOP_WAIT_MS;
        if (e->conn == TC_OPEN && e->reg_loc[0] != '\0') {
            /* an outstanding request of ours is abandoned: DELETE now */
            e->own = TO_NONE;
            e->st = TR_DELETING;
            tc_step(s, e, now);
        } else {
            if (e->conn == TC_OPEN)
                tc_signal(s, e, COAP_SIG_RELEASE, NULL, 0, now);
            if (e->conn != TC_IDLE)
                tc_drop(s, e, "stopping", now);
            e->st = TR_DONE;
        }
    }
}

int serve_tcp_run(const struct serve_opts *o, const struct serve_target *t, unsigned n)
{
    struct tcp_serve *s = calloc(1, sizeof(*s));
    struct pollfd pfd[TCP_MAX_EPS * 2];
    int rc = CN_EXIT_RUNTIME;

    if (s == NULL)
        return CN_EXIT_RUNTIME;
    if (n > TCP_MAX_EPS)
        n = TCP_MAX_EPS;
    s->o = o;
    s->n = n;
    for (unsigned i = 0; i < n; i++)
        s->eps[i].fd = s->eps[i].fd_local = -1;
    for (unsigned i = 0; i < n; i++) {
        struct tcp_ep *e = &s->eps[i];
        e->t = &t[i];
        e->srv = s;
        e->fd_local = cn_udp_socket(&t[i].local->addr, NULL);
        if (e->fd_local < 0)
            goto done;
        e->peer = o->rd.addr; /* the down side's one peer: the connection */
        e->next_mid = (uint16_t)cn_random32();
        e->next_connect = now_mono_ms();
    }
    for (;;) {
        uint64_t now = now_mono_ms(), next = now + 1000;
        bool all_done = true;

        if (cn_sig.stop && !s->stopping)
            tc_begin_stop(s, now);
        for (unsigned i = 0; i < n; i++) {
            tc_timers(s, &s->eps[i], now);
            if (s->eps[i].st != TR_DONE)
                all_done = false;
        }
        if (s->stopping && all_done)
            break;
        for (unsigned i = 0; i < n; i++) {
            struct tcp_ep *e = &s->eps[i];
            uint64_t tn = tc_next(s, e, now);
            if (tn < next)
                next = tn;
            pfd[2 * i] =
                (struct pollfd){.fd = e->fd, .events = e->conn == TC_CONNECTING ? POLLOUT : POLLIN};
            pfd[2 * i + 1] = (struct pollfd){.fd = e->fd_local, .events = POLLIN};
        }
        if (poll(pfd, 2 * n, next > now ? (int)(next - now) : 0) < 0) {
            if (errno == EINTR)
                continue;
            log_warn("poll");
            goto done;
        }
        now = now_mono_ms();
        for (unsigned i = 0; i < n; i++) {
            struct tcp_ep *e = &s->eps[i];
            if (e->fd >= 0 && pfd[2 * i].revents != 0) {
                if (e->conn == TC_CONNECTING)
                    tc_connected(s, e, now);
                else if (e->conn == TC_OPEN && s->o->ws)
                    tc_read_ws(s, e, now);
                else if (e->conn == TC_OPEN)
                    tc_read(s, e, now);
            }
            if (pfd[2 * i + 1].revents & (POLLIN | POLLERR))
                tc_read_local(s, e, now);
        }
    }
    rc = s->exit_code;
done:
    for (unsigned i = 0; i < n; i++) {
        struct tcp_ep *e = &s->eps[i];
        if (e->fd >= 0)
            close(e->fd);
        if (e->fd_local >= 0)
            close(e->fd_local);
        free(e->in);
        ws_rx_free(&e->wsrx);
        ws_conn_release(&e->wsc);
        fwd_free(&e->fwd);
    }
    free(s);
    return rc;
}
