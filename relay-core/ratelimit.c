/*
 * ratelimit.c - token buckets for the relay-side limits (ratelimit.h).
 */
#include "ratelimit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

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
    if (l->src_rate == 0 && l->ep_rate == 0)
        return 0;
    if (getrandom(l->key, sizeof(l->key), 0) != (ssize_t)sizeof(l->key)) {
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
}

uint32_t rc_bucket_take(struct rc_limits *l, const void *key, size_t keylen, uint32_t rate,
                        uint32_t burst, uint64_t now)
{
    uint64_t k = siphash24(l->key, key, keylen) | 1; /* never 0 (empty) */
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
    uint8_t k[1 + 8];
    size_t kl = 1;
    uint32_t wait;
    const char *what;

    /* a source is an IPv4 address or an IPv6 /64 (one subscriber) */
    k[0] = (uint8_t)src->ss.ss_family;
    if (src->ss.ss_family == AF_INET) {
        memcpy(k + 1, &((const struct sockaddr_in *)&src->ss)->sin_addr, 4);
        kl += 4;
    } else if (src->ss.ss_family == AF_INET6) {
        memcpy(k + 1, &((const struct sockaddr_in6 *)&src->ss)->sin6_addr, 8);
        kl += 8;
    }
    wait = rc_bucket_take(l, k, kl, l->src_rate, l->src_burst, now);
    if (wait) {
        l->hit_source++;
        what = "source";
    } else {
        /* endpoint names are short strings; a leading 'e' keeps them apart
         * from source keys */
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
