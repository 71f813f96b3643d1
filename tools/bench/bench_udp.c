/*
 * bench_udp.c - rdrelay-bench's CoAP-over-UDP transport (bench_loop.h):
 * -s connected UDP sockets (each its own source port), requests queued per
 * socket and sent by one sendmmsg per socket and loop turn, answers read by
 * recvmmsg. The message layer is here: a message id per request (patched
 * into the template beside the token), an empty ACK switches the slot to
 * waiting for the separate response (which is ACKed), RST fails the
 * request, a CoAP ping is answered with RST.
 * Owns: the sockets and their send queues (struct udp_x in b->xp).
 * Talks to: the target over UDP only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_loop.h"
#include "log.h"

#define BENCH_BATCH 64       /* datagrams per recvmmsg/sendmmsg call */
#define BENCH_RECV_ROUNDS 16 /* recvmmsg calls per ready socket per loop turn */

struct outq {
    struct mmsghdr hdr[BENCH_BATCH];
    struct iovec iov[BENCH_BATCH];
    uint8_t buf[BENCH_BATCH][BENCH_REQ_MAX];
    unsigned n;
};

struct bsock {
    int fd;
    uint16_t next_mid;
    struct outq out;
};

struct udp_x {
    struct bsock socks[BENCH_MAX_SOCKETS];
    unsigned nsocks;
    uint8_t rbuf[BENCH_BATCH][COAP_MSG_MAX_UDP]; /* recvmmsg buffers */
};

static void outq_flush(struct bench *b, struct bsock *s)
{
    unsigned done = 0;
    unsigned tries = 0;

    /* bounded: a few partial sends, then the rest count as drops */
    while (done < s->out.n && tries++ < 4) {
        int n = sendmmsg(s->fd, s->out.hdr + done, s->out.n - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED)
                log_warn("sendmmsg");
            break;
        }
        done += (unsigned)n;
    }
    if (done < s->out.n)
        b->r->send_drops += s->out.n - done;
    s->out.n = 0;
}

/* Queue one datagram; returns its buffer (BENCH_REQ_MAX bytes). */
static uint8_t *outq_add(struct bench *b, struct bsock *s, size_t len)
{
    if (s->out.n == BENCH_BATCH)
        outq_flush(b, s);
    unsigned i = s->out.n++;
    s->out.iov[i].iov_base = s->out.buf[i];
    s->out.iov[i].iov_len = len;
    memset(&s->out.hdr[i], 0, sizeof(s->out.hdr[i]));
    s->out.hdr[i].msg_hdr.msg_iov = &s->out.iov[i];
    s->out.hdr[i].msg_hdr.msg_iovlen = 1;
    return s->out.buf[i];
}

static int udp_tmpl(struct bench *b, const struct coap_msg *m)
{
    ssize_t n = coap_msg_serialize_udp(m, b->req, sizeof(b->req));
    if (n < 4 + BENCH_TOKEN_LEN)
        return -1;
    b->req_len = (size_t)n;
    b->tok_off = 4;
    return 0;
}

static void udp_send(struct bench *b, unsigned idx)
{
    struct udp_x *u = b->xp;
    struct slot *sl = &b->slots[idx];
    struct bsock *s = &u->socks[sl->sock];

    if (sl->retx == 0) /* a retransmission keeps its message id */
        sl->mid = s->next_mid++;
    uint8_t *p = outq_add(b, s, b->req_len);
    memcpy(p, b->req, b->req_len);
    p[2] = (uint8_t)(sl->mid >> 8);
    p[3] = (uint8_t)sl->mid;
    bench_put_token(b, idx, p + b->tok_off);
}

static void send_empty(struct bench *b, struct bsock *s, uint8_t type, uint16_t mid)
{
    uint8_t *p = outq_add(b, s, 4);
    p[0] = (uint8_t)(0x40 | (type << 4));
    p[1] = 0;
    p[2] = (uint8_t)(mid >> 8);
    p[3] = (uint8_t)mid;
}

static int slot_by_mid(const struct bench *b, unsigned sock, uint16_t mid)
{
    for (unsigned i = sock; i < b->nslots; i += b->nconns)
        if (b->slots[i].state != SLOT_IDLE && b->slots[i].mid == mid)
            return (int)i;
    return -1;
}

