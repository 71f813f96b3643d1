/*
 * udp_io.c - relay-udp's public UDP sockets.
 * Owns: one socket per udp_listen address (IPv6 sockets are V6ONLY, so IPv4
 * and IPv6 on the same port are separate sockets), and the recvmmsg batch
 * buffers. Every datagram is received with its destination address
 * (IP_PKTINFO / IPV6_RECVPKTINFO) and every answer is sent with that address
 * as source, because clients such as RIOT adopt the answer's source as the
 * server address (BRIEF §1.2). Also the hosting port listeners of port-based
 * virtual hosting (relay.h, struct ru_sock), opened and closed as the relay
 * core's porthost.c says, and the send queues: every socket's datagrams of
 * one loop iteration leave by one sendmmsg, from a queue lent to it out of
 * a fixed pool (relay-core/slotpool.h) until udp_flush. Talks to
 * msglayer.c (hands up every datagram).
 */
#include <errno.h>
#include <time.h> /* before linux/errqueue.h, which needs struct timespec */
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "relay.h"
#include "timeutil.h"

#define RU_RX_BATCH 32
#define RU_TX_BATCH 32

struct ru_txslot {
    struct sockaddr_storage to;
    union {
        char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
        struct cmsghdr align;
    } ctl;
    uint8_t data[COAP_MSG_MAX_UDP + 16];
};

struct ru_txq {
    uint32_t link; /* free list (relay-core/slotpool.h) */
    int sock;      /* while lent: the socket it sends on */
    unsigned n;
    struct mmsghdr hdr[RU_TX_BATCH]; /* one per datagram, as queued */
    struct iovec iov[RU_TX_BATCH];
    struct ru_txslot slot[RU_TX_BATCH];
    /* what one flush sends: runs of hdr[] coalesced (udp_gso.c) */
    struct mmsghdr run[RU_TX_BATCH];
    uint8_t run_first[RU_TX_BATCH], run_len[RU_TX_BATCH];
    union {
        char buf[UDP_GSO_CTL];
        struct cmsghdr align;
    } run_ctl[RU_TX_BATCH];
};

/* recvmmsg buffers and the send queues (lent to sockets, lent[] in the
 * order they were lent) */
struct ru_rxbatch {
    struct ru_txq tx[RU_TXQ];
    struct rc_slotpool txp;
    unsigned nlent;
    uint8_t lent[RU_TXQ];
    struct mmsghdr hdr[RU_RX_BATCH];
    struct iovec iov[RU_RX_BATCH];
    struct sockaddr_storage from[RU_RX_BATCH];
    union {
        char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo))];
        struct cmsghdr align;
    } ctl[RU_RX_BATCH];
    uint8_t data[RU_RX_BATCH][COAP_MSG_MAX_UDP + 1];
};

static void udp_flush_q(struct relay *r, struct ru_txq *q);

/* SO_REUSEADDR lets a second process bind the very same UDP address and
 * silently take part of the traffic; warn when that is about to happen
 * (a probe bind without the option fails then). */
static void udp_warn_if_taken(const struct rr_addr *a)
{
    char name[RR_ADDRSTRLEN];
    int fd = socket(a->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || addr_port(a) == 0)
        goto done;
    if (a->ss.ss_family == AF_INET6) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 && errno == EADDRINUSE)
        log_warnx("udp %s is already in use by another socket (another relay?): "
                  "traffic may be split between them",
                  addr_to_str(a, name, sizeof(name)));
done:
    if (fd >= 0)
        close(fd);
}

