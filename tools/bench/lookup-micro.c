/*
 * lookup-micro.c - rdrelay-lookup-micro: rd-frontend's registration and
 * lookup cost measured in process, without the network and the other
 * processes (issue 21). It builds a frontend on a SQLite file (WAL,
 * synchronous=FULL, one transaction per 512 requests as main.c batches),
 * registers N endpoints through rd_handle_request (the data of
 * bench_rd_data.c), reports registrations/s and the RSS growth per
 * registration, then runs every lookup scenario --iters times through
 * rd_handle_request (parse, lookup, Block2, serialise) and reports the
 * service time p50/p99/max; then the expiry tick's cost at N; finally
 * Observe at scale: 1,000 observers of ?et=et-<k> (100 endpoints each at
 * 100,000) and one re-registration per round, the time from the change to
 * the notifications queued (observe_flush), with only the observers the
 * change can affect re-evaluated and, for comparison, all of them.
 * Owns: the frontend and its temp database. Talks to rd-frontend's core
 * (rdfrontend_core) directly.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "bench.h"
#include "bench_rd.h"
#include "config.h"
#include "frontend.h"
#include "log.h"

#define MICRO_BATCH 512

struct micro {
    struct frontend fe;
    unsigned long n;
    unsigned links, iters;
    bool json;
    char db[64];
    uint64_t *t; /* iters samples, ns */
};

static uint64_t ns_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static double pct_us(uint64_t *t, unsigned n, double q)
{
    unsigned i = (unsigned)(q * (n - 1) + 0.5);

    return t[i] / 1000.0;
}

/* A GET of path?query as a CoAP/UDP datagram. */
static ssize_t build_get(const char *pathq, uint8_t *buf, size_t cap)
{
    struct coap_msg m;
    char tmp[512], *q, *save = NULL;

    coap_msg_init(&m);
    m.type = COAP_T_CON;
    m.code = COAP_GET;
    m.tkl = 2;
    snprintf(tmp, sizeof(tmp), "%s", pathq);
    q = strchr(tmp, '?');
    if (q)
        *q++ = '\0';
    for (char *s = strtok_r(tmp, "/", &save); s; s = strtok_r(NULL, "/", &save))
        coap_msg_add_opt(&m, COAP_OPT_URI_PATH, s, (uint16_t)strlen(s));
    save = NULL;
    for (char *s = q ? strtok_r(q, "&", &save) : NULL; s; s = strtok_r(NULL, "&", &save))
        coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, s, (uint16_t)strlen(s));
    return coap_msg_serialize_udp(&m, buf, cap);
}

static void report(struct micro *mc, const char *label, const char *path, size_t bytes);

static int preload(struct micro *mc, const struct rr_peer *peer, int64_t *mid_id)
{
    uint8_t buf[COAP_MSG_MAX_UDP];
    struct strbuf out;
    long rss0 = bench_rss_kb(getpid());
    uint64_t t0 = ns_now(), tc;
    unsigned nc = 0;
    int ret = -1;

    sb_init(&out);
    for (uint32_t i = 0; i < mc->n; i++) {
        ssize_t n = bench_rd_registration(i, mc->links, (uint16_t)i, buf, sizeof(buf));
        if (n < 0)
            goto out;
        if (i % MICRO_BATCH == 0 && store_begin(mc->fe.store) < 0)
            goto out;
        sb_reset(&out);
        if (rd_handle_request(&mc->fe, (const uint8_t *)"udp", 3, i + 1, peer, buf, (size_t)n,
                              &out) != RD_DONE)
            goto out;
        if ((i + 1) % MICRO_BATCH == 0) {
            /* the commit (fsync, and SQLite's WAL checkpoint when due) */
            tc = ns_now();
            if (store_commit(mc->fe.store) < 0)
                goto out;
            if (nc < mc->iters)
                mc->t[nc++] = ns_now() - tc;
        }
        fe_outbox_clear(&mc->fe);
    }
    if (store_commit(mc->fe.store) < 0)
        goto out;
    double secs = (ns_now() - t0) / 1e9;
    long rss1 = bench_rss_kb(getpid());
    char ep[24];
    snprintf(ep, sizeof(ep), "b%07lu", mc->n / 2);
    const struct rd_reg *m = registry_by_ep(&mc->fe.reg, ep);
    *mid_id = m ? m->id : 1;
    if (mc->json)
        printf("{\"scenario\":\"register\",\"n\":%lu,\"links\":%u,\"seconds\":%.3f,"
               "\"rate\":%.0f,\"rss_kb_before\":%ld,\"rss_kb_after\":%ld,"
               "\"bytes_per_registration\":%.0f}\n",
               mc->n, mc->links, secs, mc->n / secs, rss0, rss1,
               (rss1 - rss0) * 1024.0 / (double)mc->n);
    else
        printf("register %lu x %u links: %.2f s, %.0f/s durable (batches of %d, WAL, "
               "synchronous=FULL); RSS %ld -> %ld kB: %.0f bytes per registration\n",
               mc->n, mc->links, secs, mc->n / secs, MICRO_BATCH, rss0, rss1,
               (rss1 - rss0) * 1024.0 / (double)mc->n);
    if (nc > 0) {
        unsigned saved = mc->iters;
        mc->iters = nc;
        report(mc, "commit", "COMMIT of a batch of 512 registrations", 0);
        mc->iters = saved;
    }
    ret = 0;
out:
    sb_free(&out);
    return ret;
}

