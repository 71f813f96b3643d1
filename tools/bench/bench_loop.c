/*
 * bench_loop.c - the measurement loop every rdrelay-bench transport runs
 * (bench_loop.h): build the request once, keep o->inflight requests in
 * flight over b->nconns sockets or connections, warm up unrecorded, record
 * for the window, give up on (or, over UDP, retransmit) late requests.
 * Matching: the 8-byte token carries the slot index and a per-slot
 * generation, so a late or duplicated answer to an earlier request is
 * recognised and counted, never mistaken for the current one. Latency is
 * measured from the first transmission, so retransmissions show up in the
 * tail. Every loop is bounded by the window end.
 * Owns: struct bench of one run. Talks to: the transport (b->x).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_loop.h"
#include "log.h"

#define BENCH_SCAN_NS 2000000ull /* timeout scan period: 2 ms */

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

uint64_t bench_retx_timeout_ns(const struct bench *b, unsigned retx)
{
    return (uint64_t)b->o->timeout_ms * 1000000ull << retx;
}

void bench_put_token(const struct bench *b, unsigned idx, uint8_t *t)
{
    uint32_t gen = b->slots[idx].gen;
    t[0] = (uint8_t)(idx >> 24);
    t[1] = (uint8_t)(idx >> 16);
    t[2] = (uint8_t)(idx >> 8);
    t[3] = (uint8_t)idx;
    t[4] = (uint8_t)(gen >> 24);
    t[5] = (uint8_t)(gen >> 16);
    t[6] = (uint8_t)(gen >> 8);
    t[7] = (uint8_t)gen;
}

int bench_slot_by_token(struct bench *b, unsigned conn, const uint8_t *tok, uint8_t tkl)
{
    if (tkl != BENCH_TOKEN_LEN) {
        b->r->dup++;
        return -1;
    }
    uint32_t i = (uint32_t)tok[0] << 24 | (uint32_t)tok[1] << 16 | (uint32_t)tok[2] << 8 | tok[3];
    uint32_t gen = (uint32_t)tok[4] << 24 | (uint32_t)tok[5] << 16 | (uint32_t)tok[6] << 8 | tok[7];
    if (i >= b->nslots || b->slots[i].state == SLOT_IDLE || b->slots[i].gen != gen ||
        b->slots[i].sock != conn) {
        b->r->dup++;
        return -1;
    }
    return (int)i;
}

void bench_slot_next(struct bench *b, unsigned idx, uint64_t now)
{
    struct slot *sl = &b->slots[idx];

    if (!b->issuing || bench_interrupted()) {
        sl->state = SLOT_IDLE;
        return;
    }
    if (b->recording) {
        if (b->o->count > 0 && b->issued >= b->o->count) {
            sl->state = SLOT_IDLE;
            return;
        }
        b->issued++;
        b->r->sent++;
    }
    sl->recorded = b->recording;
    sl->gen++;
    sl->t_first = sl->t_sent = now;
    sl->retx = 0;
    sl->state = SLOT_WAIT;
    /* NON requests and reliable transports are never retransmitted: give
     * up after the whole CON span */
    sl->deadline =
        now + (b->o->non || b->x->reliable ? bench_retx_timeout_ns(b, b->o->max_retransmit + 1)
                                           : bench_retx_timeout_ns(b, 0));
    b->x->send(b, idx);
}

void bench_slot_done(struct bench *b, unsigned idx, uint8_t code, uint64_t now)
{
    struct slot *sl = &b->slots[idx];

    if (sl->recorded) {
        uint64_t us = (now - sl->t_first) / 1000u;
        uint32_t us32 = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
        struct result *r = b->r;
        r->completed++;
        r->by_code[code]++;
        if (COAP_CODE_CLASS(code) == 2)
            r->ok++;
        r->hist[hist_index(us32)]++;
        r->lat_sum_us += us32;
        if (us32 > r->lat_max_us)
            r->lat_max_us = us32;
        b->last_done = now;
    }
    bench_slot_next(b, idx, now);
}

static void scan_timeouts(struct bench *b, uint64_t now)
{
    for (unsigned i = 0; i < b->nslots; i++) {
        struct slot *sl = &b->slots[i];
        if (sl->state == SLOT_IDLE || now < sl->deadline)
            continue;
        if (sl->state == SLOT_WAIT && !b->o->non && !b->x->reliable &&
            sl->retx < b->o->max_retransmit) {
            sl->retx++;
            sl->t_sent = now;
            sl->deadline = now + bench_retx_timeout_ns(b, sl->retx);
            if (sl->recorded)
                b->r->retrans++;
            b->x->send(b, i);
            continue;
        }
        if (sl->recorded)
            b->r->failed++;
        bench_slot_next(b, i, now);
    }
}

/*
 * The request once, with a zero token (and message id); every send copies
 * it and patches the token in place.
 */
