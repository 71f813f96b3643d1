/*
 * rdrelay-bench.c - CoAP-over-UDP load generator for rdrelay (BRIEF §6).
 *
 * Role: keeps N requests in flight (CON or NON GET, optional Uri-Host) against
 * one loopback target over one or several UDP sockets, for a duration or a
 * bounded count, and reports requests/s, latency percentiles, retransmissions
 * and errors by response code (one human line, or --json). --compare runs the
 * origin directly and then through the relay (Uri-Host = the proxy name) in
 * the same invocation and prints the throughput ratio and added p50 latency,
 * the two figures docs/benchmarks.md records. --preload and --lookups are
 * the Resource Directory scenarios (bench_rd.c).
 * Owns: its sockets, the in-flight slots, the latency histograms; all of it in
 * struct bench (one per run) and struct bench_opts.
 * Talks to: the target over UDP only (loopback addresses only, so the tool
 * cannot be pointed at someone else's server); uses common/coap_msg.h to build
 * the request template and to parse responses.
 *
 * Matching: the 8-byte token carries the slot index and a per-slot generation,
 * so a late or duplicated answer to an earlier request is recognised and
 * counted, never mistaken for the current one. A CON request unanswered after
 * --timeout-ms is retransmitted (same message id and token, doubling the
 * timeout as RFC 7252 does) and counted; after --max-retransmit it is counted
 * as failed and the slot moves on. Latency is measured from the first
 * transmission, so retransmissions show up in the tail.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "bench.h"
#include "coap_msg.h"
#include "log.h"

#define BENCH_MAX_INFLIGHT 4096
#define BENCH_MAX_SOCKETS 64
#define BENCH_MAX_DURATION 3600.0
#define BENCH_BATCH 64           /* datagrams per recvmmsg/sendmmsg call */
#define BENCH_RECV_ROUNDS 16     /* recvmmsg calls per ready socket per loop turn */
#define BENCH_SCAN_NS 2000000ull /* timeout scan period: 2 ms */
#define BENCH_TOKEN_LEN 8
#define BENCH_REQ_MAX 600 /* request template: path + host + header */

enum slot_state { SLOT_IDLE = 0, SLOT_WAIT, SLOT_ACKED };

struct slot {
    uint64_t t_first;  /* ns, first transmission (latency origin) */
    uint64_t t_sent;   /* ns, last (re)transmission */
    uint64_t deadline; /* ns, next retransmission or give-up time */
    uint32_t gen;      /* bumped for every new request in this slot */
    uint16_t mid;
    uint8_t retx;
    uint8_t state;    /* enum slot_state */
    uint8_t recorded; /* issued inside the window: its outcome counts */
    uint16_t sock;    /* index into bench.socks */
};

struct outq {
    struct mmsghdr hdr[BENCH_BATCH];
    struct iovec iov[BENCH_BATCH];
    uint8_t buf[BENCH_BATCH][BENCH_REQ_MAX];
    unsigned n;
};

struct bsock {
    int fd;
    uint16_t next_mid;
    struct outq out;
};

