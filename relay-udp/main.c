/*
 * main.c - rdrelay-udp: the UDP relay worker. Parses the shared
 * configuration (every setting is also a flag), sets up the state in one
 * struct relay, and runs the poll loop over the public UDP sockets, the
 * DEALER to rd-frontend, the clone client's SUB socket, the cross-transport
 * ROUTER and DEALERs (xfwd.c) (plain poll() on the UDP fds and each
 * ZeroMQ socket's ZMQ_FD), firing timers from the min-heap.
 * Signal handlers only set a flag. Exit codes: 0 clean stop, 1 runtime
 * failure (restart), 2 configuration error (do not restart).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <zmq.h>

#include "log.h"
#include "relay.h"
#include "timeutil.h"

#define RU_KA_TICK_MS 100

/* The one process-global the signal handler may touch (async-signal-safe). */
static volatile sig_atomic_t ru_signalled;

static void on_signal(int sig)
{
    ru_signalled = sig;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: rdrelay-udp [--config FILE] [--SETTING VALUE ...]\n"
                 "       rdrelay-udp --help | --version\n\n"
                 "The UDP relay worker of rdrelay: owns the public CoAP/UDP sockets, hands\n"
                 "Resource Directory requests to rdrelay-frontend and proxies requests for\n"
                 "registered endpoints (Uri-Host under the proxy domain) through their NAT\n"
                 "bindings.\n\nSettings (shared by every rdrelay process):\n");
    config_print_help(out);
}

static void seed_random(void)
{
    unsigned int seed;
    if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
        seed = (unsigned int)(now_wall_ms() ^ (uint64_t)getpid() << 16);
    srandom(seed);
}

static int setup_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    return 0;
}

/* One ZeroMQ socket in the poll set: its ZMQ_FD and what drains it. */
struct zsock {
    void *sock;
    int kind; /* ZS_DEALER, ZS_SUB, ZS_ROUTER, ZS_XPEER */
    int xpeer;
};
enum { ZS_DEALER, ZS_SUB, ZS_ROUTER, ZS_XPEER };

static bool zsock_readable(void *sock)
{
    uint32_t ev = 0;
    size_t len = sizeof(ev);
    return zmq_getsockopt(sock, ZMQ_EVENTS, &ev, &len) == 0 && (ev & ZMQ_POLLIN);
}

static void zsock_drain(struct relay *r, const struct zsock *z, uint64_t now)
{
    switch (z->kind) {
    case ZS_DEALER:
        ctl_on_dealer_readable(r, now);
        break;
    case ZS_SUB:
        clone_client_on_sub_readable(r->clone, now);
        break;
    case ZS_ROUTER:
        xfwd_on_router(r, now);
        break;
    case ZS_XPEER:
        xfwd_on_peer(r, z->xpeer, now);
        break;
    }
}

