/*
 * bench_rd.c - rdrelay-bench's Resource Directory scenarios (issue 21):
 * --preload N registers N endpoints (POST /rd, --links links each, several
 * in flight, retransmitted like a CON client) as fast as the RD takes them
 * and reports registrations/s; --lookups then measures a table of endpoint
 * and resource lookups (every RFC 9176 filter kind, alone and ANDed, with
 * and without page/count) with the ordinary measurement loop, one line (or
 * JSON object) per scenario: lookups/s and p50/p90/p99 latency.
 * --rss-pid PID reads that process's VmRSS from /proc before and after the
 * preload (memory per registration).
 * Owns: its preload socket and slots. Talks to the RD through --target
 * (relay-udp, loopback only), and to bench_run in rdrelay-bench.c.
 * The data and the lookup table are bench_rd_data.c's.
 */
#include <errno.h>
#include <inttypes.h>
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

#define PRELOAD_RETX_NS 1000000000ull /* 1 s, doubled per retry */
#define PRELOAD_MAX_RETX 4
#define PRELOAD_MAX_INFLIGHT 256

struct pl_slot {
    uint32_t i; /* registration number */
    uint16_t mid;
    uint8_t retx;
    bool busy;
    uint64_t deadline;
    size_t len;
    uint8_t buf[COAP_MSG_MAX_UDP];
};

struct preload {
    const struct bench_opts *o;
    int fd;
    struct pl_slot *slots;
    unsigned nslots;
    uint32_t next, done, ok, failed;
    uint16_t next_mid;
    int64_t mid_id; /* /reg/<id> of registration N/2 */
    uint64_t t0;
};

static int send_slot(struct preload *p, struct pl_slot *sl, uint64_t now)
{
    sl->deadline = now + (PRELOAD_RETX_NS << sl->retx);
    if (send(p->fd, sl->buf, sl->len, 0) < 0 && errno != EAGAIN && errno != ECONNREFUSED) {
        log_warn("send");
        return -1;
    }
    return 0;
}

static int start_next(struct preload *p, struct pl_slot *sl, uint64_t now)
{
    sl->busy = false;
    if (p->next >= p->o->preload || bench_interrupted())
        return 0;
    /* --rate: no more than rate x elapsed started (the loop retries idle slots) */
    if (p->o->rate > 0 && p->next >= (uint64_t)((now - p->t0) / 1e9 * p->o->rate) + 1)
        return 0;
    sl->i = p->next++;
    sl->mid = p->next_mid++;
    sl->retx = 0;
    sl->busy = true;
    ssize_t n = bench_rd_registration(sl->i, p->o->links, sl->mid, sl->buf, sizeof(sl->buf));
    if (n < 0) {
        log_warnx("registration %" PRIu32 " does not fit in a datagram (--links)", sl->i);
        return -1;
    }
    sl->len = (size_t)n;
    return send_slot(p, sl, now);
}

static void on_answer(struct preload *p, const uint8_t *buf, size_t len, uint64_t now)
{
    struct coap_msg m;
    uint32_t i;

    if (coap_msg_parse_udp(buf, len, &m) < 0 || m.code == COAP_EMPTY || m.tkl != 4)
        return; /* an empty ACK: the answer comes separately */
    if (m.type == COAP_T_CON) {
        uint8_t ack[4] = {0x60, 0, (uint8_t)(m.msgid >> 8), (uint8_t)m.msgid};
        (void)send(p->fd, ack, sizeof(ack), 0);
    }
    i = (uint32_t)m.token[0] << 24 | (uint32_t)m.token[1] << 16 | (uint32_t)m.token[2] << 8 |
        m.token[3];
    for (unsigned k = 0; k < p->nslots; k++) {
        struct pl_slot *sl = &p->slots[k];
        if (!sl->busy || sl->i != i)
            continue;
        if (m.code == COAP_CREATED) {
            p->ok++;
            if (i == p->o->preload / 2) {
                const struct coap_msg_opt *lp = coap_msg_find(&m, COAP_OPT_LOCATION_PATH);
                if (lp && (lp = coap_msg_find_next(&m, lp)) != NULL) {
                    char id[24];
                    snprintf(id, sizeof(id), "%.*s", (int)lp->len, (const char *)lp->val);
                    p->mid_id = strtoll(id, NULL, 10);
                }
            }
        } else {
            p->failed++;
        }
        p->done++;
        start_next(p, sl, now);
        return;
    }
}

