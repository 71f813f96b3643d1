/*
 * main.c - rdrelay-frontend: the Resource Directory process.
 * Owns: the command line, the ZeroMQ sockets (ROUTER on ctl_endpoint for
 * relays and rdrelayctl, PUB on pub_endpoint for route updates), signals
 * (handlers only set a flag) and the poll loop. Each loop turn is one batch:
 * read every waiting message, run the timers, re-evaluate observers, then
 * COMMIT the SQLite transaction, and only then send what the batch produced
 * (responses, route updates, notifications). So nothing is acknowledged
 * before it is durable, and a burst of registrations shares one fsync.
 * The COMMIT of a batch that wrote runs in committer.c's thread; meanwhile
 * read-only requests (lookups, GET, discovery) are answered from memory at
 * once (in a batch too: they never wait for an fsync), and changes wait in
 * a queue for the next batch.
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
#include "curve.h"
#include "frontend.h"
#include "http_min.h"
#include "log.h"
#include "statedir.h"
#include "timeutil.h"

#define TICK_MS 250
#define BATCH_MAX 512
#define SOCKET_HWM 100000

static volatile sig_atomic_t quit_signal, hup_signal;

static void on_signal(int sig)
{
    quit_signal = sig;
}

static void on_hup(int sig)
{
    (void)sig;
    hup_signal = 1;
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
    if (curve_server(s, endpoint, false) < 0)
        goto fail;
    if (zmq_bind(s, endpoint) < 0) {
        log_warn("bind %s", endpoint);
        goto fail;
    }
    if (statedir_secure_ipc(endpoint) < 0) /* the operator's alone */
        goto fail;
    return s;
fail:
    zmq_close(s);
    return NULL;
}

/* A change that arrived while a COMMIT was in flight: run in the next batch. */
struct deferred {
    uint8_t ident[RD_IDENT_MAX];
    size_t idlen, len;
    uint16_t type;
    uint8_t *body;
};

/* The loop's state (one per process, on run()'s stack). */
struct loop {
    struct frontend *fe;
    struct committer com;
    bool committing; /* com holds the store and fe's outbox is the batch's */
    struct deferred q[BATCH_MAX];
    size_t nq;
    uint8_t *body;
    uint8_t ident[RD_IDENT_MAX];
};

static void dispatch_now(struct frontend *fe, const uint8_t *ident, size_t idlen, uint16_t type,
                         const uint8_t *body, size_t len)
{
    fe->send_now = true;
    ctl_dispatch(fe, ident, idlen, type, body, len);
    fe->send_now = false;
}

/*
 * Read up to max waiting messages. Read-only ones are answered at once (they
 * need no COMMIT of their own). The others run now (in_batch) or, while a
 * COMMIT is in flight, wait in lp->q for the next batch. 0, or -1 when
 * nothing more is waiting.
 */
static int read_messages(struct loop *lp, bool in_batch, size_t max)
{
    for (size_t i = 0; i < max; i++) {
        size_t idlen = 0, len = 0;
        uint16_t type;
        if (!in_batch && lp->nq == BATCH_MAX)
            return 0; /* the next batch is full: leave the rest in the socket */
        if (proto_recv(lp->fe->router, true, lp->ident, &idlen, &type, lp->body, RR_PROTO_MAX_BODY,
                       &len) < 0) {
            if (errno == EAGAIN)
                return -1;
            continue; /* malformed: already logged and drained */
        }
        if (ctl_read_only(type, lp->body, len)) {
            dispatch_now(lp->fe, lp->ident, idlen, type, lp->body, len);
        } else if (in_batch) {
            ctl_dispatch(lp->fe, lp->ident, idlen, type, lp->body, len);
        } else {
            struct deferred *d = &lp->q[lp->nq];
            if ((d->body = malloc(len ? len : 1)) == NULL) {
                log_warnx("out of memory: %s dropped", proto_msg_name(type));
                continue;
            }
            memcpy(d->ident, lp->ident, idlen);
            d->idlen = idlen;
            memcpy(d->body, lp->body, len);
            d->len = len;
            d->type = type;
            lp->nq++;
        }
    }
    return 0;
}

static void run_deferred(struct loop *lp)
{
    for (size_t i = 0; i < lp->nq; i++) {
        ctl_dispatch(lp->fe, lp->q[i].ident, lp->q[i].idlen, lp->q[i].type, lp->q[i].body,
                     lp->q[i].len);
        free(lp->q[i].body);
    }
    lp->nq = 0;
}

/* The batch is durable: send what it produced. */
static int after_commit(struct loop *lp)
{
    ctl_flush(lp->fe);
    return routes_snapshot_pump(lp->fe);
}

/* Wait for the COMMIT in flight (at shutdown), then send its batch. */
static void finish_commit(struct loop *lp)
{
    bool done = false;

    while (lp->committing) {
        zmq_pollitem_t it = {.socket = NULL, .fd = lp->com.efd, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, -1) < 0 && errno != EINTR)
            fatalx("zmq_poll on the committer");
        if (committer_done(&lp->com, &done) < 0)
            fatalx("store: commit failed; exiting before anything is acknowledged");
        if (done) {
            lp->committing = false;
            after_commit(lp);
        }
    }
}