static int udp_open_one(struct ru_sock *s, const struct rr_addr *a)
{
    int one = 1, fam = a->ss.ss_family, fd;
    char name[RR_ADDRSTRLEN];

    /* socket activation: the parent's socket keeps the port bound (and
     * datagrams queued) while we restart; the options below are ours */
    bool inherited = (fd = rc_sockact_take(SOCK_DGRAM, a)) >= 0;
    if (!inherited) {
        udp_warn_if_taken(a);
        fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) {
        log_warn("socket(%s)", addr_to_str(a, name, sizeof(name)));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto fail;
    /* RECVERR: an ICMP port/host unreachable for a datagram we forwarded
     * tells us at once that a registrant is gone (5.02 quickly, not a 5.04
     * after a timeout) */
    if (fam == AF_INET6) {
        /* V6ONLY cannot change once bound: the parent's unit sets it */
        if ((!inherited && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
            setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0 ||
            setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one)) < 0)
            goto fail;
    } else if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0 ||
               setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one)) < 0) {
        goto fail;
    }
    /* large buffers: a burst of 16+ clients must not overflow the queue */
    int sz = 4 << 20;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    if (!inherited && bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
        goto fail;
    s->fd = fd;
    s->bound = *a;
    s->kind = RU_SOCK_NAME;
    s->mux_port = 0;
    s->no_gso = false;
    log_info("listening on udp %s", addr_to_str(a, name, sizeof(name)));
    return 0;
fail:
    log_warn("udp socket %s", addr_to_str(a, name, sizeof(name)));
    close(fd);
    return -1;
}

int udp_open_all(struct relay *r)
{
    struct rr_addr addrs[RU_MAX_SOCKS];
    int n = addr_parse_list(r->cfg.udp_listen, 5683, addrs, RU_MAX_SOCKS);

    if (n <= 0) {
        log_warnx("udp_listen \"%s\": no valid address", r->cfg.udp_listen);
        return -1;
    }
    r->rxb = calloc(1, sizeof(*r->rxb));
    uint32_t nports = r->cfg.port_lo ? (uint32_t)r->cfg.port_hi - r->cfg.port_lo + 1u : 0;
    r->nsock_slots = RU_MAX_SOCKS + (int)(nports * (uint32_t)n);
    r->socks = calloc((size_t)r->nsock_slots, sizeof(*r->socks));
    if (!r->rxb || !r->socks)
        return -1;
    for (int i = 0; i < r->nsock_slots; i++)
        r->socks[i].fd = r->socks[i].txq = -1;
    rc_sp_init(&r->rxb->txp, r->rxb->tx, sizeof(r->rxb->tx[0]), offsetof(struct ru_txq, link),
               RU_TXQ);
    memcpy(r->listen, addrs, sizeof(addrs[0]) * (size_t)n);
    r->nlisten = n;
    for (int i = 0; i < n; i++) {
        if (udp_open_one(&r->socks[r->nsocks], &addrs[i]) < 0)
            return -1;
        /* with port 0 (tests) learn the port the kernel picked */
        if (addr_port(&addrs[i]) == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);
            if (getsockname(r->socks[r->nsocks].fd, (struct sockaddr *)&ss, &sl) == 0)
                addr_from_sockaddr(&r->socks[r->nsocks].bound, (struct sockaddr *)&ss, sl);
        }
        r->nsocks++;
    }
    return 0;
}

void udp_close_all(struct relay *r)
{
    for (int i = 0; r->socks && i < r->nsock_slots; i++)
        if (r->socks[i].fd >= 0)
            close(r->socks[i].fd);
    r->nsocks = r->nsock_slots = 0;
    free(r->socks);
    r->socks = NULL;
    free(r->rxb);
    r->rxb = NULL;
}

static int port_slot(const struct relay *r, uint16_t port, int k)
{
    return RU_MAX_SOCKS + (port - r->cfg.port_lo) * r->nlisten + k;
}

void udp_port_close(void *tp, uint16_t port)
{
    struct relay *r = tp;
    int lo = port_slot(r, port, 0), hi = lo + r->nlisten;

    for (int k = 0; k < r->nlisten; k++) {
        struct ru_sock *s = &r->socks[port_slot(r, port, k)];
        if (s->fd < 0)
            continue;
        if (s->txq >= 0)
            udp_flush_q(r, &r->rxb->tx[s->txq]); /* what waits leaves first */
        rc_fd_del(&r->core, s->fd, &s->h);
        close(s->fd);
        s->fd = -1;
    }
    /* observations through the port end with it (upstream cancelled):
     * nothing could reach their clients any more */
    for (uint32_t i = 0; i < r->ndx; i++)
        if (r->dx[i].h.state == DX_OBSERVE && r->dx[i].sock >= lo && r->dx[i].sock < hi)
            proxy_cancel_observation(r, i, now_mono_ms());
}

