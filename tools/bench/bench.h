/*
 * bench.h - what rdrelay-bench's parts share: the options, one run's
 * result (counts and latency histogram), and the measurement loop
 * (rdrelay-bench.c) that bench_rd.c's RD scenarios (preload, lookups)
 * drive with their own request paths.
 */
#ifndef RDRELAY_BENCH_H
#define RDRELAY_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"

/* Latency histogram: 1 us buckets below 10 ms, 100 us buckets up to 10 s. */
#define HIST_FINE 10000u
#define HIST_COARSE 100000u
#define HIST_BUCKETS (HIST_FINE + HIST_COARSE + 1)

struct result {
    char label[32];
    char xport[8]; /* udp, tcp, ws */
    char target[RR_ADDRSTRLEN];
    char host[256];
    uint64_t sent;      /* requests issued while recording (first transmissions) */
    uint64_t completed; /* responses matched to the current request */
    uint64_t ok;        /* of those, class 2.xx */
    uint64_t retrans;   /* retransmissions (each one a presumed loss) */
    uint64_t failed;    /* given up after --max-retransmit, or RST */
    uint64_t rst;
    uint64_t unfinished; /* still in flight when the window closed */
    uint64_t dup;        /* answers to an earlier request / unknown token */
    uint64_t malformed;
    uint64_t send_drops; /* sendmmsg could not take a datagram (EAGAIN) */
    uint64_t by_code[256];
    double seconds;     /* measurement window */
    double cpu_seconds; /* user+sys of this process during the window */
    uint64_t lat_sum_us;
    uint32_t lat_max_us;
    uint32_t *hist; /* HIST_BUCKETS counts */
};

struct bench_xport;

struct bench_opts {
    struct rr_addr target;              /* direct target (or the only one) */
    struct rr_addr via;                 /* --compare: the relay */
    const struct bench_xport *target_x; /* by the URI scheme: udp, tcp, ws */
    const struct bench_xport *via_x;
    bool have_via;
    char host[256];
    char path[256];
    unsigned inflight;
    unsigned sockets;
    double duration;
    double warmup;
    uint64_t count;
    unsigned timeout_ms;
    unsigned max_retransmit;
    unsigned rounds;
    bool non;
    bool json;
    bool compare;
    bool quiet;
    /* RD scenarios (bench_rd.c) */
    unsigned long preload; /* registrations to create first (POST /rd) */
    unsigned links;        /* links per preloaded registration */
    bool lookups;          /* run the lookup scenario table */
    unsigned lookup_inflight;
    unsigned long rate;     /* --rate: preload registrations per second, 0 = flat out */
    int rss_pid;            /* report this process's RSS around the preload */
    unsigned observers;     /* --observers: Observe lookups to register (bench_obs.c) */
    unsigned long obs_rate; /* --obs-rate: re-registrations per second meanwhile */
    /* connection scale (bench_conns.c) */
    unsigned long registrants; /* --registrants: TCP/WS registrants to hold */
    unsigned long reach_every; /* --reach-every K: reach every K-th by name (1 = all) */
    int rss_pid2;              /* --rss-pid2: a second process's RSS (rd-frontend) */
};

/* One measured run of o->path against target over transport x (warm-up,
 * window; bench_loop.c). 0 / -1. */
int bench_run(const struct bench_opts *o, const struct bench_xport *x, const struct rr_addr *target,
              const char *host, struct result *r);
/* The histogram bucket of a latency in us. */
unsigned hist_index(uint32_t us);
int result_init(struct result *r, const char *label);
void result_free(struct result *r);
/* Latency (ms) below which a fraction q of the recorded requests finished. */
double hist_quantile(const struct result *r, double q);
double result_rps(const struct result *r);
void print_human(FILE *out, const struct bench_opts *o, const struct result *r);
void print_json_result(FILE *out, const struct bench_opts *o, const struct result *r);
uint64_t bench_now_ns(void);
/* SIGINT/SIGTERM seen. */
bool bench_interrupted(void);

/* bench_rd.c: --preload and --lookups. 0 ok, 1 failure. */
int rd_scenarios(const struct bench_opts *o);
/* bench_obs.c: --observers. 0 ok, 1 failure. */
int obs_scenario(const struct bench_opts *o);
/* bench_conns.c: --registrants. 0 ok, 1 failure. */
int conns_scenario(const struct bench_opts *o);
/* VmRSS of pid in KiB from /proc, -1 if unknown (bench_proc.c). */
long bench_rss_kb(int pid);

#endif
