/*
 * fuzz_tcp_conn.c - libFuzzer target for relay-tcp's own socket code
 * (relay-tcp/conn.c: the non-blocking reader that cuts a byte stream into
 * messages across reads and keeps an incomplete one, the direct write and
 * the bounded output queue behind it, EPOLLOUT flushing, Release and close)
 * and the stream layer above it, over a real loopback TCP connection (the
 * peer from a new address of 127.1.0.0/16 each time): the
 * relay's end is adopted as an accepted connection (rt_conn_adopt), the
 * fuzzer is the peer. fuzz_stream covers the stream layer in more depth;
 * this target is the socket side it mirrors. Small socket buffers (relay
 * SO_SNDBUF 4 KiB, peer SO_RCVBUF 2 KiB) and tcp_outq_max 4096 make
 * partial writes and a full output queue reachable; no rd-frontend, no
 * routes (RD requests wait, others are answered at once).
 * Input: records [op, arg, length, bytes]; op % 4:
 *   0 the peer sends the bytes; unless bit 4 is set, the relay then reads
 *     (so several records can arrive in one read);
 *   1 the peer reads at most arg * 64 bytes (its read budget), then the
 *     relay's socket is writeable (EPOLLOUT);
 *   2 the clock moves arg * 64 ms, due timers run;
 *   3 the peer shuts its sending side (the relay reads the end).
 * A connection the relay closed is replaced by a new one for the next
 * record.
 * Invariants: every complete message the peer reads is a well-formed RFC
 * 8323 message (framing and CoAP), in order; the output queue never holds
 * more than tcp_outq_max, the kept input never more than one message of
 * Max-Message-Size; a connection the relay closed has its socket closed
 * (the peer reads the end); once closed, no connection, exchange or timer
 * is left.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "log.h"
#include "tcp_relay.h"
#include "timeutil.h"

#define MAXMSG 2048
#define OUTQ_MAX 4096
#define PEER_BUF 65536

static struct rt_relay R;
static int lfd = -1;
static struct sockaddr_in laddr;
static uint32_t base_timers;
static char dir[] = "/tmp/fuzz_tcp_conn.XXXXXX";

struct peer {
    int fd;      /* the fuzzer's end */
    int rfd;     /* the relay's end (to check it is closed) */
    uint32_t ci; /* the relay's connection */
    uint64_t id; /* its id (a closed slot may be reused) */
    bool eof;    /* the peer read the end */
    uint8_t in[PEER_BUF];
    size_t in_len;
};

static void teardown(void)
{
    rt_conns_free(&R);
    st_free(&R.s);
    if (lfd >= 0)
        close(lfd);
    rmdir(dir);
}

static void setup(void)
{
    const struct st_limits lim = {.max_conns = 2,
                                  .max_message = MAXMSG,
                                  .max_inflight = 8,
                                  .timeout_ms = 10000,
                                  .pong_timeout_ms = 10000};
    char err[128];
    socklen_t al = sizeof(laddr);

    log_init("fuzz", LOG_LVL_ERROR);
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    config_defaults(&R.s.cfg);
    snprintf(R.s.cfg.state_dir, sizeof(R.s.cfg.state_dir), "%s", dir);
    R.s.cfg.max_exchanges = 16;
    R.s.cfg.tcp_outq_max = OUTQ_MAX; /* at least both Max-Message-Sizes */
    R.s.cfg.tcp_max_message = MAXMSG;
    R.s.cfg.ws_max_message = 1152;
    FUZZ_CHECK(config_finish(&R.s.cfg, err, sizeof(err)) == 0);
    FUZZ_CHECK(st_init(&R.s, RR_TRANSPORT_TCP, "tcp", &rt_io, &R, &lim) == 0);
    FUZZ_CHECK(rt_conns_init(&R) == 0);
    base_timers = R.s.core.timers.n;

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    laddr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    FUZZ_CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&laddr, sizeof(laddr)) == 0);
    FUZZ_CHECK(getsockname(lfd, (struct sockaddr *)&laddr, &al) == 0 && listen(lfd, 4) == 0);
    atexit(teardown);
}