/* One run against one target. */
struct bench {
    const struct bench_opts *o;
    const struct rr_addr *target;
    const char *host; /* Uri-Host or NULL */
    int epfd;
    struct bsock socks[BENCH_MAX_SOCKETS];
    unsigned nsocks;
    struct slot *slots;
    unsigned nslots;
    uint8_t req[BENCH_REQ_MAX]; /* request template; mid and token patched per send */
    size_t req_len;
    size_t tok_off;
    uint8_t rbuf[BENCH_BATCH][COAP_MSG_MAX_UDP]; /* recvmmsg buffers */
    bool recording;
    bool issuing;
    uint64_t issued; /* recorded requests issued (for --count) */
    uint64_t last_done;
    struct result *r;
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    (void)sig;
    got_signal = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t bench_now_ns(void)
{
    return now_ns();
}

bool bench_interrupted(void)
{
    return got_signal != 0;
}

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rdrelay-bench --target ADDR [options]\n"
            "       rdrelay-bench --compare --target ORIGIN --via RELAY --host NAME [options]\n"
            "\n"
            "CoAP-over-UDP load generator: keeps N GET requests in flight against a loopback\n"
            "target and reports requests/s, latency percentiles and errors by response code.\n"
            "\n"
            "  --target ADDR        target (origin) address, e.g. 127.0.0.1:5683 (loopback only)\n"
            "  --via ADDR           --compare: the relay address (loopback only)\n"
            "  --host NAME          Uri-Host option (in --compare: sent to --via only)\n"
            "  --path PATH          Uri-Path (and ?query), default /\n"
            "  --compare            run direct (--target) then proxied (--via + --host) and\n"
            "                       print both and the ratio proxied/direct\n"
            "  --rounds N           --compare: alternate direct/proxied N times (default 1)\n"
            "  -n, --inflight N     requests in flight (default 16, max %d)\n"
            "  -s, --sockets N      UDP sockets (source ports) to spread them over (default 1)\n"
            "  -d, --duration SEC   measurement window (default 5; cap with --count)\n"
            "  -c, --count N        stop after N recorded requests (bounded by --duration)\n"
            "  -w, --warmup SEC     unrecorded load before the window (default 0.5)\n"
            "      --non            send NON instead of CON requests\n"
            "      --timeout-ms MS  CON retransmission timeout, doubled per retry (default 1000)\n"
            "      --max-retransmit N  retransmissions before a request fails (default 4)\n"
            "      --json           one JSON object on stdout instead of human lines\n"
            "\n"
            "Resource Directory scenarios (--target is relay-udp in front of rd-frontend):\n"
            "      --preload N      first register N endpoints (POST /rd, ep=b<i>, d, et,\n"
            "                       base, --links links each), -n in flight, and report\n"
            "                       registrations/s (a progress line every second on stderr)\n"
            "      --links L        links per preloaded registration (default 10)\n"
            "      --rate R         preload at most R registrations per second (background\n"
            "                       load: numbers already registered are re-registrations)\n"
            "      --lookups        then measure each lookup scenario (ep, d, et, base, href\n"
            "                       and anchor in both forms, rt/if exact and with '*', other\n"
            "                       attributes, ANDed filters, page/count, no filter) for\n"
            "                       --duration each: one line (or JSON object) per scenario\n"
            "      --lookup-inflight N  lookups in flight per scenario (default 1: latency is\n"
            "                       the RD's service time plus two loopback hops)\n"
            "      --rss-pid PID    print PID's VmRSS (/proc) before and after the preload\n"
            "                       (and with --observers its CPU time per change)\n"
            "      --observers N    then register N Observe lookups, each its own filter\n"
            "                       (et=et-<k%%1000>&count=5, from 127.0.0.2...), re-register\n"
            "                       preloaded endpoints for --duration and report the\n"
            "                       notification latency p50/p99/max (after --preload)\n"
            "      --obs-rate R     re-registrations per second meanwhile (default 1000)\n"
            "  -h, --help           this text\n"
            "  -V, --version        print the version\n"
            "\n"
            "Exit status: 0 ok, 1 runtime failure, 2 usage error.\n",
            BENCH_MAX_INFLIGHT);
}

/* ---- histogram ---- */

static unsigned hist_index(uint32_t us)
{
    if (us < HIST_FINE)
        return us;
    uint32_t c = (us - HIST_FINE) / 100u;
    return HIST_FINE + (c < HIST_COARSE ? c : HIST_COARSE);
}

static double hist_bucket_ms(unsigned i)
{
    if (i < HIST_FINE)
        return i / 1000.0;
    return (HIST_FINE + (i - HIST_FINE) * 100.0 + 50.0) / 1000.0;
}

/* Latency (ms) below which a fraction q of the recorded requests finished. */
double hist_quantile(const struct result *r, double q)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        total += r->hist[i];
    if (total == 0)
        return 0.0;
    uint64_t want = (uint64_t)ceil(q * (double)total);
    if (want == 0)
        want = 1;
    uint64_t acc = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        acc += r->hist[i];
        if (acc >= want)
            return hist_bucket_ms(i);
    }
    return hist_bucket_ms(HIST_BUCKETS - 1);
}

/* ---- request template ---- */

static bool addr_is_loopback(const struct rr_addr *a)
{
    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&a->ss;
        return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
    }
    if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->ss;
        return IN6_IS_ADDR_LOOPBACK(&s->sin6_addr);
    }
    return false;
}

/*
 * Serialise the request once with a placeholder mid and token; every send
 * copies it and patches bytes 2-3 (message id) and the token in place.
 */
static int build_template(struct bench *b)
{
    struct coap_msg m;
    char pathbuf[256];
    char *seg, *save = NULL, *query;
    int rc = -1;

    coap_msg_init(&m);
    m.type = b->o->non ? COAP_T_NON : COAP_T_CON;
    m.code = COAP_GET;
    m.msgid = 0;
    m.tkl = BENCH_TOKEN_LEN;
    memset(m.token, 0, sizeof(m.token));
    if (b->host != NULL && b->host[0] != '\0' &&
        coap_msg_add_opt(&m, COAP_OPT_URI_HOST, b->host, (uint16_t)strlen(b->host)) < 0)
        goto out;
    snprintf(pathbuf, sizeof(pathbuf), "%s", b->o->path);
    query = strchr(pathbuf, '?');
    if (query != NULL)
        *query++ = '\0';
    for (seg = strtok_r(pathbuf, "/", &save); seg != NULL; seg = strtok_r(NULL, "/", &save))
        if (coap_msg_add_opt(&m, COAP_OPT_URI_PATH, seg, (uint16_t)strlen(seg)) < 0)
            goto out;
    save = NULL;
    if (query != NULL)
        for (seg = strtok_r(query, "&", &save); seg != NULL; seg = strtok_r(NULL, "&", &save))
            if (coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, seg, (uint16_t)strlen(seg)) < 0)
                goto out;
    ssize_t n = coap_msg_serialize_udp(&m, b->req, sizeof(b->req));
    if (n < 4 + BENCH_TOKEN_LEN)
        goto out;
    b->req_len = (size_t)n;
    b->tok_off = 4;
    rc = 0;
