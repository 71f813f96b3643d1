/*
 * bench_rd_data.c - the data the RD benchmarks use, shared by rdrelay-bench
 * (over the network) and rdrelay-lookup-micro (in process): registration
 * number i as a CoAP POST /rd, and the table of lookup scenarios.
 * The data is shaped so that filters select known fractions: ep b<i>, d
 * sector-<i%100>, et et-<i%1000>, an explicit base coap://[2001:db8::<i>]:5683,
 * links </s/<j>>;rt="rt-<(i+j)%500>";if="if-<j>";ct=0 and, on the first,
 * anchor="/s". Owns nothing; talks to nothing.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "bench_rd.h"
#include "coap_msg.h"

ssize_t bench_rd_registration(uint32_t i, unsigned links, uint16_t mid, uint8_t *buf, size_t cap)
{
    return bench_rd_registration_gen(i, links, mid, 0, buf, cap);
}

ssize_t bench_rd_registration_gen(uint32_t i, unsigned links, uint16_t mid, uint32_t gen,
                                  uint8_t *buf, size_t cap)
{
    struct coap_msg m;
    char q[6][96], lf[1024];
    int nq = 5;
    uint8_t cf[4];
    size_t len = 0;

    coap_msg_init(&m);
    m.type = COAP_T_CON;
    m.code = COAP_POST;
    m.msgid = mid;
    m.tkl = 4;
    for (int k = 0; k < 4; k++)
        m.token[k] = (uint8_t)(i >> (24 - 8 * k));
    snprintf(q[0], sizeof(q[0]), "ep=b%07" PRIu32, i);
    snprintf(q[1], sizeof(q[1]), "d=sector-%" PRIu32, i % 100);
    snprintf(q[2], sizeof(q[2]), "et=et-%" PRIu32, i % 1000);
    snprintf(q[3], sizeof(q[3]), "base=coap://[2001:db8::%" PRIx32 ":%" PRIx32 "]:5683", i >> 16,
             i & 0xffff);
    snprintf(q[4], sizeof(q[4]), "lt=86400");
    if (gen > 0) /* an attribute the lookups show: every re-registration changes them */
        snprintf(q[nq++], sizeof(q[5]), "v=%" PRIu32, gen);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "rd", 2);
    coap_msg_add_opt_uint(&m, COAP_OPT_CONTENT_FORMAT, 40, cf);
    for (int k = 0; k < nq; k++)
        coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, q[k], (uint16_t)strlen(q[k]));
    for (unsigned j = 0; j < links; j++)
        len += (size_t)snprintf(lf + len, sizeof(lf) - len,
                                "%s</s/%u>;rt=\"rt-%" PRIu32 "\";if=\"if-%u\";ct=0%s", j ? "," : "",
                                j, (i + j) % 500, j, j == 0 ? ";anchor=\"/s\"" : "");
    if (len >= sizeof(lf))
        return -1;
    m.payload = (const uint8_t *)lf;
    m.payload_len = len;
    return coap_msg_serialize_udp(&m, buf, cap);
}

/* The lookup table: name and query, for n preloaded registrations. */
int bench_rd_lookup(unsigned k, unsigned long n, int64_t mid_id, char *label, size_t ll, char *path,
                    size_t pl)
{
    uint32_t m = (uint32_t)(n / 2);
    char base[64];

    snprintf(base, sizeof(base), "coap://[2001:db8::%" PRIx32 ":%" PRIx32 "]:5683", m >> 16,
             m & 0xffff);
#define L(name, ...)                                                                               \
    do {                                                                                           \
        snprintf(label, ll, "%s", name);                                                           \
        snprintf(path, pl, __VA_ARGS__);                                                           \
    } while (0)
    switch (k) {
    case 0:
        L("ep", "/rd-lookup/ep?ep=b%07" PRIu32, m);
        break;
    case 1:
        L("ep-prefix", "/rd-lookup/ep?ep=b%05" PRIu32 "*&count=10", m / 100);
        break;
    case 2:
        L("d", "/rd-lookup/ep?d=sector-42&count=10");
        break;
    case 3:
        L("et", "/rd-lookup/ep?et=et-42&count=10");
        break;
    case 4:
        L("et-all", "/rd-lookup/ep?et=et-42");
        break;
    case 5:
        L("base", "/rd-lookup/ep?base=%s", base);
        break;
    case 6:
        L("href-path", "/rd-lookup/ep?href=/reg/%" PRId64, mid_id);
        break;
    case 7:
        L("href-uri", "/rd-lookup/res?href=%s/s/3", base);
        break;
    case 8:
        L("anchor", "/rd-lookup/res?anchor=%s/s", base);
        break;
    case 9:
        L("rt", "/rd-lookup/res?rt=rt-42&count=10");
        break;
    case 10:
        L("rt-prefix", "/rd-lookup/res?rt=rt-42*&count=10");
        break;
    case 11:
        L("if", "/rd-lookup/res?if=if-3&count=10");
        break;
    case 12:
        L("if-prefix", "/rd-lookup/res?if=if-*&page=7&count=10");
        break;
    case 13:
        L("ct-other", "/rd-lookup/res?ct=0&count=10");
        break;
    case 14:
        L("and-3", "/rd-lookup/res?d=sector-42&rt=rt-42&if=if-0&count=10");
        break;
    case 15:
        L("and-page", "/rd-lookup/ep?et=et-42&d=sector-42&page=1&count=2");
        break;
    case 16:
        L("no-filter", "/rd-lookup/ep?count=10");
        break;
    case 17:
        L("res-page", "/rd-lookup/res?page=5000&count=10");
        break;
    case 18:
        L("rt-ep", "/rd-lookup/ep?rt=rt-42*&count=10");
        break;
    default:
        return -1;
    }
#undef L
    return 0;
}