static int run(struct frontend *fe)
{
    struct loop *lp = calloc(1, sizeof(*lp));
    zmq_pollitem_t items[2 + 1 + HM_MAX_CONNS];
    uint64_t next_tick = now_mono_ms(), next_hb = now_mono_ms();
    int ret = 1, snap_wait = -1;

    if (lp == NULL || (lp->body = malloc(RR_PROTO_MAX_BODY)) == NULL)
        goto out;
    lp->fe = fe;
    committer_start(&lp->com, fe->store); /* without it: commits in the loop */
    while (!quit_signal) {
        uint64_t mono = now_mono_ms();
        uint64_t due = next_tick < next_hb ? next_tick : next_hb;
        long timeout = due > mono ? (long)(due - mono) : 0;
        int nitems = 1;

        if (hup_signal && !lp->committing) {
            /* between transactions: the limits and takeover policy are
             * read on every request (limits.c, ownership.c) */
            hup_signal = 0;
            config_reload(&fe->cfg);
        }
        if (snap_wait >= 0 && snap_wait < timeout)
            timeout = snap_wait; /* a snapshot has more to send */
        items[0] = (zmq_pollitem_t){.socket = fe->router, .events = ZMQ_POLLIN};
        if (lp->committing) {
            /* only the commit's end or a message can move the loop on */
            timeout = -1;
            if (lp->nq == BATCH_MAX)
                items[0].events = 0;
            items[nitems++] = (zmq_pollitem_t){.fd = lp->com.efd, .events = ZMQ_POLLIN};
        }
        int mx0 = nitems; /* the metrics listener's fds follow */
        nitems +=
            fe_metrics_pollitems(fe, items + mx0, (int)(sizeof(items) / sizeof(items[0])) - mx0);
        if (zmq_poll(items, nitems, timeout) < 0) {
            if (errno == EINTR)
                continue;
            log_warn("zmq_poll");
            goto out;
        }
        fe->now = now_wall_ms();
        mono = now_mono_ms();
        fe_metrics_after_poll(fe, items + mx0, nitems - mx0, mono);
        if (lp->committing) {
            bool done = false;
            if (committer_done(&lp->com, &done) < 0)
                fatalx("store: commit failed; exiting before anything is acknowledged");
            if (!done) {
                read_messages(lp, false, BATCH_MAX);
                continue;
            }
            lp->committing = false;
            snap_wait = after_commit(lp);
            if (lp->nq == 0 && !(items[0].revents & ZMQ_POLLIN))
                continue; /* nothing waits: poll until a message or a timer */
        }
        if (store_begin(fe->store) < 0)
            fatalx("store: cannot begin a transaction");
        size_t room = BATCH_MAX - lp->nq;
        run_deferred(lp);
        read_messages(lp, true, room);
        if (mono >= next_tick) {
            rd_tick(fe);
            next_tick = mono + TICK_MS;
        }
        observe_flush(fe);
        if (mono >= next_hb) {
            routes_heartbeat(fe);
            next_hb = mono + fe->cfg.heartbeat_ms;
        }
        if (lp->com.on && store_tx_writes(fe->store)) {
            /* the fsync runs beside the loop; the outbox waits for it */
            committer_kick(&lp->com);
            lp->committing = true;
            continue;
        }
        if (store_commit(fe->store) < 0)
            fatalx("store: commit failed; exiting before anything is acknowledged");
        snap_wait = after_commit(lp);
    }
    log_info("signal %d: shutting down", (int)quit_signal);
    finish_commit(lp);
    ret = 0;
out:
    if (lp) {
        for (size_t i = 0; i < lp->nq; i++)
            free(lp->q[i].body);
        committer_stop(&lp->com);
        free(lp->body);
    }
    free(lp);
    return ret;
}

int main(int argc, char **argv)
{
    struct rr_config cfg;
    struct frontend *fe = NULL;
    struct curve_zap *zap = NULL;
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
    if (statedir_prepare(cfg.state_dir) < 0) /* 0700, sockets and store 0600 */
        return 2;
    /* a missing or malformed name_secrets file is a configuration error:
     * exit 2 (do not restart), not the 1 of an unusable store */
    struct rd_secrets check;
    if (secrets_load(&check, cfg.name_secrets) < 0)
        return 2;
    secrets_free(&check);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    fe = calloc(1, sizeof(*fe));
    if (fe == NULL || frontend_init(fe, &cfg, cfg.db_path) < 0) {
        log_warnx("cannot start: store %s unusable", cfg.db_path);
        free(fe);
        return 1;
    }
    fe->zctx = zmq_ctx_new();
    curve_init(&cfg);
    bool zap_err = false;
    /* the ZAP handler first: a CURVE client may knock at once */
    if (fe->zctx)
        zap = curve_zap_start(fe->zctx, false, &zap_err);
    if (fe->zctx == NULL || zap_err ||
        (fe->router = open_socket(fe->zctx, ZMQ_ROUTER, cfg.ctl_endpoint)) == NULL ||
        (fe->pub = open_socket(fe->zctx, ZMQ_PUB, cfg.pub_endpoint)) == NULL)
        goto out;
    fe->start_wall_ms = now_wall_ms();
    fe_metrics_open(fe); /* a failure is logged: we run without metrics */
    log_info("rdrelay-frontend %s: %zu registrations, ctl %s, routes %s, epoch %llu",
             RDRELAY_VERSION, fe->reg.count, cfg.ctl_endpoint, cfg.pub_endpoint,
             (unsigned long long)fe->epoch);
    ret = run(fe);
out:
    fe_metrics_close(fe);
    if (fe->router)
        zmq_close(fe->router);
    if (fe->pub)
        zmq_close(fe->pub);
    if (fe->zctx)
        zmq_ctx_term(fe->zctx);
    curve_zap_join(zap); /* its wait ended with the context */
    frontend_free(fe);
    free(fe);
    return ret;
}