static void report(struct micro *mc, const char *label, const char *path, size_t bytes)
{
    qsort(mc->t, mc->iters, sizeof(*mc->t), cmp_u64);
    if (mc->json)
        printf("{\"scenario\":\"%s\",\"n\":%lu,\"path\":\"%s\",\"iters\":%u,\"bytes\":%zu,"
               "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
               label, mc->n, path, mc->iters, bytes, pct_us(mc->t, mc->iters, 0.5),
               pct_us(mc->t, mc->iters, 0.99), mc->t[mc->iters - 1] / 1000.0);
    else
        printf("%-10s %-60s %5zu B  p50 %7.1f us  p99 %7.1f us  max %7.1f us\n", label, path, bytes,
               pct_us(mc->t, mc->iters, 0.5), pct_us(mc->t, mc->iters, 0.99),
               mc->t[mc->iters - 1] / 1000.0);
    fflush(stdout);
}

static int lookups(struct micro *mc, const struct rr_peer *peer, int64_t mid_id)
{
    char label[24], path[256];
    uint8_t buf[COAP_MSG_MAX_UDP];
    struct strbuf out;

    sb_init(&out);
    for (unsigned k = 0;
         bench_rd_lookup(k, mc->n, mid_id, label, sizeof(label), path, sizeof(path)) == 0; k++) {
        ssize_t n = build_get(path, buf, sizeof(buf));
        size_t bytes = 0;
        if (n < 0)
            continue;
        for (unsigned it = 0; it < mc->iters; it++) {
            uint64_t t0 = ns_now();
            sb_reset(&out);
            rd_handle_request(&mc->fe, (const uint8_t *)"udp", 3, 1, peer, buf, (size_t)n, &out);
            mc->t[it] = ns_now() - t0;
            bytes = out.len;
        }
        report(mc, label, path, bytes);
    }
    /* the expiry tick with nothing due, four times a second in main.c */
    for (unsigned it = 0; it < mc->iters; it++) {
        uint64_t t0 = ns_now();
        mc->fe.now += 1;
        rd_tick(&mc->fe);
        mc->t[it] = ns_now() - t0;
    }
    report(mc, "tick", "rd_tick (nothing due)", 0);
    sb_free(&out);
    return 0;
}

#define MICRO_OBSERVERS 1000

/* One re-registration and observe_flush per round; all: every observer
 * re-evaluated (as before the index recorded which keys changed). */
static void observe_rounds(struct micro *mc, const struct rr_peer *peer, bool all)
{
    uint8_t buf[COAP_MSG_MAX_UDP];
    struct strbuf out;
    unsigned iters = mc->iters < 200 ? mc->iters : 200; /* "all" is slow */

    sb_init(&out);
    store_begin(mc->fe.store);
    for (unsigned it = 0; it < iters; it++) {
        uint32_t i = (uint32_t)((it * 7919u) % mc->n);
        ssize_t n = bench_rd_registration(i, mc->links, (uint16_t)it, buf, sizeof(buf));
        uint64_t t0 = ns_now();
        sb_reset(&out);
        rd_handle_request(&mc->fe, (const uint8_t *)"udp", 3, it + 1, peer, buf, (size_t)n, &out);
        if (all)
            mc->fe.reg.idx.touched_all = true;
        observe_flush(&mc->fe);
        mc->t[it] = ns_now() - t0;
        fe_outbox_clear(&mc->fe);
    }
    store_commit(mc->fe.store);
    sb_free(&out);
    unsigned saved = mc->iters;
    mc->iters = iters;
    report(mc, all ? "obs-all" : "observe",
           all ? "re-registration + every observer re-run (as before)"
               : "re-registration + observe_flush, 1000 observers",
           0);
    mc->iters = saved;
}

