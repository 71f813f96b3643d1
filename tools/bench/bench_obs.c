/*
 * bench_obs.c - rdrelay-bench --observers N (issue 21): Observe on lookups
 * at scale, over the network. N observers, each with its own filter
 * (observer k: GET /rd-lookup/ep?et=et-<k%1000>&count=5 with Observe: 0),
 * then --obs-rate re-registrations per second for --duration, each of one
 * preloaded endpoint b<i> with a new attribute v=<gen> (so its lookups
 * change): change c re-registers i = c % min(N, 1000, preloaded), which is
 * on the first page of et-<i%1000>, so the observers of that filter (and
 * only they) must be notified. Reports how many were notified and the
 * notification latency (change sent -> notification received) p50/p99/max,
 * and with --rss-pid the CPU time (/proc/PID/stat) that process spent per
 * change. The RD limits observers per source address (256): observers are
 * spread over sockets bound to 127.0.0.2, .3, ... (200 each); the changes
 * come from 127.0.0.1 like the preload (the names' owner).
 * Owns: its sockets and observer table. Talks to the RD through --target
 * (relay-udp on IPv4 loopback).
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "bench_rd.h"
#include "coap_msg.h"
#include "log.h"

#define OBS_PER_SOCKET 200 /* under rd-frontend's 256 observers per source */
#define OBS_FILTERS 1000   /* et-0 .. et-999: the data's et values */
#define OBS_SETTLE_NS 500000000ull

struct obs {
    uint64_t pending_since; /* a change for its filter was sent, 0 = none */
    bool registered;
};

struct obs_run {
    const struct bench_opts *o;
    struct obs *v;
    unsigned n, nsock;
    int *fd;     /* nsock observer sockets */
    int chg_fd;  /* the changes' socket (127.0.0.1) */
    double *lat; /* ms, one per notified change */
    size_t nlat, caplat;
    uint64_t changes, changes_ok, notes, untimed;
    uint16_t mid;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* utime + stime of pid in ms, or -1. */
static long cpu_ms(int pid)
{
    char path[64], buf[1024], *p;
    unsigned long ut, st;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* comm may hold spaces */
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

static int udp_socket(const struct rr_addr *target, uint32_t src_ip)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(src_ip)};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        connect(fd, (const struct sockaddr *)&target->ss, target->len) < 0) {
        log_warn("observer socket");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* GET with Observe: obs_val (0 register, 1 deregister) for observer k. */
static void send_observe(struct obs_run *x, unsigned k, uint32_t obs_val)
{
    struct coap_msg m;
    uint8_t buf[256], ob[4];
    char q[2][32];
    ssize_t len;

    coap_msg_init(&m);
    m.type = COAP_T_CON;
    m.code = COAP_GET;
    m.msgid = x->mid++;
    m.tkl = 4;
    for (int b = 0; b < 4; b++)
        m.token[b] = (uint8_t)(k >> (24 - 8 * b));
    snprintf(q[0], sizeof(q[0]), "et=et-%u", k % OBS_FILTERS);
    snprintf(q[1], sizeof(q[1]), "count=5");
    coap_msg_add_opt_uint(&m, COAP_OPT_OBSERVE, obs_val, ob);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "rd-lookup", 9);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "ep", 2);
    for (int i = 0; i < 2; i++)
        coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, q[i], (uint16_t)strlen(q[i]));
    len = coap_msg_serialize_udp(&m, buf, sizeof(buf));
    if (len > 0)
        (void)send(x->fd[k / OBS_PER_SOCKET], buf, (size_t)len, 0);
}

static void ack_if_con(int fd, const struct coap_msg *m)
{
    if (m->type == COAP_T_CON) {
        uint8_t ack[4] = {0x60, 0, (uint8_t)(m->msgid >> 8), (uint8_t)m->msgid};
        (void)send(fd, ack, sizeof(ack), 0);
    }
}

