/*
 * fuzz_rd_params.c - libFuzzer target for rd-frontend's query strings
 * (rd-frontend/rd_params.c): the registration parameters (ep, d, lt, base,
 * proxy, ka, extra attributes) and lookup queries (filters, page, count)
 * taken from the Uri-Query options of a request (one per input line).
 * Invariants: an accepted ep/d passes the name check it was validated with,
 * lt is in 1..2^32-1, every kept string is NUL-terminated within its field,
 * sec= never becomes an attribute.
 */
#include <stddef.h>
#include <stdint.h>

#include "frontend.h"
#include "fuzz_check.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct coap_msg m;
    struct rd_params p;
    struct rd_query q;
    char err[160];

    fuzz_query_msg(&m, COAP_POST, data, size);
    if (rd_params_parse(&m, &p, err, sizeof(err)) == 0) {
        FUZZ_CHECK(memchr(p.ep, '\0', sizeof(p.ep)) && memchr(p.d, '\0', sizeof(p.d)));
        FUZZ_CHECK(memchr(p.base, '\0', sizeof(p.base)));
        if (p.has_ep)
            FUZZ_CHECK(rd_params_check_name("ep", p.ep, strlen(p.ep), err, sizeof(err)) == 0);
        if (p.has_d)
            FUZZ_CHECK(rd_params_check_name("d", p.d, strlen(p.d), err, sizeof(err)) == 0);
        if (p.has_lt)
            FUZZ_CHECK(p.lt >= 1);
        FUZZ_CHECK(p.nattrs <= RD_MAX_ATTRS);
        for (unsigned i = 0; i < p.nattrs; i++) {
            FUZZ_CHECK(memchr(p.attrs[i].name, '\0', RD_ATTR_NAME_MAX) &&
                       memchr(p.attrs[i].value, '\0', RD_ATTR_VALUE_MAX));
            FUZZ_CHECK(strcmp(p.attrs[i].name, "sec") != 0); /* a secret is never kept */
        }
        FUZZ_CHECK(memchr(p.sec, '\0', sizeof(p.sec)));
        (void)rd_is_dns_label(p.ep);
    } else {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)));
    }
    if (rd_query_parse(&m, &q, err, sizeof(err)) == 0) {
        FUZZ_CHECK(q.nf <= RD_MAX_ATTRS);
        for (unsigned i = 0; i < q.nf; i++)
            FUZZ_CHECK(memchr(q.f[i].name, '\0', RD_ATTR_NAME_MAX) &&
                       memchr(q.f[i].value, '\0', RD_ATTR_VALUE_MAX));
    }
    return 0;
}