static int observers(struct micro *mc, const struct rr_peer *peer)
{
    uint8_t buf[COAP_MSG_MAX_UDP], ob[4];
    struct strbuf out;
    char q[32];

    sb_init(&out);
    for (unsigned k = 0; k < MICRO_OBSERVERS; k++) {
        struct coap_msg m;
        coap_msg_init(&m);
        m.type = COAP_T_CON;
        m.code = COAP_GET;
        m.tkl = 2;
        m.token[0] = (uint8_t)(k >> 8);
        m.token[1] = (uint8_t)k;
        coap_msg_add_opt_uint(&m, COAP_OPT_OBSERVE, 0, ob);
        coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "rd-lookup", 9);
        coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "ep", 2);
        snprintf(q, sizeof(q), "et=et-%u", k);
        coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, q, (uint16_t)strlen(q));
        ssize_t n = coap_msg_serialize_udp(&m, buf, sizeof(buf));
        /* each observer from a /64 of its own: observers per source are limited */
        struct rr_peer op = *peer;
        char a6[64];
        snprintf(a6, sizeof(a6), "[2001:db8:%x::1]:40000", k + 1);
        addr_parse(&op.remote, a6, 5683);
        sb_reset(&out);
        if (n < 0 || rd_handle_request(&mc->fe, (const uint8_t *)"udp", 3, k + 1, &op, buf,
                                       (size_t)n, &out) != RD_DONE)
            break;
    }
    sb_free(&out);
    if (mc->fe.nobservers != MICRO_OBSERVERS) {
        fprintf(stderr, "lookup-micro: %zu observers registered\n", mc->fe.nobservers);
        return -1;
    }
    observe_rounds(mc, peer, false);
    observe_rounds(mc, peer, true);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: rdrelay-lookup-micro [-n REGISTRATIONS] [--links L] [--iters K] [--json]\n"
               "\n"
               "rd-frontend's registration and lookup cost in process (no network): registers\n"
               "N endpoints through the request handler on a temporary SQLite file (durable,\n"
               "batches of 512), prints registrations/s and RSS per registration, then the\n"
               "service time p50/p99/max of every lookup scenario (K runs each), of the\n"
               "expiry tick, and of a change with 1,000 Observe lookups registered.\n"
               "  -n N         registrations (default 10000)\n"
               "  --links L    links per registration (default 10)\n"
               "  --iters K    runs per lookup scenario (default 2000)\n"
               "  --json       one JSON object per line\n");
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"links", required_argument, NULL, 'l'},
        {"iters", required_argument, NULL, 'i'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct micro *mc = calloc(1, sizeof(*mc));
    struct rr_config cfg;
    struct rr_peer peer;
    int64_t mid_id = 1;
    int c, fd, ret = 1;

    if (mc == NULL)
        return 1;
    mc->n = 10000;
    mc->links = 10;
    mc->iters = 2000;
    while ((c = getopt_long(argc, argv, "n:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            mc->n = strtoul(optarg, NULL, 10);
            break;
        case 'l':
            mc->links = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'i':
            mc->iters = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'j':
            mc->json = true;
            break;
        case 'h':
            usage(stdout);
            free(mc);
            return 0;
        default:
            usage(stderr);
            free(mc);
            return 2;
        }
    }
    if (mc->n == 0 || mc->iters == 0 || mc->links > 20) {
        usage(stderr);
        free(mc);
        return 2;
    }
    log_init("lookup-micro", LOG_LVL_WARN);
    mc->t = calloc(mc->iters, sizeof(*mc->t));
    snprintf(mc->db, sizeof(mc->db), "/tmp/rdrelay-micro-XXXXXX");
    fd = mkstemp(mc->db);
    if (mc->t == NULL || fd < 0)
        goto out;
    close(fd);
    config_defaults(&cfg);
    cfg.max_regs_per_source = 0; /* every registration comes from one peer */
    cfg.max_registrations = 0;
    if (frontend_init(&mc->fe, &cfg, mc->db) < 0)
        goto out;
    memset(&peer, 0, sizeof(peer));
    peer.transport = RR_TRANSPORT_UDP;
    snprintf(peer.relay, sizeof(peer.relay), "udp");
    addr_parse(&peer.remote, "127.0.0.1:40000", 5683);
    addr_parse(&peer.local, "127.0.0.1:5683", 5683);
    if (preload(mc, &peer, &mid_id) == 0 && lookups(mc, &peer, mid_id) == 0 &&
        observers(mc, &peer) == 0)
        ret = 0;
    frontend_free(&mc->fe);
out:
    if (mc->db[0] && fd >= 0) {
        char side[80];
        unlink(mc->db);
        snprintf(side, sizeof(side), "%s-wal", mc->db);
        unlink(side);
        snprintf(side, sizeof(side), "%s-shm", mc->db);
        unlink(side);
    }
    free(mc->t);
    free(mc);
    return ret;
}
