/*
 * test_lookup_index.c - the lookup index (rd-frontend/attr_index.c and
 * lookup.c's planner) against a plain scan on random data: random
 * registrations, re-registrations, updates (attributes, base, links),
 * deletions, expiry and grace-period refreshes under a fake clock, and
 * restarts from the SQLite file go in through rd_handle_request and
 * rd_tick; after every few operations random queries (every RFC 9176
 * filter: ep, d, et, base, href and anchor in path and URI form, rt/if
 * with and without a trailing '*', presence, other attributes, several
 * ANDed, page/count) must give exactly the answer of lookup_run_scan, for
 * endpoint and resource lookup; and an Observe lookup that
 * lookup_may_change calls unaffected by the last change must indeed not
 * have changed. Also unit tests of the index structure and expiry heap.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "frontend.h"
#include "log.h"

struct rnd {
    uint64_t s;
};

static unsigned rnd(struct rnd *r, unsigned n)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return (unsigned)(r->s % n);
}

static const char *pick(struct rnd *r, const char *const *v, unsigned n)
{
    return v[rnd(r, n)];
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const EPS[] = {"node1", "node2", "node10", "node11", "nodeA",   "lamp",
                                  "lamp2", "x",     "x1",     "sensor", "sensor-7"};
static const char *const DS[] = {"", "", "floor-1", "floor-2", "fl"};
static const char *const ETS[] = {"a.b", "c.d", "a.bc", "oic.d.sensor", "x"};
static const char *const BASES[] = {"coap://192.0.2.1", "coap://192.0.2.1:5684",
                                    "coap://[2001:db8::1]:61616", "coaps://h.example/dir/"};
static const char *const RTS[] = {"temperature-c",    "temperature-f",
                                  "light-lux",        "core.s",
                                  "light-lux core.s", "temperature-c temperature-f",
                                  "core.rd-ep"};
static const char *const IFS[] = {"sensor", "core.a", "sensor core.a"};
static const char *const TARGETS[] = {
    "/temp", "/light", "temp", "/s/h", "", "coap://[2001:db8::2]/abs", "http://www.example.com/t"};
static const char *const ANCHORS[] = {"/temp", "/", "coap://other.example/y", "rel"};

static void random_links(struct rnd *r, char *out, size_t cap)
{
    size_t len = 0;
    unsigned n = rnd(r, 5);

    out[0] = '\0';
    for (unsigned i = 0; i < n; i++) {
        len += (size_t)snprintf(out + len, cap - len, "%s<%s>", i ? "," : "",
                                pick(r, TARGETS, NELEM(TARGETS)));
        if (rnd(r, 3))
            len += (size_t)snprintf(out + len, cap - len, ";rt=\"%s\"", pick(r, RTS, NELEM(RTS)));
        if (rnd(r, 3) == 0)
            len += (size_t)snprintf(out + len, cap - len, ";if=\"%s\"", pick(r, IFS, NELEM(IFS)));
        if (rnd(r, 4) == 0)
            len += (size_t)snprintf(out + len, cap - len, ";anchor=\"%s\"",
                                    pick(r, ANCHORS, NELEM(ANCHORS)));
        if (rnd(r, 4) == 0)
            len += (size_t)snprintf(out + len, cap - len, ";ct=%u", rnd(r, 3) * 20);
        if (rnd(r, 6) == 0)
            len += (size_t)snprintf(out + len, cap - len, ";obs");
        if (rnd(r, 8) == 0)
            len += (size_t)snprintf(out + len, cap - len, ";et=\"%s\"", pick(r, ETS, NELEM(ETS)));
    }
}

static const struct rr_peer *peer(void)
{
    static struct rr_peer p;

    memset(&p, 0, sizeof(p));
    p.transport = RR_TRANSPORT_UDP;
    snprintf(p.relay, sizeof(p.relay), "udp");
    assert_int_equal(addr_parse(&p.remote, "192.0.2.9:40000", 5683), 0);
    assert_int_equal(addr_parse(&p.local, "192.0.2.100:5683", 5683), 0);
    return &p;
}

/* One request through the dispatcher; returns the response code. */
static uint8_t request(struct frontend *fe, uint8_t code, const char *p1, const char *p2,
                       const char *query, const char *payload)
{
    static uint64_t req_id = 1;
    struct coap_msg m, resp;
    uint8_t buf[4096], cf[4];
    char q[512];
    struct strbuf out;
    ssize_t n;
    uint8_t rc = 0;

    coap_msg_init(&m);
    m.type = COAP_T_CON;
    m.code = code;
    m.tkl = 1;
    m.token[0] = 1;
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, p1, (uint16_t)strlen(p1));
    if (p2)
        coap_msg_add_opt(&m, COAP_OPT_URI_PATH, p2, (uint16_t)strlen(p2));
    if (payload && *payload)
        coap_msg_add_opt_uint(&m, COAP_OPT_CONTENT_FORMAT, COAP_CF_LINK_FORMAT, cf);
    snprintf(q, sizeof(q), "%s", query ? query : "");
    for (char *s = strtok(q, "&"); s; s = strtok(NULL, "&"))
        coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, s, (uint16_t)strlen(s));
    if (payload && *payload) {
        m.payload = (const uint8_t *)payload;
        m.payload_len = strlen(payload);
    }
    n = coap_msg_serialize_udp(&m, buf, sizeof(buf));
    assert_true(n > 0);
    sb_init(&out);
    if (rd_handle_request(fe, (const uint8_t *)"udp", 3, req_id++, peer(), buf, (size_t)n, &out) ==
            RD_DONE &&
        coap_msg_parse_udp((const uint8_t *)out.buf, out.len, &resp) == 0)
        rc = resp.code;
    sb_free(&out);
    return rc;
}

