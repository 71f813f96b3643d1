/*
 * bench_stream.c - CoAP over TCP and WebSocket for rdrelay-bench: the
 * connection (bench_stream.h) and the coap+tcp:// / coap+ws:// transports
 * of the measurement loop (bench_loop.h). Reliable transports have no
 * message layer: a request is sent once, its answer is matched by token
 * alone, and one that never comes fails after the whole CON span.
 * The request template is framed once (for WebSocket as a masked frame
 * with a zero masking key, so the token bytes can be patched in place:
 * RFC 6455 asks for an unpredictable key against proxies that cache, which
 * a loopback load tool does not meet).
 * Owns: the connections of one run (struct stream_x in b->xp).
 * Talks to: the relay or origin on loopback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_loop.h"
#include "bench_stream.h"
#include "log.h"

#define SCONN_TIMEOUT_MS 5000
#define SCONN_IN_CAP 65536
#define SCONN_MAX_MSG 65536

/* ---- one connection ---- */

static int tcp_connect(const struct rr_addr *a)
{
    int one = 1, soerr = 0;
    socklen_t sl = sizeof(soerr);
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        log_warn("socket");
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 && errno != EINPROGRESS)
        goto bad;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, SCONN_TIMEOUT_MS) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
        errno = soerr != 0 ? soerr : ETIMEDOUT;
        goto bad;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
bad:
    log_warn("connect");
    close(fd);
    return -1;
}

ssize_t sconn_frame(bool ws, const struct coap_msg *m, uint8_t *buf, size_t cap, size_t *msg_off)
{
    if (!ws) {
        ssize_t n = coap_msg_serialize_tcp(m, buf, cap);
        *msg_off = 0;
        return n;
    }
    uint8_t tmp[SCONN_MAX_MSG];
    ssize_t n = coap_msg_serialize_ws(m, tmp, sizeof(tmp));
    if (n < 0)
        return -1;
    ssize_t f = ws_frame_encode(buf, cap, WS_OP_BINARY, tmp, (size_t)n, 0);
    if (f < 0)
        return -1;
    *msg_off = (size_t)(f - n);
    return f;
}

uint8_t *sconn_reserve(struct sconn *c, size_t len)
{
    if (c->out_off > 0 && c->out_len + len > c->out_cap) { /* compact */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + len > c->out_cap)
        return NULL;
    uint8_t *p = c->out + c->out_len;
    c->out_len += len;
    return p;
}

int sconn_queue(struct sconn *c, const struct coap_msg *m)
{
    uint8_t buf[2048];
    size_t off;
    ssize_t n = sconn_frame(c->ws, m, buf, sizeof(buf), &off);
    uint8_t *p = n > 0 ? sconn_reserve(c, (size_t)n) : NULL;

    if (p == NULL)
        return -1;
    memcpy(p, buf, (size_t)n);
    return 0;
}

