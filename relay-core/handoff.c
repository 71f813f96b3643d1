/*
 * handoff.c - one hosting port number for coap+tcp and coap+ws (handoff.h
 * says why and how). Owns: the sender's pool of connections waiting for
 * their first bytes, its deadline timer and its connection to rdrelay-ws;
 * the receiver's listening unix socket and the senders' connections to it.
 * Talks to the core's fd registry and timer heap, the caller's callbacks
 * (relay-tcp's accept, relay-ws's adoption into libwebsockets).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "handoff.h"
#include "log.h"

#define HANDOFF_MAGIC 'H' /* the one byte every handoff message carries */
#define HANDOFF_RX_ROUNDS 32

static const char upgrade_start[4] = {'G', 'E', 'T', ' '};

enum rc_sniff_verdict rc_handoff_classify(const uint8_t *b, size_t n)
{
    size_t k = n < sizeof(upgrade_start) ? n : sizeof(upgrade_start);
    if (memcmp(b, upgrade_start, k) != 0)
        return RC_SNIFF_TCP; /* a CSM's code byte (0xE1) is never 'E' */
    return k == sizeof(upgrade_start) ? RC_SNIFF_WS : RC_SNIFF_MORE;
}

void rc_handoff_reset(struct rc_handoff *h)
{
    memset(h, 0, sizeof(*h));
    th_timer_init(&h->t, 0, 0); /* not armed */
    h->tx = h->lfd = -1;
    for (int i = 0; i < RC_HANDOFF_PEERS; i++)
        h->rx[i] = -1;
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path)) {
        log_warnx("port_handoff_socket %s is too long for a unix socket", path);
        return -1;
    }
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return 0;
}

/* What both ends keep: the core, the socket's path (checked), the
 * callbacks' argument. 0 / -1. */
static int ends_init(struct rc_handoff *h, struct relay_core *c, const char *path, void *arg,
                     struct sockaddr_un *sa)
{
    if (unix_addr(path, sa) < 0)
        return -1;
    h->c = c;
    snprintf(h->path, sizeof(h->path), "%s", path);
    h->arg = arg;
    return 0;
}

/* ---- sender ---- */

static void on_sniff(struct rc_handler *hd, uint32_t events, uint64_t now);

int rc_handoff_tx_init(struct rc_handoff *h, struct relay_core *c, const char *path,
                       uint32_t timeout_ms, uint32_t per_source, uint8_t timer_kind,
                       void (*to_stream)(void *arg, int fd, uint64_t now), void *arg)
{
    struct sockaddr_un sa;

    if (ends_init(h, c, path, arg, &sa) < 0)
        return -1;
    h->to_stream = to_stream;
    h->timeout_ms = timeout_ms ? timeout_ms : 10000;
    h->ns = RC_HANDOFF_SNIFF_MAX;
    h->per_source = per_source;
    h->s = calloc(h->ns, sizeof(*h->s));
    if (!h->s || srccount_init(&h->src, h->ns, 0) < 0)
        return -1;
    for (uint32_t i = 0; i < h->ns; i++) {
        h->s[i].fd = -1;
        h->s[i].fnext = i + 1 < h->ns ? i + 1 : RC_NONE;
        h->s[i].h = (struct rc_handler){.fn = on_sniff, .arg = h, .idx = i};
    }
    h->free = 0;
    th_timer_init(&h->t, timer_kind, 0);
    return 0;
}

/* Slot i leaves the pool; its descriptor is returned (out of the registry). */
static int sniff_take(struct rc_handoff *h, uint32_t i)
{
    int fd = h->s[i].fd;
    rc_fd_del(h->c, fd, &h->s[i].h);
    srccount_dec_tag(&h->src, h->s[i].src_h);
    h->s[i].fd = -1;
    h->s[i].fnext = h->free;
    h->free = i;
    h->used--;
    return fd;
}