/* A random registration query. */
static void random_reg_query(struct rnd *r, char *q, size_t cap, bool update)
{
    size_t len = 0;

    q[0] = '\0';
    if (!update) {
        const char *d = pick(r, DS, NELEM(DS));
        len += (size_t)snprintf(q + len, cap - len, "ep=%s", pick(r, EPS, NELEM(EPS)));
        if (d[0])
            len += (size_t)snprintf(q + len, cap - len, "&d=%s", d);
    }
    len += (size_t)snprintf(q + len, cap - len, "%slt=%u", update ? "" : "&", 1 + rnd(r, 600));
    for (unsigned i = rnd(r, 3); i > 0; i--)
        len += (size_t)snprintf(q + len, cap - len, "&et=%s", pick(r, ETS, NELEM(ETS)));
    if (rnd(r, 3) == 0)
        len += (size_t)snprintf(q + len, cap - len, "&base=%s", pick(r, BASES, NELEM(BASES)));
    if (rnd(r, 5) == 0)
        len += (size_t)snprintf(q + len, cap - len, "&flag");
    if (rnd(r, 5) == 0)
        len += (size_t)snprintf(q + len, cap - len, "&rt=%s", pick(r, RTS, NELEM(RTS)));
}

/* A random filter value: exact, a prefix of a known value, or a '*'. */
static void random_value(struct rnd *r, const char *const *v, unsigned n, char *out, size_t cap)
{
    const char *s = pick(r, v, n);
    size_t l = strlen(s);

    switch (rnd(r, 4)) {
    case 0:
        snprintf(out, cap, "%.*s*", (int)(l ? rnd(r, (unsigned)l + 1) : 0), s);
        break;
    case 1:
        snprintf(out, cap, "*");
        break;
    default:
        snprintf(out, cap, "%s", s);
    }
}

