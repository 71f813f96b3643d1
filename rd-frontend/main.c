/*
 * main.c - rdrelay-frontend: the Resource Directory process.
 * Owns: the command line, the ZeroMQ sockets (ROUTER on ctl_endpoint for
 * relays and rdrelayctl, PUB on pub_endpoint for route updates), signals
 * (handlers only set a flag) and the poll loop. Each loop turn is one batch:
 * read every waiting message, run the timers, re-evaluate observers, then
 * COMMIT the SQLite transaction, and only then send what the batch produced
 * (responses, route updates, notifications). So nothing is acknowledged
 * before it is durable, and a burst of registrations shares one fsync.
 * Exit codes: 2 = configuration error (do not restart), 1 = runtime failure.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "config.h"
#include "frontend.h"
#include "log.h"
#include "timeutil.h"

#define TICK_MS 250
#define BATCH_MAX 512
#define SOCKET_HWM 100000

static volatile sig_atomic_t quit_signal;

static void on_signal(int sig)
{
    quit_signal = sig;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: rdrelay-frontend [--config FILE] [--SETTING VALUE ...]\n"
                 "       rdrelay-frontend --help | --version\n\n"
                 "The rdrelay Resource Directory (RFC 9176) and proxy name registry.\n"
                 "Settings (also \"name = value\" lines in the config file):\n");
    config_print_help(out);
}

static int set_int(void *sock, int opt, int v, const char *what)
{
    if (zmq_setsockopt(sock, opt, &v, sizeof(v)) < 0) {
        log_warn("zmq_setsockopt %s", what);
        return -1;
    }
    return 0;
}

static void *open_socket(void *ctx, int type, const char *endpoint)
{
    void *s = zmq_socket(ctx, type);

    if (s == NULL) {
        log_warn("zmq_socket");
        return NULL;
    }
    /* High-water marks set on purpose; overflows are counted in ctl_flush. */
    if (set_int(s, ZMQ_SNDHWM, SOCKET_HWM, "SNDHWM") < 0 ||
        set_int(s, ZMQ_RCVHWM, SOCKET_HWM, "RCVHWM") < 0 || set_int(s, ZMQ_LINGER, 0, "LINGER") < 0)
        goto fail;
    if (type == ZMQ_ROUTER && (set_int(s, ZMQ_ROUTER_HANDOVER, 1, "ROUTER_HANDOVER") < 0 ||
                               set_int(s, ZMQ_ROUTER_MANDATORY, 1, "ROUTER_MANDATORY") < 0))
        goto fail;
    if (zmq_bind(s, endpoint) < 0) {
        log_warn("bind %s", endpoint);
        goto fail;
    }
    return s;
fail:
    zmq_close(s);
    return NULL;
}

static int run(struct frontend *fe)
{
    zmq_pollitem_t items[1];
    uint8_t ident[RD_IDENT_MAX];
    uint8_t *body = malloc(RR_PROTO_MAX_BODY);
    uint64_t next_tick = now_mono_ms(), next_hb = now_mono_ms();
    int ret = 1, snap_wait = -1;

    if (body == NULL)
        return 1;
    while (!quit_signal) {
        uint64_t mono = now_mono_ms();
        uint64_t due = next_tick < next_hb ? next_tick : next_hb;
        long timeout = due > mono ? (long)(due - mono) : 0;

        if (snap_wait >= 0 && snap_wait < timeout)
            timeout = snap_wait; /* a snapshot has more to send */

        items[0] = (zmq_pollitem_t){.socket = fe->router, .events = ZMQ_POLLIN};
        if (zmq_poll(items, 1, timeout) < 0) {
            if (errno == EINTR)
                continue;
            log_warn("zmq_poll");
            goto out;
        }
        fe->now = now_wall_ms();
        mono = now_mono_ms();
        if (store_begin(fe->store) < 0)
            fatalx("store: cannot begin a transaction");
        for (int i = 0; i < BATCH_MAX; i++) {
            size_t idlen = 0, len = 0;
            uint16_t type;
            if (proto_recv(fe->router, true, ident, &idlen, &type, body, RR_PROTO_MAX_BODY, &len) <
                0) {
                if (errno == EAGAIN)
                    break;
                continue; /* malformed: already logged and drained */
            }
            ctl_dispatch(fe, ident, idlen, type, body, len);
        }
        if (mono >= next_tick) {
            rd_tick(fe);
            next_tick = mono + TICK_MS;
        }
        observe_flush(fe);
        if (mono >= next_hb) {
            routes_heartbeat(fe);
            next_hb = mono + fe->cfg.heartbeat_ms;
        }
        if (store_commit(fe->store) < 0)
            fatalx("store: commit failed; exiting before anything is acknowledged");
        ctl_flush(fe);
        snap_wait = routes_snapshot_pump(fe);
    }
    log_info("signal %d: shutting down", (int)quit_signal);
    ret = 0;
out:
    free(body);
    return ret;
}

int main(int argc, char **argv)
{
    struct rr_config cfg;
    struct frontend *fe = NULL;
    struct sigaction sa;
    enum log_level lvl;
    int ret = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("rdrelay-frontend %s\n", RDRELAY_VERSION);
            return 0;
        }
    }
    if (config_from_args(&cfg, &argc, argv) < 0)
        return 2;
    if (argc > 1) {
        fprintf(stderr, "rdrelay-frontend: unknown argument \"%s\" (see --help)\n", argv[1]);
        return 2;
    }
    if (log_level_parse(cfg.log_level, &lvl) < 0) {
        fprintf(stderr, "rdrelay-frontend: bad log_level \"%s\"\n", cfg.log_level);
        return 2;
    }
    log_init("rd-frontend", lvl);
    if (mkdir(cfg.state_dir, 0755) < 0 && errno != EEXIST) {
        log_warn("state_dir %s", cfg.state_dir);
        return 2;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    fe = calloc(1, sizeof(*fe));
    if (fe == NULL || frontend_init(fe, &cfg, cfg.db_path) < 0) {
        log_warnx("cannot start: store %s unusable", cfg.db_path);
        free(fe);
        return 1;
    }
    fe->zctx = zmq_ctx_new();
    if (fe->zctx == NULL ||
        (fe->router = open_socket(fe->zctx, ZMQ_ROUTER, cfg.ctl_endpoint)) == NULL ||
        (fe->pub = open_socket(fe->zctx, ZMQ_PUB, cfg.pub_endpoint)) == NULL)
        goto out;
    log_info("rdrelay-frontend %s: %zu registrations, ctl %s, routes %s, epoch %llu",
             RDRELAY_VERSION, fe->reg.count, cfg.ctl_endpoint, cfg.pub_endpoint,
             (unsigned long long)fe->epoch);
    ret = run(fe);
out:
    if (fe->router)
        zmq_close(fe->router);
    if (fe->pub)
        zmq_close(fe->pub);
    if (fe->zctx)
        zmq_ctx_term(fe->zctx);
    frontend_free(fe);
    free(fe);
    return ret;
}
