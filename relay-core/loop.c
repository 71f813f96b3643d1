/*
 * loop.c - the relay core's event loop (core.h). Owns the epoll descriptor,
 * which is the run-time fd registry: transports add and remove their fds
 * (UDP sockets, TCP listeners and connections, later libwebsockets' fds
 * and port-hosting listeners) with an rc_handler each; the core adds every
 * ZeroMQ socket's ZMQ_FD beside them. One epoll_wait per iteration whatever
 * the number of fds, so a proxied UDP request costs epoll_wait + recvmmsg +
 * sendmmsg and nothing for ZeroMQ (zmq_poll would cost several system calls
 * per ZeroMQ socket on every wake-up; docs/benchmarks.md run F).
 * ZMQ_EVENTS of a socket is read only when its ZMQ_FD fired or after we
 * used that socket (a send or receive may consume the signal ZMQ_FD gives),
 * or while a bounded drain left messages behind: per socket, no
 * process-wide counter. Then the due timers (handed to the transport), the
 * clone client's tick, RELAY_STATUS every 5 s, the transport's tick and
 * flush. Signal handlers only set the flags below.
 * SIGHUP reloads the configuration (config_reload.c). SIGTERM/SIGINT: the
 * transport stops taking new work (tp->stop: stream relays send Release on
 * every connection and close their listeners), the loop runs on until no
 * exchange is in flight or stop_deadline_ms passed, then rc_run returns 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>
#include <zmq.h>

#include "core.h"
#include "curve.h"
#include "log.h"
#include "proto_msg.h"
#include "timeutil.h"

#define RC_EPOLL_BATCH 256
#define RC_CLONE_TICK_MAX_MS 100

/* The process-globals the signal handlers may touch (async-signal-safe). */
static volatile sig_atomic_t rc_signalled, rc_hup;

static void on_signal(int sig)
{
    rc_signalled = sig;
}

static void on_hup(int sig)
{
    (void)sig;
    rc_hup = 1;
}

int rc_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
        return -1;
    sa.sa_handler = on_hup;
    if (sigaction(SIGHUP, &sa, NULL) < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

void rc_seed_random(void)
{
    unsigned int seed;
    if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
        seed = (unsigned int)(now_wall_ms() ^ (uint64_t)getpid() << 16);
    srandom(seed);
}

int rc_init(struct relay_core *c, const struct rr_config *cfg, const char *name,
            const struct relay_transport *tp, void *tpa)
{
    uint32_t epoch = 0;

    c->cfg = cfg;
    c->tp = tp;
    c->tpa = tpa;
    snprintf(c->name, sizeof(c->name), "%s", name);
    if (!rc_relay_name_ok(c->name)) {
        log_warnx("bad relay name \"%s\" (a-z, 0-9, -)", name);
        return -1;
    }
    c->max_xpeers = cfg->xfwd_max_peers ? (int)cfg->xfwd_max_peers : 8;
    c->max_zs = 3 + c->max_xpeers;
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    c->ctlbuf = malloc(RR_PROTO_MAX_BODY);
    c->txbuf = malloc(RR_PROTO_MAX_BODY);
    c->coapbuf = malloc(RC_COAP_MAX);
    c->status_msg = malloc(sizeof(*c->status_msg));
    c->xpeers = calloc((size_t)c->max_xpeers, sizeof(*c->xpeers));
    c->zs = calloc((size_t)c->max_zs, sizeof(*c->zs));
    c->zctx = zmq_ctx_new();
    if (c->epfd < 0 || !c->ctlbuf || !c->txbuf || !c->coapbuf || !c->status_msg || !c->xpeers ||
        !c->zs || !c->zctx || rc_resend_init(c, cfg->ctl_resend_max) < 0 || rc_port_init(c) < 0) {
        log_warn("relay core setup");
        return -1;
    }
    while (epoch == 0 && getrandom(&epoch, sizeof(epoch), 0) != sizeof(epoch))
        epoch = (uint32_t)random();
    c->conn_epoch = epoch ? epoch : 1;
    c->conn_seq = 0;
    c->next_check = (uint32_t)random();
    c->rd_seq = (uint32_t)random();
    c->start_wall_ms = now_wall_ms();
    curve_init(cfg); /* tcp:// to rd-frontend: CURVE keys (common/curve.h) */
    if (rc_limits_init(&c->lim, cfg) < 0) {
        log_warnx("out of memory for %u rate-limit buckets", cfg->limit_buckets);
        return -1;
    }
    return 0;
}

void rc_free(struct relay_core *c)
{
    rc_metrics_close(c);
    rc_limits_free(&c->lim);
    rc_ctl_close(c);
    if (c->zctx)
        zmq_ctx_term(c->zctx);
    c->zctx = NULL;
    curve_zap_join(c->zap); /* its wait ended with the context */
    c->zap = NULL;
    if (c->epfd >= 0)
        close(c->epfd);
    c->epfd = -1;
    free(c->ctlbuf);
    free(c->txbuf);
    free(c->coapbuf);
    free(c->status_msg);
    rc_resend_free(c);
    c->status_msg = NULL;
    free(c->xpeers);
    free(c->zs);
    rc_port_free(c);
    c->ctlbuf = c->txbuf = c->coapbuf = NULL;
    c->xpeers = NULL;
    c->zs = NULL;
}

int rc_fd_add(struct relay_core *c, int fd, uint32_t events, struct rc_handler *h)
{
    struct epoll_event ev = {.events = events, .data.ptr = h};
    if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        log_warn("epoll_ctl add");
        return -1;
    }
    return 0;
}