static void arm_earliest(struct rc_handoff *h)
{
    uint64_t due = UINT64_MAX;
    for (uint32_t i = 0; h->used && i < h->ns; i++)
        if (h->s[i].fd >= 0 && h->s[i].due < due)
            due = h->s[i].due;
    if (due == UINT64_MAX)
        th_cancel(&h->c->timers, &h->t);
    else
        th_arm(&h->c->timers, &h->t, due);
}

void rc_handoff_sniff(struct rc_handoff *h, int fd, uint64_t now)
{
    if (h->free == RC_NONE) {
        h->n.sniff_refused++;
        close(fd);
        return;
    }
    uint32_t i = h->free;
    struct rc_sniff *s = &h->s[i];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    struct rr_addr peer;
    uint8_t key[ADDR_SOURCE_KEY_LEN];

    memset(&peer, 0, sizeof(peer));
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
        addr_from_sockaddr(&peer, (struct sockaddr *)&ss, sl);
    addr_source_key(&peer, key);
    uint64_t src_h = srccount_tag(&h->src, key, sizeof(key));
    if (srccount_inc_tag(&h->src, src_h, h->per_source) < 0) {
        h->n.sniff_refused++; /* one source holds its share waiting already */
        close(fd);
        return;
    }
    /* edge-triggered: a peek leaves the bytes there, so only new bytes
     * (or the peer's close) wake us again */
    if (rc_fd_add(h->c, fd, EPOLLIN | EPOLLRDHUP | EPOLLET, &s->h) < 0) {
        srccount_dec_tag(&h->src, src_h);
        close(fd);
        return;
    }
    s->src_h = src_h;
    h->free = s->fnext;
    h->used++;
    s->fd = fd;
    s->due = now + h->timeout_ms;
    if (!th_armed(&h->t))
        th_arm(&h->c->timers, &h->t, s->due);
    /* bytes that came with the connection: an edge may not come for them */
    on_sniff(&s->h, EPOLLIN, now);
}

/* The 503 for a WebSocket client whose relay is not there; then close. */
static void refuse(struct rc_handoff *h, int fd, const char *why, uint64_t now)
{
#define REFUSE_BODY "coap+ws is not available on this port right now\r\n"
#define REFUSE_BODY_LEN "49"
    _Static_assert(sizeof(REFUSE_BODY) - 1 == 49, "Content-Length of the 503");
    static const char resp[] = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: " REFUSE_BODY_LEN "\r\n"
                               "Connection: close\r\n"
                               "\r\n" REFUSE_BODY;
    uint8_t junk[2048];
    uint64_t held;

    h->n.failed_503++;
    if (ratelog_allow(&h->fail_log, now, &held))
        log_warnx("coap+ws on a hosting port: no handoff to rdrelay-ws at %s (%s): 503 "
                  "(%llu more since the last line)",
                  h->path, why, (unsigned long long)held);
    /* what the client sent is read first, so the close is a FIN (after
     * our answer), not a reset that could overtake it */
    for (int k = 0; k < 4 && recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; k++)
        ;
    (void)!send(fd, resp, sizeof(resp) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
    close(fd);
}

static int tx_connect(struct rc_handoff *h)
{
    struct sockaddr_un sa;

    if (unix_addr(h->path, &sa) < 0)
        return -1;
    h->tx = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (h->tx < 0)
        return -1;
    if (connect(h->tx, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(h->tx);
        h->tx = -1;
        errno = e;
        return -1;
    }
    return 0;
}

static int tx_send_fd(struct rc_handoff *h, int fd)
{
    char magic = HANDOFF_MAGIC;
    struct iovec iov = {.iov_base = &magic, .iov_len = 1};
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b)};

    memset(&u, 0, sizeof(u));
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    return sendmsg(h->tx, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == 1 ? 0 : -1;
}

/* Hand fd to rdrelay-ws: an existing connection first, then (relay-ws
 * restarted since) a new one. 0 / -1 with errno. */
static int hand_over(struct rc_handoff *h, int fd)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (h->tx < 0 && tx_connect(h) < 0)
            return -1;
        if (tx_send_fd(h, fd) == 0)
            return 0;
        int e = errno;
        close(h->tx);
        h->tx = -1;
        errno = e;
        if (e == EAGAIN)
            return -1; /* relay-ws is there but does not keep up */
    }
    return -1;
}

