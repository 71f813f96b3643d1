/*
 * coap_opts.c - the IANA "CoAP Option Numbers" registry as rdrelay knows it
 * (coap_opts.h). Owns the static, sorted table of registered options.
 * Talks to the configuration only to read the operator's extra numbers.
 * Reserved entries (0, 128, 132, 136, 140) are not options and are absent.
 */
#include "coap_opts.h"

#include <stddef.h>

#include "config.h"

struct coap_opt_info {
    uint16_t num;
    const char *name;
};

/* Sorted by number (binary search). Source: IANA core-parameters,
 * "CoAP Option Numbers". */
static const struct coap_opt_info coap_opt_registry[] = {
    {1, "If-Match"},
    {3, "Uri-Host"},
    {4, "ETag"},
    {5, "If-None-Match"},
    {6, "Observe"},
    {7, "Uri-Port"},
    {8, "Location-Path"},
    {9, "OSCORE"},
    {11, "Uri-Path"},
    {12, "Content-Format"},
    {14, "Max-Age"},
    {15, "Uri-Query"},
    {16, "Hop-Limit"},
    {17, "Accept"},
    {19, "Q-Block1"},
    {20, "Location-Query"},
    {21, "EDHOC"},
    {23, "Block2"},
    {27, "Block1"},
    {28, "Size2"},
    {31, "Q-Block2"},
    {35, "Proxy-Uri"},
    {39, "Proxy-Scheme"},
    {60, "Size1"},
    {252, "Echo"},
    {258, "No-Response"},
    {292, "Request-Tag"},
    {2049, "OCF-Accept-Content-Format-Version"},
    {2053, "OCF-Content-Format-Version"},
    {2055, "SCP82-Params"},
};

#define N_OPTS (sizeof(coap_opt_registry) / sizeof(coap_opt_registry[0]))

const char *coap_opt_name(uint16_t num)
{
    size_t lo = 0, hi = N_OPTS;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (coap_opt_registry[mid].num == num)
            return coap_opt_registry[mid].name;
        if (coap_opt_registry[mid].num < num)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool coap_opt_is_known(uint16_t num, const struct rr_config *cfg)
{
    if (coap_opt_name(num))
        return true;
    if (!cfg)
        return false;
    for (unsigned i = 0; i < cfg->n_extra_options && i < RR_MAX_EXTRA_OPTIONS; i++)
        if (cfg->extra_option_nums[i] == num)
            return true;
    return false;
}