int rc_fd_mod(struct relay_core *c, int fd, uint32_t events, struct rc_handler *h)
{
    struct epoll_event ev = {.events = events, .data.ptr = h};
    return epoll_ctl(c->epfd, EPOLL_CTL_MOD, fd, &ev);
}

void rc_fd_del(struct relay_core *c, int fd, const struct rc_handler *h)
{
    epoll_ctl(c->epfd, EPOLL_CTL_DEL, fd, NULL);
    for (int i = c->batch_next; i < c->batch_n; i++)
        if (c->batch[i].data.ptr == h)
            c->batch[i].data.ptr = NULL;
}

void rc_dispatch(struct relay_core *c, struct epoll_event *ev, int n, uint64_t now)
{
    c->batch = ev;
    c->batch_n = n;
    for (int i = 0; i < n; i++) {
        struct rc_handler *h = ev[i].data.ptr;
        c->batch_next = i + 1;
        if (h) /* NULL: its fd left the registry earlier in this batch */
            h->fn(h, ev[i].events, now);
    }
    c->batch = NULL;
    c->batch_n = c->batch_next = 0;
}

/* ---- ZeroMQ sockets in the registry ---- */

static void zsock_fired(struct rc_handler *h, uint32_t events, uint64_t now)
{
    struct relay_core *c = h->arg;
    (void)events;
    (void)now;
    c->zs[h->idx].pending = true;
}

/* Add sock (its ZMQ_FD) to the registry; xp: its xpeer index or -1. */
int rc_zsock_add(struct relay_core *c, void *sock, int xp)
{
    size_t len = sizeof(int);
    if (!sock || c->nzs >= c->max_zs)
        return -1;
    struct rc_zsock *z = &c->zs[c->nzs];
    if (zmq_getsockopt(sock, ZMQ_FD, &z->fd, &len) < 0) {
        log_warnx("ZMQ_FD: %s", zmq_strerror(errno));
        return -1;
    }
    z->sock = sock;
    z->xp = xp;
    z->pending = true;
    z->h = (struct rc_handler){.fn = zsock_fired, .arg = c, .idx = (uint32_t)c->nzs};
    if (c->epfd >= 0 && rc_fd_add(c, z->fd, EPOLLIN, &z->h) < 0)
        return -1;
    c->nzs++;
    return 0;
}

void rc_zsock_used(struct relay_core *c, void *sock)
{
    for (int i = 0; i < c->nzs; i++)
        if (c->zs[i].sock == sock && sock) {
            c->zs[i].pending = true;
            return;
        }
}

