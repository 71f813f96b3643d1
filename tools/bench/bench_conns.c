/*
 * bench_conns.c - rdrelay-bench --registrants: connection scale on one
 * relay (BRIEF §6: one relay holds 10,000 concurrent TCP/WebSocket
 * registrants, each reachable by name). Opens N connections to relay-tcp
 * or relay-ws, registers each one with proxy=yes (so the connection is the
 * endpoint's path; -n registrations in flight), answers GET /hello on each
 * with "hello from c<i>", then reaches every K-th (default: every one) by
 * name through the relay over one more connection, -n requests in flight,
 * and checks each answer came from the right registrant. The RSS of the
 * relay (--rss-pid) and of rd-frontend (--rss-pid2) is read from /proc
 * before the first connection and with all of them registered.
 * One process plays both sides in one epoll loop, so reaching all 10,000
 * is a pipelined run of a second or so, not 10,000 round trips.
 * Every phase ends when it is done or after PHASE_STALL_NS without
 * progress (then the counts say what is missing).
 * Owns: the connections (struct conns). Talks to: the relay on loopback.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"
#include "bench_loop.h"
#include "bench_stream.h"
#include "log.h"

#define PHASE_STALL_NS 10000000000ull /* a phase without progress for 10 s ends */
#define REG_OUT_CAP 2048              /* a registrant's output queue */
#define EP_PREFIX "c"

struct creg {
    struct sconn c;
    uint8_t state; /* 0 connected, 1 registering, 2 registered, 3 failed */
};

struct conns {
    const struct bench_opts *o;
    bool ws;
    int epfd;
    struct creg *regs;
    unsigned long n, connected, registered, reg_failed, reg_pending, served, closed;
    struct sconn client; /* epoll data = n */
    bool client_open;
    /* reach phase */
    unsigned long next, sampled, reached, bad, sent, pending;
    uint8_t last_code; /* of the last answer on the client connection */
    bool probing;      /* wait_routes is asking */
    double route_wait_s;
    uint64_t *t_sent; /* per registrant: when its GET left (0: none pending) */
    struct result r;  /* reach latency */
    const char *domain;
    uint64_t now;
};