out:
    if (rc < 0)
        log_warnx("request for path %s does not fit in %d bytes", b->o->path, BENCH_REQ_MAX);
    return rc;
}

/* ---- sending ---- */

static void outq_flush(struct bench *b, struct bsock *s)
{
    unsigned done = 0;
    unsigned tries = 0;

    /* bounded: a few partial sends, then the rest count as drops */
    while (done < s->out.n && tries++ < 4) {
        int n = sendmmsg(s->fd, s->out.hdr + done, s->out.n - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED)
                log_warn("sendmmsg");
            break;
        }
        done += (unsigned)n;
    }
    if (done < s->out.n)
        b->r->send_drops += s->out.n - done;
    s->out.n = 0;
}

/* Queue one datagram; returns its buffer (BENCH_REQ_MAX bytes). */
static uint8_t *outq_add(struct bench *b, struct bsock *s, size_t len)
{
    if (s->out.n == BENCH_BATCH)
        outq_flush(b, s);
    unsigned i = s->out.n++;
    s->out.iov[i].iov_base = s->out.buf[i];
    s->out.iov[i].iov_len = len;
    memset(&s->out.hdr[i], 0, sizeof(s->out.hdr[i]));
    s->out.hdr[i].msg_hdr.msg_iov = &s->out.iov[i];
    s->out.hdr[i].msg_hdr.msg_iovlen = 1;
    return s->out.buf[i];
}

static void send_request(struct bench *b, unsigned idx)
{
    struct slot *sl = &b->slots[idx];
    struct bsock *s = &b->socks[sl->sock];
    uint8_t *p = outq_add(b, s, b->req_len);

    memcpy(p, b->req, b->req_len);
    p[2] = (uint8_t)(sl->mid >> 8);
    p[3] = (uint8_t)sl->mid;
    uint8_t *t = p + b->tok_off;
    t[0] = (uint8_t)(idx >> 24);
    t[1] = (uint8_t)(idx >> 16);
    t[2] = (uint8_t)(idx >> 8);
    t[3] = (uint8_t)idx;
    t[4] = (uint8_t)(sl->gen >> 24);
    t[5] = (uint8_t)(sl->gen >> 16);
    t[6] = (uint8_t)(sl->gen >> 8);
    t[7] = (uint8_t)sl->gen;
}

static void send_empty(struct bench *b, struct bsock *s, uint8_t type, uint16_t mid)
{
    uint8_t *p = outq_add(b, s, 4);
    p[0] = (uint8_t)(0x40 | (type << 4));
    p[1] = 0;
    p[2] = (uint8_t)(mid >> 8);
    p[3] = (uint8_t)mid;
}

static uint64_t retx_timeout_ns(const struct bench *b, unsigned retx)
{
    return (uint64_t)b->o->timeout_ms * 1000000ull << retx;
}

/* Start the next request in a slot, or park it when issuing has stopped. */
static void slot_next(struct bench *b, unsigned idx, uint64_t now)
{
    struct slot *sl = &b->slots[idx];

    if (!b->issuing || got_signal) {
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
    sl->mid = b->socks[sl->sock].next_mid++;
    sl->t_first = sl->t_sent = now;
    sl->retx = 0;
    sl->state = SLOT_WAIT;
    /* NON requests are never retransmitted: give up after the whole CON span */
    sl->deadline =
        now + (b->o->non ? retx_timeout_ns(b, b->o->max_retransmit + 1) : retx_timeout_ns(b, 0));
    send_request(b, idx);
}

/* ---- receiving ---- */

static int slot_by_mid(const struct bench *b, unsigned sock, uint16_t mid)
{
    for (unsigned i = sock; i < b->nslots; i += b->nsocks)
        if (b->slots[i].state != SLOT_IDLE && b->slots[i].mid == mid)
            return (int)i;
    return -1;
}

static void slot_done(struct bench *b, unsigned idx, uint8_t code, uint64_t now)
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
    slot_next(b, idx, now);
}

