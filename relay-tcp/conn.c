/*
 * conn.c - relay-tcp's listeners and connections (RFC 8323 §3 transport).
 * Owns: the listening sockets (one per tcp_listen address; IPv6 ones are
 * V6ONLY, so IPv4 and IPv6 on one port are separate sockets), the
 * connection pool (allocated once for the maximum), the index from
 * connection id to slot, the relay-wide receive buffer, every connection's
 * incomplete-message bytes and bounded output queue, and the record of
 * recently closed connections.
 * Reads are non-blocking and bounded per wake-up; whole messages go to
 * sig.c (signals) or msgin.c; a Length above our Max-Message-Size or a bad
 * header is answered with Abort. Writes go straight to the kernel and only
 * what it does not take is queued (EPOLLOUT); a peer that lets more than
 * tcp_outq_max pile up is disconnected, so one slow reader never stalls the
 * others. A close ends everything that depended on the connection (its
 * clients' exchanges, the requests sent to it as a registrant, its RD
 * observations, the reachability of its routes).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "tcp_relay.h"
#include "timeutil.h"

#define RT_ACCEPT_BATCH 64
#define RT_READ_ROUNDS 4

static uint32_t id_hash(const struct rt_relay *r, uint64_t id)
{
    return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & (r->nidb - 1);
}

int rt_conns_init(struct rt_relay *r)
{
    struct rlimit rl;
    uint32_t max = r->cfg.tcp_max_conns;

    /* every connection is a descriptor: take the hard limit if we may */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            (void)setrlimit(RLIMIT_NOFILE, &rl);
            (void)getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)max + 64)
            max = rl.rlim_cur > 128 ? (uint32_t)rl.rlim_cur - 64 : 64;
    }
    r->nconns_max = max;
    r->nidb = 64;
    while (r->nidb < max)
        r->nidb <<= 1;
    r->conns = calloc(max, sizeof(*r->conns));
    r->idb = malloc(r->nidb * sizeof(uint32_t));
    r->rbuf_size = 65536 + (size_t)r->cfg.tcp_max_message + 16;
    r->rbuf = malloc(r->rbuf_size);
    r->txbuf = malloc(RT_TXBUF_SIZE);
    r->txbuf2 = malloc(RT_TXBUF_SIZE);
    if (!r->conns || !r->idb || !r->rbuf || !r->txbuf || !r->txbuf2) {
        log_warnx("out of memory for %u connections", max);
        return -1;
    }
    memset(r->idb, 0xff, r->nidb * sizeof(uint32_t));
    for (uint32_t i = 0; i < max; i++) {
        r->conns[i].fd = -1;
        r->conns[i].hnext = i + 1 < max ? i + 1 : RT_NONE;
        th_timer_init(&r->conns[i].t, RT_T_CONN, i);
    }
    r->conn_free = 0;
    return 0;
}

void rt_conns_free(struct rt_relay *r)
{
    if (r->conns) {
        for (uint32_t i = 0; i < r->nconns_max; i++) {
            struct rt_conn *c = &r->conns[i];
            if (c->state != RC_FREE && c->fd >= 0)
                close(c->fd);
            free(c->in);
            free(c->out);
            free(c->obs);
        }
    }
    free(r->conns);
    free(r->idb);
    free(r->rbuf);
    free(r->txbuf);
    free(r->txbuf2);
    r->conns = NULL;
    r->idb = NULL;
    r->rbuf = r->txbuf = r->txbuf2 = NULL;
}

/* A listening socket on a; bound: its address (the kernel's port for 0). */
static int listen_fd(const struct rr_addr *a, struct rr_addr *bound)
{
    int one = 1, fd;
    char name[RR_ADDRSTRLEN];
    fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("socket(%s)", addr_to_str(a, name, sizeof(name)));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (a->ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, 1024) < 0) {
        log_warn("tcp listener %s", addr_to_str(a, name, sizeof(name)));
        close(fd);
        return -1;
    }
    *bound = *a;
    if (addr_port(a) == 0) {
        /* port 0 (tests): learn the port the kernel picked */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            addr_from_sockaddr(bound, (struct sockaddr *)&ss, sl);
    }
    log_info("listening on tcp %s", addr_to_str(bound, name, sizeof(name)));
    return fd;
}