/* Rebuild the poll set: UDP sockets first, then every ZeroMQ socket's ZMQ_FD. */
static int build_pollset(struct relay *r, struct pollfd *pfds, struct zsock *zs, int *nz)
{
    int n = 0, k = 0;
    void *fixed[3] = {r->dealer, clone_client_sub_socket(r->clone), r->xrouter};

    for (int i = 0; i < r->nsocks; i++)
        pfds[n++] = (struct pollfd){.fd = r->socks[i].fd, .events = POLLIN};
    for (int i = 0; i < 3 + r->nxpeers; i++) {
        int fd;
        size_t len = sizeof(fd);
        zs[k] = (struct zsock){.sock = i < 3 ? fixed[i] : r->xpeers[i - 3].sock,
                               .kind = i < 3 ? i : ZS_XPEER,
                               .xpeer = i - 3};
        if (zmq_getsockopt(zs[k].sock, ZMQ_FD, &fd, &len) < 0) {
            log_warnx("ZMQ_FD: %s", zmq_strerror(errno));
            return -1;
        }
        pfds[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
        k++;
    }
    *nz = k;
    return n;
}

/*
 * The loop polls plain fds: the UDP sockets and each ZeroMQ socket's ZMQ_FD.
 * zmq_poll would cost several system calls per ZeroMQ socket on every
 * wake-up (docs/benchmarks.md: 5 sockets doubled the system calls per
 * proxied request); here a proxied request costs poll + recvmmsg +
 * sendmmsg, and ZMQ_EVENTS is read only when a ZMQ_FD fired, when we used
 * ZeroMQ since the last look (a send or receive may consume the signal),
 * or while a drain left messages behind (drains are bounded per call).
 */
static int run(struct relay *r)
{
    struct pollfd pfds[RU_MAX_SOCKS + 3 + RU_MAX_XPEERS];
    struct zsock zs[3 + RU_MAX_XPEERS];
    int n = 0, nz = 0, polled_xpeers = -1;
    uint64_t now = now_mono_ms(), next_clone = now, seen_activity = UINT64_MAX;
    bool zmq_pending = true;

    r->next_status_ms = now + RU_STATUS_INTERVAL_MS;
    r->next_ka_tick_ms = now + RU_KA_TICK_MS;
    while (!ru_signalled) {
        if (polled_xpeers != r->nxpeers) {
            /* a route named a relay we had no DEALER for yet */
            polled_xpeers = r->nxpeers;
            if ((n = build_pollset(r, pfds, zs, &nz)) < 0)
                return -1;
            zmq_pending = true;
        }
        now = now_mono_ms();
        uint64_t wake = next_clone;
        if (r->next_ka_tick_ms < wake)
            wake = r->next_ka_tick_ms;
        if (r->next_status_ms < wake)
            wake = r->next_status_ms;
        struct rr_timer *t = th_peek(&r->timers);
        if (t && t->due < wake)
            wake = t->due;
        int timeout = zmq_pending ? 0 : wake > now ? (int)(wake - now) : 0;

        if (poll(pfds, (nfds_t)n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            log_warn("poll");
            return -1;
        }
        now = now_mono_ms();
        for (int i = 0; i < r->nsocks; i++)
            if (pfds[i].revents & (POLLIN | POLLERR))
                udp_drain(r, i, (pfds[i].revents & POLLERR) != 0, now);
        while ((t = th_pop_due(&r->timers, now)) != NULL)
            exch_on_timer(r, t, now);
        if (now >= next_clone) {
            int ms = clone_client_tick(r->clone, now);
            next_clone = now + (uint64_t)(ms > 0 && ms < 100 ? ms : 100);
        }
        if (now >= r->next_ka_tick_ms) {
            ka_tick(r, now);
            r->next_ka_tick_ms = now + RU_KA_TICK_MS;
        }
        if (now >= r->next_status_ms) {
            ctl_send_status(r);
            r->next_status_ms = now + RU_STATUS_INTERVAL_MS;
        }
        bool zfd_fired = false;
        for (int i = r->nsocks; i < n; i++)
            zfd_fired |= pfds[i].revents != 0;
        if (zfd_fired || zmq_pending || proto_activity() != seen_activity) {
            uint64_t before = proto_activity();
            zmq_pending = false;
            for (int i = 0; i < nz; i++) {
                if (!zsock_readable(zs[i].sock))
                    continue;
                zsock_drain(r, &zs[i], now);
                if (zsock_readable(zs[i].sock))
                    zmq_pending = true; /* bounded drain left some: come back at once */
            }
            /* a drain that sent on a socket already looked at may have eaten
             * its signal: look once more before sleeping */
            if (proto_activity() != before)
                zmq_pending = true;
            seen_activity = proto_activity();
        }
        udp_flush(r);
    }
    log_info("signal %d: stopping", (int)ru_signalled);
    return 0;
}

int main(int argc, char **argv)
{
    struct relay *r;
    int rc = 1;
    enum log_level lvl;

    log_init("rdrelay-udp", LOG_LVL_INFO);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("rdrelay-udp %s\n", RDRELAY_VERSION);
            return 0;
        }
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        fatalx("out of memory");
    if (config_from_args(&r->cfg, &argc, argv) < 0) {
        free(r);
        return 2;
    }
    if (argc > 1) {
        fprintf(stderr, "rdrelay-udp: unexpected argument \"%s\" (see --help)\n", argv[1]);
        free(r);
        return 2;
    }
    if (log_level_parse(r->cfg.log_level, &lvl) < 0) {
        fprintf(stderr, "rdrelay-udp: bad log_level \"%s\"\n", r->cfg.log_level);
        free(r);
        return 2;
    }
    log_set_level(lvl);
    {
        struct rr_addr tmp[RU_MAX_SOCKS];
        if (addr_parse_list(r->cfg.udp_listen, 5683, tmp, RU_MAX_SOCKS) <= 0) {
            fprintf(stderr, "rdrelay-udp: bad udp_listen \"%s\"\n", r->cfg.udp_listen);
            free(r);
            return 2;
        }
    }
    seed_random();
    r->rd_seq = (uint32_t)random();
    if (setup_signals() < 0 || exch_init(r) < 0 || ka_init(r) < 0 ||
        bw_store_init(&r->bw, r->cfg.block_slots, r->cfg.block_body_max, r->cfg.block_timeout_ms) <
            0 ||
        udp_open_all(r) < 0 || ctl_open(r) < 0 || xfwd_open(r) < 0)
        goto done;
    log_info("rdrelay-udp %s started: proxy domain \"%s\", %d socket(s), %u exchanges",
             RDRELAY_VERSION, r->cfg.proxy_domain, r->nsocks, r->nux);
    ctl_send_hello(r);
    if (run(r) == 0)
        rc = 0;
done:
    ctl_close(r);
    udp_close_all(r);
    ka_free(r);
    exch_free(r);
    bw_store_free(&r->bw);
    free(r);
    return rc;
}
