/*
 * fe_harness.h - the in-process rd-frontend harness shared by the unit
 * tests that drive rd_handle_request (test_rd_request.c, test_rd_owner.c):
 * a frontend on an in-memory (or given) store, requests built from a path,
 * a query and a payload, the response parsed, the outbox inspected.
 * Static functions only: each test executable includes it once.
 */
#ifndef RDRELAY_FE_HARNESS_H
#define RDRELAY_FE_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "frontend.h"

struct resp {
    uint8_t code;
    char loc[64]; /* Location-Path joined "reg/1" */
    int cf;       /* -1 absent */
    bool has_obs, has_b1, has_b2;
    uint32_t obs, b1, b2, size2;
    bool has_max_age;
    uint32_t max_age;
    char payload[8192];
    size_t plen;
    int rc;
};

static struct rr_peer peer_udp;
static uint64_t next_req_id = 1;

static inline void set_peer(const char *remote)
{
    memset(&peer_udp, 0, sizeof(peer_udp));
    peer_udp.transport = RR_TRANSPORT_UDP;
    snprintf(peer_udp.relay, sizeof(peer_udp.relay), "udp");
    assert_int_equal(addr_parse(&peer_udp.remote, remote, 5683), 0);
    assert_int_equal(addr_parse(&peer_udp.local, "192.0.2.100:5683", 5683), 0);
}

/* The tests' configuration: defaults with a small max_payload and grace. */
static inline void fe_test_cfg(struct rr_config *cfg, const char *proxy_domain)
{
    config_defaults(cfg);
    snprintf(cfg->proxy_domain, sizeof(cfg->proxy_domain), "%s", proxy_domain);
    cfg->max_payload = 2048;
    cfg->expiry_grace = 100;
}

static inline struct frontend *fe_new_cfg(const struct rr_config *cfg, const char *db)
{
    struct frontend *fe = calloc(1, sizeof(*fe));

    assert_int_equal(frontend_init(fe, cfg, db), 0);
    /* fe->now is the real wall clock (the loader compares stored expiry
     * times with it); tests move it forward by hand. */
    set_peer("[::ffff:192.0.2.1]:40000");
    return fe;
}

static inline struct frontend *fe_new_db(const char *db, const char *proxy_domain)
{
    struct rr_config cfg;

    fe_test_cfg(&cfg, proxy_domain);
    return fe_new_cfg(&cfg, db);
}

static inline struct frontend *fe_new(void)
{
    return fe_new_db(":memory:", "proxy.localhost");
}

static inline void fe_done(struct frontend *fe)
{
    frontend_free(fe);
    free(fe);
}

static inline void parse_resp(const uint8_t *buf, size_t len, struct resp *r)
{
    struct coap_msg m;

    assert_int_equal(coap_msg_parse_udp(buf, len, &m), 0);
    r->code = m.code;
    r->loc[0] = '\0';
    for (const struct coap_msg_opt *o = coap_msg_find(&m, COAP_OPT_LOCATION_PATH); o;
         o = coap_msg_find_next(&m, o)) {
        size_t l = strlen(r->loc);
        snprintf(r->loc + l, sizeof(r->loc) - l, "%s%.*s", l ? "/" : "", (int)o->len,
                 (const char *)o->val);
    }
    r->cf = coap_msg_find(&m, COAP_OPT_CONTENT_FORMAT)
                ? (int)coap_msg_opt_uint(&m, COAP_OPT_CONTENT_FORMAT, 0)
                : -1;
    r->has_obs = coap_msg_find(&m, COAP_OPT_OBSERVE) != NULL;
    r->obs = coap_msg_opt_uint(&m, COAP_OPT_OBSERVE, 0);
    r->has_b1 = coap_msg_find(&m, COAP_OPT_BLOCK1) != NULL;
    r->b1 = coap_msg_opt_uint(&m, COAP_OPT_BLOCK1, 0);
    r->has_b2 = coap_msg_find(&m, COAP_OPT_BLOCK2) != NULL;
    r->b2 = coap_msg_opt_uint(&m, COAP_OPT_BLOCK2, 0);
    r->size2 = coap_msg_opt_uint(&m, COAP_OPT_SIZE2, 0);
    r->has_max_age = coap_msg_find(&m, COAP_OPT_MAX_AGE) != NULL;
    r->max_age = coap_msg_opt_uint(&m, COAP_OPT_MAX_AGE, 0);
    assert_true(m.payload_len < sizeof(r->payload));
    if (m.payload_len)
        memcpy(r->payload, m.payload, m.payload_len);
    r->payload[m.payload_len] = '\0';
    r->plen = m.payload_len;
}