static int listen_one(struct rt_relay *r, const struct rr_addr *a)
{
    int fd = listen_fd(a, &r->lbound[r->nlisten]);
    if (fd < 0)
        return -1;
    r->lfd[r->nlisten++] = fd;
    return 0;
}

int rt_listen_all(struct rt_relay *r)
{
    struct rr_addr addrs[RT_MAX_LISTEN];
    int n = addr_parse_list(r->cfg.tcp_listen, 5683, addrs, RT_MAX_LISTEN);

    if (n <= 0) {
        log_warnx("tcp_listen \"%s\": no valid address", r->cfg.tcp_listen);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (listen_one(r, &addrs[i]) < 0)
            return -1;
    /* hosting port listeners: one slot per (port, tcp_listen address) */
    uint32_t nports = r->cfg.port_lo ? (uint32_t)r->cfg.port_hi - r->cfg.port_lo + 1u : 0;
    r->npl = nports * (uint32_t)n;
    if (r->npl) {
        r->pl = calloc(r->npl, sizeof(*r->pl));
        if (!r->pl)
            return -1;
        for (uint32_t i = 0; i < r->npl; i++)
            r->pl[i].fd = -1;
    }
    return 0;
}

static void on_port_listener(struct rc_handler *h, uint32_t events, uint64_t now);

void rt_port_close(void *tp, uint16_t port)
{
    struct rt_relay *r = tp;

    for (int k = 0; k < r->nlisten; k++) {
        struct rt_plisten *p = &r->pl[(uint32_t)(port - r->cfg.port_lo) * r->nlisten + k];
        if (p->fd < 0)
            continue;
        rc_fd_del(&r->core, p->fd);
        close(p->fd);
        p->fd = -1;
    }
}

int rt_port_open(void *tp, uint16_t port)
{
    struct rt_relay *r = tp;

    if (port < r->cfg.port_lo || port > r->cfg.port_hi)
        return -1;
    for (int k = 0; k < r->nlisten; k++) {
        uint32_t i = (uint32_t)(port - r->cfg.port_lo) * r->nlisten + k;
        struct rt_plisten *p = &r->pl[i];
        struct rr_addr a = r->lbound[k], bound;
        if (p->fd >= 0)
            continue;
        addr_set_port(&a, port);
        p->fd = listen_fd(&a, &bound);
        if (p->fd < 0)
            goto fail;
        p->port = port;
        p->h = (struct rc_handler){.fn = on_port_listener, .arg = r, .idx = i};
        if (rc_fd_add(&r->core, p->fd, EPOLLIN, &p->h) < 0) {
            close(p->fd);
            p->fd = -1;
            goto fail;
        }
    }
    return 0;
fail:
    rt_port_close(r, port);
    return -1;
}

static void on_listener(struct rc_handler *h, uint32_t events, uint64_t now);
static void on_conn_event(struct rc_handler *h, uint32_t events, uint64_t now);

int rt_attach(struct rt_relay *r)
{
    for (int i = 0; i < r->nlisten; i++) {
        r->lh[i] = (struct rc_handler){.fn = on_listener, .arg = r, .idx = (uint32_t)i};
        if (rc_fd_add(&r->core, r->lfd[i], EPOLLIN, &r->lh[i]) < 0)
            return -1;
    }
    return 0;
}

void rt_listen_close(struct rt_relay *r)
{
    for (int i = 0; i < r->nlisten; i++)
        close(r->lfd[i]);
    for (uint32_t i = 0; i < r->npl; i++)
        if (r->pl[i].fd >= 0)
            close(r->pl[i].fd);
    free(r->pl);
    r->pl = NULL;
    r->npl = 0;
    r->nlisten = 0;
}

/* ---- the id index ---- */

uint32_t rt_conn_find(struct rt_relay *r, uint64_t id)
{
    if (id == 0 || !r->idb)
        return RT_NONE;
    for (uint32_t i = r->idb[id_hash(r, id)]; i != RT_NONE; i = r->conns[i].hnext)
        if (r->conns[i].id == id && r->conns[i].state == RC_OPEN)
            return i;
    return RT_NONE;
}

bool rt_conn_alive(struct rt_relay *r, uint32_t ci, uint64_t id)
{
    return ci < r->nconns_max && r->conns[ci].state == RC_OPEN && r->conns[ci].id == id;
}

static void id_unlink(struct rt_relay *r, uint32_t ci)
{
    for (uint32_t *pp = &r->idb[id_hash(r, r->conns[ci].id)]; *pp != RT_NONE;
         pp = &r->conns[*pp].hnext) {
        if (*pp == ci) {
            *pp = r->conns[ci].hnext;
            return;
        }
    }
}

uint64_t rt_gone_since(const struct rt_relay *r, uint64_t id)
{
    const struct rt_gone *g = &r->gone[id % RT_GONE_SLOTS];
    return g->id == id ? g->since_wall_ms : 0;
}

void rt_conn_peer(const struct rt_relay *r, uint32_t ci, struct rr_peer *p)
{
    const struct rt_conn *c = &r->conns[ci];
    rc_peer_make(&r->core, &c->remote, &c->local, c->id, p);
}

/* ---- accept ---- */

/* mux_port: the hosting port it came in on, 0 for a tcp_listen socket */
static void accept_one(struct rt_relay *r, int fd, uint16_t mux_port, uint64_t now)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int one = 1;

    if (r->conn_free == RT_NONE) {
        r->c.conn_refused++;
        close(fd);
        return;
    }
    uint32_t ci = r->conn_free;
    struct rt_conn *c = &r->conns[ci];
    r->conn_free = c->hnext;
    c->state = RC_OPEN;
    c->want_write = false;
    c->fd = fd;
    c->id = rc_conn_id_new(&r->core);
    c->in_len = c->out_off = c->out_len = c->out_cap = 0;
    c->inflight = c->nobs = 0;
    c->mux_port = mux_port;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
        addr_from_sockaddr(&c->remote, (struct sockaddr *)&ss, sl);
    else
        memset(&c->remote, 0, sizeof(c->remote));
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        addr_from_sockaddr(&c->local, (struct sockaddr *)&ss, sl);
    else
        memset(&c->local, 0, sizeof(c->local));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    uint32_t b = id_hash(r, c->id);
    c->hnext = r->idb[b];
    r->idb[b] = ci;
    r->nconns++;
    r->c.accepted++;
    c->h = (struct rc_handler){.fn = on_conn_event, .arg = r, .idx = ci};
    if (rc_fd_add(&r->core, fd, EPOLLIN | EPOLLRDHUP, &c->h) < 0) {
        rt_conn_close(r, ci, "epoll", now);
        return;
    }
    if (log_get_level() >= LOG_LVL_DEBUG) {
        char a[RR_ADDRSTRLEN];
        log_debug("conn %llx from %s", (unsigned long long)c->id,
                  addr_to_str(&c->remote, a, sizeof(a)));
    }
    /* RFC 8323 §5.3: our CSM is the first message, sent at once */
    rt_sig_open(r, ci, now);
}