static void random_filter(struct rnd *r, int64_t maxid, char *out, size_t cap)
{
    char v[300], u[320];

    /* the plain ones: name=value, value*, or name=* from a value list */
    static const struct {
        const char *name;
        const char *const *v;
        unsigned n;
    } plain[] = {{"ep", EPS, NELEM(EPS)},       {"d", DS, NELEM(DS)},    {"et", ETS, NELEM(ETS)},
                 {"base", BASES, NELEM(BASES)}, {"rt", RTS, NELEM(RTS)}, {"rt", RTS, NELEM(RTS)},
                 {"if", IFS, NELEM(IFS)}};
    unsigned k = rnd(r, 14);

    if (k < NELEM(plain)) {
        random_value(r, plain[k].v, plain[k].n, v, sizeof(v));
        snprintf(out, cap, "%s=%s", plain[k].name, v);
        return;
    }
    switch (k) {
    case 7: /* href, path form of a registration resource */
        snprintf(out, cap, "href=/reg/%" PRId64 "%s", (int64_t)rnd(r, (unsigned)maxid + 2),
                 rnd(r, 2) ? "/" : "");
        break;
    case 8: /* href, URI form: of a registration resource, or of a link */
        if (rnd(r, 2))
            snprintf(out, cap, "href=coap://rd.example/reg/%u", rnd(r, (unsigned)maxid + 2));
        else {
            random_value(r, TARGETS, NELEM(TARGETS), v, sizeof(v));
            snprintf(u, sizeof(u), "%s", pick(r, BASES, NELEM(BASES)));
            lookup_resolve(u, v, out + 5, cap - 5);
            memcpy(out, "href=", 5);
            if (rnd(r, 3) == 0) /* prefix of a resolved target */
                snprintf(out + strlen(out) / 2 + 2, 2, "*");
        }
        break;
    case 9:
        random_value(r, ANCHORS, NELEM(ANCHORS), v, sizeof(v));
        lookup_resolve(pick(r, BASES, NELEM(BASES)), v, u, sizeof(u));
        snprintf(out, cap, "anchor=%s", rnd(r, 3) ? u : v);
        break;
    case 10:
        snprintf(out, cap, "ct=%u", rnd(r, 3) * 20);
        break;
    case 11: /* presence */
        snprintf(out, cap, "%s", rnd(r, 2) ? "anchor" : (rnd(r, 2) ? "obs" : "flag"));
        break;
    case 12:
        snprintf(out, cap, "href=%s", rnd(r, 2) ? "/reg/*" : "coap://*");
        break;
    default:
        snprintf(out, cap, "rt=core.rd-ep");
    }
}

static void run_both(struct frontend *fe, bool res, const char *query, struct strbuf *a,
                     struct strbuf *b)
{
    struct coap_msg m;
    struct rd_query q;
    char err[128], qb[1024];

    coap_msg_init(&m);
    snprintf(qb, sizeof(qb), "%s", query);
    for (char *s = strtok(qb, "&"); s; s = strtok(NULL, "&"))
        assert_int_equal(coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, s, (uint16_t)strlen(s)), 0);
    if (rd_query_parse(&m, &q, err, sizeof(err)) < 0)
        fail_msg("query %s: %s", query, err);
    sb_reset(a);
    sb_reset(b);
    lookup_run(fe, res, &q, a);
    lookup_run_scan(fe, res, &q, b);
}

static unsigned check_queries(struct frontend *fe, struct rnd *r, int64_t maxid, unsigned nq)
{
    struct strbuf a, b;
    char q[1024];
    unsigned nonempty = 0;

    sb_init(&a);
    sb_init(&b);
    for (unsigned i = 0; i < nq; i++) {
        size_t len = 0;
        unsigned nf = rnd(r, 4);
        for (unsigned k = 0; k < nf; k++) {
            len += (size_t)snprintf(q + len, sizeof(q) - len, "%s", k ? "&" : "");
            random_filter(r, maxid, q + len, sizeof(q) - len);
            len = strlen(q);
        }
        if (rnd(r, 3) == 0)
            snprintf(q + len, sizeof(q) - len, "%spage=%u&count=%u", nf ? "&" : "", rnd(r, 3),
                     rnd(r, 4));
        bool res = rnd(r, 2);
        run_both(fe, res, q, &a, &b);
        if (a.len != b.len || (a.len && memcmp(a.buf, b.buf, a.len) != 0))
            fail_msg("%s lookup ?%s\n indexed: %.*s\n scan:    %.*s", res ? "resource" : "endpoint",
                     q, (int)a.len, a.buf ? a.buf : "", (int)b.len, b.buf ? b.buf : "");
        nonempty += b.len > 0;
    }
    sb_free(&a);
    sb_free(&b);
    return nonempty;
}

/* Observe: a lookup that lookup_may_change says the last changes cannot
 * affect must give the same answer as before them. */
#define NOBS 40
struct obs {
    char q[1024];
    bool res;
    struct rd_query parsed;
    struct strbuf last;
};