int udp_port_open(void *tp, uint16_t port)
{
    struct relay *r = tp;

    if (port < r->cfg.port_lo || port > r->cfg.port_hi)
        return -1;
    for (int k = 0; k < r->nlisten; k++) {
        int i = port_slot(r, port, k);
        struct ru_sock *s = &r->socks[i];
        struct rr_addr a = r->listen[k];
        if (s->fd >= 0)
            continue;
        addr_set_port(&a, port);
        if (udp_open_one(s, &a) < 0)
            goto fail;
        s->kind = RU_SOCK_MUX;
        s->mux_port = port;
        s->h = (struct rc_handler){.fn = ru_on_sock, .arg = r, .idx = (uint32_t)i};
        if (rc_fd_add(&r->core, s->fd, EPOLLIN, &s->h) < 0) {
            close(s->fd);
            s->fd = -1;
            goto fail;
        }
    }
    return 0;
fail:
    udp_port_close(r, port);
    return -1;
}

static bool addr_is_wildcard(const struct rr_addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    if (a->ss.ss_family == AF_INET6)
        return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
    return false;
}

int udp_sock_for_local(const struct relay *r, const struct rr_addr *local)
{
    int wild = -1;
    for (int i = 0; i < r->nsocks; i++) {
        const struct rr_addr *b = &r->socks[i].bound;
        if (b->ss.ss_family != local->ss.ss_family || addr_port(b) != addr_port(local))
            continue;
        if (addr_equal_host(b, local))
            return i;
        if (wild < 0 && addr_is_wildcard(b))
            wild = i;
    }
    return wild;
}

/* The datagram at the head of a sendmmsg failed (errno): counted, and
 * logged unless it is a peer's ICMP error or a full buffer. */
static void udp_tx_failed(struct relay *r)
{
    r->c.tx_err++;
    if (errno != EAGAIN && errno != ECONNREFUSED && errno != EHOSTUNREACH && errno != ENETUNREACH)
        log_warn("sendmmsg");
}

/* n datagrams, one sendmmsg for as many as the kernel takes; a datagram
 * that fails is counted and skipped. */
static void udp_send_each(struct relay *r, int fd, struct mmsghdr *h, unsigned n)
{
    unsigned off = 0;

    while (off < n) {
        int k = sendmmsg(fd, h + off, n - off, 0);
        if (k <= 0) {
            udp_tx_failed(r);
            off++;
            continue;
        }
        r->c.tx += (uint64_t)k;
        off += (unsigned)k;
    }
}

/* Send queue of one socket: datagrams queued by udp_send during one loop
 * iteration leave together in one sendmmsg (syscalls dominate the relay's
 * cost; see docs/benchmarks.md), runs of them to one peer as one
 * UDP_SEGMENT message each (udp_gso.c). The bytes are copied, so callers
 * may pass stack buffers. The queue stays lent until udp_flush. */
static void udp_flush_q(struct relay *r, struct ru_txq *q)
{
    struct ru_sock *s = &r->socks[q->sock];
    unsigned m = 0;

    for (unsigned i = 0; i < q->n; m++) {
        unsigned k = s->no_gso ? 1 : udp_gso_run(q->hdr + i, q->n - i);
        q->run_first[m] = (uint8_t)i;
        q->run_len[m] = (uint8_t)k;
        i += k;
    }
    /* no run of two or more: the queued headers leave as they are */
    struct mmsghdr *msgs = q->hdr;
    if (m < q->n) {
        msgs = q->run;
        for (unsigned j = 0; j < m; j++)
            udp_gso_build(&q->run[j].msg_hdr, q->hdr + q->run_first[j], q->run_len[j],
                          q->run_ctl[j].buf, sizeof(q->run_ctl[j].buf));
    }
    for (unsigned off = 0; off < m;) {
        int k = sendmmsg(s->fd, msgs + off, m - off, 0);
        if (k > 0) {
            for (unsigned j = off; j < off + (unsigned)k; j++) {
                r->c.tx += q->run_len[j];
                if (q->run_len[j] > 1)
                    r->c.tx_segmented += q->run_len[j];
            }
            off += (unsigned)k;
            continue;
        }
        /* this message failed: a run is sent again datagram by datagram
         * (a segment larger than the path MTU is refused as a run; EIO:
         * the device cannot segment, so none on this socket any more) */
        if (q->run_len[off] > 1) {
            if (errno == EIO && !s->no_gso) {
                s->no_gso = true;
                log_warnx("udp: UDP_SEGMENT refused (EIO): socket %d sends datagram by datagram",
                          s->fd);
            }
            udp_send_each(r, s->fd, q->hdr + q->run_first[off], q->run_len[off]);
        } else {
            udp_tx_failed(r);
        }
        off++;
    }
    q->n = 0;
}