static void put_u32(uint8_t *t, uint32_t v)
{
    t[0] = (uint8_t)(v >> 24);
    t[1] = (uint8_t)(v >> 16);
    t[2] = (uint8_t)(v >> 8);
    t[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *t)
{
    return (uint32_t)t[0] << 24 | (uint32_t)t[1] << 16 | (uint32_t)t[2] << 8 | t[3];
}

static void progress(const struct conns *x, const char *phase, unsigned long done,
                     unsigned long total, uint64_t *last)
{
    if (x->o->quiet || x->now - *last < 1000000000ull)
        return;
    *last = x->now;
    fprintf(stderr, "rdrelay-bench: %s %lu/%lu\n", phase, done, total);
}

/* A message on registrant i's connection: its registration's answer, or
 * a request the relay forwards to it. */
static void on_reg_msg(struct conns *x, unsigned long i, const struct coap_msg *m)
{
    struct creg *g = &x->regs[i];

    if (COAP_CODE_CLASS(m->code) >= 2) {
        if (g->state != 1 || m->tkl != 4 || get_u32(m->token) != i)
            return;
        x->reg_pending--;
        if (m->code == COAP_CREATED) {
            g->state = 2;
            x->registered++;
        } else {
            char cb[8];
            if (x->reg_failed++ < 5)
                log_warnx("registration of " EP_PREFIX "%lu answered %s", i,
                          coap_code_str(m->code, cb));
            g->state = 3;
        }
        return;
    }
    struct coap_msg a;
    char path[64], body[48];
    coap_msg_init(&a);
    a.tkl = m->tkl;
    memcpy(a.token, m->token, m->tkl);
    if (m->code == COAP_GET && coap_msg_uri_path(m, path, sizeof(path)) == 0 &&
        strcmp(path, "/hello") == 0) {
        int bl = snprintf(body, sizeof(body), "hello from " EP_PREFIX "%lu", i);
        a.code = COAP_CONTENT;
        a.payload = (const uint8_t *)body;
        a.payload_len = (size_t)bl;
    } else {
        a.code = COAP_NOT_FOUND;
    }
    x->served++;
    (void)sconn_queue(&g->c, &a);
    (void)sconn_flush(&g->c);
}

/* An answer on the client connection: token = the registrant reached. */
static void on_client_msg(struct conns *x, const struct coap_msg *m)
{
    char want[48];

    if (COAP_CODE_CLASS(m->code) < 2 || m->tkl != 4)
        return;
    uint32_t i = get_u32(m->token);
    if (i >= x->n || x->t_sent[i] == 0)
        return;
    x->last_code = m->code;
    if (x->probing) { /* wait_routes: not a measured request */
        x->t_sent[i] = 0;
        x->pending--;
        return;
    }
    uint64_t us = (x->now - x->t_sent[i]) / 1000u;
    x->t_sent[i] = 0;
    x->pending--;
    int wl = snprintf(want, sizeof(want), "hello from " EP_PREFIX "%" PRIu32, i);
    x->r.completed++;
    x->r.by_code[m->code]++;
    x->r.hist[hist_index(us > UINT32_MAX ? UINT32_MAX : (uint32_t)us)]++;
    if (m->code == COAP_CONTENT && m->payload_len == (size_t)wl &&
        memcmp(m->payload, want, (size_t)wl) == 0) {
        x->reached++;
    } else {
        char cb[8];
        if (x->bad++ < 5)
            log_warnx("reaching " EP_PREFIX "%" PRIu32 ": %s, %zu bytes", i,
                      coap_code_str(m->code, cb), m->payload_len);
    }
}

struct msg_ctx {
    struct conns *x;
    unsigned long i;
};

static void on_msg(void *arg, struct sconn *c, const struct coap_msg *m)
{
    struct msg_ctx *k = arg;
    (void)c;
    if (k->i == k->x->n)
        on_client_msg(k->x, m);
    else
        on_reg_msg(k->x, k->i, m);
}

/* One epoll round: read every ready connection. Returns -1 on a loop error. */
static int poll_once(struct conns *x, int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(x->epfd, evs, 256, timeout_ms);

    if (n < 0 && errno != EINTR) {
        log_warn("epoll_wait");
        return -1;
    }
    x->now = bench_now_ns();
    for (int e = 0; e < n; e++) {
        unsigned long i = evs[e].data.u32;
        struct sconn *c = i == x->n ? &x->client : &x->regs[i].c;
        struct msg_ctx k = {x, i};
        if (c->dead)
            continue;
        if (sconn_read(c, on_msg, &k) < 0) {
            epoll_ctl(x->epfd, EPOLL_CTL_DEL, c->wc.fd, NULL);
            x->closed++;
            if (i < x->n && x->regs[i].state == 2)
                x->registered--;
            if (i < x->n && x->regs[i].state == 1)
                x->reg_pending--, x->reg_failed++;
            if (i < x->n)
                x->regs[i].state = 3;
        }
        if (c->out_len > c->out_off)
            (void)sconn_flush(c);
    }
    return 0;
}

static int add_fd(struct conns *x, int fd, unsigned long i)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(x->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        log_warn("epoll_ctl");
        return -1;
    }
    return 0;
}

static int open_all(struct conns *x)
{
    uint64_t last = bench_now_ns();
    for (unsigned long i = 0; i < x->n && !bench_interrupted(); i++) {
        if (sconn_open(&x->regs[i].c, x->ws, &x->o->target, REG_OUT_CAP) < 0 ||
            sconn_flush(&x->regs[i].c) < 0 || add_fd(x, x->regs[i].c.wc.fd, i) < 0) {
            log_warnx("connection %lu of %lu failed", i + 1, x->n);
            return -1;
        }
        x->connected++;
        x->now = bench_now_ns();
        progress(x, "connected", x->connected, x->n, &last);
        if ((i & 63) == 63 && poll_once(x, 0) < 0) /* CSMs and pings meanwhile */
            return -1;
    }
    return 0;
}

