/*
 * rdrelay-bench.c - the CoAP load generator for rdrelay (BRIEF §6): command
 * line, results and main.
 *
 * Role: keeps N requests in flight (CON or NON GET, optional Uri-Host) against
 * one loopback target over UDP (coap://, the default), TCP (coap+tcp://) or
 * WebSocket (coap+ws://), for a duration or a bounded count, and reports
 * requests/s, latency percentiles, retransmissions and errors by response
 * code (one human line, or --json). --compare runs the origin directly and
 * then through the relay (Uri-Host = the proxy name) in the same invocation
 * and prints the throughput ratio and added p50 latency, the two figures
 * docs/benchmarks.md records; the two may use different transports. The
 * loop is bench_loop.c, the transports bench_udp.c and bench_stream.c;
 * --preload and --lookups are the Resource Directory scenarios (bench_rd.c),
 * --observers bench_obs.c, --registrants the connection scale (bench_conns.c).
 * Owns: the options (struct bench_opts) and the accumulated results.
 * Talks to: loopback addresses only, so the tool cannot be pointed at someone
 * else's server.
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
#include "bench_loop.h"
#include "coap_msg.h"
#include "log.h"

#define BENCH_MAX_DURATION 3600.0

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

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rdrelay-bench --target ADDR [options]\n"
            "       rdrelay-bench --compare --target ORIGIN --via RELAY --host NAME [options]\n"
            "\n"
            "CoAP load generator: keeps N GET requests in flight against a loopback target\n"
            "and reports requests/s, latency percentiles and errors by response code.\n"
            "\n"
            "  --target ADDR        target (origin) address, e.g. 127.0.0.1:5683 (loopback only);\n"
            "                       a scheme picks the transport: coap://ADDR (UDP, default),\n"
            "                       coap+tcp://ADDR (RFC 8323 TCP, one CSM, no message layer),\n"
            "                       coap+ws://ADDR (WebSocket at /.well-known/coap)\n"
            "  --via ADDR           --compare: the relay address (loopback only), with a scheme\n"
            "                       as --target; it may differ from the target's (across\n"
            "                       transports: client on one, registrant on another)\n"
            "  --host NAME          Uri-Host option (in --compare: sent to --via only)\n"
            "  --path PATH          Uri-Path (and ?query), default /\n"
            "  --compare            run direct (--target) then proxied (--via + --host) and\n"
            "                       print both and the ratio proxied/direct\n"
            "  --rounds N           --compare: alternate direct/proxied N times (default 1)\n"
            "  -n, --inflight N     requests in flight (default 16, max %d)\n"
            "  -s, --sockets N      UDP sockets (source ports), or TCP/WebSocket connections,\n"
            "                       to spread them over (default 1)\n"
            "  -d, --duration SEC   measurement window (default 5; cap with --count)\n"
            "  -c, --count N        stop after N recorded requests (bounded by --duration)\n"
            "  -w, --warmup SEC     unrecorded load before the window (default 0.5)\n"
            "      --non            send NON instead of CON requests\n"
            "      --timeout-ms MS  CON retransmission timeout, doubled per retry (default 1000;\n"
            "                       TCP/WS: a request fails after the whole span, unresent)\n"
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
            "\n"
            "Connection scale (--target is relay-tcp, coap+tcp://, or relay-ws, coap+ws://):\n"
            "      --registrants N  open N connections, register each (POST /rd?ep=c<i>\n"
            "                       &proxy=yes&lt=3600, -n registrations in flight) and serve\n"
            "                       GET /hello on it (\"hello from c<i>\"); then reach every\n"
            "                       --reach-every K-th of them by name (Uri-Host\n"
            "                       c<i>.--host) over one more connection, -n in flight, and\n"
            "                       check each answer; reports times, counts and the RSS of\n"
            "                       --rss-pid (the relay) and --rss-pid2 (rd-frontend)\n"
            "                       before and after (--host: the proxy domain)\n"
            "      --reach-every K  reach every K-th registrant (default 1: all of them)\n"
            "      --rss-pid2 PID   a second process's VmRSS around --registrants\n"
            "  -h, --help           this text\n"
            "  -V, --version        print the version\n"
            "\n"
            "Exit status: 0 ok, 1 runtime failure, 2 usage error.\n",
            BENCH_MAX_INFLIGHT);
}

/* ---- histogram ---- */

unsigned hist_index(uint32_t us)
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