void udp_flush(struct relay *r)
{
    struct ru_rxbatch *b = r->rxb;

    for (unsigned k = 0; k < b->nlent; k++) {
        struct ru_txq *q = &b->tx[b->lent[k]];
        if (q->n)
            udp_flush_q(r, q);
        r->socks[q->sock].txq = -1;
        rc_sp_put(&b->txp, b->lent[k]);
    }
    b->nlent = 0;
}

/* Socket sock's send queue, lent from the pool at its first datagram of
 * the iteration (all lent: every queue flushed and returned first). */
static struct ru_txq *udp_txq(struct relay *r, int sock)
{
    struct ru_rxbatch *b = r->rxb;
    struct ru_sock *s = &r->socks[sock];

    if (s->txq < 0) {
        uint32_t qi = rc_sp_take(&b->txp);
        if (qi == RC_SP_NONE) {
            udp_flush(r);
            qi = rc_sp_take(&b->txp);
        }
        b->tx[qi].sock = sock;
        b->tx[qi].n = 0;
        b->lent[b->nlent++] = (uint8_t)qi;
        s->txq = (int)qi;
    }
    return &b->tx[s->txq];
}

/* Fill one outgoing datagram (copy of buf, destination, source pinning). */
static void tx_fill(const struct ru_sock *s, struct ru_txslot *t, struct msghdr *mh,
                    struct iovec *iov, const struct rr_addr *remote, const struct rr_addr *local,
                    const void *buf, size_t len)
{
    memcpy(t->data, buf, len);
    memcpy(&t->to, &remote->ss, remote->len);
    iov->iov_base = t->data;
    iov->iov_len = len;
    memset(mh, 0, sizeof(*mh));
    mh->msg_name = &t->to;
    mh->msg_namelen = remote->len;
    mh->msg_iov = iov;
    mh->msg_iovlen = 1;

    /* Only pin the source when the socket is a wildcard: a socket bound to
     * one address sends from it anyway. */
    if (local && local->ss.ss_family == s->bound.ss.ss_family && addr_is_wildcard(&s->bound)) {
        memset(&t->ctl, 0, sizeof(t->ctl));
        mh->msg_control = t->ctl.buf;
        struct cmsghdr *cm = (struct cmsghdr *)t->ctl.buf;
        if (local->ss.ss_family == AF_INET) {
            struct in_pktinfo pi = {0};
            pi.ipi_spec_dst = ((const struct sockaddr_in *)&local->ss)->sin_addr;
            mh->msg_controllen = CMSG_SPACE(sizeof(pi));
            cm->cmsg_level = IPPROTO_IP;
            cm->cmsg_type = IP_PKTINFO;
            cm->cmsg_len = CMSG_LEN(sizeof(pi));
            memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
        } else {
            struct in6_pktinfo pi = {0};
            const struct sockaddr_in6 *l6 = (const struct sockaddr_in6 *)&local->ss;
            pi.ipi6_addr = l6->sin6_addr;
            pi.ipi6_ifindex = l6->sin6_scope_id;
            mh->msg_controllen = CMSG_SPACE(sizeof(pi));
            cm->cmsg_level = IPPROTO_IPV6;
            cm->cmsg_type = IPV6_PKTINFO;
            cm->cmsg_len = CMSG_LEN(sizeof(pi));
            memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
        }
    }
}

int udp_send(struct relay *r, int sock, const struct rr_addr *remote, const struct rr_addr *local,
             const void *buf, size_t len)
{
    const struct ru_sock *s = &r->socks[sock];

    if (s->fd < 0 || remote->ss.ss_family != s->bound.ss.ss_family ||
        len > sizeof(((struct ru_txslot *)0)->data)) {
        r->c.tx_err++;
        return -1;
    }
    struct ru_txq *q = udp_txq(r, sock);
    if (q->n == RU_TX_BATCH)
        udp_flush_q(r, q);
    tx_fill(s, &q->slot[q->n], &q->hdr[q->n].msg_hdr, &q->iov[q->n], remote, local, buf, len);
    q->n++;
    return 0;
}