static bool relay_open(const struct peer *p)
{
    return p->ci != RT_NONE && R.s.conns[p->ci].state != RC_FREE && R.s.conns[p->ci].id == p->id;
}

/* The peer's complete messages off the front of what it read. */
static void peer_check(struct peer *p)
{
    size_t off = 0;
    while (off < p->in_len) {
        size_t fl = 0;
        enum rt_frame v = rt_frame_check(p->in + off, p->in_len - off, SIZE_MAX, &fl);
        FUZZ_CHECK(v != RT_FRAME_BAD && v != RT_FRAME_TOO_BIG);
        if (v == RT_FRAME_NEED_MORE)
            break;
        struct coap_msg m;
        FUZZ_CHECK(coap_msg_parse_tcp(p->in + off, fl, &m) == 0);
        off += fl;
    }
    memmove(p->in, p->in + off, p->in_len - off);
    p->in_len -= off;
    /* a message longer than the buffer cannot be complete: the relay
     * never sends one over its limit */
    FUZZ_CHECK(p->in_len < sizeof(p->in));
}

static void peer_read(struct peer *p, size_t budget)
{
    while (budget > 0 && !p->eof) {
        size_t room = sizeof(p->in) - p->in_len;
        ssize_t n = recv(p->fd, p->in + p->in_len, budget < room ? budget : room, MSG_DONTWAIT);
        if (n < 0) {
            FUZZ_CHECK(errno == EAGAIN || errno == ECONNRESET);
            if (errno == ECONNRESET)
                p->eof = true;
            return;
        }
        if (n == 0) {
            p->eof = true;
            return;
        }
        p->in_len += (size_t)n;
        budget -= (size_t)n;
        peer_check(p);
    }
}

/* connect, which libFuzzer's SIGALRM (its -timeout watchdog, no
 * SA_RESTART) can interrupt while the kernel completes the handshake
 * anyway: then wait (bounded) for the outcome instead of giving up on a
 * connection that lands in lfd's queue regardless. */
static int connect_through_eintr(int fd, const struct sockaddr_in *to)
{
    if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) == 0)
        return 0;
    if (errno != EINTR && errno != EINPROGRESS)
        return -1;
    for (int k = 0; k < 500; k++) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (poll(&pf, 1, 10) > 0) {
            int err = 0;
            socklen_t el = sizeof(err);
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
                return -1;
            errno = err;
            return err == 0 ? 0 : -1;
        }
    }
    errno = ETIMEDOUT;
    return -1;
}

/* The fuzzer's end of a new loopback connection to lfd, or -1 (errno). A
 * peer that shut its side first ends in TIME_WAIT (60 s) on its port, so
 * each connection comes from a new address of 127.1.0.0/16 and connect
 * picks the port (IP_BIND_ADDRESS_NO_PORT: it skips a TIME_WAIT 4-tuple):
 * thousands of connections a second do not run out of ports. */