static void on_observer_msg(struct obs_run *x, int fd, const uint8_t *buf, size_t len, uint64_t now)
{
    struct coap_msg m;
    unsigned k;

    if (coap_msg_parse_udp(buf, len, &m) < 0 || m.code == COAP_EMPTY)
        return;
    ack_if_con(fd, &m);
    if (m.tkl != 4 || coap_msg_find(&m, COAP_OPT_OBSERVE) == NULL)
        return; /* a deregistration's answer, or a lookup that was not observed */
    k = (unsigned)m.token[0] << 24 | (unsigned)m.token[1] << 16 | (unsigned)m.token[2] << 8 |
        m.token[3];
    if (k >= x->n)
        return;
    if (!x->v[k].registered) {
        x->v[k].registered = m.code == COAP_CONTENT;
        return;
    }
    x->notes++;
    if (x->v[k].pending_since == 0) {
        x->untimed++; /* a change while one was outstanding: coalesced */
        return;
    }
    if (x->nlat == x->caplat) {
        size_t nc = x->caplat ? x->caplat * 2 : 4096;
        double *nl = realloc(x->lat, nc * sizeof(*nl));
        if (nl == NULL)
            return;
        x->lat = nl;
        x->caplat = nc;
    }
    x->lat[x->nlat++] = (now - x->v[k].pending_since) / 1e6;
    x->v[k].pending_since = 0;
}

static void drain(struct obs_run *x, int timeout_ms)
{
    struct pollfd pfd[64];
    uint8_t buf[COAP_MSG_MAX_UDP];
    unsigned n = x->nsock + 1;

    for (unsigned s = 0; s < x->nsock; s++)
        pfd[s] = (struct pollfd){.fd = x->fd[s], .events = POLLIN};
    pfd[x->nsock] = (struct pollfd){.fd = x->chg_fd, .events = POLLIN};
    if (poll(pfd, n, timeout_ms) <= 0)
        return;
    for (unsigned s = 0; s < n; s++) {
        for (int i = 0; i < 256 && (pfd[s].revents & POLLIN); i++) {
            ssize_t len = recv(pfd[s].fd, buf, sizeof(buf), 0);
            struct coap_msg m;
            if (len < 0)
                break;
            if (s < x->nsock) {
                on_observer_msg(x, pfd[s].fd, buf, (size_t)len, bench_now_ns());
            } else if (coap_msg_parse_udp(buf, (size_t)len, &m) == 0 && m.code != COAP_EMPTY) {
                ack_if_con(x->chg_fd, &m);
                x->changes_ok += m.code >> 5 == 2;
            }
        }
    }
}

static void send_change(struct obs_run *x, uint64_t now)
{
    unsigned span = x->n < OBS_FILTERS ? x->n : OBS_FILTERS;
    uint8_t buf[COAP_MSG_MAX_UDP];
    uint32_t i;
    ssize_t len;

    if (x->o->preload > 0 && span > x->o->preload)
        span = (unsigned)x->o->preload;
    i = (uint32_t)(x->changes % span);
    len = bench_rd_registration_gen(i, x->o->links, x->mid++, (uint32_t)x->changes + 1, buf,
                                    sizeof(buf));
    x->changes++;
    if (len < 0 || send(x->chg_fd, buf, (size_t)len, 0) < 0)
        return;
    for (unsigned k = i % OBS_FILTERS; k < x->n; k += OBS_FILTERS)
        if (x->v[k].registered && x->v[k].pending_since == 0)
            x->v[k].pending_since = now;
}