static void on_sniff(struct rc_handler *hd, uint32_t events, uint64_t now)
{
    struct rc_handoff *h = hd->arg;
    uint32_t i = hd->idx;
    uint8_t b[sizeof(upgrade_start)];

    if (h->s[i].fd < 0)
        return;
    ssize_t n = recv(h->s[i].fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) { /* closed (or failed) before it said anything */
        h->n.sniff_closed++;
        close(sniff_take(h, i));
        return;
    }
    enum rc_sniff_verdict v = rc_handoff_classify(b, (size_t)n);
    if (v == RC_SNIFF_MORE && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        return;               /* "G", "GE", "GET": wait for the rest (bounded by due) */
    if (v == RC_SNIFF_MORE) { /* and then it hung up */
        h->n.sniff_closed++;
        close(sniff_take(h, i));
        return;
    }
    int fd = sniff_take(h, i);
    if (v == RC_SNIFF_TCP) {
        h->n.sniff_tcp++;
        h->to_stream(h->arg, fd, now);
        return;
    }
    h->n.sniff_ws++;
    if (hand_over(h, fd) < 0) {
        refuse(h, fd, strerror(errno), now);
        return;
    }
    h->n.handed++;
    close(fd); /* rdrelay-ws has its own copy now */
}

void rc_handoff_on_timer(struct rc_handoff *h, uint64_t now)
{
    for (uint32_t i = 0; h->used && i < h->ns; i++)
        if (h->s[i].fd >= 0 && h->s[i].due <= now) {
            h->n.sniff_timeouts++;
            close(sniff_take(h, i));
        }
    arm_earliest(h);
}

/* ---- receiver ---- */

static void rx_close(struct rc_handoff *h, int k)
{
    rc_fd_del(h->c, h->rx[k], &h->rxh[k]);
    close(h->rx[k]);
    h->rx[k] = -1;
}

static void on_rx(struct rc_handler *hd, uint32_t events, uint64_t now)
{
    struct rc_handoff *h = hd->arg;
    int k = (int)hd->idx;
    (void)events;

    for (int round = 0; round < HANDOFF_RX_ROUNDS && h->rx[k] >= 0; round++) {
        char magic = 0;
        struct iovec iov = {.iov_base = &magic, .iov_len = 1};
        union {
            struct cmsghdr h;
            char b[CMSG_SPACE(4 * sizeof(int))];
        } u;
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b)};
        ssize_t n = recvmsg(h->rx[k], &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) { /* that relay-tcp went away */
            rx_close(h, k);
            return;
        }
        int fd = -1;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                continue;
            size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t j = 0; j < nfd; j++) {
                int x;
                memcpy(&x, CMSG_DATA(cm) + j * sizeof(int), sizeof(int));
                if (fd < 0)
                    fd = x;
                else
                    close(x); /* one descriptor per message */
            }
        }
        int type = 0;
        socklen_t tl = sizeof(type);
        if (fd < 0 || magic != HANDOFF_MAGIC || (mh.msg_flags & MSG_CTRUNC) ||
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM) {
            h->n.rx_bad++;
            if (fd >= 0)
                close(fd);
            continue;
        }
        h->n.adopted++;
        h->adopt(h->arg, fd, now);
    }
}