static void accept_batch(struct rt_relay *r, int lfd, uint16_t mux_port, uint64_t now)
{
    for (int k = 0; k < RT_ACCEPT_BATCH; k++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_warn("accept");
            return;
        }
        accept_one(r, fd, mux_port, now);
    }
}

static void on_listener(struct rc_handler *h, uint32_t events, uint64_t now)
{
    struct rt_relay *r = h->arg;
    (void)events;
    accept_batch(r, r->lfd[h->idx], 0, now);
}

static void on_port_listener(struct rc_handler *h, uint32_t events, uint64_t now)
{
    struct rt_relay *r = h->arg;
    (void)events;
    accept_batch(r, r->pl[h->idx].fd, r->pl[h->idx].port, now);
}

/* ---- output ---- */

static void set_want_write(struct rt_relay *r, uint32_t ci, bool on)
{
    struct rt_conn *c = &r->conns[ci];
    if (c->want_write == on)
        return;
    if (rc_fd_mod(&r->core, c->fd, EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0), &c->h) == 0)
        c->want_write = on;
}

/* Push queued output; 0, or -1 when the connection failed (closed). */
static int flush_out(struct rt_relay *r, uint32_t ci, uint64_t now)
{
    struct rt_conn *c = &r->conns[ci];

    while (c->out_len > 0) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            rt_conn_close(r, ci, "write failed", now);
            return -1;
        }
        c->out_off += (uint32_t)n;
        c->out_len -= (uint32_t)n;
    }
    if (c->out_len == 0) {
        /* an idle connection keeps no output buffer */
        free(c->out);
        c->out = NULL;
        c->out_off = c->out_cap = 0;
        set_want_write(r, ci, false);
        if (c->state == RC_CLOSING) {
            rt_conn_close(r, ci, "released", now);
            return -1;
        }
    } else {
        set_want_write(r, ci, true);
    }
    return 0;
}