/* The destination address of a received datagram, with our port. */
static void rx_local(const struct ru_sock *s, struct msghdr *mh, struct rr_addr *local)
{
    *local = s->bound;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            ((struct sockaddr_in *)&local->ss)->sin_addr = pi.ipi_addr;
        } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            struct sockaddr_in6 *l6 = (struct sockaddr_in6 *)&local->ss;
            l6->sin6_addr = pi.ipi6_addr;
            l6->sin6_scope_id = IN6_IS_ADDR_LINKLOCAL(&pi.ipi6_addr) ? pi.ipi6_ifindex : 0;
        }
    }
}

/* ICMP errors queued by IP_RECVERR: destination/port unreachable for a
 * datagram we sent. The offending datagram's destination is the peer. */
static void udp_drain_errqueue(struct relay *r, int sock, uint64_t now)
{
    const struct ru_sock *s = &r->socks[sock];

    for (int k = 0; k < 64; k++) {
        struct sockaddr_storage ss;
        uint8_t data[64];
        union {
            char buf[512];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
        struct msghdr mh = {.msg_name = &ss,
                            .msg_namelen = sizeof(ss),
                            .msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = ctl.buf,
                            .msg_controllen = sizeof(ctl.buf)};
        if (recvmsg(s->fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            struct sock_extended_err ee;
            bool v4 = cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVERR;
            bool v6 = cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVERR;
            if (!v4 && !v6)
                continue;
            memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
            /* v4: dest unreachable (type 3) host/port/prohibited;
             * v6: dest unreachable (type 1) any code */
            bool gone =
                (ee.ee_origin == SO_EE_ORIGIN_ICMP && ee.ee_type == 3 &&
                 (ee.ee_code == 1 || ee.ee_code == 3 || ee.ee_code == 10 || ee.ee_code == 13)) ||
                (ee.ee_origin == SO_EE_ORIGIN_ICMP6 && ee.ee_type == 1);
            if (gone && mh.msg_namelen > 0) {
                struct rr_addr peer;
                addr_from_sockaddr(&peer, (struct sockaddr *)&ss, mh.msg_namelen);
                msg_on_unreachable(r, &peer, now);
            }
        }
    }
}

void udp_drain(struct relay *r, int sock, bool err, uint64_t now)
{
    if (err)
        udp_drain_errqueue(r, sock, now);
    struct ru_rxbatch *b = r->rxb;
    const struct ru_sock *s = &r->socks[sock];

    /* bounded: at most 4 batches per wake-up, so other sockets and the
     * DEALER get their turn */
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < RU_RX_BATCH; i++) {
            b->iov[i].iov_base = b->data[i];
            b->iov[i].iov_len = sizeof(b->data[i]);
            struct msghdr *mh = &b->hdr[i].msg_hdr;
            mh->msg_name = &b->from[i];
            mh->msg_namelen = sizeof(b->from[i]);
            mh->msg_iov = &b->iov[i];
            mh->msg_iovlen = 1;
            mh->msg_control = b->ctl[i].buf;
            mh->msg_controllen = sizeof(b->ctl[i].buf);
            mh->msg_flags = 0;
        }
        int n = recvmmsg(s->fd, b->hdr, RU_RX_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            /* a pending ICMP error is reported once by the next receive;
             * the error queue above has the details */
            if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH) {
                udp_drain_errqueue(r, sock, now);
                continue;
            }
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                log_warn("recvmmsg");
            return;
        }
        for (int i = 0; i < n; i++) {
            struct rr_addr peer, local;
            struct msghdr *mh = &b->hdr[i].msg_hdr;
            size_t len = b->hdr[i].msg_len;
            r->c.rx++;
            if (mh->msg_flags & MSG_TRUNC) {
                r->c.rx_bad++;
                continue;
            }
            addr_from_sockaddr(&peer, (struct sockaddr *)&b->from[i], mh->msg_namelen);
            rx_local(s, mh, &local);
            addr_normalise(&local);
            msg_on_datagram(r, sock, &peer, &local, b->data[i], len, now);
        }
        udp_flush(r);
        if (n < RU_RX_BATCH)
            return;
    }
}