static void handle_datagram(struct bench *b, unsigned sock, const uint8_t *buf, size_t len,
                            uint64_t now)
{
    struct coap_msg m;
    struct bsock *s = &b->socks[sock];
    int idx;

    if (coap_msg_parse_udp(buf, len, &m) < 0) {
        b->r->malformed++;
        return;
    }
    if (m.type == COAP_T_RST) {
        idx = slot_by_mid(b, sock, m.msgid);
        if (idx < 0) {
            b->r->dup++;
            return;
        }
        if (b->slots[idx].recorded) {
            b->r->rst++;
            b->r->failed++;
        }
        slot_next(b, (unsigned)idx, now);
        return;
    }
    if (m.code == COAP_EMPTY) {
        if (m.type == COAP_T_CON) { /* CoAP ping: answer with RST */
            send_empty(b, s, COAP_T_RST, m.msgid);
            return;
        }
        if (m.type == COAP_T_ACK) { /* separate response follows */
            idx = slot_by_mid(b, sock, m.msgid);
            if (idx < 0 || b->slots[idx].state != SLOT_WAIT) {
                b->r->dup++;
                return;
            }
            b->slots[idx].state = SLOT_ACKED;
            b->slots[idx].deadline =
                b->slots[idx].t_first + retx_timeout_ns(b, b->o->max_retransmit + 1);
            return;
        }
        b->r->malformed++;
        return;
    }
    if (COAP_CODE_CLASS(m.code) < 2) { /* a request sent to us: not ours to serve */
        if (m.type == COAP_T_CON)
            send_empty(b, s, COAP_T_RST, m.msgid);
        b->r->malformed++;
        return;
    }
    /* a response: piggybacked ACK, or a separate CON/NON */
    if (m.type == COAP_T_CON)
        send_empty(b, s, COAP_T_ACK, m.msgid);
    if (m.tkl != BENCH_TOKEN_LEN) {
        b->r->dup++;
        return;
    }
    uint32_t i = (uint32_t)m.token[0] << 24 | (uint32_t)m.token[1] << 16 |
                 (uint32_t)m.token[2] << 8 | m.token[3];
    uint32_t gen = (uint32_t)m.token[4] << 24 | (uint32_t)m.token[5] << 16 |
                   (uint32_t)m.token[6] << 8 | m.token[7];
    if (i >= b->nslots || b->slots[i].state == SLOT_IDLE || b->slots[i].gen != gen ||
        b->slots[i].sock != sock || (m.type == COAP_T_ACK && m.msgid != b->slots[i].mid)) {
        b->r->dup++;
        return;
    }
    slot_done(b, i, m.code, now);
}