int rt_conn_write(struct rt_relay *r, uint32_t ci, const void *buf, size_t len)
{
    struct rt_conn *c = &r->conns[ci];
    size_t off = 0;

    if (c->state != RC_OPEN)
        return -1;
    if (c->out_len == 0) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            rt_conn_close(r, ci, "write failed", now_mono_ms());
            return -1;
        }
        off = n > 0 ? (size_t)n : 0;
        if (off == len)
            return 0;
    }
    size_t rest = len - off;
    if ((size_t)c->out_len + rest > r->cfg.tcp_outq_max) {
        r->c.slow_readers++;
        rt_conn_close(r, ci, "peer does not read (output queue full)", now_mono_ms());
        return -1;
    }
    if (c->out_off + c->out_len + rest > c->out_cap) {
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, c->out_len);
            c->out_off = 0;
        }
        if (c->out_len + rest > c->out_cap) {
            uint32_t cap = c->out_cap ? c->out_cap : 4096;
            while (cap < c->out_len + rest)
                cap *= 2;
            uint8_t *p = realloc(c->out, cap);
            if (!p) {
                rt_conn_close(r, ci, "out of memory", now_mono_ms());
                return -1;
            }
            c->out = p;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_off + c->out_len, (const uint8_t *)buf + off, rest);
    c->out_len += (uint32_t)rest;
    set_want_write(r, ci, true);
    return 0;
}

int rt_conn_send_msg(struct rt_relay *r, uint32_t ci, const struct coap_msg *m)
{
    struct rt_conn *c = &r->conns[ci];
    ssize_t n;

    if (c->state != RC_OPEN)
        return -1;
    n = coap_msg_serialize_tcp(m, r->txbuf2, RT_TXBUF_SIZE);
    if (n < 0 || (size_t)n > c->sig.csm.mms)
        return -1;
    r->c.tx_msgs++;
    return rt_conn_write(r, ci, r->txbuf2, (size_t)n);
}

/* ---- input ---- */

/* Process the whole messages at the start of buf; returns the bytes
 * consumed, or -1 if the connection was closed meanwhile. */
static ssize_t process(struct rt_relay *r, uint32_t ci, const uint8_t *buf, size_t len,
                       uint64_t now)
{
    uint64_t id = r->conns[ci].id;
    size_t off = 0;

    while (off < len) {
        size_t fl = 0;
        switch (rt_frame_check(buf + off, len - off, r->cfg.tcp_max_message, &fl)) {
        case RT_FRAME_NEED_MORE:
            return (ssize_t)off;
        case RT_FRAME_TOO_BIG: {
            char why[96];
            r->c.too_big++;
            snprintf(why, sizeof(why), "message of %zu bytes exceeds Max-Message-Size %u", fl,
                     (unsigned)r->cfg.tcp_max_message);
            rt_sig_abort(r, ci, why, 0, now);
            return -1;
        }
        case RT_FRAME_BAD:
            r->c.bad_frames++;
            rt_sig_abort(r, ci, "malformed message header", 0, now);
            return -1;
        case RT_FRAME_WHOLE:
            break;
        }
        r->c.rx_msgs++;
        rt_msg_on_message(r, ci, buf + off, fl, now);
        if (!rt_conn_alive(r, ci, id))
            return -1;
        off += fl;
    }
    return (ssize_t)off;
}