static void obs_init(struct obs *o, struct rnd *r)
{
    struct coap_msg m;
    char err[128], qb[1024];
    size_t len = 0;

    o->q[0] = '\0';
    for (unsigned k = 0, nf = 1 + rnd(r, 2); k < nf; k++) {
        len += (size_t)snprintf(o->q + len, sizeof(o->q) - len, "%s", k ? "&" : "");
        random_filter(r, 50, o->q + len, sizeof(o->q) - len);
        len = strlen(o->q);
    }
    if (rnd(r, 4) == 0)
        snprintf(o->q + len, sizeof(o->q) - len, "&page=%u&count=%u", rnd(r, 2), 1 + rnd(r, 3));
    o->res = rnd(r, 2);
    coap_msg_init(&m);
    snprintf(qb, sizeof(qb), "%s", o->q);
    for (char *t = strtok(qb, "&"); t; t = strtok(NULL, "&"))
        assert_int_equal(coap_msg_add_opt(&m, COAP_OPT_URI_QUERY, t, (uint16_t)strlen(t)), 0);
    assert_int_equal(rd_query_parse(&m, &o->parsed, err, sizeof(err)), 0);
    sb_init(&o->last);
}

/* Returns how many observers were skipped. */
static unsigned obs_check(struct frontend *fe, struct obs *ov)
{
    struct strbuf now;
    unsigned skipped = 0;

    sb_init(&now);
    for (unsigned i = 0; i < NOBS; i++) {
        struct obs *o = &ov[i];
        bool may = lookup_may_change(fe, o->res, &o->parsed);
        sb_reset(&now);
        lookup_run_scan(fe, o->res, &o->parsed, &now);
        bool same =
            now.len == o->last.len && (now.len == 0 || memcmp(now.buf, o->last.buf, now.len) == 0);
        if (!same && !may)
            fail_msg("observer ?%s (%s): answer changed but was not re-evaluated\n before: %.*s\n "
                     "after:  %.*s",
                     o->q, o->res ? "res" : "ep", (int)o->last.len, o->last.buf ? o->last.buf : "",
                     (int)now.len, now.buf ? now.buf : "");
        skipped += !may;
        sb_reset(&o->last);
        if (now.len)
            sb_append(&o->last, now.buf, now.len);
    }
    sb_free(&now);
    aidx_touch_reset(&fe->reg.idx);
    return skipped;
}

static struct frontend *open_fe(const char *path, uint64_t now)
{
    struct frontend *fe = calloc(1, sizeof(*fe));
    struct rr_config cfg;

    config_defaults(&cfg);
    cfg.expiry_grace = 300;
    assert_int_equal(frontend_init(fe, &cfg, path), 0);
    if (now)
        fe->now = now;
    assert_int_equal(store_begin(fe->store), 0);
    return fe;
}

static void close_fe(struct frontend *fe)
{
    assert_int_equal(store_commit(fe->store), 0);
    frontend_free(fe);
    free(fe);
}

