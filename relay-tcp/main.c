/*
 * main.c - rdrelay-tcp: the CoAP over TCP (RFC 8323) relay worker. Parses
 * the shared configuration (every setting is also a flag), sets up the
 * state in one struct rt_relay, and runs one poll loop: zmq_poll over the
 * DEALER to rd-frontend, the clone client's SUB socket, the ROUTER for
 * other relays, the DEALERs to other relays and the epoll descriptor, which
 * holds every listener and connection (so 10,000 connections cost one poll
 * item); timers fire from the min-heap. Signal handlers only set a flag.
 * Exit codes: 0 clean stop, 1 runtime failure (restart), 2 configuration
 * error (do not restart).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "tcp_relay.h"
#include "timeutil.h"

#define RT_EPOLL_BATCH 256

/* The one process-global the signal handler may touch (async-signal-safe). */
static volatile sig_atomic_t rt_signalled;

static void on_signal(int sig)
{
    rt_signalled = sig;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rdrelay-tcp [--config FILE] [--SETTING VALUE ...]\n"
            "       rdrelay-tcp --help | --version\n\n"
            "The CoAP over TCP (RFC 8323) relay worker of rdrelay: owns the public TCP\n"
            "listeners (tcp_listen), hands Resource Directory requests to\n"
            "rdrelay-frontend with the connection they came over, and proxies requests\n"
            "for registered endpoints over the connection the endpoint registered on,\n"
            "or through the relay that holds the endpoint's path (cross-transport).\n"
            "Fixed limits: Max-Message-Size %u, Pong timeout %u ms, output queue %u\n"
            "bytes per connection; a peer with no CSM or stuck mid-message for\n"
            "tcp_timeout_ms gets an Abort; idle connections get a Ping every\n"
            "nat_keepalive seconds.\n\n"
            "Settings (shared by every rdrelay process):\n",
            (unsigned)RT_MAX_MSG, (unsigned)RT_PONG_TIMEOUT_MS, (unsigned)RT_OUTQ_MAX);
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

static void on_epoll(struct rt_relay *r, uint64_t now)
{
    struct epoll_event ev[RT_EPOLL_BATCH];
    int n = epoll_wait(r->epfd, ev, RT_EPOLL_BATCH, 0);

    for (int i = 0; i < n; i++) {
        uint32_t kind = (uint32_t)(ev[i].data.u64 >> 32), idx = (uint32_t)ev[i].data.u64;
        if (kind == 1)
            rt_on_listener(r, (int)idx, now);
        else
            rt_on_conn_event(r, idx, ev[i].events, now);
    }
}

static int run(struct rt_relay *r)
{
    zmq_pollitem_t items[4 + RT_MAX_XPEERS];
    uint64_t now = now_mono_ms(), next_clone = now;

    r->next_status_ms = now + RT_STATUS_INTERVAL_MS;
    while (!rt_signalled) {
        int n = 0;
        items[n++] = (zmq_pollitem_t){.fd = r->epfd, .events = ZMQ_POLLIN};
        items[n++] = (zmq_pollitem_t){.socket = r->dealer, .events = ZMQ_POLLIN};
        items[n++] =
            (zmq_pollitem_t){.socket = clone_client_sub_socket(r->clone), .events = ZMQ_POLLIN};
        items[n++] = (zmq_pollitem_t){.socket = r->router, .events = ZMQ_POLLIN};
        int nx = r->nxpeers;
        for (int i = 0; i < nx; i++)
            items[n++] = (zmq_pollitem_t){.socket = r->xpeers[i].sock, .events = ZMQ_POLLIN};

        now = now_mono_ms();
        uint64_t wake = next_clone;
        if (r->next_status_ms < wake)
            wake = r->next_status_ms;
        struct rr_timer *t = th_peek(&r->timers);
        if (t && t->due < wake)
            wake = t->due;
        long timeout = wake > now ? (long)(wake - now) : 0;

        if (zmq_poll(items, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            log_warnx("zmq_poll: %s", zmq_strerror(errno));
            return -1;
        }
        now = now_mono_ms();
        if (items[0].revents & ZMQ_POLLIN)
            on_epoll(r, now);
        if (items[1].revents & ZMQ_POLLIN)
            rt_ctl_on_dealer_readable(r, now);
        if (items[2].revents & ZMQ_POLLIN)
            clone_client_on_sub_readable(r->clone, now);
        if (items[3].revents & ZMQ_POLLIN)
            rt_xfwd_on_router(r, now);
        for (int i = 0; i < nx; i++)
            if (items[4 + i].revents & ZMQ_POLLIN)
                rt_xfwd_on_xpeer(r, i, now);
        while ((t = th_pop_due(&r->timers, now)) != NULL)
            rt_exch_on_timer(r, t, now);
        if (now >= next_clone) {
            int ms = clone_client_tick(r->clone, now);
            next_clone = now + (uint64_t)(ms > 0 && ms < 100 ? ms : 100);
        }
        if (now >= r->next_status_ms) {
            rt_ctl_send_status(r);
            r->next_status_ms = now + RT_STATUS_INTERVAL_MS;
        }
    }
    log_info("signal %d: stopping", (int)rt_signalled);
    return 0;
}

int main(int argc, char **argv)
{
    struct rt_relay *r;
    int rc = 1;
    enum log_level lvl;

    log_init("rdrelay-tcp", LOG_LVL_INFO);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("rdrelay-tcp %s\n", RDRELAY_VERSION);
            return 0;
        }
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        fatalx("out of memory");
    r->epfd = -1;
    if (config_from_args(&r->cfg, &argc, argv) < 0) {
        free(r);
        return 2;
    }
    if (argc > 1) {
        fprintf(stderr, "rdrelay-tcp: unexpected argument \"%s\" (see --help)\n", argv[1]);
        free(r);
        return 2;
    }
    if (log_level_parse(r->cfg.log_level, &lvl) < 0) {
        fprintf(stderr, "rdrelay-tcp: bad log_level \"%s\"\n", r->cfg.log_level);
        free(r);
        return 2;
    }
    log_set_level(lvl);
    {
        struct rr_addr tmp[RT_MAX_LISTEN];
        if (addr_parse_list(r->cfg.tcp_listen, 5683, tmp, RT_MAX_LISTEN) <= 0) {
            fprintf(stderr, "rdrelay-tcp: bad tcp_listen \"%s\"\n", r->cfg.tcp_listen);
            free(r);
            return 2;
        }
    }
    seed_random();
    r->rd_seq = (uint32_t)random();
    r->start_wall_ms = now_wall_ms();
    if (setup_signals() < 0 || rt_conns_init(r) < 0 || rt_exch_init(r) < 0 ||
        rt_listen_all(r) < 0 || rt_ctl_open(r) < 0 || rt_xfwd_open(r) < 0)
        goto done;
    log_info("rdrelay-tcp %s started: proxy domain \"%s\", %d listener(s), %u connections max, "
             "%u exchanges",
             RDRELAY_VERSION, r->cfg.proxy_domain, r->nlisten, r->nconns_max, r->nux);
    rt_ctl_send_hello(r);
    if (run(r) == 0)
        rc = 0;
done:
    rt_listen_close(r);
    rt_conns_free(r);
    rt_ctl_close(r);
    rt_exch_free(r);
    free(r);
    return rc;
}