int sconn_flush(struct sconn *c)
{
    while (c->out_off < c->out_len && !c->dead) {
        ssize_t n = ws_io_send(&c->wc, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            c->dead = true;
            return -1;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    return c->dead ? -1 : 0;
}

int sconn_open(struct sconn *c, bool ws, const struct rr_addr *a, size_t out_cap)
{
    uint8_t mmsbuf[4];
    struct coap_msg csm;

    memset(c, 0, sizeof(*c));
    c->ws = ws;
    ws_conn_init(&c->wc, -1);
    ws_rx_init(&c->rx, SCONN_MAX_MSG);
    c->out = malloc(out_cap);
    if (c->out == NULL) {
        log_warn("malloc");
        return -1;
    }
    c->out_cap = out_cap;
    if (ws) {
        char host[INET6_ADDRSTRLEN], err[256];
        uint16_t port;
        if (a->ss.ss_family == AF_INET) {
            const struct sockaddr_in *s = (const struct sockaddr_in *)&a->ss;
            inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
            port = ntohs(s->sin_port);
        } else {
            const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->ss;
            inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
            port = ntohs(s->sin6_port);
        }
        if (ws_client_open(host, port, WS_COAP_PATH, NULL, &c->wc, &c->rx, SCONN_TIMEOUT_MS, err,
                           sizeof(err)) < 0) {
            log_warnx("WebSocket to %s port %u: %s", host, (unsigned)port, err);
            return -1;
        }
    } else {
        int fd = tcp_connect(a);
        if (fd < 0)
            return -1;
        ws_conn_init(&c->wc, fd);
    }
    /* RFC 8323 §5.3: our CSM is the first message on the connection */
    coap_msg_signal(&csm, COAP_SIG_CSM, NULL, 0, SCONN_MAX_MSG, false, mmsbuf);
    return sconn_queue(c, &csm);
}

void sconn_close(struct sconn *c)
{
    if (c->wc.fd >= 0)
        ws_conn_close(&c->wc);
    ws_rx_free(&c->rx);
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
}

/* A message from the peer: signals here, the rest to fn. */
static void sconn_msg(struct sconn *c, const struct coap_msg *m, sconn_msg_fn fn, void *arg)
{
    if (COAP_CODE_CLASS(m->code) != 7) {
        fn(arg, c, m);
        return;
    }
    if (m->code == COAP_SIG_PING) {
        struct coap_msg pong;
        uint8_t mmsbuf[4];
        coap_msg_signal(&pong, COAP_SIG_PONG, m->token, m->tkl, 0, false, mmsbuf);
        (void)sconn_queue(c, &pong); /* a full queue: the peer pings again */
    } else if (m->code == COAP_SIG_RELEASE || m->code == COAP_SIG_ABORT) {
        log_warnx("the peer sent %s: connection closed",
                  m->code == COAP_SIG_RELEASE ? "Release" : "Abort");
        c->dead = true;
    } /* CSM, Pong: nothing to do */
}

static int tcp_read(struct sconn *c, sconn_msg_fn fn, void *arg)
{
    if (c->in == NULL) {
        c->in = malloc(SCONN_IN_CAP);
        if (c->in == NULL) {
            c->dead = true;
            return -1;
        }
        c->in_cap = SCONN_IN_CAP;
    }
    for (unsigned round = 0; round < 16 && !c->dead; round++) {
        ssize_t n = recv(c->wc.fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            c->dead = true;
            break;
        }
        if (n < 0)
            break;
        c->in_len += (size_t)n;
        size_t off = 0;
        while (off < c->in_len && !c->dead) {
            ssize_t f = coap_msg_tcp_frame_len(c->in + off, c->in_len - off);
            struct coap_msg m;
            if (f == 0)
                break;
            if (f > 0 && (size_t)f <= c->in_cap && (size_t)f > c->in_len - off)
                break; /* the rest of it is still on the way */
            if (f < 0 || (size_t)f > c->in_cap ||
                coap_msg_parse_tcp(c->in + off, (size_t)f, &m) < 0) {
                log_warnx("malformed CoAP-over-TCP message: connection closed");
                c->dead = true;
                break;
            }
            sconn_msg(c, &m, fn, arg);
            off += (size_t)f;
        }
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    if (c->in_len == 0) { /* an idle connection holds no input buffer */
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
    return c->dead ? -1 : 0;
}

static int ws_read(struct sconn *c, sconn_msg_fn fn, void *arg)
{
    ssize_t n = ws_rx_read(&c->wc, &c->rx);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        c->dead = true;
        return -1;
    }
    for (unsigned k = 0; k < 100000 && !c->dead; k++) {
        struct ws_event ev;
        struct coap_msg m;
        ws_rx_next(&c->rx, &ev);
        if (ev.kind == WS_EV_NONE)
            break;
        switch (ev.kind) {
        case WS_EV_MESSAGE:
            if (coap_msg_parse_ws(ev.data, ev.len, &m) < 0) {
                log_warnx("malformed CoAP-over-WebSocket message: connection closed");
                c->dead = true;
                break;
            }
            sconn_msg(c, &m, fn, arg);
            break;
        case WS_EV_PING: {
            uint8_t fr[WS_MAX_HEADER + 125];
            ssize_t f = ws_frame_encode(fr, sizeof(fr), WS_OP_PONG, ev.data,
                                        ev.len > 125 ? 125 : ev.len, 0);
            uint8_t *p = f > 0 ? sconn_reserve(c, (size_t)f) : NULL;
            if (p != NULL)
                memcpy(p, fr, (size_t)f);
            break;
        }
        case WS_EV_PONG:
            break;
        default: /* close or protocol error */
            c->dead = true;
            break;
        }
    }
    return c->dead ? -1 : 0;
}

int sconn_read(struct sconn *c, sconn_msg_fn fn, void *arg)
{
    return c->ws ? ws_read(c, fn, arg) : tcp_read(c, fn, arg);
}

/* ---- the transports of the measurement loop ---- */

struct stream_x {
    struct sconn conns[BENCH_MAX_SOCKETS];
    unsigned n;
    unsigned cur; /* the connection being read (for on_msg) */
    uint64_t now;
    size_t msg_off; /* where the CoAP message starts in the template */
};

static int stream_open(struct bench *b)
{
    struct stream_x *s = calloc(1, sizeof(*s));
    bool ws = b->x == &bench_xport_ws;
    size_t cap = (b->nslots / b->nconns + 2) * (b->req_len + 16) + 4096;

    if (s == NULL) {
        log_warn("calloc");
        return -1;
    }
    b->xp = s;
    for (unsigned i = 0; i < b->nconns; i++) {
        if (sconn_open(&s->conns[i], ws, b->target, cap) < 0) {
            sconn_close(&s->conns[i]);
            return -1;
        }
        s->n++;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, s->conns[i].wc.fd, &ev) < 0) {
            log_warn("epoll_ctl");
            return -1;
        }
    }
    return 0;
}

static int stream_tmpl(struct bench *b, const struct coap_msg *m)
{
    size_t off;
    ssize_t n = sconn_frame(b->x == &bench_xport_ws, m, b->req, sizeof(b->req), &off);

    if (n < 0)
        return -1;
    b->req_len = (size_t)n;
    /* TCP: Len|TKL, 0-4 bytes extended length, code, token; WS: Len=0 */
    unsigned l = b->req[off] >> 4;
    b->tok_off = off + 1 + (l < 13 ? 0 : l == 13 ? 1 : l == 14 ? 2 : 4) + 1;
    return b->tok_off + BENCH_TOKEN_LEN <= b->req_len ? 0 : -1;
}

static void stream_send(struct bench *b, unsigned idx)
{
    struct stream_x *s = b->xp;
    struct sconn *c = &s->conns[b->slots[idx].sock];
    uint8_t *p = sconn_reserve(c, b->req_len);

    if (p == NULL) { /* cannot happen: the queue holds every slot's request */
        b->r->send_drops++;
        return;
    }
    memcpy(p, b->req, b->req_len);
    bench_put_token(b, idx, p + b->tok_off);
}

static void on_msg(void *arg, struct sconn *c, const struct coap_msg *m)
{
    struct bench *b = arg;
    struct stream_x *s = b->xp;
    (void)c;

    if (COAP_CODE_CLASS(m->code) < 2) { /* a request sent to us: not ours to serve */
        b->r->malformed++;
        return;
    }
    int idx = bench_slot_by_token(b, s->cur, m->token, m->tkl);
    if (idx >= 0)
        bench_slot_done(b, (unsigned)idx, m->code, s->now);
}

static void stream_readable(struct bench *b, unsigned conn, uint64_t now)
{
    struct stream_x *s = b->xp;
    struct sconn *c = &s->conns[conn];

    if (c->dead)
        return;
    s->cur = conn;
    s->now = now;
    if (sconn_read(c, on_msg, b) < 0) {
        /* its requests fail when their deadline passes */
        log_warnx("connection %u to the target closed", conn);
        epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->wc.fd, NULL);
    }
}

static void stream_flush(struct bench *b)
{
    struct stream_x *s = b->xp;
    for (unsigned i = 0; i < s->n; i++)
        if (s->conns[i].out_len > s->conns[i].out_off)
            (void)sconn_flush(&s->conns[i]);
}

static void stream_close(struct bench *b)
{
    struct stream_x *s = b->xp;
    if (s == NULL)
        return;
    for (unsigned i = 0; i < s->n; i++)
        sconn_close(&s->conns[i]);
    free(s);
    b->xp = NULL;
}

/* TCP and WebSocket differ only in the framing, which stream_open,
 * stream_tmpl and struct sconn pick by b->x == &bench_xport_ws */
#define STREAM_XPORT(nm)                                                                           \
    {                                                                                              \
        .name = nm, .reliable = true, .open = stream_open, .tmpl = stream_tmpl,                    \
        .send = stream_send, .readable = stream_readable, .flush = stream_flush,                   \
        .close = stream_close,                                                                     \
    }

const struct bench_xport bench_xport_tcp = STREAM_XPORT("tcp");
const struct bench_xport bench_xport_ws = STREAM_XPORT("ws");
