/*
 * main.c - rdrelay-udp: the UDP relay worker. Parses the shared
 * configuration (every setting is also a flag), sets up the state in one
 * struct relay, and runs the poll loop over the public UDP sockets, the
 * DEALER to rd-frontend, the clone client's SUB socket, the cross-transport
 * ROUTER and DEALERs (xfwd.c) (zmq_poll handles
 * raw fds beside ZeroMQ sockets), firing timers from the min-heap.
 * Signal handlers only set a flag. Exit codes: 0 clean stop, 1 runtime
 * failure (restart), 2 configuration error (do not restart).
 */
#include <errno.h>
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

static int run(struct relay *r)
{
    zmq_pollitem_t items[RU_MAX_SOCKS + 3 + RU_MAX_XPEERS];
    int n = 0, n_fixed, polled_xpeers = -1;
    uint64_t now = now_mono_ms(), next_clone = now;

    for (int i = 0; i < r->nsocks; i++)
        items[n++] = (zmq_pollitem_t){.fd = r->socks[i].fd, .events = ZMQ_POLLIN};
    /* POLLERR (an ICMP error queued by IP_RECVERR) is reported as ZMQ_POLLERR */
    int i_dealer = n;
    items[n++] = (zmq_pollitem_t){.socket = r->dealer, .events = ZMQ_POLLIN};
    int i_sub = n;
    items[n++] =
        (zmq_pollitem_t){.socket = clone_client_sub_socket(r->clone), .events = ZMQ_POLLIN};
    int i_router = n;
    items[n++] = (zmq_pollitem_t){.socket = r->xrouter, .events = ZMQ_POLLIN};
    n_fixed = n;

    r->next_status_ms = now + RU_STATUS_INTERVAL_MS;
    r->next_ka_tick_ms = now + RU_KA_TICK_MS;
    while (!ru_signalled) {
        if (polled_xpeers != r->nxpeers) {
            /* a route named a relay we had no DEALER for yet */
            polled_xpeers = r->nxpeers;
            n = n_fixed;
            for (int i = 0; i < r->nxpeers; i++)
                items[n++] = (zmq_pollitem_t){.socket = r->xpeers[i].sock, .events = ZMQ_POLLIN};
        }
        now = now_mono_ms();
        uint64_t wake = next_clone;
        if (r->next_ka_tick_ms < wake)
            wake = r->next_ka_tick_ms;
        if (r->next_status_ms < wake)
            wake = r->next_status_ms;
        struct ru_timer *t = th_peek(&r->timers);
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
        for (int i = 0; i < r->nsocks; i++)
            if (items[i].revents & (ZMQ_POLLIN | ZMQ_POLLERR))
                udp_drain(r, i, (items[i].revents & ZMQ_POLLERR) != 0, now);
        if (items[i_dealer].revents & ZMQ_POLLIN)
            ctl_on_dealer_readable(r, now);
        if (items[i_sub].revents & ZMQ_POLLIN)
            clone_client_on_sub_readable(r->clone, now);
        if (items[i_router].revents & ZMQ_POLLIN)
            xfwd_on_router(r, now);
        for (int i = n_fixed; i < n; i++)
            if (items[i].revents & ZMQ_POLLIN)
                xfwd_on_peer(r, i - n_fixed, now);
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
    if (setup_signals() < 0 || exch_init(r) < 0 || ka_init(r) < 0 || udp_open_all(r) < 0 ||
        ctl_open(r) < 0 || xfwd_open(r) < 0)
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
    free(r);
    return rc;
}