static bool zsock_readable(void *sock)
{
    uint32_t ev = 0;
    size_t len = sizeof(ev);
    return zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &len) == 0 && (ev & ZMQ_POLLIN);
}

static void zsock_drain(struct relay_core *c, struct rc_zsock *z, uint64_t now)
{
    if (z->xp >= 0)
        rc_xfwd_on_peer(c, z->xp, now);
    else if (z->sock == c->dealer)
        rc_ctl_on_dealer(c, now);
    else if (c->clone && z->sock == clone_client_sub_socket(c->clone))
        clone_client_on_sub_readable(c->clone, now);
    else if (z->sock == c->xrouter)
        rc_xfwd_on_router(c, now);
}

/* Look at every socket marked pending; a drain may mark others (it sent on
 * them), so go round until none is left or the bound is reached. Returns
 * true when some are still pending (poll again without sleeping). */
static bool zsocks_service(struct relay_core *c, uint64_t now)
{
    for (int pass = 0; pass < 4; pass++) {
        bool any = false;
        for (int i = 0; i < c->nzs; i++) {
            struct rc_zsock *z = &c->zs[i];
            if (!z->pending || !z->sock)
                continue;
            z->pending = false;
            any = true;
            if (!zsock_readable(z->sock))
                continue;
            zsock_drain(c, z, now);
            /* the drain received on it: look again (bounded drains leave
             * messages behind, and a receive may eat the ZMQ_FD signal) */
            z->pending = true;
        }
        if (!any)
            return false;
    }
    for (int i = 0; i < c->nzs; i++)
        if (c->zs[i].pending && c->zs[i].sock)
            return true;
    return false;
}

/* Before serving: wait (bounded) for the first route table. A relay
 * restarted on inherited sockets (sockact.c) finds the requests sent while
 * it was down queued in the kernel; answering them before the snapshot
 * arrived would give every proxied one 5.05 (no such name yet). Left in
 * the queue a few milliseconds longer, they get their real answer. Only
 * ZeroMQ is serviced meanwhile (zmq_poll: start-up, not the hot path); with
 * rd-frontend down too the relay serves after RC_START_GATE_MS anyway. */
#define RC_START_GATE_MS 1000
static void rc_wait_first_routes(struct relay_core *c)
{
    uint64_t now = now_mono_ms(), start = now;
    zmq_pollitem_t *it = c->clone ? calloc((size_t)c->max_zs, sizeof(*it)) : NULL;

    while (it && !rc_signalled && !clone_client_synced(c->clone) &&
           now < start + RC_START_GATE_MS) {
        for (int i = 0; i < c->nzs; i++)
            it[i] = (zmq_pollitem_t){.socket = c->zs[i].sock, .events = ZMQ_POLLIN};
        (void)zmq_poll(it, c->nzs, 10);
        now = now_mono_ms();
        for (int i = 0; i < c->nzs; i++)
            c->zs[i].pending = true;
        if (now >= c->next_clone_ms) {
            int ms = clone_client_tick(c->clone, now);
            c->next_clone_ms = now + (uint64_t)(ms > 0 && ms < 10 ? ms : 10);
        }
        zsocks_service(c, now);
    }
    if (it && clone_client_synced(c->clone))
        log_info("routes loaded %llu ms after start: serving", (unsigned long long)(now - start));
    else if (it)
        log_warnx("no route table after %d ms (rd-frontend down?): serving anyway",
                  RC_START_GATE_MS);
    free(it);
    for (int i = 0; i < c->nzs; i++)
        c->zs[i].pending = true;
}

void rc_on_timer(struct relay_core *c, struct rr_timer *t, uint64_t now)
{
    /* the exchanges' core timers are the same on every transport */
    switch (t->kind) {
    case RC_T_DX:
        rc_dx_on_timer(c, t->owner, now);
        break;
    case RC_T_UX:
        if (t->owner < c->ux.n)
            rc_ux_fail(c, t->owner, COAP_GATEWAY_TIMEOUT, "endpoint did not answer", now);
        break;
    default:
        if (c->tp->on_timer)
            c->tp->on_timer(c->tpa, t, now);
        else
            log_warnx("unknown timer kind %u", t->kind);
        break;
    }
}

