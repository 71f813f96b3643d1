/*
 * conn.c - relay-tcp's listeners and the TCP side of its connections (RFC
 * 8323 §3 transport; the connections themselves are the stream layer's,
 * relay-core/stream_conn.c). Owns: the listeners (one per tcp_listen
 * address, relay-core/listen.c), every connection's socket, incomplete-message
 * bytes and bounded output queue, and the relay-wide receive buffer; and
 * rt_io, the stream layer's view of all that.
 * Reads are non-blocking and bounded per wake-up; whole messages go to the
 * stream layer (st_msg_on_message); a Length above our Max-Message-Size or
 * a bad header is answered with Abort. Writes go straight to the kernel and
 * only what it does not take is queued (EPOLLOUT); a peer that lets more
 * than tcp_outq_max pile up is disconnected, so one slow reader never
 * stalls the others.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "tcp_relay.h"
#include "timeutil.h"

#define RT_READ_ROUNDS 4

int rt_conns_init(struct rt_relay *r)
{
    uint32_t max = r->s.nconns_max;

    r->tc = calloc(max, sizeof(*r->tc));
    r->rbuf_size = 65536 + (size_t)r->s.lim.max_message + 16;
    r->rbuf = malloc(r->rbuf_size);
    if (!r->tc || !r->rbuf) {
        log_warnx("out of memory for %u connections", max);
        return -1;
    }
    for (uint32_t i = 0; i < max; i++)
        r->tc[i].fd = -1;
    return 0;
}

void rt_conns_free(struct rt_relay *r)
{
    free(r->tc);
    free(r->rbuf);
    r->tc = NULL;
    r->rbuf = NULL;
}

static void accept_one(void *arg, int li, int fd, uint64_t now);
static void accept_conn(void *arg, int fd, uint64_t now);
static void on_conn_event(struct rc_handler *h, uint32_t events, uint64_t now);

int rt_listen_all(struct rt_relay *r)
{
    r->lis = (struct rc_listeners){.what = "tcp", .on_accept = accept_one, .arg = r};
    if (rc_listeners_open(&r->s.core, &r->lis, r->s.cfg.tcp_listen, 5683) < 0)
        return -1;
    /* where relay-ws shares our addresses, a hosting port carries coap+ws
     * too: the first bytes say which (relay-core/handoff.h) */
    if (r->s.core.nports && r->s.cfg.ws_listen[0] &&
        rc_handoff_tx_init(&r->s.hand, &r->s.core, r->s.cfg.port_handoff_socket,
                           r->s.cfg.tcp_timeout_ms, r->s.cfg.max_conns_per_source, ST_T_HANDOFF,
                           accept_conn, r) < 0)
        return -1;
    return st_port_listeners(&r->s, &r->lis, 0); /* hosting ports on the same addresses */
}

void rt_listen_close(struct rt_relay *r)
{
    rc_listeners_close(&r->lis);
}

/* ---- accept ---- */

static void accept_one(void *arg, int li, int fd, uint64_t now)
{
    struct rt_relay *r = arg;

    if (li < 0 && r->s.hand.s) /* a hosting port: coap+tcp or coap+ws? */
        rc_handoff_sniff(&r->s.hand, fd, now);
    else
        accept_conn(r, fd, now);
}

static void accept_conn(void *arg, int fd, uint64_t now)
{
    rt_conn_adopt(arg, fd, now);
}

uint32_t rt_conn_adopt(struct rt_relay *r, int fd, uint64_t now)
{
    struct rr_addr remote, local;
    int one = 1;

    rc_sock_addrs(fd, &remote, &local);
    uint32_t ci = st_conn_open(&r->s, &remote, &local);
    if (ci == RT_NONE) {
        close(fd);
        return RT_NONE;
    }
    struct tcp_conn *t = &r->tc[ci];
    *t = (struct tcp_conn){.fd = fd};
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    t->h = (struct rc_handler){.fn = on_conn_event, .arg = r, .idx = ci};
    if (rc_fd_add(&r->s.core, fd, EPOLLIN | EPOLLRDHUP, &t->h) < 0) {
        st_conn_close(&r->s, ci, "epoll", now);
        return RT_NONE;
    }
    /* RFC 8323 §5.3: our CSM is the first message, sent at once */
    st_sig_open(&r->s, ci, now);
    return ci;
}

/* ---- output ---- */

static void set_want_write(struct rt_relay *r, uint32_t ci, bool on)
{
    struct tcp_conn *t = &r->tc[ci];
    if (t->want_write == on)
        return;
    if (rc_fd_mod(&r->s.core, t->fd, EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0), &t->h) == 0)
        t->want_write = on;
}

/* Push queued output; 0, or -1 when the connection failed (closed). */
static int flush_out(struct rt_relay *r, uint32_t ci, uint64_t now)
{
    struct tcp_conn *t = &r->tc[ci];

    while (t->out.len > 0) {
        ssize_t n = send(t->fd, outq_data(&t->out), t->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            st_conn_close(&r->s, ci, "write failed", now);
            return -1;
        }
        outq_consume(&t->out, (size_t)n);
    }
    if (t->out.len == 0) {
        set_want_write(r, ci, false);
        if (t->closing) {
            st_conn_close(&r->s, ci, "released", now);
            return -1;
        }
    } else {
        set_want_write(r, ci, true);
    }
    return 0;
}