static void test_index_matches_scan(void **state)
{
    char path[] = "/tmp/test_lookup_index_XXXXXX", side[64], q[512], links[1024], id[24];
    int fd = mkstemp(path);
    /* a fixed seed; RDRELAY_TEST_SEED=N tries another */
    const char *seed = getenv("RDRELAY_TEST_SEED");
    struct rnd r = {seed ? strtoull(seed, NULL, 0) | 1 : 0x1234567887654321ull};
    struct frontend *fe;
    unsigned nonempty = 0, checked = 0, refreshed_late = 0, skipped = 0;
    struct obs *ov = calloc(NOBS, sizeof(*ov));
    (void)state;

    assert_true(fd >= 0 && ov != NULL);
    close(fd);
    fe = open_fe(path, 0);
    for (unsigned i = 0; i < NOBS; i++)
        obs_init(&ov[i], &r);
    obs_check(fe, ov);
    for (int op = 0; op < 3000; op++) {
        int64_t maxid = fe->reg.last ? fe->reg.last->id : 0;
        unsigned what = rnd(&r, 20);
        snprintf(id, sizeof(id), "%" PRId64, maxid ? 1 + (int64_t)rnd(&r, (unsigned)maxid) : 1);
        if (what < 8) {
            random_reg_query(&r, q, sizeof(q), false);
            random_links(&r, links, sizeof(links));
            request(fe, COAP_POST, "rd", NULL, q, links);
        } else if (what < 13) {
            struct rd_reg *g = registry_by_id(&fe->reg, strtoll(id, NULL, 10));
            bool late = g && g->expired;
            random_reg_query(&r, q, sizeof(q), true);
            random_links(&r, links, sizeof(links));
            if (request(fe, COAP_POST, "reg", id, q, rnd(&r, 2) ? links : NULL) == COAP_CHANGED)
                refreshed_late += late;
        } else if (what < 15) {
            request(fe, COAP_DELETE, "reg", id, NULL, NULL);
        } else if (what < 19) {
            fe->now += rnd(&r, 60000); /* lifetimes run out, grace ends */
            rd_tick(fe);
        } else if (rnd(&r, 20) == 0) {
            uint64_t now = fe->now;
            close_fe(fe);
            fe = open_fe(path, now); /* reloaded from SQLite */
        }
        skipped += obs_check(fe, ov);
        if (op % 10 == 0) {
            nonempty += check_queries(fe, &r, maxid, 20);
            checked += 20;
        }
    }
    close_fe(fe);
    for (unsigned i = 0; i < NOBS; i++)
        sb_free(&ov[i].last);
    free(ov);
    /* the selective re-evaluation must skip something to be tested */
    assert_true(skipped > 3000 * NOBS / 10);
    /* the random data must exercise something */
    assert_true(nonempty > checked / 5);
    assert_true(refreshed_late > 0);
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

static int count_one(void *arg, const struct rd_reg *r)
{
    (void)r;
    (*(size_t *)arg)++;
    return 0;
}

/* How many registrations order k has under value (exact) or stem* (len). */
static size_t order_count(const struct registry *g, int k, const char *v, size_t len, bool exact)
{
    size_t n = 0;

    assert_int_equal(rd_order_walk(g, k, v, len, exact, count_one, &n), 0);
    return n;
}

struct seen {
    const struct rd_reg *v[64];
    size_t n;
};

static int see_one(void *arg, const struct rd_reg *r)
{
    struct seen *s = arg;

    assert_true(s->n < NELEM(s->v));
    s->v[s->n++] = r;
    return 0;
}

/* The index follows changes: entries appear and vanish with their last
 * registration, prefix ranges are in order, swap-removal keeps slots right;
 * ep and base are in the orders (reg_order.c), not in the index. */
static void test_index_structure(void **state)
{
    struct registry g;
    struct rd_reg *a = reg_new(), *b = reg_new(), *c = reg_new();
    char err[64];
    const struct aidx_ent *e;
    struct seen sn = {.n = 0};
    (void)state;

    assert_int_equal(registry_init(&g), 0);
    a->id = 1;
    b->id = 2;
    c->id = 3;
    assert_int_equal(reg_set_names(a, "alpha", NULL, NULL, NULL), 0);
    assert_int_equal(reg_set_names(b, "alpine", NULL, NULL, NULL), 0);
    assert_int_equal(reg_set_names(c, "beta", NULL, NULL, NULL), 0);
    assert_int_equal(reg_set_names(a, NULL, NULL, "coap://h", NULL), 0);
    assert_int_equal(reg_set_names(b, NULL, NULL, "coap://h", NULL), 0);
    assert_int_equal(reg_set_names(c, NULL, NULL, "coap://h", NULL), 0);
    assert_int_equal(reg_set_links(a, "</t>;rt=\"x y\"", 13, err, sizeof(err)), 0);
    assert_int_equal(reg_set_links(b, "</t>;rt=x,</u>;rt=x", 19, err, sizeof(err)), 0);
    assert_int_equal(registry_insert(&g, a), 0);
    assert_int_equal(registry_insert(&g, b), 0);
    assert_int_equal(registry_insert(&g, c), 0);
    assert_int_equal(order_count(&g, RD_ORD_BASE, "coap://h", 0, true), 3);
    assert_int_equal(order_count(&g, RD_ORD_BASE, "coap://", 7, false), 3);
    assert_int_equal(order_count(&g, RD_ORD_BASE, "coap://hx", 0, true), 0);
    assert_null(aidx_find(&g.idx, "base", "coap://h")); /* no entry of its own */
    assert_null(aidx_find(&g.idx, "ep", "alpha"));
    assert_int_equal(aidx_ent_count(aidx_find(&g.idx, "rt", "x")), 2); /* b once */
    assert_int_equal(aidx_ent_count(aidx_find(&g.idx, "rt", "x y")), 1);
    /* relative targets: found under the base's origin (the base order), not one key per link */
    assert_null(aidx_find(&g.idx, "href", "coap://h/u"));
    assert_null(aidx_find(&g.idx, LOOKUP_ORIGIN_KEY, "coap://h"));
    /* an ep prefix range, in ep order */
    rd_order_walk(&g, RD_ORD_EP, "alp", 3, false, see_one, &sn);
    assert_int_equal(sn.n, 2);
    assert_string_equal(sn.v[0]->ep, "alpha");
    assert_string_equal(sn.v[1]->ep, "alpine");
    assert_true(registry_by_ep(&g, "alpine") == b);
    assert_null(registry_by_ep(&g, "alp"));
    /* removing the first posting moves the last into its slot */
    registry_remove(&g, a);
    assert_int_equal(order_count(&g, RD_ORD_BASE, "coap://h", 0, true), 2);
    assert_null(aidx_find(&g.idx, "rt", "y"));
    assert_int_equal(order_count(&g, RD_ORD_EP, "alpha", 0, true), 0);
    assert_null(registry_by_ep(&g, "alpha"));
    registry_remove(&g, b);
    sn.n = 0;
    rd_order_walk(&g, RD_ORD_BASE, "coap://h", 0, true, see_one, &sn);
    assert_int_equal(sn.n, 1);
    assert_true(sn.v[0] == c);
    /* an in-place change */
    assert_int_equal(reg_add_attr(c, "et", "e.f", true), 0);
    assert_null(aidx_find(&g.idx, "et", "e.f"));
    assert_int_equal(registry_changed(&g, c), 0);
    assert_int_equal(aidx_ent_count(aidx_find(&g.idx, "et", "e.f")), 1);
    /* a change that keeps the keys keeps the entries (joined before left) */
    e = aidx_find(&g.idx, "et", "e.f");
    assert_int_equal(registry_changed(&g, c), 0);
    assert_true(aidx_find(&g.idx, "et", "e.f") == e);
    assert_int_equal(aidx_ent_count(e), 1);
    assert_int_equal(c->naim, 1); /* et only (ep and base: the orders), nothing twice */
    /* a base change moves it in the base order, and counts as a change of
     * both bases (Observe) */
    aidx_touch_reset(&g.idx);
    registry_unindex(&g, c);
    assert_int_equal(reg_set_names(c, NULL, NULL, "coap://k/x", NULL), 0);
    registry_reindex(&g, c);
    assert_true(aidx_touched(&g.idx, "base", "coap://h"));
    assert_true(aidx_touched(&g.idx, "base", "coap://k/x"));
    assert_true(aidx_touched(&g.idx, LOOKUP_ORIGIN_KEY, "coap://k"));
    assert_true(aidx_touched(&g.idx, "ep", "beta"));
    assert_false(aidx_touched(&g.idx, "ep", "alpha"));
    assert_int_equal(order_count(&g, RD_ORD_BASE, "coap://h", 0, true), 0);
    assert_int_equal(order_count(&g, RD_ORD_BASE, "coap://k/x", 0, true), 1);
    /* its relative links go: the origin key (no membership) still counts
     * as touched, or an href observer under it would miss the change */
    assert_int_equal(reg_set_links(c, "</a>", 4, err, sizeof(err)), 0);
    assert_int_equal(registry_changed(&g, c), 0);
    aidx_touch_reset(&g.idx);
    assert_int_equal(reg_set_links(c, "<coap://z.example/a>", 20, err, sizeof(err)), 0);
    assert_int_equal(registry_changed(&g, c), 0);
    assert_true(aidx_touched(&g.idx, LOOKUP_ORIGIN_KEY, "coap://k"));
    assert_true(aidx_touched(&g.idx, "href", "coap://z.example/a"));
    reg_free(a);
    reg_free(b);
    registry_free(&g);
}

struct sorted {
    int k;
    const struct rd_reg *last;
    size_t n;
};

static int sorted_one(void *arg, const struct rd_reg *r)
{
    struct sorted *w = arg;

    if (w->last != NULL) {
        int c = w->k == RD_ORD_EP ? strcmp(w->last->ep, r->ep) : strcmp(w->last->base, r->base);
        assert_true(c < 0 || (c == 0 && w->last->id < r->id));
    }
    w->last = r;
    w->n++;
    return 0;
}

/* The orders against a plain scan: many registrations, few distinct
 * bases (one shared by hundreds), removals and base changes in between;
 * exact and prefix walks give exactly the matching ones, in (key, id)
 * order. */
static void test_orders_match_scan(void **state)
{
    enum { N = 1500 };
    static const char *const bases[] = {"coap://h", "coap://h:1", "coap://h/p", "coap://k"};
    struct registry g;
    struct rd_reg *r[N];
    bool in[N];
    struct rnd rr = {7};
    (void)state;

    assert_int_equal(registry_init(&g), 0);
    for (unsigned i = 0; i < N; i++) {
        char ep[32];
        r[i] = reg_new();
        r[i]->id = i + 1;
        snprintf(ep, sizeof(ep), "n%u", rnd(&rr, 400)); /* some eps repeat (other d) */
        assert_int_equal(reg_set_names(r[i], ep, NULL, bases[rnd(&rr, 4)], NULL), 0);
        assert_int_equal(registry_insert(&g, r[i]), 0);
        in[i] = true;
    }
    for (unsigned round = 0; round < 6; round++) {
        for (unsigned j = 0; j < N / 5; j++) {
            unsigned i = rnd(&rr, N);
            if (in[i] && rnd(&rr, 2)) {
                registry_remove(&g, r[i]);
                in[i] = false;
            } else if (in[i]) {
                registry_unindex(&g, r[i]);
                assert_int_equal(reg_set_names(r[i], NULL, NULL, bases[rnd(&rr, 4)], NULL), 0);
                registry_reindex(&g, r[i]);
            } else {
                assert_int_equal(registry_insert(&g, r[i]), 0);
                in[i] = true;
            }
        }
        static const char *const stems[] = {"n1", "n12", "n3", "n399", "n", "x", ""};
        for (unsigned s = 0; s < NELEM(stems); s++) {
            for (int exact = 0; exact < 2; exact++) {
                size_t want = 0, len = strlen(stems[s]);
                for (unsigned i = 0; i < N; i++)
                    want += in[i] && (exact ? strcmp(r[i]->ep, stems[s]) == 0
                                            : strncmp(r[i]->ep, stems[s], len) == 0);
                assert_int_equal(order_count(&g, RD_ORD_EP, stems[s], len, exact), want);
            }
        }
        for (unsigned b = 0; b < NELEM(bases); b++) {
            size_t want = 0, wantp = 0;
            for (unsigned i = 0; i < N; i++) {
                want += in[i] && strcmp(r[i]->base, bases[b]) == 0;
                wantp += in[i] && strncmp(r[i]->base, bases[b], strlen(bases[b])) == 0;
            }
            assert_true(want > 0);
            assert_int_equal(order_count(&g, RD_ORD_BASE, bases[b], 0, true), want);
            assert_int_equal(order_count(&g, RD_ORD_BASE, bases[b], strlen(bases[b]), false),
                             wantp);
        }
        /* each whole order holds every registration, sorted by (key, id) */
        size_t total = 0;
        for (unsigned i = 0; i < N; i++)
            total += in[i];
        for (int k = 0; k < RD_NORD; k++) {
            struct sorted w = {.k = k};
            assert_int_equal(rd_order_walk(&g, k, "", 0, false, sorted_one, &w), 0);
            assert_int_equal(w.n, total);
        }
    }
    for (unsigned i = 0; i < N; i++)
        if (!in[i])
            reg_free(r[i]);
    registry_free(&g);
}

/* A bulk build (the load at start) links the skip list once, in key order,
 * whether the list was empty or not; a removal in between ends it. */
static void test_bulk_build(void **state)
{
    struct registry g;
    struct rd_reg *r[6];
    const char *eps[6] = {"m", "d", "z", "a", "k", "b"};
    const char *order[6] = {"a", "b", "d", "k", "m", "z"};
    const struct aidx_ent *e;
    struct seen sn = {.n = 0};
    (void)state;

    assert_int_equal(registry_init(&g), 0);
    for (unsigned i = 0; i < 6; i++) {
        r[i] = reg_new();
        r[i]->id = i + 1;
        {
            char name_[RD_BASE_MAX];
            snprintf(name_, sizeof(name_), "%s", eps[i]);
            assert_int_equal(reg_set_names(r[i], name_, NULL, NULL, NULL), 0);
            assert_int_equal(reg_add_attr(r[i], "et", name_, true), 0);
        }
        {
            char name_[RD_BASE_MAX];
            snprintf(name_, sizeof(name_), "coap://h%u", i % 2);
            assert_int_equal(reg_set_names(r[i], NULL, NULL, name_, NULL), 0);
        }
    }
    aidx_bulk_begin(&g.idx);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(registry_insert(&g, r[i]), 0);
    assert_int_equal(aidx_ent_count(aidx_find(&g.idx, "et", "z")), 1); /* exact finds work */
    aidx_bulk_end(&g.idx);
    aidx_bulk_begin(&g.idx); /* into a list that is not empty */
    for (unsigned i = 3; i < 5; i++)
        assert_int_equal(registry_insert(&g, r[i]), 0);
    aidx_bulk_end(&g.idx);
    aidx_bulk_begin(&g.idx);
    assert_int_equal(registry_insert(&g, r[5]), 0);
    registry_remove(&g, r[1]); /* ends the bulk build, then removes "d" */
    assert_int_equal(registry_insert(&g, r[1]), 0);
    aidx_bulk_end(&g.idx);
    e = aidx_first_ge(&g.idx, "et", "");
    for (unsigned i = 0; i < 6; i++, e = aidx_ent_next(e)) {
        assert_true(aidx_ent_in_range(e, "et", "", 0));
        assert_string_equal(aidx_ent_reg(&g.idx, e, 0)->ep, order[i]);
    }
    assert_false(aidx_ent_in_range(e, "et", "", 0));
    rd_order_walk(&g, RD_ORD_EP, "", 0, false, see_one, &sn);
    assert_int_equal(sn.n, 6);
    for (unsigned i = 0; i < 6; i++)
        assert_string_equal(sn.v[i]->ep, order[i]);
    assert_int_equal(order_count(&g, RD_ORD_BASE, "coap://h0", 0, true), 3);
    registry_free(&g);
}

/* The expiry heap hands out registrations in the order of their events. */
static void test_expiry_heap(void **state)
{
    struct registry g;
    struct rnd r = {42};
    uint64_t last = 0;
    (void)state;

    assert_int_equal(registry_init(&g), 0);
    g.grace_ms = 1000;
    for (int i = 1; i <= 3000; i++) {
        struct rd_reg *x = reg_new();
        x->id = i;
        x->expires_at = 10000 + rnd(&r, 100000);
        assert_int_equal(registry_insert(&g, x), 0);
    }
    /* change some in place, remove some */
    for (int i = 1; i <= 3000; i += 7) {
        struct rd_reg *x = registry_by_id(&g, i);
        x->expires_at = rnd(&r, 200000);
        x->expired = rnd(&r, 2);
        assert_int_equal(registry_changed(&g, x), 0);
    }
    for (int i = 2; i <= 3000; i += 11) {
        struct rd_reg *x = registry_by_id(&g, i);
        registry_remove(&g, x);
        reg_free(x);
    }
    while (registry_next_due(&g)) {
        struct rd_reg *x = registry_next_due(&g);
        assert_true(x->due >= last);
        assert_true(x->due == (x->expired ? x->expires_at + 1000 : x->expires_at));
        last = x->due;
        registry_remove(&g, x);
        reg_free(x);
    }
    assert_int_equal(g.count, 0);
    registry_free(&g);
}

int main(void)
{
    log_init("test_lookup_index", LOG_LVL_WARN); /* thousands of changes */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_structure),    cmocka_unit_test(test_orders_match_scan),
        cmocka_unit_test(test_bulk_build),         cmocka_unit_test(test_expiry_heap),
        cmocka_unit_test(test_index_matches_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