static void drain_socket(struct bench *b, unsigned sock)
{
    uint8_t(*bufs)[COAP_MSG_MAX_UDP] = b->rbuf;
    struct mmsghdr hdr[BENCH_BATCH];
    struct iovec iov[BENCH_BATCH];

    for (unsigned round = 0; round < BENCH_RECV_ROUNDS; round++) {
        for (unsigned i = 0; i < BENCH_BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = sizeof(bufs[i]);
            memset(&hdr[i], 0, sizeof(hdr[i]));
            hdr[i].msg_hdr.msg_iov = &iov[i];
            hdr[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(b->socks[sock].fd, hdr, BENCH_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            /* ECONNREFUSED: an ICMP port unreachable from a stopped target;
             * the requests time out and are counted then */
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNREFUSED)
                log_warn("recvmmsg");
            return;
        }
        uint64_t now = now_ns();
        for (int i = 0; i < n; i++)
            handle_datagram(b, sock, bufs[i], hdr[i].msg_len, now);
        if (n < BENCH_BATCH)
            return;
    }
}

static void scan_timeouts(struct bench *b, uint64_t now)
{
    for (unsigned i = 0; i < b->nslots; i++) {
        struct slot *sl = &b->slots[i];
        if (sl->state == SLOT_IDLE || now < sl->deadline)
            continue;
        if (sl->state == SLOT_WAIT && !b->o->non && sl->retx < b->o->max_retransmit) {
            sl->retx++;
            sl->t_sent = now;
            sl->deadline = now + retx_timeout_ns(b, sl->retx);
            if (sl->recorded)
                b->r->retrans++;
            send_request(b, i);
            continue;
        }
        if (sl->recorded)
            b->r->failed++;
        slot_next(b, i, now);
    }
}

/* ---- one run ---- */

static void bench_close(struct bench *b)
{
    for (unsigned i = 0; i < b->nsocks; i++)
        if (b->socks[i].fd >= 0)
            close(b->socks[i].fd);
    b->nsocks = 0;
    if (b->epfd >= 0)
        close(b->epfd);
    b->epfd = -1;
    free(b->slots);
    b->slots = NULL;
}

static int bench_open(struct bench *b)
{
    int rc = -1;
    unsigned seed = (unsigned)(now_ns() ^ (uint64_t)getpid());

    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (b->epfd < 0) {
        log_warn("epoll_create1");
        goto out;
    }
    b->nslots = b->o->inflight;
    b->slots = calloc(b->nslots, sizeof(*b->slots));
    if (b->slots == NULL) {
        log_warn("calloc");
        goto out;
    }
    for (unsigned i = 0; i < b->o->sockets; i++) {
        struct bsock *s = &b->socks[i];
        int buf = 4 << 20;
        s->fd = socket(b->target->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0) {
            log_warn("socket");
            goto out;
        }
        b->nsocks++;
        s->next_mid = (uint16_t)rand_r(&seed);
        /* best effort: a bigger queue absorbs bursts of answers */
        (void)setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
        (void)setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
        /* connected: only the target's datagrams reach this socket */
        if (connect(s->fd, (const struct sockaddr *)&b->target->ss, b->target->len) < 0) {
            log_warn("connect");
            goto out;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
            log_warn("epoll_ctl");
            goto out;
        }
    }
    for (unsigned i = 0; i < b->nslots; i++) {
        b->slots[i].sock = (uint16_t)(i % b->nsocks);
        b->slots[i].gen = (uint32_t)rand_r(&seed);
    }
    rc = 0;
out:
    return rc;
}

static bool bench_busy(const struct bench *b)
{
    for (unsigned i = 0; i < b->nslots; i++)
        if (b->slots[i].state != SLOT_IDLE)
            return true;
    return false;
}

/*
 * Warm up, then record for o->duration seconds (or until o->count requests
 * have finished, bounded by the duration). Every loop below is bounded by the
 * window end.
 */
int bench_run(const struct bench_opts *o, const struct rr_addr *target, const char *host,
              struct result *r)
{
    struct bench *b = calloc(1, sizeof(*b)); /* ~2.5 MB with 64 send queues: not on the stack */
    struct epoll_event evs[BENCH_MAX_SOCKETS];
    int rc = -1;

    if (b == NULL) {
        log_warn("calloc");
        return -1;
    }
    b->o = o;
    b->target = target;
    b->host = host;
    b->r = r;
    b->epfd = -1;
    addr_to_str(target, r->target, sizeof(r->target));
    snprintf(r->host, sizeof(r->host), "%s", host != NULL ? host : "");
    if (build_template(b) < 0 || bench_open(b) < 0)
        goto out;

    uint64_t t0 = now_ns();
    uint64_t rec_start = t0 + (uint64_t)(o->warmup * 1e9);
    uint64_t end = rec_start + (uint64_t)(o->duration * 1e9);
    uint64_t next_scan = t0 + BENCH_SCAN_NS;
    double cpu0 = 0.0;

    b->issuing = true;
    b->recording = o->warmup <= 0.0;
    if (b->recording)
        cpu0 = cpu_now();
    for (unsigned i = 0; i < b->nslots; i++)
        slot_next(b, i, t0);
    for (unsigned i = 0; i < b->nsocks; i++)
        outq_flush(b, &b->socks[i]);

    uint64_t now = t0;
    while (now < end && !got_signal) {
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
        int n = epoll_wait(b->epfd, evs, (int)b->nsocks, (int)((wait_ns + 999999) / 1000000));
        if (n < 0 && errno != EINTR) {
            log_warn("epoll_wait");
            goto out;
        }
        for (int i = 0; i < n; i++)
            drain_socket(b, evs[i].data.u32);
        now = now_ns();
        if (now >= next_scan) {
            scan_timeouts(b, now);
            next_scan = now + BENCH_SCAN_NS;
        }
        for (unsigned i = 0; i < b->nsocks; i++)
            if (b->socks[i].out.n > 0)
                outq_flush(b, &b->socks[i]);
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
    rc = 0;
out:
    bench_close(b);
    free(b);
    return rc;
}

/* ---- results ---- */

int result_init(struct result *r, const char *label)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->label, sizeof(r->label), "%s", label);
    r->hist = calloc(HIST_BUCKETS, sizeof(*r->hist));
    if (r->hist == NULL) {
        log_warn("calloc");
        return -1;
    }
    return 0;
}

void result_free(struct result *r)
{
    free(r->hist);
    r->hist = NULL;
}

/* Accumulate round results (same target) into one. */
static void result_add(struct result *acc, const struct result *r)
{
    acc->sent += r->sent;
    acc->completed += r->completed;
    acc->ok += r->ok;
    acc->retrans += r->retrans;
    acc->failed += r->failed;
    acc->rst += r->rst;
    acc->unfinished += r->unfinished;
    acc->dup += r->dup;
    acc->malformed += r->malformed;
    acc->send_drops += r->send_drops;
    for (unsigned i = 0; i < 256; i++)
        acc->by_code[i] += r->by_code[i];
    acc->seconds += r->seconds;
    acc->cpu_seconds += r->cpu_seconds;
    acc->lat_sum_us += r->lat_sum_us;
    if (r->lat_max_us > acc->lat_max_us)
        acc->lat_max_us = r->lat_max_us;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        acc->hist[i] += r->hist[i];
    snprintf(acc->target, sizeof(acc->target), "%s", r->target);
    snprintf(acc->host, sizeof(acc->host), "%s", r->host);
}

double result_rps(const struct result *r)
{
    return r->seconds > 0 ? (double)r->completed / r->seconds : 0.0;
}

static double result_mean_ms(const struct result *r)
{
    return r->completed > 0 ? (double)r->lat_sum_us / (double)r->completed / 1000.0 : 0.0;
}