static void send_registration(struct conns *x, unsigned long i)
{
    static const char links[] = "</hello>;rt=\"bench\"";
    char q1[32];
    uint8_t cf[4];
    struct coap_msg m;
    struct creg *g = &x->regs[i];

    coap_msg_init(&m);
    m.code = COAP_POST;
    m.tkl = 4;
    put_u32(m.token, (uint32_t)i);
    snprintf(q1, sizeof(q1), "ep=" EP_PREFIX "%lu", i);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "rd", 2);
    coap_msg_add_opt_uint(&m, COAP_OPT_CONTENT_FORMAT, COAP_CF_LINK_FORMAT, cf);
    coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, q1, (uint16_t)strlen(q1));
    coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, "proxy=yes", 9);
    coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, "lt=3600", 7);
    m.payload = (const uint8_t *)links;
    m.payload_len = sizeof(links) - 1;
    g->state = 1;
    x->reg_pending++;
    if (sconn_queue(&g->c, &m) < 0 || sconn_flush(&g->c) < 0) {
        g->state = 3;
        x->reg_pending--;
        x->reg_failed++;
    }
}

/* Has a phase made no progress (done unchanged) for PHASE_STALL_NS? */
static bool stalled(const struct conns *x, unsigned long done, unsigned long *last_done,
                    uint64_t *moved, const char *what, unsigned long total)
{
    if (done != *last_done) {
        *last_done = done;
        *moved = x->now;
        return false;
    }
    if (x->now - *moved <= PHASE_STALL_NS)
        return false;
    log_warnx("%s stalled at %lu/%lu", what, done, total);
    return true;
}

/* -n registrations in flight until every connection is registered. */
static int register_all(struct conns *x)
{
    unsigned long next = 0, last_done = 0;
    uint64_t moved = bench_now_ns(), last = moved;

    x->now = moved;
    while (!bench_interrupted()) {
        while (next < x->n && x->reg_pending < x->o->inflight)
            send_registration(x, next++);
        unsigned long done = x->registered + x->reg_failed;
        if (done >= x->n || (next == x->n && x->reg_pending == 0) ||
            stalled(x, done, &last_done, &moved, "registrations", x->n))
            break;
        progress(x, "registered", x->registered, x->n, &last);
        if (poll_once(x, 10) < 0)
            return -1;
    }
    return 0;
}

static void send_reach(struct conns *x, unsigned long i)
{
    char host[300];
    struct coap_msg m;

    coap_msg_init(&m);
    m.code = COAP_GET;
    m.tkl = 4;
    put_u32(m.token, (uint32_t)i);
    int hl = snprintf(host, sizeof(host), EP_PREFIX "%lu.%s", i, x->domain);
    coap_msg_add_opt(&m, COAP_OPT_URI_HOST, host, (uint16_t)hl);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "hello", 5);
    x->t_sent[i] = x->now > 0 ? x->now : 1;
    x->sent++;
    x->pending++;
    if (sconn_queue(&x->client, &m) < 0) { /* cannot happen: the queue holds -n requests */
        x->t_sent[i] = 0;
        x->pending--;
        x->bad++;
    }
}

/*
 * The relay learns a route from rd-frontend over ZeroMQ after the 2.01
 * has left, so a name may be unknown (5.05) for a moment. Route updates
 * arrive in order: once the last registrant's name answers, every earlier
 * one is known too. Asks for it until it answers other than 5.05
 * (bounded by PHASE_STALL_NS); returns the wait in seconds, or -1.
 */