static int peer_connect(void)
{
    static uint16_t src;
    int small = 2048, one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

    src = (uint16_t)(src % 65534 + 1);
    const struct sockaddr_in sa = {.sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl(0x7f010000u | src)};
    if (fd < 0)
        return -1;
    /* no Nagle: what the peer sends is at the relay when send returns */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0 ||
        bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        connect_through_eintr(fd, &laddr) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The relay's end of the peer's connection fd. lfd's queue can also hold
 * one a failed try left behind (the handshake done, the peer's socket
 * closed): accepting that one instead would give the relay a connection
 * the peer is not on, so anything else accepted is closed. */
static int accept_peer(int fd)
{
    struct sockaddr_in me, them;
    socklen_t ml = sizeof(me);

    FUZZ_CHECK(getsockname(fd, (struct sockaddr *)&me, &ml) == 0);
    for (int k = 0; k < 16; k++) {
        socklen_t tl = sizeof(them);
        int rfd = accept(lfd, (struct sockaddr *)&them, &tl);
        if (rfd < 0) {
            FUZZ_CHECK(errno == EINTR);
            continue;
        }
        if (them.sin_addr.s_addr == me.sin_addr.s_addr && them.sin_port == me.sin_port)
            return rfd;
        close(rfd);
    }
    return -1;
}

static void peer_open(struct peer *p, uint64_t now)
{
    int rsmall = 4096;
    memset(p, 0, offsetof(struct peer, in));
    p->in_len = 0;
    /* a failure of the host's loopback is not the relay's: a few tries,
     * from new addresses */
    p->fd = -1;
    for (int k = 0; k < 8 && p->fd < 0; k++)
        p->fd = peer_connect();
    if (p->fd < 0) {
        fprintf(stderr, "fuzz_tcp_conn: no loopback connection: %s\n", strerror(errno));
        abort();
    }
    p->rfd = accept_peer(p->fd);
    FUZZ_CHECK(p->rfd >= 0);
    FUZZ_CHECK(setsockopt(p->rfd, SOL_SOCKET, SO_SNDBUF, &rsmall, sizeof(rsmall)) == 0);
    p->ci = rt_conn_adopt(&R, p->rfd, now);
    FUZZ_CHECK(p->ci != RT_NONE);
    p->id = R.s.conns[p->ci].id;
}

/* The relay closed it: its socket is closed, the peer reads the end. The
 * end can trail data the relay's kernel still holds for a peer whose
 * window was closed, so wait for it (bounded, 5 s). */
static void peer_close(struct peer *p)
{
    FUZZ_CHECK(fcntl(p->rfd, F_GETFD) < 0 && errno == EBADF);
    for (int k = 0; k < 500 && !p->eof; k++) {
        struct pollfd pf = {.fd = p->fd, .events = POLLIN};
        if (poll(&pf, 1, 10) > 0)
            peer_read(p, PEER_BUF);
    }
    FUZZ_CHECK(p->eof);
    close(p->fd);
    p->fd = -1;
}

static void relay_event(struct peer *p, uint32_t ev, uint64_t now)
{
    struct tcp_conn *t = &R.tc[p->ci];
    t->h.fn(&t->h, ev, now);
}

static void invariants(struct peer *p)
{
    if (!relay_open(p))
        return;
    const struct tcp_conn *t = &R.tc[p->ci];
    FUZZ_CHECK(t->out.len <= OUTQ_MAX);
    FUZZ_CHECK(t->in_len <= MAXMSG + 16);
    FUZZ_CHECK(R.s.core.dx.used <= R.s.core.dx.n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct peer P;
    static uint8_t chunk[256];
    uint64_t now = now_mono_ms();
    size_t off = 0;
    bool shut = false;

    if (lfd < 0)
        setup();
    peer_open(&P, now);
    while (off + 3 <= size) {
        uint8_t op = data[off], arg = data[off + 1];
        size_t len = data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        memcpy(chunk, data + off, len);
        off += len;
        if (!relay_open(&P)) { /* the relay closed it: a new connection */
            peer_close(&P);
            peer_open(&P, now);
            shut = false;
        }
        switch (op % 4) {
        case 0:
            if (!shut && len > 0)
                (void)send(P.fd, chunk, len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (!(op & 0x10))
                relay_event(&P, EPOLLIN, now);
            break;
        case 1:
            peer_read(&P, (size_t)arg * 64);
            if (relay_open(&P))
                relay_event(&P, EPOLLOUT, now);
            break;
        case 2: {
            now += (uint64_t)arg * 64;
            struct rr_timer *t;
            while ((t = th_pop_due(&R.s.core.timers, now)) != NULL)
                R.s.core.tp->on_timer(R.s.core.tpa, t, now);
            break;
        }
        default:
            if (!shut)
                shutdown(P.fd, SHUT_WR);
            shut = true;
            relay_event(&P, EPOLLIN | EPOLLRDHUP, now);
            break;
        }
        invariants(&P);
    }
    if (relay_open(&P))
        st_conn_close(&R.s, P.ci, "end of input", now);
    peer_close(&P);
    FUZZ_CHECK(R.s.nconns == 0);
    FUZZ_CHECK(R.s.core.dx.used == 0);
    FUZZ_CHECK(R.s.core.ux.used == 0);
    FUZZ_CHECK(R.s.core.timers.n == base_timers);
    return 0;
}