static void print_codes(FILE *out, const struct result *r, bool json)
{
    char cb[8];
    bool first = true;

    for (unsigned c = 0; c < 256; c++) {
        if (r->by_code[c] == 0 || (!json && COAP_CODE_CLASS(c) == 2))
            continue;
        if (json)
            fprintf(out, "%s\"%s\":%" PRIu64, first ? "" : ",", coap_code_str((uint8_t)c, cb),
                    r->by_code[c]);
        else
            fprintf(out, "%s%s=%" PRIu64, first ? "" : " ", coap_code_str((uint8_t)c, cb),
                    r->by_code[c]);
        first = false;
    }
    if (!json && first)
        fprintf(out, "none");
}

void print_human(FILE *out, const struct bench_opts *o, const struct result *r)
{
    fprintf(out,
            "%s %s%s%s %s %s: %.0f req/s, %" PRIu64 " responses (%" PRIu64 " 2.xx) in %.2f s, "
            "p50 %.3f p90 %.3f p99 %.3f max %.3f ms, %u in flight/%u sock, %" PRIu64
            " retransmitted, %" PRIu64 " failed, %" PRIu64 " unfinished, %" PRIu64 " dup, "
            "errors: ",
            r->label, r->target, r->host[0] ? " host=" : "", r->host, o->non ? "NON" : "CON",
            o->path, result_rps(r), r->completed, r->ok, r->seconds, hist_quantile(r, 0.50),
            hist_quantile(r, 0.90), hist_quantile(r, 0.99), r->lat_max_us / 1000.0, o->inflight,
            o->sockets, r->retrans, r->failed, r->unfinished, r->dup);
    print_codes(out, r, false);
    if (r->rst > 0)
        fprintf(out, " RST=%" PRIu64, r->rst);
    if (r->malformed > 0)
        fprintf(out, " malformed=%" PRIu64, r->malformed);
    if (r->send_drops > 0)
        fprintf(out, " send-drops=%" PRIu64, r->send_drops);
    fprintf(out, ", bench cpu %.0f%%\n",
            r->seconds > 0 ? 100.0 * r->cpu_seconds / r->seconds : 0.0);
}

void print_json_result(FILE *out, const struct bench_opts *o, const struct result *r)
{
    fprintf(out,
            "{\"label\":\"%s\",\"target\":\"%s\",\"host\":\"%s\",\"path\":\"%s\","
            "\"type\":\"%s\",\"inflight\":%u,\"sockets\":%u,\"seconds\":%.3f,"
            "\"sent\":%" PRIu64 ",\"responses\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"rps\":%.1f,"
            "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"mean\":%.3f,\"max\":%.3f},"
            "\"retransmissions\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"rst\":%" PRIu64
            ",\"unfinished\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"malformed\":%" PRIu64
            ",\"send_drops\":%" PRIu64 ",\"bench_cpu\":%.3f,\"codes\":{",
            r->label, r->target, r->host, o->path, o->non ? "NON" : "CON", o->inflight, o->sockets,
            r->seconds, r->sent, r->completed, r->ok, result_rps(r), hist_quantile(r, 0.50),
            hist_quantile(r, 0.90), hist_quantile(r, 0.99), result_mean_ms(r),
            r->lat_max_us / 1000.0, r->retrans, r->failed, r->rst, r->unfinished, r->dup,
            r->malformed, r->send_drops, r->seconds > 0 ? r->cpu_seconds / r->seconds : 0.0);
    print_codes(out, r, true);
    fprintf(out, "}}");
}

/* ---- command line ---- */

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0.0) || v > BENCH_MAX_DURATION)
        return -1;
    *out = v;
    return 0;
}

/* Host and path go verbatim into the JSON output: keep them plain. */
static bool printable_plain(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\')
            return false;
    return true;
}

static int parse_target(const char *s, struct rr_addr *a, const char *what)
{
    if (addr_parse(a, s, 5683) < 0) {
        fprintf(stderr, "rdrelay-bench: %s: not a numeric address: %s\n", what, s);
        return -1;
    }
    if (!addr_is_loopback(a)) {
        fprintf(stderr, "rdrelay-bench: %s: only loopback targets are allowed: %s\n", what, s);
        return -1;
    }
    return 0;
}

enum {
    OPT_TARGET = 256,
    OPT_VIA,
    OPT_HOST,
    OPT_PATH,
    OPT_COMPARE,
    OPT_ROUNDS,
    OPT_NON,
    OPT_TIMEOUT,
    OPT_MAXRETX,
    OPT_JSON,
    OPT_PRELOAD,
    OPT_LINKS,
    OPT_LOOKUPS,
    OPT_RSS_PID,
    OPT_LOOKUP_INFLIGHT,
    OPT_RATE,
    OPT_OBSERVERS,
    OPT_OBS_RATE,
};

