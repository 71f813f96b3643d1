/*
 * fuzz_check.h - what the fuzz targets share: an invariant check that stops
 * the run with a message (abort, so libFuzzer keeps the input), and the
 * comparison of two parsed CoAP messages. Header-only, test code only.
 */
#ifndef RDRELAY_FUZZ_CHECK_H
#define RDRELAY_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coap_msg.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Same message (type and message id only when udp): parse -> serialise ->
 * parse must give this. */
static inline void fuzz_check_same_msg(const struct coap_msg *a, const struct coap_msg *b, int udp)
{
    if (udp) {
        FUZZ_CHECK(a->type == b->type);
        FUZZ_CHECK(a->msgid == b->msgid);
    }
    FUZZ_CHECK(a->code == b->code);
    FUZZ_CHECK(a->tkl == b->tkl);
    FUZZ_CHECK(memcmp(a->token, b->token, a->tkl) == 0);
    FUZZ_CHECK(a->nopts == b->nopts);
    for (unsigned i = 0; i < a->nopts; i++) {
        FUZZ_CHECK(a->opts[i].num == b->opts[i].num);
        FUZZ_CHECK(a->opts[i].len == b->opts[i].len);
        FUZZ_CHECK(a->opts[i].len == 0 ||
                   memcmp(a->opts[i].val, b->opts[i].val, a->opts[i].len) == 0);
    }
    FUZZ_CHECK(a->payload_len == b->payload_len);
    FUZZ_CHECK(a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0);
}

#endif
