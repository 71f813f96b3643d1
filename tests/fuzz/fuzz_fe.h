/*
 * fuzz_fe.h - an rd-frontend for the fuzz targets: in-memory SQLite store,
 * the relays' peers, and requests built from text the way a relay hands
 * them over. Header-only, test code only.
 */
#ifndef RDRELAY_FUZZ_FE_H
#define RDRELAY_FUZZ_FE_H

#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "fuzz_check.h"
#include "log.h"

static inline void fuzz_peer(struct rr_peer *p, int tcp)
{
    memset(p, 0, sizeof(*p));
    p->transport = tcp ? RR_TRANSPORT_TCP : RR_TRANSPORT_UDP;
    snprintf(p->relay, sizeof(p->relay), "%s", tcp ? "tcp" : "udp");
    FUZZ_CHECK(addr_parse(&p->remote, tcp ? "[2001:db8::7]:40001" : "192.0.2.1:40000", 5683) == 0);
    FUZZ_CHECK(addr_parse(&p->local, "192.0.2.100:5683", 5683) == 0);
    if (tcp)
        p->conn_id = 7;
}

static inline struct frontend *fuzz_fe_new(void)
{
    struct frontend *fe = calloc(1, sizeof(*fe));
    struct rr_config cfg;
    char err[128];

    FUZZ_CHECK(fe != NULL);
    log_set_level(LOG_LVL_ERROR); /* quiet: the fuzzer's output is the report */
    config_defaults(&cfg);
    FUZZ_CHECK(config_set(&cfg, "proxy_domain", "proxy.example.net", err, sizeof(err)) == 0);
    cfg.max_payload = 4096;
    /* port-based hosting on, with a range small enough to run out */
    FUZZ_CHECK(config_set(&cfg, "port_hosting_range", "5701-5704", err, sizeof(err)) == 0);
    FUZZ_CHECK(config_set(&cfg, "port_per_source", "3", err, sizeof(err)) == 0);
    FUZZ_CHECK(config_finish(&cfg, err, sizeof(err)) == 0);
    FUZZ_CHECK(frontend_init(fe, &cfg, ":memory:") == 0);
    return fe;
}

static inline void fuzz_fe_free(struct frontend *fe)
{
    fe_outbox_clear(fe);
    frontend_free(fe);
    free(fe);
}

/* Hand one CoAP datagram to rd-frontend as an RD_REQUEST would; the answer,
 * when there is one at once, must be a CoAP message that parses. */
static inline void fuzz_fe_request(struct frontend *fe, int tcp, const uint8_t *coap, size_t len)
{
    struct rr_peer peer;
    struct strbuf out;
    struct coap_msg resp;

    fuzz_peer(&peer, tcp);
    sb_init(&out);
    int rc = rd_handle_request(fe, (const uint8_t *)peer.relay, 3, ++fe->requests, &peer, coap, len,
                               &out);
    if (rc == RD_DONE) {
        FUZZ_CHECK(out.len > 0 && !out.oom);
        FUZZ_CHECK(coap_msg_parse_udp((const uint8_t *)out.buf, out.len, &resp) == 0);
    }
    sb_free(&out);
    fe_outbox_clear(fe);
}

/* POST /rd with query "a=b&c=d" and a link-format payload. */
static inline void fuzz_fe_register(struct frontend *fe, const char *query, const char *links)
{
    struct coap_msg m;
    uint8_t buf[2048], cf[4];
    char q[512];
    ssize_t n;

    coap_msg_init(&m);
    m.code = COAP_POST;
    m.tkl = 2;
    m.token[0] = 0xab;
    m.token[1] = (uint8_t)strlen(query);
    snprintf(q, sizeof(q), "%s", query);
    FUZZ_CHECK(coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "rd", 2) == 0);
    for (char *save = NULL, *t = strtok_r(q, "&", &save); t; t = strtok_r(NULL, "&", &save))
        FUZZ_CHECK(coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, t, (uint16_t)strlen(t)) == 0);
    FUZZ_CHECK(coap_msg_add_opt_uint(&m, COAP_OPT_CONTENT_FORMAT, COAP_CF_LINK_FORMAT, cf) == 0);
    m.payload = (const uint8_t *)links;
    m.payload_len = strlen(links);
    n = coap_msg_serialize_udp(&m, buf, sizeof(buf));
    FUZZ_CHECK(n > 0);
    fuzz_fe_request(fe, 0, buf, (size_t)n);
}

/* A few registrations of the kinds real registrants make. */
static inline void fuzz_fe_populate(struct frontend *fe)
{
    fuzz_fe_register(fe, "ep=node1&lt=300&et=core.rd-ep",
                     "</sensors/temp>;rt=\"temperature-c\";if=sensor;obs,</sensors/light>;ct=0");
    fuzz_fe_register(fe, "ep=RIOT-0123456789ABCDEF&proxy=on",
                     "</riot/board>,</riot/ver>;rt=\"a b\";title=\"RIOT version\"");
    fuzz_fe_register(fe, "ep=alice&d=lab&base=coap://[2001:db8::1]:61616&et=oic.d.sensor",
                     "<coap://[2001:db8::1]/x>;anchor=\"coap://[2001:db8::1]\";rel=alternate,"
                     "</y>;rt=core.s;ct=40");
    fuzz_fe_register(fe, "ep=bob&proxy=yes&et=a&et=b", "</.well-known/core>;ct=40,</time>;obs");
}

#endif