/* 0 run, 1 exit 0 (help/version), 2 usage error */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    static const struct option lopts[] = {
        {"target", required_argument, NULL, OPT_TARGET},
        {"via", required_argument, NULL, OPT_VIA},
        {"host", required_argument, NULL, OPT_HOST},
        {"path", required_argument, NULL, OPT_PATH},
        {"compare", no_argument, NULL, OPT_COMPARE},
        {"rounds", required_argument, NULL, OPT_ROUNDS},
        {"inflight", required_argument, NULL, 'n'},
        {"sockets", required_argument, NULL, 's'},
        {"duration", required_argument, NULL, 'd'},
        {"count", required_argument, NULL, 'c'},
        {"warmup", required_argument, NULL, 'w'},
        {"non", no_argument, NULL, OPT_NON},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"max-retransmit", required_argument, NULL, OPT_MAXRETX},
        {"json", no_argument, NULL, OPT_JSON},
        {"preload", required_argument, NULL, OPT_PRELOAD},
        {"links", required_argument, NULL, OPT_LINKS},
        {"lookups", no_argument, NULL, OPT_LOOKUPS},
        {"rss-pid", required_argument, NULL, OPT_RSS_PID},
        {"observers", required_argument, NULL, OPT_OBSERVERS},
        {"obs-rate", required_argument, NULL, OPT_OBS_RATE},
        {"lookup-inflight", required_argument, NULL, OPT_LOOKUP_INFLIGHT},
        {"rate", required_argument, NULL, OPT_RATE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    bool have_target = false;
    unsigned long v;
    int c;

    memset(o, 0, sizeof(*o));
    o->inflight = 16;
    o->sockets = 1;
    o->duration = 5.0;
    o->warmup = 0.5;
    o->timeout_ms = 1000;
    o->max_retransmit = 4;
    o->rounds = 1;
    o->links = 10;
    o->lookup_inflight = 1;
    o->obs_rate = 1000;
    snprintf(o->path, sizeof(o->path), "/");

    while ((c = getopt_long(argc, argv, "n:s:d:c:w:hV", lopts, NULL)) != -1) {
        switch (c) {
        case OPT_TARGET:
            if (parse_target(optarg, &o->target, "--target") < 0)
                return 2;
            have_target = true;
            break;
        case OPT_VIA:
            if (parse_target(optarg, &o->via, "--via") < 0)
                return 2;
            o->have_via = true;
            break;
        case OPT_HOST:
            if (strlen(optarg) == 0 || strlen(optarg) > 255 || !printable_plain(optarg)) {
                fprintf(stderr, "rdrelay-bench: --host: 1 to 255 printable characters, "
                                "no quote or backslash\n");
                return 2;
            }
            snprintf(o->host, sizeof(o->host), "%s", optarg);
            break;
        case OPT_PATH:
            if (strlen(optarg) + 1 >= sizeof(o->path) || !printable_plain(optarg)) {
                fprintf(stderr, "rdrelay-bench: --path: too long, or not printable text "
                                "without quote or backslash\n");
                return 2;
            }
            o->path[0] = '/';
            memcpy(o->path + 1, optarg + (optarg[0] == '/'),
                   strlen(optarg) + 1 - (optarg[0] == '/'));
            break;
        case OPT_COMPARE:
            o->compare = true;
            break;
        case OPT_ROUNDS:
            if (parse_uint(optarg, 100, &v) < 0 || v == 0)
                goto bad;
            o->rounds = (unsigned)v;
            break;
        case 'n':
            if (parse_uint(optarg, BENCH_MAX_INFLIGHT, &v) < 0 || v == 0)
                goto bad;
            o->inflight = (unsigned)v;
            break;
        case 's':
            if (parse_uint(optarg, BENCH_MAX_SOCKETS, &v) < 0 || v == 0)
                goto bad;
            o->sockets = (unsigned)v;
            break;
        case 'd':
            if (parse_seconds(optarg, &o->duration) < 0 || o->duration <= 0.0)
                goto bad;
            break;
        case 'c':
            if (parse_uint(optarg, 1000000000ul, &v) < 0 || v == 0)
                goto bad;
            o->count = v;
            break;
        case 'w':
            if (parse_seconds(optarg, &o->warmup) < 0)
                goto bad;
            break;
        case OPT_NON:
            o->non = true;
            break;
        case OPT_TIMEOUT:
            if (parse_uint(optarg, 60000, &v) < 0 || v == 0)
                goto bad;
            o->timeout_ms = (unsigned)v;
            break;
        case OPT_MAXRETX:
            if (parse_uint(optarg, 10, &v) < 0)
                goto bad;
            o->max_retransmit = (unsigned)v;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_PRELOAD:
            if (parse_uint(optarg, 10000000ul, &v) < 0)
                goto bad;
            o->preload = v;
            break;
        case OPT_LINKS:
            if (parse_uint(optarg, 20, &v) < 0)
                goto bad;
            o->links = (unsigned)v;
            break;
        case OPT_LOOKUPS:
            o->lookups = true;
            break;
        case OPT_RATE:
            if (parse_uint(optarg, 10000000ul, &v) < 0)
                goto bad;
            o->rate = v;
            break;
        case OPT_LOOKUP_INFLIGHT:
            if (parse_uint(optarg, BENCH_MAX_INFLIGHT, &v) < 0 || v == 0)
                goto bad;
            o->lookup_inflight = (unsigned)v;
            break;
        case OPT_OBSERVERS:
            if (parse_uint(optarg, 12600ul, &v) < 0 || v == 0)
                goto bad;
            o->observers = (unsigned)v;
            break;
        case OPT_OBS_RATE:
            if (parse_uint(optarg, 1000000ul, &v) < 0 || v == 0)
                goto bad;
            o->obs_rate = v;
            break;
        case OPT_RSS_PID:
            if (parse_uint(optarg, 4194304ul, &v) < 0 || v == 0)
                goto bad;
            o->rss_pid = (int)v;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf("rdrelay-bench %s\n", RDRELAY_VERSION);
            return 1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rdrelay-bench: unexpected argument: %s\n", argv[optind]);
        return 2;
    }
    if (!have_target) {
        fprintf(stderr, "rdrelay-bench: --target is required (see --help)\n");
        return 2;
    }
    if (o->compare && (!o->have_via || o->host[0] == '\0')) {
        fprintf(stderr, "rdrelay-bench: --compare needs --via RELAY and --host NAME\n");
        return 2;
    }
    if (!o->compare && o->have_via) {
        fprintf(stderr, "rdrelay-bench: --via only makes sense with --compare\n");
        return 2;
    }
    if (o->sockets > o->inflight)
        o->sockets = o->inflight;
    return 0;
bad:
    fprintf(stderr, "rdrelay-bench: bad value for option: %s\n", optarg);
    return 2;
}

/* Run one target `rounds` times, or the compare pair alternately. */
static int run_all(const struct bench_opts *o)
{
    struct result total[2], round;
    unsigned nt = o->compare ? 2 : 1;
    int rc = 1;

    memset(total, 0, sizeof(total));
    memset(&round, 0, sizeof(round));
    const char *labels[2] = {o->compare ? "direct" : "bench", "proxied"};

    if (result_init(&total[0], labels[0]) < 0 || result_init(&total[1], labels[1]) < 0 ||
        result_init(&round, "") < 0)
        goto out;
    for (unsigned k = 0; k < o->rounds && !got_signal; k++) {
        for (unsigned t = 0; t < nt && !got_signal; t++) {
            uint32_t *h = round.hist;
            memset(&round, 0, sizeof(round));
            memset(h, 0, HIST_BUCKETS * sizeof(*h));
            round.hist = h;
            snprintf(round.label, sizeof(round.label), "%s", labels[t]);
            const struct rr_addr *tgt = t == 0 ? &o->target : &o->via;
            const char *host = o->compare ? (t == 0 ? NULL : o->host) : o->host;
            if (bench_run(o, tgt, host, &round) < 0)
                goto out;
            if (!o->json && o->rounds > 1) {
                snprintf(round.label, sizeof(round.label), "%s#%u", labels[t], k + 1);
                print_human(stdout, o, &round);
            }
            result_add(&total[t], &round);
        }
    }
    if (o->json) {
        printf("{\"version\":\"%s\",\"rounds\":%u", RDRELAY_VERSION, o->rounds);
        for (unsigned t = 0; t < nt; t++) {
            printf(",\"%s\":", t == 0 ? (o->compare ? "direct" : "result") : "proxied");
            print_json_result(stdout, o, &total[t]);
        }
    } else {
        for (unsigned t = 0; t < nt; t++)
            print_human(stdout, o, &total[t]);
    }
    if (o->compare) {
        double d = result_rps(&total[0]), p = result_rps(&total[1]);
        double ratio = d > 0 ? p / d : 0.0;
        double added = hist_quantile(&total[1], 0.5) - hist_quantile(&total[0], 0.5);
        if (o->json)
            printf(",\"ratio\":%.3f,\"added_p50_ms\":%.3f", ratio, added);
        else
            printf("ratio proxied/direct %.3f (%.0f / %.0f req/s), added p50 latency %.3f ms\n",
                   ratio, p, d, added);
    }
    if (o->json)
        printf("}\n");
    fflush(stdout);
    rc = 0;
    for (unsigned t = 0; t < nt; t++) {
        if (total[t].completed == 0 && !got_signal) {
            log_warnx("no answer from %s within the window", total[t].target);
            rc = 1;
        }
    }
out:
    result_free(&total[0]);
    result_free(&total[1]);
    result_free(&round);
    return rc;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    struct sigaction sa;

    log_init("rdrelay-bench", LOG_LVL_INFO);
    switch (parse_args(argc, argv, &o)) {
    case 0:
        break;
    case 1:
        return 0;
    default:
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (o.preload > 0 || o.lookups || o.observers)
        return rd_scenarios(&o);
    return run_all(&o);
}