static double wait_routes(struct conns *x)
{
    uint64_t t0 = bench_now_ns();
    unsigned long last = x->n - 1;

    x->probing = true;
    x->now = t0;
    for (unsigned k = 0; x->now - t0 < PHASE_STALL_NS && !bench_interrupted(); k++) {
        x->last_code = 0;
        send_reach(x, last);
        x->sent--;
        (void)sconn_flush(&x->client);
        while (x->pending > 0 && x->now - t0 < PHASE_STALL_NS && !x->client.dead)
            if (poll_once(x, 10) < 0)
                return -1;
        if (x->last_code != 0 && x->last_code != COAP_PROXYING_NOT_SUPPORTED)
            break;
        if (poll_once(x, 20) < 0) /* a moment for the route to arrive */
            return -1;
    }
    x->probing = false;
    if (x->last_code == 0 || x->last_code == COAP_PROXYING_NOT_SUPPORTED) {
        log_warnx("the relay does not know " EP_PREFIX "%lu after %.0f s", last,
                  PHASE_STALL_NS / 1e9);
        return -1;
    }
    return (double)(bench_now_ns() - t0) / 1e9;
}

/* Every K-th registered one by name, -n in flight. */
static int reach_all(struct conns *x)
{
    unsigned long last_done = 0;
    uint64_t last, moved;

    if (sconn_open(&x->client, x->ws, &x->o->target, (x->o->inflight + 4) * 320) < 0 ||
        add_fd(x, x->client.wc.fd, x->n) < 0)
        return -1;
    x->client_open = true;
    if ((x->route_wait_s = wait_routes(x)) < 0)
        return -1;
    x->now = moved = last = bench_now_ns();
    for (unsigned long i = 0; i < x->n; i += x->o->reach_every)
        x->sampled++;
    while (!bench_interrupted()) {
        unsigned long done = x->reached + x->bad;
        while (x->next < x->n && x->pending < x->o->inflight) {
            send_reach(x, x->next);
            x->next += x->o->reach_every;
        }
        (void)sconn_flush(&x->client);
        if (done >= x->sampled || x->client.dead ||
            stalled(x, done, &last_done, &moved, "reaching", x->sampled))
            break;
        progress(x, "reached", x->reached, x->sampled, &last);
        if (poll_once(x, 10) < 0)
            return -1;
    }
    return 0;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static double secs(uint64_t a, uint64_t b)
{
    return (double)(b - a) / 1e9;
}

int conns_scenario(const struct bench_opts *o)
{
    struct conns x;
    int rc = 1;

    memset(&x, 0, sizeof(x));
    x.o = o;
    x.ws = o->target_x == &bench_xport_ws;
    x.n = o->registrants;
    x.domain = o->host[0] ? o->host : "proxy.localhost";
    x.epfd = epoll_create1(EPOLL_CLOEXEC);
    x.regs = calloc(x.n, sizeof(*x.regs));
    x.t_sent = calloc(x.n, sizeof(*x.t_sent));
    if (x.epfd < 0 || x.regs == NULL || x.t_sent == NULL || result_init(&x.r, "reach") < 0) {
        log_warn("setup");
        goto out;
    }
    for (unsigned long i = 0; i < x.n; i++)
        x.regs[i].c.wc.fd = -1;
    raise_nofile();

    long rss0 = o->rss_pid ? bench_rss_kb(o->rss_pid) : -1;
    long fe0 = o->rss_pid2 ? bench_rss_kb(o->rss_pid2) : -1;
    uint64_t t0 = bench_now_ns();
    if (open_all(&x) < 0)
        goto report;
    uint64_t t1 = bench_now_ns();
    if (register_all(&x) < 0)
        goto report;
    uint64_t t2 = bench_now_ns();
    /* settle: the relay's answers are out, its buffers back in the spares */
    for (unsigned k = 0; k < 20; k++)
        if (poll_once(&x, 10) < 0)
            goto report;
    long rss1 = o->rss_pid ? bench_rss_kb(o->rss_pid) : -1;
    long fe1 = o->rss_pid2 ? bench_rss_kb(o->rss_pid2) : -1;
    uint64_t t3 = bench_now_ns();
    if (reach_all(&x) < 0)
        goto report;
    uint64_t t4 = bench_now_ns();
    double per_conn = x.registered ? (rss1 - rss0) * 1024.0 / x.registered : 0.0;
    double per_reg = x.registered ? (fe1 - fe0) * 1024.0 / x.registered : 0.0;
    double rs = secs(t3, t4);
    if (o->json) {
        printf("{\"scenario\":\"registrants\",\"transport\":\"%s\",\"registrants\":%lu,"
               "\"connected\":%lu,\"registered\":%lu,\"reg_failed\":%lu,\"closed\":%lu,"
               "\"connect_s\":%.3f,\"register_s\":%.3f,\"reg_rate\":%.1f,"
               "\"route_wait_s\":%.3f,\"reach_every\":%lu,\"sampled\":%lu,\"reached\":%lu,\"reach_"
               "bad\":%lu,"
               "\"reach_s\":%.3f,\"reach_rps\":%.1f,\"reach_ms\":{\"p50\":%.3f,\"p99\":%.3f},"
               "\"served\":%lu,\"rss_relay_kb\":[%ld,%ld],\"rss_frontend_kb\":[%ld,%ld],"
               "\"relay_bytes_per_conn\":%.0f,\"frontend_bytes_per_reg\":%.0f}\n",
               x.ws ? "ws" : "tcp", x.n, x.connected, x.registered, x.reg_failed, x.closed,
               secs(t0, t1), secs(t1, t2), x.registered / secs(t1, t2), x.route_wait_s,
               o->reach_every, x.sampled, x.reached, x.bad, rs, rs > 0 ? x.r.completed / rs : 0.0,
               hist_quantile(&x.r, 0.5), hist_quantile(&x.r, 0.99), x.served, rss0, rss1, fe0, fe1,
               per_conn, per_reg);
    } else {
        printf("registrants %s: %lu connected in %.2f s, %lu registered in %.2f s (%.0f/s), "
               "%lu failed, %lu closed\n",
               x.ws ? "ws" : "tcp", x.connected, secs(t0, t1), x.registered, secs(t1, t2),
               x.registered / secs(t1, t2), x.reg_failed, x.closed);
        printf("the last registrant's route waited for: %.3f s (after a 0.2 s settle)\n",
               x.route_wait_s);
        printf("reached %lu/%lu by name (every %lu-th) in %.2f s (%.0f req/s, p50 %.3f p99 %.3f "
               "ms), %lu wrong or failed\n",
               x.reached, x.sampled, o->reach_every, rs, rs > 0 ? x.r.completed / rs : 0.0,
               hist_quantile(&x.r, 0.5), hist_quantile(&x.r, 0.99), x.bad);
        if (rss0 >= 0)
            printf("relay pid %d RSS: %ld KiB before, %ld KiB with %lu registrants: %.0f bytes "
                   "per connection\n",
                   o->rss_pid, rss0, rss1, x.registered, per_conn);
        if (fe0 >= 0)
            printf("rd-frontend pid %d RSS: %ld KiB before, %ld KiB after: %.0f bytes per "
                   "registration\n",
                   o->rss_pid2, fe0, fe1, per_reg);
    }
    fflush(stdout);
    rc = x.registered == x.n && x.reached == x.sampled ? 0 : 1;
report:
    if (rc != 0)
        log_warnx("%lu/%lu connected, %lu registered, %lu/%lu reached", x.connected, x.n,
                  x.registered, x.reached, x.sampled);
out:
    if (x.regs != NULL)
        for (unsigned long i = 0; i < x.n; i++)
            if (x.regs[i].c.out != NULL || x.regs[i].c.wc.fd >= 0)
                sconn_close(&x.regs[i].c);
    if (x.client_open)
        sconn_close(&x.client);
    if (x.epfd >= 0)
        close(x.epfd);
    free(x.regs);
    free(x.t_sent);
    result_free(&x.r);
    return rc;
}
