/*
 * ratelimit.h - relay-side rate limits, one copy for every transport (issue
 * 19): proxied requests per second per source (IPv4 address, IPv6 /64) and
 * per endpoint name, as token buckets (rate per second, burst). Over a
 * limit a request gets 5.03 with Max-Age = the seconds until the next
 * token (RFC 7252 §5.9.3.4), a counter and a log line at most every 10 s.
 * Buckets live in one fixed-size open-addressing table (limit_buckets),
 * allocated at start, keyed by SipHash under a random per-start key (no
 * one can aim keys at one chain); when a probe window is full the bucket
 * idle longest is reused, which only ever hands its owner a fresh, full
 * bucket: no limit lets one client take another's allowance away. (That
 * reuse is why buckets are not in the shared count table, common/srccount.h,
 * which must never evict; they share its source key, addr_source_key, and
 * its SipHash tag.) The live counts of the relay limits (srccount tables, see rc_count_release in
 * core.h) are kept here too. Owns: struct rc_limits (embedded in struct relay_core). No per-request
 * allocation.
 */
#ifndef RDRELAY_RC_RATELIMIT_H
#define RDRELAY_RC_RATELIMIT_H

#include <stdint.h>

#include "addr.h"
#include "srccount.h" /* the live counts (core.h rc_limits) */
#include "ratelog.h"
#include "siphash.h"

struct rr_config;

struct rc_bucket {
    uint64_t key;      /* 0 = empty */
    uint64_t last_ms;  /* last refill */
    uint32_t tokens_m; /* milli-tokens */
};

struct rc_limits {
    uint8_t key[SIPHASH_KEY_LEN];
    struct rc_bucket *b;
    uint32_t mask;
    uint32_t src_rate, src_burst, ep_rate, ep_burst; /* 0 rate = off */
    uint64_t last_log_ms;
    uint64_t hit_source, hit_endpoint; /* counters */
    /* exchanges in flight per source (max_inflight_per_source, 0 = off):
     * counted in rc_dx_count_source, released in rc_dx_put */
    struct srccount live_src;
    uint32_t max_inflight_src;
    uint64_t hit_inflight_source;
    struct ratelog inflight_log;
    /* exchanges in flight per endpoint name (max_inflight_per_endpoint):
     * counted in rc_ux_count_endpoint, released in rc_ux_put */
    struct srccount live_ep;
    uint32_t max_inflight_ep;
    uint64_t hit_inflight_endpoint;
    struct ratelog inflight_ep_log;
    /* proxied observations per client source (max_observe_per_client):
     * rc_dx_limit_observe, released in rc_dx_put */
    struct srccount live_obs;
    uint32_t max_obs;
    uint64_t hit_observe;
    struct ratelog observe_log;
};

/* From proxy_rate_source, proxy_burst_source, proxy_rate_endpoint,
 * proxy_burst_endpoint, limit_buckets, max_inflight_per_source and
 * max_inflight_per_endpoint, max_observe_per_client (their tables sized for every exchange slot).
 * 0 / -1. */
int rc_limits_init(struct rc_limits *l, const struct rr_config *cfg);
void rc_limits_free(struct rc_limits *l);

/* Take one token from the bucket of key (any bytes); 0 = go, else the
 * seconds until a token is there (>= 1). */
uint32_t rc_bucket_take(struct rc_limits *l, const void *key, size_t keylen, uint32_t rate,
                        uint32_t burst, uint64_t now);

/* A proxied request from src for endpoint host: 0 = go, else the Max-Age
 * of the 5.03 to answer with (counted and logged here). */
uint32_t rc_limit_proxy(struct rc_limits *l, const struct rr_addr *src, const char *host,
                        uint64_t now);

#endif
