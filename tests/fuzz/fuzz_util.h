/*
 * fuzz_util.h - building inputs for the rd-frontend targets: a request
 * whose Uri-Query options are the input's lines. Header-only, test code.
 */
#ifndef RDRELAY_FUZZ_UTIL_H
#define RDRELAY_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "coap_msg.h"

/* m gets one Uri-Query per '\n'-separated piece of data (pointing into it),
 * as many as fit. */
static inline void fuzz_query_msg(struct coap_msg *m, uint8_t code, const uint8_t *data,
                                  size_t size)
{
    size_t start = 0;

    coap_msg_init(m);
    m->code = code;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != '\n')
            continue;
        if (i - start <= 0xffff &&
            coap_msg_add_opt(m, COAP_OPT_URI_QUERY, data + start, (uint16_t)(i - start)) != 0)
            break;
        start = i + 1;
    }
}

#endif
