/*
 * ratelimit.c - token buckets for the relay-side limits (ratelimit.h).
 */
#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "proto.h"

#define LIM_PROBE 8

int rc_limits_init(struct rc_limits *l, const struct rr_config *cfg)
{
    uint32_t n = 64;

    memset(l, 0, sizeof(*l));
    l->src_rate = cfg->proxy_rate_source;
    l->src_burst = cfg->proxy_burst_source ? cfg->proxy_burst_source : 1;
    l->ep_rate = cfg->proxy_rate_endpoint;
    l->ep_burst = cfg->proxy_burst_endpoint ? cfg->proxy_burst_endpoint : 1;
    l->max_inflight_src = cfg->max_inflight_per_source;
    /* every downstream exchange slot holds at most one source */
    if (l->max_inflight_src &&
        srccount_init(&l->live_src, 2 * (cfg->max_exchanges ? cfg->max_exchanges : 4096), 0) < 0)
        return -1;
    l->max_obs = cfg->max_observe_per_client;
    if (l->max_obs &&
        srccount_init(&l->live_obs, 2 * (cfg->max_exchanges ? cfg->max_exchanges : 4096), 0) < 0)
        return -1;
    /* every upstream exchange slot holds at most one endpoint name */
    l->max_inflight_ep = cfg->max_inflight_per_endpoint;
    if (l->max_inflight_ep &&
        srccount_init(&l->live_ep, cfg->max_exchanges ? cfg->max_exchanges : 4096, 0) < 0)
        return -1;
    if (l->src_rate == 0 && l->ep_rate == 0)
        return 0;
    if (siphash_key_random(l->key) < 0) {
        log_warn("getrandom (limits key)");
        return -1;
    }
    while (n < cfg->limit_buckets && n < (1u << 24))
        n <<= 1;
    l->b = calloc(n, sizeof(*l->b));
    if (!l->b)
        return -1;
    l->mask = n - 1;
    return 0;
}

void rc_limits_free(struct rc_limits *l)
{
    free(l->b);
    l->b = NULL;
    srccount_free(&l->live_src);
    srccount_free(&l->live_ep);
    srccount_free(&l->live_obs);
}

uint32_t rc_bucket_take(struct rc_limits *l, const void *key, size_t keylen, uint32_t rate,
                        uint32_t burst, uint64_t now)
{
    uint64_t k = siphash_tag(l->key, key, keylen);
    struct rc_bucket *e = NULL, *v = NULL;
    uint64_t full = (uint64_t)burst * 1000;

    if (rate == 0 || !l->b)
        return 0;
    for (uint32_t i = 0; i < LIM_PROBE; i++) {
        struct rc_bucket *c = &l->b[((uint32_t)(k >> 32) + i) & l->mask];
        if (c->key == k) {
            e = c;
            break;
        }
        if (!v || c->key == 0 || (v->key != 0 && c->last_ms < v->last_ms))
            v = c;
    }
    if (!e) {
        /* new (or the idle-longest bucket reused): starts full */
        e = v;
        e->key = k;
        e->last_ms = now;
        e->tokens_m = (uint32_t)(full > UINT32_MAX ? UINT32_MAX : full);
    } else if (now > e->last_ms) {
        uint64_t t = e->tokens_m + (now - e->last_ms) * rate; /* rate/s = milli/ms */
        e->tokens_m = (uint32_t)(t > full ? full : t);
        e->last_ms = now;
    }
    if (e->tokens_m >= 1000) {
        e->tokens_m -= 1000;
        return 0;
    }
    uint64_t wait_ms = (1000 - e->tokens_m + rate - 1) / rate;
    return (uint32_t)((wait_ms + 999) / 1000);
}

uint32_t rc_limit_proxy(struct rc_limits *l, const struct rr_addr *src, const char *host,
                        uint64_t now)
{
    uint8_t k[ADDR_SOURCE_KEY_LEN];
    uint32_t wait;
    const char *what;

    /* a source is an IPv4 address or an IPv6 /64 (one subscriber) */
    addr_source_key(src, k);
    wait = rc_bucket_take(l, k, sizeof(k), l->src_rate, l->src_burst, now);
    if (wait) {
        l->hit_source++;
        what = "source";
    } else {
        /* endpoint names are short strings; a leading 'e' keeps them apart
         * from source keys (their first byte: 0, 4 or 6) */
        char ek[1 + RR_HOST_MAX];
        size_t hl = strnlen(host, RR_HOST_MAX - 1);
        ek[0] = 'e';
        memcpy(ek + 1, host, hl);
        wait = rc_bucket_take(l, ek, 1 + hl, l->ep_rate, l->ep_burst, now);
        if (!wait)
            return 0;
        l->hit_endpoint++;
        what = "endpoint";
    }
    if (l->last_log_ms == 0 || now - l->last_log_ms >= 10000) {
        char a[RR_ADDRSTRLEN];
        l->last_log_ms = now;
        log_info("rate limit per %s: request from %s for %s -> 5.03 Max-Age %u (%llu per source, "
                 "%llu per endpoint so far)",
                 what, addr_to_str(src, a, sizeof(a)), host, wait,
                 (unsigned long long)l->hit_source, (unsigned long long)l->hit_endpoint);
    }
    return wait;
}