/* ---- targets ---- */

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
    snprintf(acc->xport, sizeof(acc->xport), "%s", r->xport);
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
            "%s %s%s%s%s%s %s %s: %.0f req/s, %" PRIu64 " responses (%" PRIu64 " 2.xx) in %.2f s, "
            "p50 %.3f p90 %.3f p99 %.3f max %.3f ms, %u in flight/%u sock, %" PRIu64
            " retransmitted, %" PRIu64 " failed, %" PRIu64 " unfinished, %" PRIu64 " dup, "
            "errors: ",
            r->label, strcmp(r->xport, "udp") != 0 ? r->xport : "",
            strcmp(r->xport, "udp") != 0 ? ":" : "", r->target, r->host[0] ? " host=" : "", r->host,
            o->non ? "NON" : "CON", o->path, result_rps(r), r->completed, r->ok, r->seconds,
            hist_quantile(r, 0.50), hist_quantile(r, 0.90), hist_quantile(r, 0.99),
            r->lat_max_us / 1000.0, o->inflight, o->sockets, r->retrans, r->failed, r->unfinished,
            r->dup);
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
    fprintf(
        out,
        "{\"label\":\"%s\",\"transport\":\"%s\",\"target\":\"%s\",\"host\":\"%s\",\"path\":\"%s\","
        "\"type\":\"%s\",\"inflight\":%u,\"sockets\":%u,\"seconds\":%.3f,"
        "\"sent\":%" PRIu64 ",\"responses\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"rps\":%.1f,"
        "\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"mean\":%.3f,\"max\":%.3f},"
        "\"retransmissions\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"rst\":%" PRIu64
        ",\"unfinished\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"malformed\":%" PRIu64
        ",\"send_drops\":%" PRIu64 ",\"bench_cpu\":%.3f,\"codes\":{",
        r->label, r->xport, r->target, r->host, o->path, o->non ? "NON" : "CON", o->inflight,
        o->sockets, r->seconds, r->sent, r->completed, r->ok, result_rps(r), hist_quantile(r, 0.50),
        hist_quantile(r, 0.90), hist_quantile(r, 0.99), result_mean_ms(r), r->lat_max_us / 1000.0,
        r->retrans, r->failed, r->rst, r->unfinished, r->dup, r->malformed, r->send_drops,
        r->seconds > 0 ? r->cpu_seconds / r->seconds : 0.0);
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

/* [coap://|coap+tcp://|coap+ws://]ADDR[/]: the address and the transport. */
static int parse_target(const char *s, struct rr_addr *a, const struct bench_xport **x,
                        const char *what)
{
    static const struct {
        const char *scheme;
        const struct bench_xport *x;
        uint16_t port;
    } schemes[] = {
        {"coap://", &bench_xport_udp, 5683},
        {"coap+tcp://", &bench_xport_tcp, 5683},
        {"coap+ws://", &bench_xport_ws, 8683},
    };
    char buf[128];
    uint16_t port = 5683;

    *x = &bench_xport_udp;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i].scheme);
        if (strncmp(s, schemes[i].scheme, n) == 0) {
            *x = schemes[i].x;
            port = schemes[i].port;
            s += n;
            break;
        }
    }
    snprintf(buf, sizeof(buf), "%s", s);
    size_t bl = strlen(buf);
    if (bl > 0 && buf[bl - 1] == '/')
        buf[bl - 1] = '\0';
    s = buf;
    if (addr_parse(a, s, port) < 0) {
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
    OPT_REGISTRANTS,
    OPT_REACH_EVERY,
    OPT_RSS_PID2,
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
        {"registrants", required_argument, NULL, OPT_REGISTRANTS},
        {"reach-every", required_argument, NULL, OPT_REACH_EVERY},
        {"rss-pid2", required_argument, NULL, OPT_RSS_PID2},
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
    o->reach_every = 1;
    o->target_x = o->via_x = &bench_xport_udp;
    snprintf(o->path, sizeof(o->path), "/");

    while ((c = getopt_long(argc, argv, "n:s:d:c:w:hV", lopts, NULL)) != -1) {
        switch (c) {
        case OPT_TARGET:
            if (parse_target(optarg, &o->target, &o->target_x, "--target") < 0)
                return 2;
            have_target = true;
            break;
        case OPT_VIA:
            if (parse_target(optarg, &o->via, &o->via_x, "--via") < 0)
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
        case OPT_REGISTRANTS:
            if (parse_uint(optarg, 1000000ul, &v) < 0 || v == 0)
                goto bad;
            o->registrants = v;
            break;
        case OPT_REACH_EVERY:
            if (parse_uint(optarg, 1000000ul, &v) < 0 || v == 0)
                goto bad;
            o->reach_every = v;
            break;
        case OPT_RSS_PID2:
            if (parse_uint(optarg, 4194304ul, &v) < 0 || v == 0)
                goto bad;
            o->rss_pid2 = (int)v;
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
    if ((o->preload > 0 || o->lookups || o->observers) && o->target_x != &bench_xport_udp) {
        fprintf(stderr, "rdrelay-bench: the RD scenarios run over coap:// (UDP) only\n");
        return 2;
    }
    if (o->registrants > 0 && o->target_x == &bench_xport_udp) {
        fprintf(stderr, "rdrelay-bench: --registrants needs a coap+tcp:// or coap+ws:// target\n");
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
            const struct bench_xport *x = t == 0 ? o->target_x : o->via_x;
            const char *host = o->compare ? (t == 0 ? NULL : o->host) : o->host;
            if (bench_run(o, x, tgt, host, &round) < 0)
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
    if (o.registrants > 0)
        return conns_scenario(&o);
    if (o.preload > 0 || o.lookups || o.observers)
        return rd_scenarios(&o);
    return run_all(&o);
}