/* Extra options for a request. */
struct xopt {
    uint16_t num;
    uint32_t v;
};

/* Build a request: path "rd" or "reg/1" (split on '/'), query "a=1&b=2". */
static inline size_t build(uint8_t code, const char *path, const char *query, const char *payload,
                           int cf, const struct xopt *x, uint8_t *buf, size_t cap)
{
    struct coap_msg m;
    char pbuf[128], qbuf[512];
    uint8_t ob[8][4];
    int nob = 0;
    ssize_t n;

    coap_msg_init(&m);
    m.type = COAP_T_CON;
    m.code = code;
    m.msgid = 0x1234;
    m.tkl = 2;
    m.token[0] = 0xab;
    m.token[1] = (uint8_t)next_req_id;
    snprintf(pbuf, sizeof(pbuf), "%s", path);
    for (char *s = strtok(pbuf, "/"); s; s = strtok(NULL, "/"))
        coap_msg_add_opt(&m, COAP_OPT_URI_PATH, s, (uint16_t)strlen(s));
    if (path[0] && path[strlen(path) - 1] == '/')
        coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "", 0);
    if (query) {
        snprintf(qbuf, sizeof(qbuf), "%s", query);
        for (char *s = strtok(qbuf, "&"); s; s = strtok(NULL, "&"))
            coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, s, (uint16_t)strlen(s));
    }
    if (cf >= 0)
        coap_msg_add_opt_uint(&m, COAP_OPT_CONTENT_FORMAT, (uint32_t)cf, ob[nob++]);
    for (; x && x->num; x++)
        coap_msg_add_opt_uint(&m, x->num, x->v, ob[nob++]);
    if (payload && *payload) {
        m.payload = (const uint8_t *)payload;
        m.payload_len = strlen(payload);
    }
    n = coap_msg_serialize_udp(&m, buf, cap);
    assert_true(n > 0);
    /* strtok copies live in pbuf/qbuf, which serialize has consumed by now */
    return (size_t)n;
}

static inline struct resp *reqx(struct frontend *fe, uint8_t code, const char *path,
                                const char *query, const char *payload, int cf,
                                const struct xopt *x)
{
    static struct resp r;
    uint8_t buf[4096];
    struct strbuf out;
    size_t n = build(code, path, query, payload, cf, x, buf, sizeof(buf));

    memset(&r, 0, sizeof(r));
    sb_init(&out);
    r.rc = rd_handle_request(fe, (const uint8_t *)"udp", 3, next_req_id++, &peer_udp, buf, n, &out);
    if (r.rc == RD_DONE)
        parse_resp((const uint8_t *)out.buf, out.len, &r);
    sb_free(&out);
    return &r;
}

static inline struct resp *req(struct frontend *fe, uint8_t code, const char *path,
                               const char *query, const char *payload)
{
    return reqx(fe, code, path, query, payload, payload && *payload ? COAP_CF_LINK_FORMAT : -1,
                NULL);
}

static inline const char *lookup(struct frontend *fe, const char *which, const char *query)
{
    struct resp *r = req(fe, COAP_GET, which, query, NULL);

    assert_int_equal(r->code, COAP_CONTENT);
    assert_int_equal(r->cf, COAP_CF_LINK_FORMAT);
    return r->payload;
}

static inline int count_out(struct frontend *fe, uint16_t type)
{
    int n = 0;

    for (struct rd_out *o = fe->out_head; o; o = o->next)
        n += o->type == type;
    return n;
}

/* The n-th ROUTE_UPDATE in the outbox, decoded. */
static inline bool route_at(struct frontend *fe, int n, struct rr_route *rt, uint64_t *seq)
{
    for (struct rd_out *o = fe->out_head; o; o = o->next) {
        if (o->type != RR_MSG_ROUTE_UPDATE || n-- > 0)
            continue;
        struct wire_r w;
        wire_r_init(&w, o->body, o->len);
        assert_true(wire_get_u64(&w) == fe->epoch);
        *seq = wire_get_u64(&w);
        proto_get_route(&w, rt);
        assert_false(w.err);
        assert_true(o->pub);
        return true;
    }
    return false;
}

#endif