static void handle_datagram(struct bench *b, unsigned sock, const uint8_t *buf, size_t len,
                            uint64_t now)
{
    struct udp_x *u = b->xp;
    struct coap_msg m;
    struct bsock *s = &u->socks[sock];
    int idx;

    if (coap_msg_parse_udp(buf, len, &m) < 0) {
        b->r->malformed++;
        return;
    }
    if (m.type == COAP_T_RST) {
        idx = slot_by_mid(b, sock, m.msgid);
        if (idx < 0) {
            b->r->dup++;
            return;
        }
        if (b->slots[idx].recorded) {
            b->r->rst++;
            b->r->failed++;
        }
        bench_slot_next(b, (unsigned)idx, now);
        return;
    }
    if (m.code == COAP_EMPTY) {
        if (m.type == COAP_T_CON) { /* CoAP ping: answer with RST */
            send_empty(b, s, COAP_T_RST, m.msgid);
            return;
        }
        if (m.type == COAP_T_ACK) { /* separate response follows */
            idx = slot_by_mid(b, sock, m.msgid);
            if (idx < 0 || b->slots[idx].state != SLOT_WAIT) {
                b->r->dup++;
                return;
            }
            b->slots[idx].state = SLOT_ACKED;
            b->slots[idx].deadline =
                b->slots[idx].t_first + bench_retx_timeout_ns(b, b->o->max_retransmit + 1);
            return;
        }
        b->r->malformed++;
        return;
    }
    if (COAP_CODE_CLASS(m.code) < 2) { /* a request sent to us: not ours to serve */
        if (m.type == COAP_T_CON)
            send_empty(b, s, COAP_T_RST, m.msgid);
        b->r->malformed++;
        return;
    }
    /* a response: piggybacked ACK, or a separate CON/NON */
    if (m.type == COAP_T_CON)
        send_empty(b, s, COAP_T_ACK, m.msgid);
    idx = bench_slot_by_token(b, sock, m.token, m.tkl);
    if (idx < 0)
        return;
    if (m.type == COAP_T_ACK && m.msgid != b->slots[idx].mid) {
        b->r->dup++;
        return;
    }
    bench_slot_done(b, (unsigned)idx, m.code, now);
}

static void udp_readable(struct bench *b, unsigned sock, uint64_t now)
{
    struct udp_x *u = b->xp;
    uint8_t(*bufs)[COAP_MSG_MAX_UDP] = u->rbuf;
    struct mmsghdr hdr[BENCH_BATCH];
    struct iovec iov[BENCH_BATCH];

    for (unsigned round = 0; round < BENCH_RECV_ROUNDS; round++) {
        for (unsigned i = 0; i < BENCH_BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = sizeof(bufs[i]);
            memset(&hdr[i], 0, sizeof(hdr[i]));
            hdr[i].msg_hdr.msg_iov = &iov[i];
            hdr[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(u->socks[sock].fd, hdr, BENCH_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            /* ECONNREFUSED: an ICMP port unreachable from a stopped target;
             * the requests time out and are counted then */
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNREFUSED)
                log_warn("recvmmsg");
            return;
        }
        if (round > 0)
            now = bench_now_ns();
        for (int i = 0; i < n; i++)
            handle_datagram(b, sock, bufs[i], hdr[i].msg_len, now);
        if (n < BENCH_BATCH)
            return;
    }
}

static void udp_flush(struct bench *b)
{
    struct udp_x *u = b->xp;
    for (unsigned i = 0; i < u->nsocks; i++)
        if (u->socks[i].out.n > 0)
            outq_flush(b, &u->socks[i]);
}

static void udp_close(struct bench *b)
{
    struct udp_x *u = b->xp;
    if (u == NULL)
        return;
    for (unsigned i = 0; i < u->nsocks; i++)
        close(u->socks[i].fd);
    free(u);
    b->xp = NULL;
}

static int udp_open(struct bench *b)
{
    unsigned seed = (unsigned)(bench_now_ns() ^ (uint64_t)getpid());
    struct udp_x *u = calloc(1, sizeof(*u)); /* ~2.5 MB with 64 send queues: not on the stack */

    if (u == NULL) {
        log_warn("calloc");
        return -1;
    }
    b->xp = u;
    for (unsigned i = 0; i < b->nconns; i++) {
        struct bsock *s = &u->socks[i];
        int buf = 4 << 20;
        s->fd = socket(b->target->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0) {
            log_warn("socket");
            return -1;
        }
        u->nsocks++;
        s->next_mid = (uint16_t)rand_r(&seed);
        /* best effort: a bigger queue absorbs bursts of answers */
        (void)setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
        (void)setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
        /* connected: only the target's datagrams reach this socket */
        if (connect(s->fd, (const struct sockaddr *)&b->target->ss, b->target->len) < 0) {
            log_warn("connect");
            return -1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
            log_warn("epoll_ctl");
            return -1;
        }
    }
    return 0;
}

const struct bench_xport bench_xport_udp = {
    .name = "udp",
    .reliable = false,
    .open = udp_open,
    .tmpl = udp_tmpl,
    .send = udp_send,
    .readable = udp_readable,
    .flush = udp_flush,
    .close = udp_close,
};