static int build_template(struct bench *b)
{
    struct coap_msg m;
    char pathbuf[256];
    char *seg, *save = NULL, *query;

    coap_msg_init(&m);
    m.type = b->o->non ? COAP_T_NON : COAP_T_CON;
    m.code = COAP_GET;
    m.tkl = BENCH_TOKEN_LEN;
    memset(m.token, 0, sizeof(m.token));
    if (b->host != NULL && b->host[0] != '\0' &&
        coap_msg_add_opt(&m, COAP_OPT_URI_HOST, b->host, (uint16_t)strlen(b->host)) < 0)
        goto bad;
    snprintf(pathbuf, sizeof(pathbuf), "%s", b->o->path);
    query = strchr(pathbuf, '?');
    if (query != NULL)
        *query++ = '\0';
    for (seg = strtok_r(pathbuf, "/", &save); seg != NULL; seg = strtok_r(NULL, "/", &save))
        if (coap_msg_add_opt(&m, COAP_OPT_URI_PATH, seg, (uint16_t)strlen(seg)) < 0)
            goto bad;
    save = NULL;
    if (query != NULL)
        for (seg = strtok_r(query, "&", &save); seg != NULL; seg = strtok_r(NULL, "&", &save))
            if (coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, seg, (uint16_t)strlen(seg)) < 0)
                goto bad;
    if (b->x->tmpl(b, &m) == 0)
        return 0;
bad:
    log_warnx("request for path %s does not fit in %d bytes", b->o->path, BENCH_REQ_MAX);
    return -1;
}

static bool bench_busy(const struct bench *b)
{
    for (unsigned i = 0; i < b->nslots; i++)
        if (b->slots[i].state != SLOT_IDLE)
            return true;
    return false;
}

static int bench_setup(struct bench *b)
{
    unsigned seed = (unsigned)(bench_now_ns() ^ (uint64_t)getpid());

    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b->epfd < 0) {
        log_warn("epoll_create1");
        return -1;
    }
    b->nslots = b->o->inflight;
    b->nconns = b->o->sockets;
    b->slots = calloc(b->nslots, sizeof(*b->slots));
    if (b->slots == NULL) {
        log_warn("calloc");
        return -1;
    }
    for (unsigned i = 0; i < b->nslots; i++) {
        b->slots[i].sock = (uint16_t)(i % b->nconns);
        b->slots[i].gen = (uint32_t)rand_r(&seed);
    }
    return b->x->open(b);
}

/*
 * Warm up, then record for o->duration seconds (or until o->count requests
 * have finished, bounded by the duration).
 */
static int bench_loop_run(struct bench *b)
{
    const struct bench_opts *o = b->o;
    struct result *r = b->r;
    struct epoll_event evs[BENCH_MAX_SOCKETS];

    uint64_t t0 = bench_now_ns();
    uint64_t rec_start = t0 + (uint64_t)(o->warmup * 1e9);
    uint64_t end = rec_start + (uint64_t)(o->duration * 1e9);
    uint64_t next_scan = t0 + BENCH_SCAN_NS;
    double cpu0 = 0.0;

    b->issuing = true;
    b->recording = o->warmup <= 0.0;
    if (b->recording)
        cpu0 = cpu_now();
    for (unsigned i = 0; i < b->nslots; i++)
        bench_slot_next(b, i, t0);
    b->x->flush(b);

    uint64_t now = t0;
    while (now < end && !bench_interrupted()) {
        if (!b->recording && now >= rec_start) {
            b->recording = true;
            rec_start = now;
            cpu0 = cpu_now();
            /* warm-up requests still in flight finish unrecorded (slot.recorded) */
        }
        if (b->recording && o->count > 0 && b->issued >= o->count && !bench_busy(b))
            break;
        uint64_t wait_ns = end - now;
        if (wait_ns > BENCH_SCAN_NS)
            wait_ns = BENCH_SCAN_NS;
        int n = epoll_wait(b->epfd, evs, BENCH_MAX_SOCKETS, (int)((wait_ns + 999999) / 1000000));
        if (n < 0 && errno != EINTR) {
            log_warn("epoll_wait");
            return -1;
        }
        now = bench_now_ns();
        for (int i = 0; i < n; i++)
            b->x->readable(b, evs[i].data.u32, now);
        now = bench_now_ns();
        if (now >= next_scan) {
            scan_timeouts(b, now);
            next_scan = now + BENCH_SCAN_NS;
        }
        b->x->flush(b);
    }
    if (!b->recording) { /* interrupted during warm-up */
        rec_start = now;
        cpu0 = cpu_now();
    }
    r->cpu_seconds = cpu_now() - cpu0;
    if (o->count > 0 && b->issued >= o->count && !bench_busy(b) && b->last_done > rec_start)
        now = b->last_done;
    r->seconds = (double)(now - rec_start) / 1e9;
    for (unsigned i = 0; i < b->nslots; i++)
        if (b->slots[i].state != SLOT_IDLE) /* warm-up ones too: a dead target shows */
            r->unfinished++;
    return 0;
}

int bench_run(const struct bench_opts *o, const struct bench_xport *x, const struct rr_addr *target,
              const char *host, struct result *r)
{
    struct bench *b = calloc(1, sizeof(*b));
    int rc = -1;

    if (b == NULL) {
        log_warn("calloc");
        return -1;
    }
    b->o = o;
    b->x = x;
    b->target = target;
    b->host = host;
    b->r = r;
    b->epfd = -1;
    addr_to_str(target, r->target, sizeof(r->target));
    snprintf(r->host, sizeof(r->host), "%s", host != NULL ? host : "");
    snprintf(r->xport, sizeof(r->xport), "%s", x->name);
    if (build_template(b) < 0 || bench_setup(b) < 0)
        goto out;
    rc = bench_loop_run(b);
out:
    x->close(b);
    if (b->epfd >= 0)
        close(b->epfd);
    free(b->slots);
    free(b);
    return rc;
}