static int io_write(void *io, uint32_t ci, const uint8_t *buf, size_t len)
{
    struct rt_relay *r = io;
    struct tcp_conn *t = &r->tc[ci];
    size_t off = 0;

    if (t->out.len == 0) {
        ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            st_conn_close(&r->s, ci, "write failed", now_mono_ms());
            return -1;
        }
        off = n > 0 ? (size_t)n : 0;
        if (off == len)
            return 0;
    }
    if (outq_push(&t->out, buf + off, len - off, r->s.cfg.tcp_outq_max) < 0) {
        if (errno == EMSGSIZE) {
            r->s.c.slow_readers++;
            st_conn_close(&r->s, ci, "peer does not read (output queue full)", now_mono_ms());
        } else {
            st_conn_close(&r->s, ci, "out of memory", now_mono_ms());
        }
        return -1;
    }
    set_want_write(r, ci, true);
    return 0;
}

/* ---- input ---- */

/* Process the whole messages at the start of buf; returns the bytes
 * consumed, or -1 if the connection was closed meanwhile. */
static ssize_t process(struct rt_relay *r, uint32_t ci, const uint8_t *buf, size_t len,
                       uint64_t now)
{
    uint64_t id = r->s.conns[ci].id;
    size_t off = 0;

    while (off < len) {
        size_t fl = 0;
        switch (rt_frame_check(buf + off, len - off, r->s.lim.max_message, &fl)) {
        case RT_FRAME_NEED_MORE:
            return (ssize_t)off;
        case RT_FRAME_TOO_BIG: {
            char why[96];
            r->s.c.too_big++;
            snprintf(why, sizeof(why), "message of %zu bytes exceeds Max-Message-Size %u", fl,
                     (unsigned)r->s.lim.max_message);
            st_sig_abort(&r->s, ci, why, 0, now);
            return -1;
        }
        case RT_FRAME_BAD:
            r->s.c.bad_frames++;
            st_sig_abort(&r->s, ci, "malformed message header", 0, now);
            return -1;
        case RT_FRAME_WHOLE:
            break;
        }
        r->s.c.rx_msgs++;
        st_msg_on_message(&r->s, ci, buf + off, fl, now);
        if (!st_conn_alive(&r->s, ci, id))
            return -1;
        off += fl;
    }
    return (ssize_t)off;
}

static void on_readable(struct rt_relay *r, uint32_t ci, uint64_t now)
{
    struct st_conn *c = &r->s.conns[ci];
    struct tcp_conn *t = &r->tc[ci];
    uint64_t id = c->id;

    for (int round = 0; round < RT_READ_ROUNDS; round++) {
        /* the incomplete message kept from before, then new bytes */
        size_t have = t->in_len;
        if (have)
            memcpy(r->rbuf, t->in, have);
        ssize_t n = recv(t->fd, r->rbuf + have, r->rbuf_size - have, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            st_conn_close(&r->s, ci, "read error", now);
            return;
        }
        if (n == 0) {
            st_conn_close(&r->s, ci,
                          t->in_len ? "closed in the middle of a message" : "closed by peer", now);
            return;
        }
        sig_on_rx(&c->sig, now);
        size_t total = have + (size_t)n;
        ssize_t used = process(r, ci, r->rbuf, total, now);
        if (used < 0 || !st_conn_alive(&r->s, ci, id))
            return;
        size_t left = total - (size_t)used;
        if (left == 0) {
            free(t->in);
            t->in = NULL;
            t->in_len = 0;
            c->sig.partial_since_ms = 0;
        } else {
            uint8_t *p = realloc(t->in, left);
            if (!p) {
                st_conn_close(&r->s, ci, "out of memory", now);
                return;
            }
            t->in = p;
            memcpy(t->in, r->rbuf + used, left);
            /* the half-message clock starts when a message starts */
            if (used > 0 || c->sig.partial_since_ms == 0)
                c->sig.partial_since_ms = now;
            t->in_len = (uint32_t)left;
        }
        st_sig_rearm(&r->s, ci);
        if ((size_t)n < r->rbuf_size - have)
            return; /* drained the socket */
    }
}

static void on_conn_event(struct rc_handler *h, uint32_t events, uint64_t now)
{
    struct rt_relay *r = h->arg;
    uint32_t ci = h->idx;
    if (ci >= r->s.nconns_max || r->s.conns[ci].state == RC_FREE)
        return;
    uint64_t id = r->s.conns[ci].id;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        on_readable(r, ci, now);
    if (r->s.conns[ci].state != RC_FREE && r->s.conns[ci].id == id && (events & EPOLLOUT))
        flush_out(r, ci, now);
    if (r->tc[ci].closing && r->s.conns[ci].id == id && r->s.conns[ci].state != RC_FREE &&
        (events & (EPOLLHUP | EPOLLERR)))
        st_conn_close(&r->s, ci, "closed", now);
}

/* ---- close ---- */

static void io_release(void *io, uint32_t ci, uint64_t now)
{
    struct rt_relay *r = io;
    if (r->s.conns[ci].state != RC_OPEN)
        return;
    if (r->tc[ci].out.len == 0) {
        st_conn_close(&r->s, ci, "released", now);
        return;
    }
    /* nothing more goes out on it, nor is it a path any more */
    r->s.conns[ci].state = RC_CLOSING;
    r->tc[ci].closing = true;
}

static void io_closed(void *io, uint32_t ci, const char *why)
{
    struct rt_relay *r = io;
    struct tcp_conn *t = &r->tc[ci];
    (void)why; /* TCP has no close reason: an Abort carried it, if any */

    if (t->fd >= 0) {
        rc_fd_del(&r->s.core, t->fd, &t->h);
        close(t->fd);
    }
    free(t->in);
    outq_free(&t->out);
    *t = (struct tcp_conn){.fd = -1};
}

const struct st_io rt_io = {
    .what = "TCP connection",
    .serialize = coap_msg_serialize_tcp,
    .parse = coap_msg_parse_tcp,
    .write = io_write,
    .release = io_release,
    .closed = io_closed,
};