/* SIGHUP: c->cfg is the transport's own struct (rc_init's caller), so
 * writing it is writing the relay's configuration. */
static void rc_reload(struct relay_core *c)
{
    rc_hup = 0;
    if (config_reload((struct rr_config *)(uintptr_t)c->cfg) > 0 && c->tp->reload)
        c->tp->reload(c->tpa);
}

/* SIGTERM seen: the first time, stop taking work and set the deadline;
 * true once the loop may end (nothing in flight, or the deadline). */
static bool rc_stop_done(struct relay_core *c, uint64_t now)
{
    bool done = false;

    if (!c->stopping) {
        c->stopping = true;
        c->stop_deadline_ms = now + c->cfg->stop_deadline_ms;
        log_info("signal %d: stopping (%u exchange(s) in flight, deadline %u ms)",
                 (int)rc_signalled, c->ux.used + c->dx.used, c->cfg->stop_deadline_ms);
    }
    if (c->ux.used == 0 && c->dx.used == 0) {
        done = true;
    } else if (now >= c->stop_deadline_ms) {
        log_warnx("stop deadline: %u exchange(s) still in flight", c->ux.used + c->dx.used);
        done = true;
    }
    if (c->tp->stop)
        c->tp->stop(c->tpa, done, now);
    if (done && c->tp->flush)
        c->tp->flush(c->tpa); /* the last Releases */
    return done;
}

int rc_run(struct relay_core *c)
{
    struct epoll_event ev[RC_EPOLL_BATCH];
    uint64_t now = now_mono_ms();
    bool zmq_pending = true;

    rc_sockact_done(); /* every listener is open by now */
    c->next_clone_ms = c->clone ? now : UINT64_MAX;
    rc_wait_first_routes(c);
    now = now_mono_ms();
    c->next_status_ms = now + RC_STATUS_INTERVAL_MS;
    if (!c->mx)
        rc_metrics_open(c); /* a failure is logged: we run without metrics */
    for (;;) {
        now = now_mono_ms();
        if (rc_hup)
            rc_reload(c);
        if (rc_signalled && rc_stop_done(c, now))
            break;
        uint64_t wake = c->next_clone_ms;
        if (c->stopping && c->stop_deadline_ms < wake)
            wake = c->stop_deadline_ms;
        if (c->next_status_ms < wake)
            wake = c->next_status_ms;
        if (c->resend.n && c->resend.next_ms < wake)
            wake = c->resend.next_ms;
        struct rr_timer *t = th_peek(&c->timers);
        if (t && t->due < wake)
            wake = t->due;
        int timeout = zmq_pending ? 0 : wake > now ? (int)(wake - now) : 0;

        int n = epoll_wait(c->epfd, ev, RC_EPOLL_BATCH, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_warn("epoll_wait");
            return -1;
        }
        now = now_mono_ms();
        rc_dispatch(c, ev, n, now);
        while ((t = th_pop_due(&c->timers, now)) != NULL)
            rc_on_timer(c, t, now);
        if (c->clone && now >= c->next_clone_ms) {
            int ms = clone_client_tick(c->clone, now);
            c->next_clone_ms =
                now + (uint64_t)(ms > 0 && ms < RC_CLONE_TICK_MAX_MS ? ms : RC_CLONE_TICK_MAX_MS);
            /* the tick may have sent SNAPSHOT_REQ on the dealer */
            rc_zsock_used(c, c->dealer);
        }
        if (c->resend.n && now >= c->resend.next_ms)
            rc_resend_flush(c, now);
        if (now >= c->next_status_ms) {
            rc_ctl_send_status(c);
            rc_metrics_tick(c, now);
            c->next_status_ms = now + RC_STATUS_INTERVAL_MS;
        }
        if (c->tp->tick)
            c->tp->tick(c->tpa, now);
        zmq_pending = zsocks_service(c, now);
        if (c->tp->flush)
            c->tp->flush(c->tpa);
    }
    log_info("stopped");
    return 0;
}