int obs_scenario(const struct bench_opts *o)
{
    struct obs_run x = {.o = o, .n = o->observers, .chg_fd = -1};
    const struct sockaddr_in *tin = (const struct sockaddr_in *)&o->target.ss;
    unsigned registered = 0;
    uint64_t t0, now, end;
    long cpu0, cpu1;
    int rc = 1;

    if (o->target.ss.ss_family != AF_INET || (ntohl(tin->sin_addr.s_addr) >> 24) != 127) {
        log_warnx("--observers needs an IPv4 loopback --target (sources 127.0.0.2...)");
        return 1;
    }
    x.nsock = (x.n + OBS_PER_SOCKET - 1) / OBS_PER_SOCKET;
    if (x.nsock > 63) {
        log_warnx("--observers: at most %u", 63 * OBS_PER_SOCKET);
        return 1;
    }
    x.v = calloc(x.n, sizeof(*x.v));
    x.fd = calloc(x.nsock, sizeof(*x.fd));
    if (x.v == NULL || x.fd == NULL)
        goto out;
    for (unsigned s = 0; s < x.nsock; s++)
        x.fd[s] = -1;
    for (unsigned s = 0; s < x.nsock; s++)
        if ((x.fd[s] = udp_socket(&o->target, 0x7f000002u + s)) < 0)
            goto out;
    if ((x.chg_fd = udp_socket(&o->target, 0x7f000001u)) < 0)
        goto out;
    x.mid = (uint16_t)(bench_now_ns() >> 12);

    /* register every observer; one resend of the missing after 1 s */
    for (unsigned k = 0; k < x.n; k++) {
        send_observe(&x, k, 0);
        if (k % 64 == 63)
            drain(&x, 0);
    }
    for (int round = 0; round < 2; round++) {
        end = bench_now_ns() + 1000000000ull;
        while ((now = bench_now_ns()) < end && !bench_interrupted()) {
            drain(&x, 10);
            registered = 0;
            for (unsigned k = 0; k < x.n; k++)
                registered += x.v[k].registered;
            if (registered == x.n)
                break;
        }
        if (registered == x.n || round == 1)
            break;
        for (unsigned k = 0; k < x.n; k++)
            if (!x.v[k].registered)
                send_observe(&x, k, 0);
    }

    /* the changes, paced at obs_rate per second */
    cpu0 = o->rss_pid ? cpu_ms(o->rss_pid) : -1;
    t0 = bench_now_ns();
    end = t0 + (uint64_t)(o->duration * 1e9);
    while ((now = bench_now_ns()) < end && !bench_interrupted()) {
        uint64_t due = (uint64_t)((now - t0) / 1e9 * o->obs_rate) + 1;
        while (x.changes < due)
            send_change(&x, now);
        drain(&x, 1);
    }
    end = bench_now_ns() + OBS_SETTLE_NS; /* the last notifications */
    while (bench_now_ns() < end && !bench_interrupted())
        drain(&x, 10);
    cpu1 = o->rss_pid ? cpu_ms(o->rss_pid) : -1;
    double secs = (now - t0) / 1e9;
    uint64_t missed = 0;
    for (unsigned k = 0; k < x.n; k++)
        missed += x.v[k].pending_since != 0;
    qsort(x.lat, x.nlat, sizeof(*x.lat), cmp_double);
    double p50 = x.nlat ? x.lat[x.nlat / 2] : 0, p99 = x.nlat ? x.lat[x.nlat * 99 / 100] : 0,
           mx = x.nlat ? x.lat[x.nlat - 1] : 0;
    double cpu_us = cpu0 >= 0 && cpu1 >= 0 && x.changes ? (cpu1 - cpu0) * 1000.0 / x.changes : -1;
    if (o->json)
        printf("{\"scenario\":\"observe\",\"observers\":%u,\"registered\":%u,\"changes\":%" PRIu64
               ",\"changes_ok\":%" PRIu64
               ",\"seconds\":%.3f,\"rate\":%.1f,\"notifications\":%" PRIu64
               ",\"timed\":%zu,\"missed\":%" PRIu64 ",\"untimed\":%" PRIu64
               ",\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f,\"cpu_us_per_change\":%.1f}\n",
               x.n, registered, x.changes, x.changes_ok, secs, secs > 0 ? x.changes / secs : 0.0,
               x.notes, x.nlat, missed, x.untimed, p50, p99, mx, cpu_us);
    else
        printf("observe: %u observers (%u registered), %" PRIu64 " changes (%" PRIu64
               " answered 2.xx) in %.2f s (%.0f/s): %" PRIu64 " notifications, %zu timed, %" PRIu64
               " missed, %" PRIu64 " untimed; latency p50 %.3f ms p99 %.3f ms max %.3f ms"
               "; RD CPU %.1f us per change\n",
               x.n, registered, x.changes, x.changes_ok, secs, secs > 0 ? x.changes / secs : 0.0,
               x.notes, x.nlat, missed, x.untimed, p50, p99, mx, cpu_us);
    fflush(stdout);
    /* deregister (Observe: 1) so the RD does not keep notifying closed sockets */
    for (unsigned k = 0; k < x.n; k++) {
        send_observe(&x, k, 1);
        if (k % 64 == 63)
            drain(&x, 0);
    }
    drain(&x, 50);
    rc = registered == x.n && x.nlat > 0 ? 0 : 1;
out:
    for (unsigned s = 0; x.fd && s < x.nsock; s++)
        if (x.fd[s] >= 0)
            close(x.fd[s]);
    if (x.chg_fd >= 0)
        close(x.chg_fd);
    free(x.fd);
    free(x.v);
    free(x.lat);
    return rc;
}