static void on_rx_listen(struct rc_handler *hd, uint32_t events, uint64_t now)
{
    struct rc_handoff *h = hd->arg;
    (void)events;
    (void)now;

    for (;;) {
        int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR)
                log_warn("handoff socket accept");
            return;
        }
        int k = 0;
        while (k < RC_HANDOFF_PEERS && h->rx[k] >= 0)
            k++;
        if (k == RC_HANDOFF_PEERS) {
            log_warnx("handoff socket: more than %d relay-tcp connections; one refused",
                      RC_HANDOFF_PEERS);
            close(fd);
            continue;
        }
        h->rx[k] = fd;
        h->rxh[k] = (struct rc_handler){.fn = on_rx, .arg = h, .idx = (uint32_t)k};
        if (rc_fd_add(h->c, fd, EPOLLIN, &h->rxh[k]) < 0) {
            close(fd);
            h->rx[k] = -1;
        }
    }
}

int rc_handoff_rx_open(struct rc_handoff *h, struct relay_core *c, const char *path,
                       void (*adopt)(void *arg, int fd, uint64_t now), void *arg)
{
    struct sockaddr_un sa;
    struct stat st;

    if (ends_init(h, c, path, arg, &sa) < 0)
        return -1;
    h->adopt = adopt;
    /* a socket left by an earlier run (kill -9) is replaced; anything
     * else at that path is the operator's mistake, not ours to delete */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            log_warnx("port_handoff_socket %s exists and is not a socket", path);
            return -1;
        }
        unlink(path);
    }
    h->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (h->lfd < 0) {
        log_warn("handoff socket");
        return -1;
    }
    mode_t old = umask(0177); /* 0600 from the start: no window for others */
    int rc = bind(h->lfd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0 || chmod(path, 0600) < 0 || listen(h->lfd, 16) < 0) {
        log_warn("handoff socket %s", path);
        goto fail;
    }
    h->lh = (struct rc_handler){.fn = on_rx_listen, .arg = h};
    if (rc_fd_add(c, h->lfd, EPOLLIN, &h->lh) < 0)
        goto fail;
    log_info("coap+ws hosting connections from relay-tcp: %s", path);
    return 0;
fail:
    close(h->lfd);
    h->lfd = -1;
    return -1;
}

void rc_handoff_stop_rx(struct rc_handoff *h)
{
    for (int k = 0; k < RC_HANDOFF_PEERS; k++)
        if (h->rx[k] >= 0)
            rx_close(h, k);
    if (h->lfd >= 0) {
        rc_fd_del(h->c, h->lfd, &h->lh);
        close(h->lfd);
        h->lfd = -1;
    }
}

void rc_handoff_close(struct rc_handoff *h)
{
    for (uint32_t i = 0; h->s && i < h->ns; i++)
        if (h->s[i].fd >= 0)
            close(sniff_take(h, i));
    if (h->s)
        srccount_free(&h->src);
    free(h->s);
    h->s = NULL;
    if (h->c && th_armed(&h->t))
        th_cancel(&h->c->timers, &h->t);
    if (h->tx >= 0)
        close(h->tx);
    h->tx = -1;
    rc_handoff_stop_rx(h);
}

unsigned rc_handoff_counters(const struct rc_handoff *h, struct rc_counter *f, unsigned max)
{
    const struct rc_counter tx[] = {
        {"hosting_sniff_tcp", h->n.sniff_tcp},
        {"hosting_sniff_ws", h->n.sniff_ws},
        {"hosting_sniff_timeouts", h->n.sniff_timeouts},
        {"hosting_sniff_closed", h->n.sniff_closed},
        {"hosting_sniff_refused", h->n.sniff_refused},
        {"hosting_handoff_sent", h->n.handed},
        {"hosting_handoff_503", h->n.failed_503},
    };
    const struct rc_counter rx[] = {
        {"hosting_handoff_adopted", h->n.adopted},
        {"hosting_handoff_bad", h->n.rx_bad},
    };
    /* the side in use: the sender's pool, or the receiver's callback */
    const struct rc_counter *src = h->s ? tx : h->adopt ? rx : NULL;
    unsigned n = h->s ? sizeof(tx) / sizeof(tx[0]) : h->adopt ? sizeof(rx) / sizeof(rx[0]) : 0;
    unsigned i = 0;
    for (; src && i < n && i < max; i++)
        f[i] = src[i];
    return i;
}