static void on_readable(struct rt_relay *r, uint32_t ci, uint64_t now)
{
    struct rt_conn *c = &r->conns[ci];
    uint64_t id = c->id;

    for (int round = 0; round < RT_READ_ROUNDS; round++) {
        /* the incomplete message kept from before, then new bytes */
        size_t have = c->in_len;
        if (have)
            memcpy(r->rbuf, c->in, have);
        ssize_t n = recv(c->fd, r->rbuf + have, r->rbuf_size - have, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            rt_conn_close(r, ci, "read error", now);
            return;
        }
        if (n == 0) {
            rt_conn_close(r, ci, c->in_len ? "closed in the middle of a message" : "closed by peer",
                          now);
            return;
        }
        sig_on_rx(&c->sig, now);
        size_t total = have + (size_t)n;
        ssize_t used = process(r, ci, r->rbuf, total, now);
        if (used < 0 || !rt_conn_alive(r, ci, id))
            return;
        size_t left = total - (size_t)used;
        if (left == 0) {
            free(c->in);
            c->in = NULL;
            c->in_len = 0;
            c->sig.partial_since_ms = 0;
        } else {
            uint8_t *p = realloc(c->in, left);
            if (!p) {
                rt_conn_close(r, ci, "out of memory", now);
                return;
            }
            c->in = p;
            memcpy(c->in, r->rbuf + used, left);
            /* the half-message clock starts when a message starts */
            if (used > 0 || c->sig.partial_since_ms == 0)
                c->sig.partial_since_ms = now;
            c->in_len = (uint32_t)left;
        }
        rt_sig_rearm(r, ci);
        if ((size_t)n < r->rbuf_size - have)
            return; /* drained the socket */
    }
}

static void on_conn_event(struct rc_handler *h, uint32_t events, uint64_t now)
{
    struct rt_relay *r = h->arg;
    uint32_t ci = h->idx;
    if (ci >= r->nconns_max || r->conns[ci].state == RC_FREE)
        return;
    uint64_t id = r->conns[ci].id;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        on_readable(r, ci, now);
    if (rt_conn_alive(r, ci, id) && (events & EPOLLOUT))
        flush_out(r, ci, now);
    if (r->conns[ci].state == RC_CLOSING && r->conns[ci].id == id &&
        (events & (EPOLLHUP | EPOLLERR)))
        rt_conn_close(r, ci, "closed", now);
}

/* ---- close ---- */

void rt_conn_close_after_flush(struct rt_relay *r, uint32_t ci, uint64_t now)
{
    struct rt_conn *c = &r->conns[ci];
    if (c->state != RC_OPEN)
        return;
    if (c->out_len == 0) {
        rt_conn_close(r, ci, "released", now);
        return;
    }
    c->state = RC_CLOSING;
}

void rt_conn_close(struct rt_relay *r, uint32_t ci, const char *why, uint64_t now)
{
    struct rt_conn *c = &r->conns[ci];
    char a[RR_ADDRSTRLEN];

    if (c->state == RC_FREE)
        return;
    uint64_t id = c->id, since = now_wall_ms();
    /* RD observations are reported while the peer is still known */
    if (c->nobs)
        rt_rd_conn_gone(r, ci);
    c->state = RC_FREE;
    id_unlink(r, ci);
    rc_fd_del(&r->core, c->fd);
    close(c->fd);
    c->fd = -1;
    th_cancel(&r->core.timers, &c->t);
    free(c->in);
    free(c->out);
    free(c->obs);
    c->in = c->out = NULL;
    c->obs = NULL;
    c->in_len = c->out_len = c->out_off = c->out_cap = 0;
    c->nobs = 0;
    r->nconns--;
    r->c.closed++;
    r->gone[id % RT_GONE_SLOTS] = (struct rt_gone){id, since};
    log_debug("conn %llx (%s) closed: %s", (unsigned long long)id,
              addr_to_str(&c->remote, a, sizeof(a)), why);

    /* the connection's own clients: their requests end */
    for (uint32_t i = 0; i < r->ndx; i++) {
        struct rt_dx *d = &r->dx[i];
        if (d->state == DX_FREE || d->conn != ci || d->conn_id != id)
            continue;
        if (d->kind == DX_K_PROXY && d->up != RT_NONE) {
            uint32_t ui = d->up;
            d->up = RT_NONE;
            rt_proxy_end_observation(r, ui, now);
        } else if (d->kind == DX_K_XFWD) {
            rc_xfwd_send_cancel(&r->core, d->xpeer, d->req_id);
        }
        rt_dx_release(r, i);
    }
    /* requests sent to it as a registrant: 5.02 at once, not a timeout */
    for (uint32_t i = 0; i < r->nux; i++) {
        struct rt_ux *u = &r->ux[i];
        if (u->h.state == UX_FREE || u->conn != ci || u->conn_id != id)
            continue;
        rt_proxy_on_upstream_fail(r, i, COAP_BAD_GATEWAY, "registrant's connection closed", now);
    }
    rt_conn_routes_gone(r, id, since);
    c->hnext = r->conn_free;
    r->conn_free = ci;
}
