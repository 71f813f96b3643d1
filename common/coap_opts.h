/*
 * coap_opts.h - the IANA CoAP option registry as rdrelay knows it.
 * Owns the static table of known options (number, name, and the critical /
 * unsafe / no-cache-key bits that follow from the number, RFC 7252 §5.4.6)
 * plus the operator's extra known numbers from the configuration.
 */
#ifndef RDRELAY_COAP_OPTS_H
#define RDRELAY_COAP_OPTS_H

#include <stdbool.h>
#include <stdint.h>

struct rr_config;

static inline bool coap_opt_is_critical(uint16_t num)
{
    return num & 1;
}
static inline bool coap_opt_is_unsafe(uint16_t num)
{
    return num & 2;
}

/* Name from the registry, or NULL if not registered. */
const char *coap_opt_name(uint16_t num);
/* Registered in IANA's table, or added by the operator (extra_options). */
bool coap_opt_is_known(uint16_t num, const struct rr_config *cfg);

#endif