/* Register o->preload endpoints; prints the rate. 0 / -1. */
static int run_preload(const struct bench_opts *o, int64_t *mid_id)
{
    struct preload p = {.o = o, .fd = -1, .mid_id = -1};
    uint64_t t0 = bench_now_ns(), last_progress = t0, now = t0;
    uint8_t buf[COAP_MSG_MAX_UDP];
    long rss0 = o->rss_pid ? bench_rss_kb(o->rss_pid) : -1;
    int rc = -1;

    p.nslots = o->inflight < PRELOAD_MAX_INFLIGHT ? o->inflight : PRELOAD_MAX_INFLIGHT;
    p.slots = calloc(p.nslots, sizeof(*p.slots));
    p.fd = socket(o->target.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p.slots == NULL || p.fd < 0 ||
        connect(p.fd, (const struct sockaddr *)&o->target.ss, o->target.len) < 0) {
        log_warn("preload socket");
        goto out;
    }
    p.next_mid = (uint16_t)(t0 >> 10);
    p.t0 = t0;
    for (unsigned k = 0; k < p.nslots; k++)
        if (start_next(&p, &p.slots[k], now) < 0)
            goto out;
    while (p.done < p.next || p.next < o->preload) {
        struct pollfd pfd = {.fd = p.fd, .events = POLLIN};
        if (bench_interrupted())
            break;
        if (poll(&pfd, 1, o->rate > 0 ? 1 : 50) < 0 && errno != EINTR) {
            log_warn("poll");
            goto out;
        }
        for (int k = 0; k < 256; k++) {
            ssize_t n = recv(p.fd, buf, sizeof(buf), 0);
            if (n < 0)
                break;
            on_answer(&p, buf, (size_t)n, bench_now_ns());
        }
        now = bench_now_ns();
        for (unsigned k = 0; k < p.nslots; k++) {
            struct pl_slot *sl = &p.slots[k];
            if (!sl->busy && o->rate > 0 && start_next(&p, sl, now) < 0)
                goto out; /* paced: idle slots start when the rate allows */
            if (!sl->busy || now < sl->deadline)
                continue;
            if (sl->retx++ < PRELOAD_MAX_RETX) {
                send_slot(&p, sl, now);
            } else {
                p.failed++;
                p.done++;
                if (start_next(&p, sl, now) < 0)
                    goto out;
            }
        }
        if (now - last_progress >= 1000000000ull) {
            fprintf(stderr, "preload: %" PRIu32 "/%lu registered (%.0f/s)\n", p.ok, o->preload,
                    p.ok / ((now - t0) / 1e9));
            last_progress = now;
        }
    }
    double secs = (now - t0) / 1e9;
    long rss1 = o->rss_pid ? bench_rss_kb(o->rss_pid) : -1;
    if (o->json)
        printf("{\"scenario\":\"preload\",\"registrations\":%" PRIu32 ",\"failed\":%" PRIu32
               ",\"links\":%u,\"inflight\":%u,\"seconds\":%.3f,\"rate\":%.1f,"
               "\"rss_before_kb\":%ld,\"rss_after_kb\":%ld}\n",
               p.ok, p.failed, o->links, p.nslots, secs, secs > 0 ? p.ok / secs : 0.0, rss0, rss1);
    else
        printf("preload: %" PRIu32 " registrations (%u links each, %" PRIu32
               " failed) in %.2f s: %.0f registrations/s, %u in flight\n",
               p.ok, o->links, p.failed, secs, secs > 0 ? p.ok / secs : 0.0, p.nslots);
    if (!o->json && rss0 >= 0 && rss1 >= 0)
        printf("rss of pid %d: %ld kB before, %ld kB after: %.0f bytes per registration\n",
               o->rss_pid, rss0, rss1, p.ok ? (rss1 - rss0) * 1024.0 / p.ok : 0.0);
    fflush(stdout);
    *mid_id = p.mid_id;
    rc = p.failed == 0 && p.ok == o->preload ? 0 : -1;
out:
    if (p.fd >= 0)
        close(p.fd);
    free(p.slots);
    return rc;
}

int rd_scenarios(const struct bench_opts *o)
{
    struct bench_opts lo = *o;
    struct result r;
    int64_t mid_id = 1;
    char label[24];
    int rc = 0;

    lo.inflight = o->lookup_inflight;
    lo.sockets = 1;

    if (o->preload > 0 && run_preload(o, &mid_id) < 0) {
        log_warnx("preload incomplete");
        rc = 1;
    }
    if (!o->lookups || bench_interrupted())
        return o->observers && !bench_interrupted() ? rc | obs_scenario(o) : rc;
    if (mid_id < 1)
        mid_id = 1;
    if (result_init(&r, "") < 0)
        return 1;
    for (unsigned k = 0; bench_rd_lookup(k, o->preload, mid_id, label, sizeof(label), lo.path,
                                         sizeof(lo.path)) == 0 &&
                         !bench_interrupted();
         k++) {
        uint32_t *h = r.hist;
        memset(&r, 0, sizeof(r));
        memset(h, 0, HIST_BUCKETS * sizeof(*h));
        r.hist = h;
        snprintf(r.label, sizeof(r.label), "lookup:%s", label);
        if (bench_run(&lo, o->target_x, &o->target, NULL, &r) < 0) {
            rc = 1;
            break;
        }
        if (o->json) {
            print_json_result(stdout, &lo, &r);
            printf("\n");
        } else {
            print_human(stdout, &lo, &r);
        }
        fflush(stdout);
        if (r.completed == 0 || r.ok != r.completed)
            rc = 1;
    }
    result_free(&r);
    if (o->observers && !bench_interrupted())
        rc |= obs_scenario(o);
    return rc;
}
