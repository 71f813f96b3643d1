/*
 * test_rd_request.c - the rd-frontend request dispatcher end to end, in
 * process: CoAP requests go in through rd_handle_request / ctl_dispatch
 * (as a relay's RD_REQUEST would), responses and ZeroMQ messages come out
 * of the outbox. Covers registration, replacement keeping the path, update,
 * GET/DELETE of the registration resource, default base from the (v4-mapped)
 * peer, every bad input code with nothing changed, lifetime expiry and the
 * grace period with a fake clock, the proxy extension (names, case, routes
 * published and deleted), Block2 and Block1, simple registration through
 * EP_REQUEST/EP_RESPONSE (base= refused there), the response cache, Observe
 * notifications, CTL status/list, persistence across a restart of the
 * frontend, repeated attributes (et twice) kept, matched and reloaded,
 * resource lookup without an anchor that was never registered, and the
 * hosting ports of port-based hosting (issue 18: given out in order, in the
 * 2.01, the lookup and the route, kept by updates, re-registrations and
 * restarts, released to quarantine, exhausted, dropped when the range no
 * longer holds them, given at start to proxied registrations without one).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "db_util.h"
#include "fe_harness.h"
#include "frontend.h"

#define LINKS "</temp>;rt=temperature;if=sensor,</light>;rt=light-lux"

static void test_register_update_get_delete(void **state)
{
    struct frontend *fe = fe_new();
    struct resp *r;
    (void)state;

    r = req(fe, COAP_POST, "rd", "ep=alice&lt=600", LINKS);
    assert_int_equal(r->code, COAP_CREATED);
    assert_string_equal(r->loc, "reg/1");
    r = req(fe, COAP_GET, "reg/1", NULL, NULL);
    assert_int_equal(r->code, COAP_CONTENT);
    assert_int_equal(r->cf, 40);
    assert_string_equal(r->payload, LINKS);
    r = req(fe, COAP_POST, "reg/1", "lt=50", NULL);
    assert_int_equal(r->code, COAP_CHANGED);
    assert_int_equal(r->plen, 0);
    assert_true(registry_by_id(&fe->reg, 1)->lt == 50);
    assert_true(registry_by_id(&fe->reg, 1)->expires_at == fe->now + 50000);
    /* trailing slash is the same resource */
    assert_int_equal(req(fe, COAP_POST, "reg/1/", NULL, NULL)->code, COAP_CHANGED);
    assert_int_equal(req(fe, COAP_DELETE, "reg/1", NULL, NULL)->code, COAP_DELETED);
    assert_int_equal(req(fe, COAP_DELETE, "reg/1", NULL, NULL)->code, COAP_NOT_FOUND);
    assert_int_equal(req(fe, COAP_GET, "reg/1/", NULL, NULL)->code, COAP_NOT_FOUND);
    assert_int_equal(req(fe, COAP_POST, "reg/1", NULL, NULL)->code, COAP_NOT_FOUND);
    assert_string_equal(lookup(fe, "rd-lookup/ep", NULL), "");
    fe_done(fe);
}

static void test_replace_keeps_path_ids_not_reused(void **state)
{
    struct frontend *fe = fe_new();
    struct resp *r;
    (void)state;

    assert_string_equal(req(fe, COAP_POST, "rd", "ep=alice", LINKS)->loc, "reg/1");
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=bob&d=lab", "</b>")->loc, "reg/2");
    r = req(fe, COAP_POST, "rd", "ep=alice&et=sensor", "</new>;rt=x");
    assert_int_equal(r->code, COAP_CREATED);
    assert_string_equal(r->loc, "reg/1");
    const char *res = lookup(fe, "rd-lookup/res", "ep=alice");
    assert_string_equal(res, "<coap://192.0.2.1:40000/new>;rt=\"x\"");
    assert_int_equal(req(fe, COAP_DELETE, "reg/2", NULL, NULL)->code, COAP_DELETED);
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=carol", "</c>")->loc, "reg/3");
    /* same ep, different sector: another registration */
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=alice&d=x", "</c>")->loc, "reg/4");
    assert_int_equal(fe->reg.count, 3);
    fe_done(fe);
}

static void test_base_from_peer_and_updates(void **state)
{
    struct frontend *fe = fe_new();
    (void)state;

    req(fe, COAP_POST, "rd", "ep=alice", LINKS);
    req(fe, COAP_POST, "rd", "ep=bob&base=coap://[2001:db8::5]", "</b>");
    const char *ep = lookup(fe, "rd-lookup/ep", NULL);
    assert_non_null(strstr(ep, "</reg/1>;ep=\"alice\";base=\"coap://192.0.2.1:40000\""));
    assert_non_null(strstr(ep, "</reg/2>;ep=\"bob\";base=\"coap://[2001:db8::5]\""));
    /* an update from a new port (NAT rebinding) moves a derived base, not an explicit one */
    set_peer("192.0.2.1:1234");
    assert_int_equal(req(fe, COAP_POST, "reg/1", "et=thing", NULL)->code, COAP_CHANGED);
    assert_int_equal(req(fe, COAP_POST, "reg/2", NULL, NULL)->code, COAP_CHANGED);
    ep = lookup(fe, "rd-lookup/ep", NULL);
    assert_non_null(strstr(ep, "base=\"coap://192.0.2.1:1234\";rt=\"core.rd-ep\";et=\"thing\""));
    assert_non_null(strstr(ep, "base=\"coap://[2001:db8::5]\""));
    /* an update's base replaces it and links resolve anew */
    assert_int_equal(req(fe, COAP_POST, "reg/1", "base=coaps://new.example.com", NULL)->code,
                     COAP_CHANGED);
    assert_non_null(
        strstr(lookup(fe, "rd-lookup/res", "ep=alice"), "<coaps://new.example.com/temp>"));
    fe_done(fe);
}

static void test_bad_input_changes_nothing(void **state)
{
    struct frontend *fe = fe_new();
    struct resp *r;
    char big[3000];
    (void)state;

    req(fe, COAP_POST, "rd", "ep=alice&lt=100", LINKS);
    memset(big, 'a', sizeof(big));
    memcpy(big, "</", 2);
    big[sizeof(big) - 2] = '>';
    big[sizeof(big) - 1] = '\0';
    struct {
        uint8_t code;
        const char *path, *query, *payload;
        int cf;
        uint8_t expect;
    } cases[] = {
        {COAP_POST, "rd", "lt=100", LINKS, 40, COAP_BAD_REQUEST},    /* missing ep */
        {COAP_POST, "rd", "ep=a&ep=b", LINKS, 40, COAP_BAD_REQUEST}, /* repeated */
        {COAP_POST, "rd", "ep=a&lt=0", LINKS, 40, COAP_BAD_REQUEST}, /* lt range */
        {COAP_POST, "rd", "ep=a&lt=4294967296", LINKS, 40, COAP_BAD_REQUEST},
        {COAP_POST, "rd", "ep=a&lt=ten", LINKS, 40, COAP_BAD_REQUEST},
        {COAP_POST, "rd", "ep=a", "{\"json\":1}", 50, COAP_UNSUPPORTED_CF}, /* not link-format */
        {COAP_POST, "rd", "ep=a", "</a>;rt=\"x", 40, COAP_BAD_REQUEST},     /* malformed */
        {COAP_POST, "rd", "ep=a", "not a link", -1, COAP_BAD_REQUEST},      /* malformed, no CF */
        {COAP_POST, "rd", "ep=a", big, 40, COAP_TOO_LARGE},                 /* > max_payload */
        {COAP_POST, "reg/1", "ep=x", NULL, -1, COAP_BAD_REQUEST},           /* ep in update */
        {COAP_POST, "reg/1", "d=x", NULL, -1, COAP_BAD_REQUEST},            /* d in update */
        {COAP_POST, "reg/1", "lt=0", NULL, -1, COAP_BAD_REQUEST},
        {COAP_POST, "reg/1", NULL, "</x>", 0, COAP_UNSUPPORTED_CF},
        {COAP_GET, "rd-lookup/ep", "page=1", NULL, -1, COAP_BAD_REQUEST}, /* page w/o count */
        {COAP_GET, "rd-lookup/res", "count=x", NULL, -1, COAP_BAD_REQUEST},
        {COAP_POST, "rd", "ep=a&proxy=maybe", LINKS, 40, COAP_BAD_REQUEST},
        {COAP_POST, "rd", "ep=a_b&proxy=yes", LINKS, 40, COAP_BAD_REQUEST}, /* not a label */
        {COAP_PUT, "rd", "ep=a", LINKS, 40, COAP_METHOD_NOT_ALLOWED},
        {COAP_DELETE, "rd-lookup/ep", NULL, NULL, -1, COAP_METHOD_NOT_ALLOWED},
        {COAP_GET, "nothing/here", NULL, NULL, -1, COAP_NOT_FOUND},
        {COAP_GET, "reg/99", NULL, NULL, -1, COAP_NOT_FOUND},
        {COAP_GET, "reg/abc", NULL, NULL, -1, COAP_NOT_FOUND},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r = reqx(fe, cases[i].code, cases[i].path, cases[i].query, cases[i].payload, cases[i].cf,
                 NULL);
        if (r->code != cases[i].expect)
            fail_msg("case %zu (%s?%s): got %d.%02d, want %d.%02d", i, cases[i].path,
                     cases[i].query ? cases[i].query : "", r->code >> 5, r->code & 31,
                     cases[i].expect >> 5, cases[i].expect & 31);
        assert_int_equal(r->cf, 0); /* text/plain diagnostic */
        assert_true(r->plen > 0);
    }
    r = req(fe, COAP_POST, "rd", "ep=a_b&proxy=yes", LINKS);
    assert_non_null(strstr(r->payload, "DNS label"));
    /* nothing changed */
    assert_int_equal(fe->reg.count, 1);
    struct rd_reg *a = registry_by_id(&fe->reg, 1);
    assert_int_equal(a->lt, 100);
    assert_string_equal(a->links, LINKS);
    assert_int_equal(count_out(fe, RR_MSG_ROUTE_UPDATE), 0);
    fe_done(fe);
}

static void test_proxy_without_domain(void **state)
{
    struct frontend *fe = fe_new_db(":memory:", "");
    struct resp *r;
    (void)state;

    r = req(fe, COAP_POST, "rd", "ep=alice&proxy=yes", LINKS);
    assert_int_equal(r->code, COAP_BAD_REQUEST);
    assert_non_null(strstr(r->payload, "proxy domain"));
    assert_int_equal(req(fe, COAP_POST, "rd", "ep=alice", LINKS)->code, COAP_CREATED);
    fe_done(fe);
}

static void test_expiry_and_grace(void **state)
{
    struct frontend *fe = fe_new();
    struct rr_route rt;
    uint64_t seq;
    (void)state;

    req(fe, COAP_POST, "rd", "ep=short&lt=10&proxy=yes", LINKS);
    req(fe, COAP_POST, "rd", "ep=long&lt=1000", "</l>");
    fe_outbox_clear(fe);
    fe->now += 9999;
    rd_tick(fe);
    assert_non_null(strstr(lookup(fe, "rd-lookup/ep", NULL), "ep=\"short\""));
    fe->now += 1;
    /* out of lookups at once, even before the tick ran */
    assert_null(strstr(lookup(fe, "rd-lookup/ep", NULL), "ep=\"short\""));
    assert_string_equal(lookup(fe, "rd-lookup/res", "ep=short"), "");
    rd_tick(fe);
    assert_true(route_at(fe, 0, &rt, &seq));
    assert_string_equal(rt.host, "short.proxy.localhost");
    assert_true(rt.flags & RR_ROUTE_DELETED);
    /* refreshable during the grace period, same path */
    fe->now += 50000;
    assert_int_equal(req(fe, COAP_POST, "reg/1", NULL, NULL)->code, COAP_CHANGED);
    assert_non_null(strstr(lookup(fe, "rd-lookup/ep", NULL), "</reg/1>;ep=\"short\""));
    assert_true(route_at(fe, 1, &rt, &seq));
    assert_false(rt.flags & RR_ROUTE_DELETED);
    /* expire again and let the grace period (100 s) pass */
    fe->now += 10000;
    rd_tick(fe);
    fe->now += 100000;
    rd_tick(fe);
    assert_null(registry_by_id(&fe->reg, 1));
    assert_int_equal(req(fe, COAP_POST, "reg/1", NULL, NULL)->code, COAP_NOT_FOUND);
    /* the path is never handed out again */
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=short", LINKS)->loc, "reg/3");
    fe_done(fe);
}

static void test_proxy_names_and_routes(void **state)
{
    struct frontend *fe = fe_new();
    struct rr_route rt;
    uint64_t seq = 0, seq2 = 0;
    struct resp *r;
    char a[RR_ADDRSTRLEN];
    (void)state;

    r = req(fe, COAP_POST, "rd", "ep=RIOT-0123ABCD&proxy=on&ka=0", LINKS);
    assert_int_equal(r->code, COAP_CREATED);
    assert_true(route_at(fe, 0, &rt, &seq));
    assert_string_equal(rt.host, "riot-0123abcd.proxy.localhost");
    assert_string_equal(rt.ep, "RIOT-0123ABCD");
    assert_string_equal(rt.reg_path, "/reg/1");
    assert_int_equal(rt.ka, 0);
    assert_string_equal(rt.path.relay, "udp");
    assert_string_equal(addr_to_str(&rt.path.remote, a, sizeof(a)), "192.0.2.1:40000");
    assert_false(rt.flags & RR_ROUTE_DELETED);
    const char *ep = lookup(fe, "rd-lookup/ep", NULL);
    assert_non_null(
        strstr(ep, "ep=\"RIOT-0123ABCD\";base=\"coap://riot-0123abcd.proxy.localhost\""));
    assert_non_null(strstr(ep, "proxy=\"yes\""));
    /* the status page's attributes: host name, path back, end of the lifetime */
    assert_non_null(strstr(ep, ";reachable-since=\"")); /* since it registered */
    assert_non_null(strstr(ep, ";host=\"riot-0123abcd.proxy.localhost\";transport=\"udp\";"
                               "relay=\"udp\";expires=\""));
    assert_int_equal(req(fe, COAP_POST, "rd", "ep=spoof&reachable-since=x", LINKS)->code,
                     COAP_BAD_REQUEST);
    /* a registrant cannot set what the RD computes */
    r = req(fe, COAP_POST, "rd", "ep=spoof&proxy=yes&host=evil.example", LINKS);
    assert_int_equal(r->code, COAP_BAD_REQUEST);
    r = req(fe, COAP_POST, "rd", "ep=spoof&reachable=no", LINKS);
    assert_int_equal(r->code, COAP_BAD_REQUEST);
    assert_int_equal(req(fe, COAP_POST, "reg/1", "expires=2100-01-01T00:00:00Z", NULL)->code,
                     COAP_BAD_REQUEST);
    /* an update from a new NAT binding (same address, new port) moves the route */
    set_peer("192.0.2.1:6000");
    assert_int_equal(req(fe, COAP_POST, "reg/1", NULL, NULL)->code, COAP_CHANGED);
    assert_true(route_at(fe, 1, &rt, &seq2));
    assert_true(seq2 == seq + 1);
    assert_string_equal(addr_to_str(&rt.path.remote, a, sizeof(a)), "192.0.2.1:6000");
    /* the same name in another case is the same registration */
    r = req(fe, COAP_POST, "rd", "ep=riot-0123abcd&proxy=yes", LINKS);
    assert_string_equal(r->loc, "reg/1");
    assert_int_equal(fe->reg.count, 1);
    /* a sector is part of the name */
    r = req(fe, COAP_POST, "rd", "ep=node&d=Lab&proxy=ondemand", LINKS);
    assert_string_equal(r->loc, "reg/2");
    assert_non_null(registry_by_host(&fe->reg, "node.lab.proxy.localhost"));
    assert_non_null(strstr(lookup(fe, "rd-lookup/ep", "ep=node"), "proxy=\"ondemand\""));
    /* reachability from a relay shows in endpoint lookup */
    rd_on_reachability(fe, "NODE.lab.proxy.localhost", false, 0);
    assert_non_null(strstr(lookup(fe, "rd-lookup/ep", "ep=node"),
                           "reachable=\"no\";unreachable-since=\"1970-01-01T00:00:00Z\""));
    assert_int_equal(req(fe, COAP_POST, "reg/2", NULL, NULL)->code, COAP_CHANGED);
    /* an update makes it reachable again, from now */
    assert_null(strstr(lookup(fe, "rd-lookup/ep", "ep=node"), "reachable=\"no\""));
    assert_null(strstr(lookup(fe, "rd-lookup/ep", "ep=node"), "unreachable-since"));
    assert_non_null(strstr(lookup(fe, "rd-lookup/ep", "ep=node"), ";reachable-since=\""));
    /* delete removes the route at once */
    fe_outbox_clear(fe);
    assert_int_equal(req(fe, COAP_DELETE, "reg/2", NULL, NULL)->code, COAP_DELETED);
    assert_true(route_at(fe, 0, &rt, &seq));
    assert_string_equal(rt.host, "node.lab.proxy.localhost");
    assert_true(rt.flags & RR_ROUTE_DELETED);
    /* a plain refresh never fails, even if the proxy domain went away */
    fe->cfg.proxy_domain[0] = '\0';
    assert_int_equal(req(fe, COAP_POST, "reg/1", NULL, NULL)->code, COAP_CHANGED);
    snprintf(fe->cfg.proxy_domain, sizeof(fe->cfg.proxy_domain), "proxy.localhost");
    /* snapshot: the one remaining route, then the end marker */
    fe_outbox_clear(fe);
    routes_snapshot(fe, (const uint8_t *)"udp", 3, 77);
    assert_int_equal(count_out(fe, RR_MSG_SNAPSHOT_ROUTE), 1);
    assert_int_equal(count_out(fe, RR_MSG_SNAPSHOT_END), 1);
    fe_done(fe);
}

static void test_block2(void **state)
{
    struct frontend *fe = fe_new();
    char links[1900];
    size_t n = 0;
    struct resp *r;
    (void)state;

    for (int i = 0; n + 40 < sizeof(links); i++)
        n += (size_t)snprintf(links + n, sizeof(links) - n, "%s</sensor/%03d>;rt=t", i ? "," : "",
                              i);
    assert_int_equal(req(fe, COAP_POST, "rd", "ep=many", links)->code, COAP_CREATED);
    r = req(fe, COAP_GET, "rd-lookup/res", NULL, NULL);
    assert_int_equal(r->code, COAP_CONTENT);
    assert_true(r->has_b2);
    assert_int_equal(r->b2, coap_block_encode(0, true, 6));
    assert_int_equal(r->plen, 1024);
    size_t total = r->size2;
    assert_true(total > 2048 && total < 16384);
    static char whole[16384];
    memcpy(whole, r->payload, r->plen);
    size_t got = r->plen;
    for (uint32_t num = 1; got < total; num++) {
        struct xopt bx[] = {{COAP_OPT_BLOCK2, coap_block_encode(num, false, 6)}, {0, 0}};
        r = reqx(fe, COAP_GET, "rd-lookup/res", NULL, NULL, -1, bx);
        assert_int_equal(r->code, COAP_CONTENT);
        bool more = got + r->plen < total;
        assert_int_equal(r->b2, coap_block_encode(num, more, 6));
        assert_int_equal(r->plen, more ? 1024 : total - got);
        memcpy(whole + got, r->payload, r->plen);
        got += r->plen;
    }
    whole[total] = '\0';
    assert_non_null(strstr(whole, "<coap://192.0.2.1:40000/sensor/000>"));
    assert_non_null(strstr(whole, "<coap://192.0.2.1:40000/sensor/040>"));
    assert_int_equal(strlen(whole), total);
    /* the client's smaller block size wins */
    struct xopt small[] = {{COAP_OPT_BLOCK2, coap_block_encode(2, false, 2)}, {0, 0}};
    r = reqx(fe, COAP_GET, "rd-lookup/res", NULL, NULL, -1, small);
    assert_int_equal(r->plen, 64);
    assert_int_equal(r->b2, coap_block_encode(2, true, 2));
    assert_memory_equal(r->payload, whole + 128, 64);
    struct xopt past[] = {{COAP_OPT_BLOCK2, coap_block_encode(9, false, 6)}, {0, 0}};
    assert_int_equal(reqx(fe, COAP_GET, "rd-lookup/res", NULL, NULL, -1, past)->code,
                     COAP_BAD_OPTION);
    /* small answers carry no Block2 */
    assert_false(req(fe, COAP_GET, "rd-lookup/ep", NULL, NULL)->has_b2);
    fe_done(fe);
}

static void test_block1_registration(void **state)
{
    struct frontend *fe = fe_new();
    const char *full = "</a>;rt=\"one\",</b>;rt=\"two\",</c>;rt=\"three\",</d>;rt=\"four\",</e>";
    char part[64];
    struct resp *r;
    (void)state;

    /* 32-byte blocks (szx 1) */
    size_t len = strlen(full), nblk = (len + 31) / 32;
    for (size_t i = 0; i < nblk; i++) {
        bool more = i + 1 < nblk;
        size_t l = more ? 32 : len - i * 32;
        memcpy(part, full + i * 32, l);
        part[l] = '\0';
        struct xopt x[] = {{COAP_OPT_BLOCK1, coap_block_encode((uint32_t)i, more, 1)}, {0, 0}};
        r = reqx(fe, COAP_POST, "rd", "ep=blocky", part, 40, x);
        assert_true(r->has_b1);
        assert_int_equal(r->b1, coap_block_encode((uint32_t)i, more, 1));
        assert_int_equal(r->code, more ? COAP_CONTINUE : COAP_CREATED);
    }
    assert_string_equal(r->loc, "reg/1");
    assert_string_equal(registry_by_id(&fe->reg, 1)->links, full);
    /* a block out of sequence */
    struct xopt x3[] = {{COAP_OPT_BLOCK1, coap_block_encode(3, true, 1)}, {0, 0}};
    assert_int_equal(
        reqx(fe, COAP_POST, "rd", "ep=other", "</zzzzzzzzzzzzzzzzzzzzzzzzzzzzz>", 40, x3)->code,
        COAP_REQUEST_INCOMPLETE);
    fe_done(fe);
}

/* Decode the first message of a type in the outbox. */
static struct rd_out *first_out(struct frontend *fe, uint16_t type)
{
    for (struct rd_out *o = fe->out_head; o; o = o->next)
        if (o->type == type)
            return o;
    return NULL;
}

/* Send an RD_REQUEST through the dispatcher, as relay "udp" would. */
static void dispatch_request(struct frontend *fe, uint64_t req_id, const uint8_t *coap, size_t len)
{
    uint8_t body[4096];
    struct wire_w w;

    wire_w_init(&w, body, sizeof(body));
    wire_put_u64(&w, req_id);
    proto_put_peer(&w, &peer_udp);
    wire_put_bytes(&w, coap, len);
    ctl_dispatch(fe, (const uint8_t *)"udp", 3, RR_MSG_RD_REQUEST, body, w.len);
}

static void response_of(struct rd_out *o, uint64_t *req_id, struct resp *r)
{
    struct wire_r w;
    const uint8_t *p;
    size_t n;

    assert_non_null(o);
    wire_r_init(&w, o->body, o->len);
    *req_id = wire_get_u64(&w);
    n = wire_get_bytes(&w, &p);
    assert_false(w.err);
    parse_resp(p, n, r);
}

static void test_response_cache(void **state)
{
    struct frontend *fe = fe_new();
    uint8_t buf[512];
    size_t n = build(COAP_POST, "rd", "ep=once", LINKS, 40, NULL, buf, sizeof(buf));
    struct resp r1, r2;
    uint64_t id;
    (void)state;

    dispatch_request(fe, 500, buf, n);
    dispatch_request(fe, 500, buf, n); /* the relay re-sends while waiting */
    assert_int_equal(count_out(fe, RR_MSG_RD_RESPONSE), 2);
    assert_int_equal(fe->registrations_made, 1);
    struct rd_out *o = first_out(fe, RR_MSG_RD_RESPONSE);
    response_of(o, &id, &r1);
    response_of(o->next, &id, &r2);
    assert_true(id == 500);
    assert_int_equal(r1.code, COAP_CREATED);
    assert_int_equal(r2.code, COAP_CREATED);
    assert_string_equal(r2.loc, "reg/1");
    assert_memory_equal(o->ident, "udp", 3);
    fe_done(fe);
}

static void test_simple_registration(void **state)
{
    struct frontend *fe = fe_new();
    uint8_t buf[512], resp[512];
    size_t n =
        build(COAP_POST, ".well-known/rd", "ep=simple&lt=300", NULL, -1, NULL, buf, sizeof(buf));
    struct rd_out *o;
    struct wire_r w;
    struct rr_peer path;
    const uint8_t *p;
    uint64_t ep_req_id, id;
    struct coap_msg m;
    struct resp r;
    char a[RR_ADDRSTRLEN];
    (void)state;

    dispatch_request(fe, 900, buf, n);
    dispatch_request(fe, 900, buf, n); /* repeat while pending: not started twice */
    assert_int_equal(count_out(fe, RR_MSG_EP_REQUEST), 1);
    assert_int_equal(count_out(fe, RR_MSG_RD_RESPONSE), 0);
    o = first_out(fe, RR_MSG_EP_REQUEST);
    assert_memory_equal(o->ident, "udp", 3);
    wire_r_init(&w, o->body, o->len);
    ep_req_id = wire_get_u64(&w);
    proto_get_peer(&w, &path);
    size_t cl = wire_get_bytes(&w, &p);
    assert_false(w.err);
    assert_string_equal(addr_to_str(&path.remote, a, sizeof(a)), "192.0.2.1:40000");
    assert_int_equal(coap_msg_parse_udp(p, cl, &m), 0);
    assert_int_equal(m.code, COAP_GET);
    char up[64];
    assert_int_equal(coap_msg_uri_path(&m, up, sizeof(up)), 0);
    assert_string_equal(up, "/.well-known/core");
    /* the endpoint answers 2.05 with its links */
    coap_msg_init(&m);
    m.type = COAP_T_ACK;
    m.code = COAP_CONTENT;
    uint8_t cfb[4];
    coap_msg_add_opt_uint(&m, COAP_OPT_CONTENT_FORMAT, 40, cfb);
    m.payload = (const uint8_t *)"</sen/temp>;rt=temp";
    m.payload_len = strlen((const char *)m.payload);
    ssize_t rl = coap_msg_serialize_udp(&m, resp, sizeof(resp));
    fe_outbox_clear(fe);
    rd_on_ep_response(fe, ep_req_id, RR_EP_OK, resp, (size_t)rl);
    response_of(first_out(fe, RR_MSG_RD_RESPONSE), &id, &r);
    assert_true(id == 900);
    assert_int_equal(r.code, COAP_CHANGED);
    assert_string_equal(r.loc, "");
    assert_string_equal(lookup(fe, "rd-lookup/res", "ep=simple"),
                        "<coap://192.0.2.1:40000/sen/temp>;rt=\"temp\"");
    /* a later repeat is answered from the cache */
    fe_outbox_clear(fe);
    dispatch_request(fe, 900, buf, n);
    assert_int_equal(count_out(fe, RR_MSG_EP_REQUEST), 0);
    response_of(first_out(fe, RR_MSG_RD_RESPONSE), &id, &r);
    assert_int_equal(r.code, COAP_CHANGED);

    /* old URI, endpoint times out -> 5.04; unreachable -> 5.02 */
    n = build(COAP_POST, ".well-known/core", "ep=slow", NULL, -1, NULL, buf, sizeof(buf));
    fe_outbox_clear(fe);
    dispatch_request(fe, 901, buf, n);
    wire_r_init(&w, first_out(fe, RR_MSG_EP_REQUEST)->body, first_out(fe, RR_MSG_EP_REQUEST)->len);
    ep_req_id = wire_get_u64(&w);
    rd_on_ep_response(fe, ep_req_id, RR_EP_TIMEOUT, NULL, 0);
    response_of(first_out(fe, RR_MSG_RD_RESPONSE), &id, &r);
    assert_int_equal(r.code, COAP_GATEWAY_TIMEOUT);
    fe_outbox_clear(fe);
    /* RFC 9176 §5.1: no base in simple registration; 4.00, nothing fetched or registered */
    n = build(COAP_POST, ".well-known/rd", "ep=based&base=coap://[2001:db8::9]:7777", NULL, -1,
              NULL, buf, sizeof(buf));
    dispatch_request(fe, 904, buf, n);
    assert_int_equal(count_out(fe, RR_MSG_EP_REQUEST), 0);
    response_of(first_out(fe, RR_MSG_RD_RESPONSE), &id, &r);
    assert_true(id == 904);
    assert_int_equal(r.code, COAP_BAD_REQUEST);
    assert_non_null(strstr(r.payload, "base"));
    assert_null(fe->pending);
    assert_string_equal(lookup(fe, "rd-lookup/ep", "ep=based"), "");
    fe_outbox_clear(fe);
    n = build(COAP_POST, ".well-known/core", "ep=based&base=coap://[2001:db8::9]", NULL, -1, NULL,
              buf, sizeof(buf));
    dispatch_request(fe, 905, buf, n);
    assert_int_equal(count_out(fe, RR_MSG_EP_REQUEST), 0);
    response_of(first_out(fe, RR_MSG_RD_RESPONSE), &id, &r);
    assert_int_equal(r.code, COAP_BAD_REQUEST);
    fe_outbox_clear(fe);
    n = build(COAP_POST, ".well-known/rd", "ep=gone", NULL, -1, NULL, buf, sizeof(buf));
    set_peer("[2001:db8::9]:7777");
    dispatch_request(fe, 902, buf, n);
    wire_r_init(&w, first_out(fe, RR_MSG_EP_REQUEST)->body, first_out(fe, RR_MSG_EP_REQUEST)->len);
    ep_req_id = wire_get_u64(&w);
    proto_get_peer(&w, &path);
    /* fetched from where the request came from */
    assert_string_equal(addr_to_str(&path.remote, a, sizeof(a)), "[2001:db8::9]:7777");
    rd_on_ep_response(fe, ep_req_id, RR_EP_UNREACHABLE, NULL, 0);
    response_of(first_out(fe, RR_MSG_RD_RESPONSE), &id, &r);
    assert_int_equal(r.code, COAP_BAD_GATEWAY);
    /* no answer at all: the frontend's own deadline */
    fe_outbox_clear(fe);
    n = build(COAP_POST, ".well-known/rd", "ep=silent", NULL, -1, NULL, buf, sizeof(buf));
    dispatch_request(fe, 903, buf, n);
    fe->now += fe->cfg.upstream_timeout_ms + 60000;
    rd_tick(fe);
    response_of(first_out(fe, RR_MSG_RD_RESPONSE), &id, &r);
    assert_true(id == 903);
    assert_int_equal(r.code, COAP_GATEWAY_TIMEOUT);
    assert_null(fe->pending);
    fe_done(fe);
}

static void test_observe(void **state)
{
    struct frontend *fe = fe_new();
    struct xopt obs[] = {{COAP_OPT_OBSERVE, 0}, {0, 0}};
    struct resp *r;
    struct rd_out *o;
    (void)state;

    r = reqx(fe, COAP_GET, "rd-lookup/ep", "ep=watched", NULL, -1, obs);
    assert_int_equal(r->code, COAP_CONTENT);
    assert_true(r->has_obs);
    assert_int_equal(r->plen, 0);
    uint8_t tok = (uint8_t)(next_req_id - 1);
    assert_int_equal(fe->nobservers, 1);
    /* an unrelated change: no notification */
    fe_outbox_clear(fe);
    req(fe, COAP_POST, "rd", "ep=other", LINKS);
    observe_flush(fe);
    assert_int_equal(count_out(fe, RR_MSG_RD_NOTIFY), 0);
    /* a matching registration: notified */
    req(fe, COAP_POST, "rd", "ep=watched", LINKS);
    observe_flush(fe);
    o = first_out(fe, RR_MSG_RD_NOTIFY);
    assert_non_null(o);
    assert_memory_equal(o->ident, "udp", 3);
    struct wire_r w;
    struct rr_peer p;
    const uint8_t *c;
    wire_r_init(&w, o->body, o->len);
    proto_get_peer(&w, &p);
    assert_int_equal(wire_get_u8(&w), 1);
    size_t cl = wire_get_bytes(&w, &c);
    assert_false(w.err);
    struct resp n;
    parse_resp(c, cl, &n);
    assert_int_equal(n.code, COAP_CONTENT);
    assert_true(n.has_obs);
    assert_true(n.obs > r->obs || r->obs == 0);
    assert_non_null(strstr(n.payload, "ep=\"watched\""));
    /* expiry of the watched one notifies too */
    fe_outbox_clear(fe);
    req(fe, COAP_DELETE, "reg/2", NULL, NULL);
    observe_flush(fe);
    assert_int_equal(count_out(fe, RR_MSG_RD_NOTIFY), 1);
    /* the relay says the client is gone */
    uint8_t body[256];
    struct wire_w ww;
    wire_w_init(&ww, body, sizeof(body));
    proto_put_peer(&ww, &peer_udp);
    uint8_t token[2] = {0xab, tok};
    wire_put_bytes(&ww, token, 2);
    ctl_dispatch(fe, (const uint8_t *)"udp", 3, RR_MSG_OBSERVE_GONE, body, ww.len);
    assert_int_equal(fe->nobservers, 0);
    fe_done(fe);
}

/* The observer index (observe.c): after each change exactly the observers
 * whose answer changed are notified, keyed filters (ep, et, d, rt) and
 * unkeyed ones (prefix, none) alike; a deregistered or re-registered
 * observer leaves its old keys (ASan: no dangling chain node). */
static void test_observe_index(void **state)
{
    static const struct {
        const char *which, *q;
    } f[] = {
        {"rd-lookup/ep", "ep=w1"}, {"rd-lookup/ep", "et=t2"}, {"rd-lookup/res", "rt=r3"},
        {"rd-lookup/ep", "ep=w*"}, {"rd-lookup/ep", NULL},    {"rd-lookup/res", "if=i1&ep=w2"},
        {"rd-lookup/ep", "d=s1"},  {"rd-lookup/ep", "et=t9"}, {"rd-lookup/res", "rt=r3&d=s1"},
    };
    static const struct {
        const char *q, *links;
    } ch[] = {
        {"ep=w1", "</a>;rt=r3"}, {"ep=w2&et=t2", "</b>;if=i1"}, {"ep=x&d=s1", "</c>;rt=r3"},
        {"ep=y", "</d>;rt=zz"},  {"ep=w1&et=t9", "</a>;rt=r4"}, {"ep=w2&et=t2", "</b>;if=i1"},
        {"ep=z&d=s2", "</e>"},
    };
    enum { NF = sizeof(f) / sizeof(f[0]) };
    static char before[NF][8192];
    struct xopt obs[] = {{COAP_OPT_OBSERVE, 0}, {0, 0}};
    struct frontend *fe = fe_new();
    (void)state;

    uint8_t tok0 = (uint8_t)next_req_id; /* the harness's token for the next request */
    for (unsigned k = 0; k < NF; k++)
        assert_true(reqx(fe, COAP_GET, f[k].which, f[k].q, NULL, -1, obs)->has_obs);
    assert_int_equal(fe->nobservers, NF);
    for (unsigned c = 0; c < sizeof(ch) / sizeof(ch[0]); c++) {
        int expected = 0;
        for (unsigned k = 0; k < NF; k++)
            snprintf(before[k], sizeof(before[k]), "%s", lookup(fe, f[k].which, f[k].q));
        observe_flush(fe); /* nothing changed yet */
        fe_outbox_clear(fe);
        assert_int_equal(req(fe, COAP_POST, "rd", ch[c].q, ch[c].links)->code, COAP_CREATED);
        for (unsigned k = 0; k < NF; k++)
            expected += strcmp(before[k], lookup(fe, f[k].which, f[k].q)) != 0;
        observe_flush(fe);
        if (count_out(fe, RR_MSG_RD_NOTIFY) != expected)
            fail_msg("change %u (%s): %d notifications, %d answers changed", c, ch[c].q,
                     count_out(fe, RR_MSG_RD_NOTIFY), expected);
    }
    /* observer 0 (ep=w1) is gone: its chain node goes with it */
    uint8_t body[256], token[2] = {0xab, tok0};
    struct wire_w ww;
    wire_w_init(&ww, body, sizeof(body));
    proto_put_peer(&ww, &peer_udp);
    wire_put_bytes(&ww, token, 2);
    ctl_dispatch(fe, (const uint8_t *)"udp", 3, RR_MSG_OBSERVE_GONE, body, ww.len);
    assert_int_equal(fe->nobservers, NF - 1);
    fe_outbox_clear(fe);
    req(fe, COAP_POST, "rd", "ep=w1&et=t5", "</a>");
    observe_flush(fe); /* ep=w*, no filter, et=t9 (w1 left it) */
    assert_int_equal(count_out(fe, RR_MSG_RD_NOTIFY), 3);
    fe_done(fe); /* frees observers: every chain node with them */
}

static void test_ctl_status_list(void **state)
{
    struct frontend *fe = fe_new();
    uint8_t body[256];
    struct wire_w w;
    struct wire_r rr;
    char text[4096];
    (void)state;

    req(fe, COAP_POST, "rd", "ep=alice&proxy=yes", LINKS);
    fe_outbox_clear(fe);
    wire_w_init(&w, body, sizeof(body));
    wire_put_str(&w, "status");
    wire_put_str(&w, "");
    ctl_dispatch(fe, (const uint8_t *)"\0ctl", 4, RR_MSG_CTL_REQUEST, body, w.len);
    wire_w_init(&w, body, sizeof(body));
    wire_put_str(&w, "list");
    wire_put_str(&w, "");
    ctl_dispatch(fe, (const uint8_t *)"\0ctl", 4, RR_MSG_CTL_REQUEST, body, w.len);
    wire_w_init(&w, body, sizeof(body));
    wire_put_str(&w, "frobnicate");
    wire_put_str(&w, "");
    ctl_dispatch(fe, (const uint8_t *)"\0ctl", 4, RR_MSG_CTL_REQUEST, body, w.len);
    assert_int_equal(count_out(fe, RR_MSG_CTL_RESPONSE), 3);
    struct rd_out *o = first_out(fe, RR_MSG_CTL_RESPONSE);
    wire_r_init(&rr, o->body, o->len);
    assert_int_equal(wire_get_u8(&rr), 1);
    wire_get_str(&rr, text, sizeof(text));
    assert_non_null(strstr(text, "\"registrations\":1"));
    assert_non_null(strstr(text, "\"proxied\":1"));
    wire_r_init(&rr, o->next->body, o->next->len);
    assert_int_equal(wire_get_u8(&rr), 1);
    wire_get_str(&rr, text, sizeof(text));
    assert_non_null(strstr(text, "[{\"ep\":\"alice\",\"d\":\"\",\"path\":\"/reg/1\","
                                 "\"host\":\"alice.proxy.localhost\""));
    assert_non_null(strstr(text, "\"reachable\":true"));
    wire_r_init(&rr, o->next->next->body, o->next->next->len);
    assert_int_equal(wire_get_u8(&rr), 0);
    fe_done(fe);
}

static void test_restart_keeps_registrations(void **state)
{
    char path[] = "/tmp/test_rd_request_XXXXXX";
    int fd = mkstemp(path);
    struct frontend *fe;
    uint64_t epoch1, now;
    (void)state;

    assert_true(fd >= 0);
    close(fd);
    fe = fe_new_db(path, "proxy.localhost");
    req(fe, COAP_POST, "rd", "ep=alice&lt=1000&proxy=yes", LINKS);
    req(fe, COAP_POST, "rd", "ep=bob&lt=5", "</b>");
    req(fe, COAP_POST, "rd", "ep=carol", "</c>");
    req(fe, COAP_DELETE, "reg/3", NULL, NULL);
    epoch1 = fe->epoch;
    now = fe->now;
    fe_done(fe); /* like kill -9: nothing but the store survives */

    fe = fe_new_db(path, "proxy.localhost");
    fe->now = now + 6000; /* bob has expired meanwhile, but is in its grace period */
    assert_true(fe->epoch != epoch1);
    assert_int_equal(fe->reg.count, 2);
    const char *ep = lookup(fe, "rd-lookup/ep", NULL);
    assert_non_null(strstr(ep, "</reg/1>;ep=\"alice\";base=\"coap://alice.proxy.localhost\""));
    assert_null(strstr(ep, "bob"));
    routes_snapshot(fe, (const uint8_t *)"udp", 3, 1);
    assert_int_equal(count_out(fe, RR_MSG_SNAPSHOT_ROUTE), 1);
    assert_int_equal(req(fe, COAP_POST, "reg/2", NULL, NULL)->code, COAP_CHANGED);
    assert_non_null(strstr(lookup(fe, "rd-lookup/ep", NULL), "</reg/2>;ep=\"bob\""));
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=dave", "</d>")->loc, "reg/4");
    fe_done(fe);
    rm_db(path);
}

/* Issue 15 item 1: repeated et (RFC 9176 §9.3.1) and other repeated
 * attributes: kept, shown one by one, each a filter, replaced as a set by an
 * update naming them, and the same after a restart (reloaded from SQLite). */
/* s without its ;expires="..." attributes (they depend on the clock). */
static const char *no_expires(const char *s)
{
    static char out[4096];
    size_t n = 0;

    while (*s && n + 1 < sizeof(out)) {
        if (strncmp(s, ";expires=\"", 10) == 0) {
            const char *q = strchr(s + 10, '"');
            assert_non_null(q);
            s = q + 1;
            continue;
        }
        out[n++] = *s++;
    }
    out[n] = '\0';
    return out;
}

static void test_repeated_attributes(void **state)
{
    char path[] = "/tmp/test_rd_request_XXXXXX";
    int fd = mkstemp(path);
    struct frontend *fe;
    struct resp *r;
    uint64_t now;
    const char *shown = "</reg/1>;ep=\"multi\";base=\"coap://192.0.2.1:40000\";"
                        "rt=\"core.rd-ep\";et=\"a.b\";et=\"c.d\";tag=1;tag=2;flag";
    (void)state;

    assert_true(fd >= 0);
    close(fd);
    fe = fe_new_db(path, "proxy.localhost");
    r = req(fe, COAP_POST, "rd", "ep=multi&et=a.b&et=c.d&tag=1&tag=2&flag", LINKS);
    assert_int_equal(r->code, COAP_CREATED);
    req(fe, COAP_POST, "rd", "ep=single&et=a.b", "</s>");
    assert_string_equal(no_expires(lookup(fe, "rd-lookup/ep", "ep=multi")), shown);
    assert_string_equal(no_expires(lookup(fe, "rd-lookup/ep", "et=c.d")), shown);
    assert_non_null(strstr(lookup(fe, "rd-lookup/ep", "et=a.b"), "</reg/1>"));
    assert_non_null(strstr(lookup(fe, "rd-lookup/ep", "et=a.b"), "</reg/2>"));
    /* two et filters are ANDed: only the endpoint with both */
    assert_string_equal(no_expires(lookup(fe, "rd-lookup/ep", "et=a.b&et=c.d")), shown);
    assert_non_null(strstr(lookup(fe, "rd-lookup/res", "et=c.d"), "/light>"));
    assert_string_equal(lookup(fe, "rd-lookup/ep", "tag=2&ep=single"), "");
    now = fe->now;
    fe_done(fe);

    fe = fe_new_db(path, "proxy.localhost");
    fe->now = now;
    assert_string_equal(no_expires(lookup(fe, "rd-lookup/ep", "et=c.d")), shown);
    /* an update with et replaces every et value; other attributes stay */
    assert_int_equal(req(fe, COAP_POST, "reg/1", "et=e.f&et=g.h", NULL)->code, COAP_CHANGED);
    assert_string_equal(no_expires(lookup(fe, "rd-lookup/ep", "et=a.b")),
                        "</reg/2>;ep=\"single\";base=\"coap://192.0.2.1:40000\";"
                        "rt=\"core.rd-ep\";et=\"a.b\"");
    assert_non_null(strstr(lookup(fe, "rd-lookup/ep", "et=g.h"), ";tag=1;tag=2;flag;et=\"e.f\";"
                                                                 "et=\"g.h\""));
    fe_done(fe);
    fe = fe_new_db(path, "proxy.localhost");
    fe->now = now;
    assert_non_null(strstr(lookup(fe, "rd-lookup/ep", "et=e.f"), "et=\"e.f\";et=\"g.h\""));
    assert_string_equal(lookup(fe, "rd-lookup/ep", "et=c.d"), "");
    /* the single-valued parameters still may not repeat */
    assert_int_equal(req(fe, COAP_POST, "rd", "ep=x&lt=5&lt=6", LINKS)->code, COAP_BAD_REQUEST);
    fe_done(fe);
    rm_db(path);
}

/* Issue 15 item 2 (RFC 9176 §6.1): a target is resolved against the base;
 * an anchor appears only if one was registered (resolved); a full URI
 * target or anchor comes back unmodified. */
static void test_resource_lookup_anchor(void **state)
{
    struct frontend *fe = fe_new();
    (void)state;

    set_peer("[2001:db8::1]:61616");
    req(fe, COAP_POST, "rd", "ep=anch",
        "</sensors/temp>;rt=temperature-c,"
        "<http://www.example.com/t>;anchor=\"/sensors/temp\";rel=describedby,"
        "</s/h>;anchor=\"coap://other.example/x\",<coap://[2001:db8::2]/abs>;ct=0");
    assert_string_equal(lookup(fe, "rd-lookup/res", "ep=anch"),
                        "<coap://[2001:db8::1]:61616/sensors/temp>;rt=\"temperature-c\","
                        "<http://www.example.com/t>;rel=describedby;"
                        "anchor=\"coap://[2001:db8::1]:61616/sensors/temp\","
                        "<coap://[2001:db8::1]:61616/s/h>;anchor=\"coap://other.example/x\","
                        "<coap://[2001:db8::2]/abs>;ct=0");
    assert_null(strstr(lookup(fe, "rd-lookup/res", "rt=temperature-c"), "anchor"));
    /* an anchor filter matches registered anchors only */
    assert_string_equal(lookup(fe, "rd-lookup/res", "anchor=coap://[2001:db8::1]:61616"), "");
    assert_string_equal(lookup(fe, "rd-lookup/res", "anchor=coap://other.example/*"),
                        "<coap://[2001:db8::1]:61616/s/h>;anchor=\"coap://other.example/x\"");
    assert_non_null(strstr(lookup(fe, "rd-lookup/res", "anchor"), "describedby"));
    assert_null(strstr(lookup(fe, "rd-lookup/res", "anchor"), "/abs>"));
    fe_done(fe);
}

/* The hosting port the endpoint lookup shows for ep, 0 = none. */
static unsigned port_of(struct frontend *fe, const char *ep)
{
    char q[80];
    snprintf(q, sizeof(q), "ep=%s", ep);
    const char *p = strstr(lookup(fe, "rd-lookup/ep", q), ";port=\"");
    return p ? (unsigned)strtoul(p + 7, NULL, 10) : 0;
}

/* The hosting port of the last ROUTE_UPDATE in the outbox. */
static unsigned last_route_port(struct frontend *fe)
{
    struct rr_route rt;
    uint64_t seq;
    int n = count_out(fe, RR_MSG_ROUTE_UPDATE);
    assert_true(n > 0);
    assert_true(route_at(fe, n - 1, &rt, &seq));
    return rt.mux_port;
}

/* A frontend with port_hosting_range = range on database db. */
static struct frontend *fe_new_ports(const char *db, const char *range)
{
    struct rr_config cfg;
    char err[128];

    fe_test_cfg(&cfg, "proxy.localhost");
    assert_int_equal(config_set(&cfg, "port_hosting_range", range, err, sizeof(err)), 0);
    assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
    return fe_new_cfg(&cfg, db);
}

static void test_port_hosting(void **state)
{
    char path[] = "/tmp/test_rd_request_XXXXXX";
    int fd = mkstemp(path);
    struct frontend *fe;
    struct resp *r;
    uint64_t now;
    (void)state;

    assert_true(fd >= 0);
    close(fd);
    const char *range = "5701-5702";
    fe = fe_new_ports(path, range);
    r = req(fe, COAP_POST, "rd", "ep=a&proxy=yes", LINKS);
    assert_int_equal(r->code, COAP_CREATED);
    assert_int_equal(r->cf, COAP_CF_LINK_FORMAT);
    assert_string_equal(r->payload, "</reg/1>;base=\"coap://a.proxy.localhost\";port=\"5701\"");
    assert_int_equal(last_route_port(fe), 5701);
    assert_int_equal(port_of(fe, "a"), 5701);
    assert_non_null(strstr(lookup(fe, "rd-lookup/ep", "port=5701"), "ep=\"a\""));
    assert_null(strstr(lookup(fe, "rd-lookup/ep", "port=5702"), "ep=\"a\""));

    /* an update and a re-registration keep it */
    assert_int_equal(req(fe, COAP_POST, "reg/1", "lt=500", NULL)->code, COAP_CHANGED);
    assert_int_equal(last_route_port(fe), 5701);
    r = req(fe, COAP_POST, "rd", "ep=a&proxy=yes", LINKS);
    assert_string_equal(r->loc, "reg/1");
    assert_int_equal(port_of(fe, "a"), 5701);

    /* not proxied: no port, no payload */
    r = req(fe, COAP_POST, "rd", "ep=plain", LINKS);
    assert_int_equal(r->plen, 0);
    assert_int_equal(port_of(fe, "plain"), 0);

    assert_int_equal(req(fe, COAP_POST, "rd", "ep=c&proxy=yes", LINKS)->code, COAP_CREATED);
    assert_int_equal(port_of(fe, "c"), 5702);
    r = req(fe, COAP_POST, "rd", "ep=d&proxy=yes", LINKS); /* exhausted */
    assert_int_equal(r->code, COAP_CREATED);
    assert_int_equal(r->plen, 0);
    assert_int_equal(port_of(fe, "d"), 0);

    /* a re-registered without proxy gives 5701 back: quarantined */
    req(fe, COAP_POST, "rd", "ep=a", LINKS);
    assert_int_equal(port_of(fe, "a"), 0);
    req(fe, COAP_POST, "rd", "ep=e&proxy=yes", LINKS);
    assert_int_equal(port_of(fe, "e"), 0);
    now = fe->now;
    fe_done(fe);

    /* the quarantine survives a restart; once it is over, e gets 5701 */
    fe = fe_new_ports(path, range);
    fe->now = now + 1000;
    req(fe, COAP_POST, "rd", "ep=e&proxy=yes", LINKS);
    assert_int_equal(port_of(fe, "e"), 0);
    assert_int_equal(port_of(fe, "c"), 5702);
    fe->now = now + 3600u * 1000u + 1;
    req(fe, COAP_POST, "rd", "ep=e&proxy=yes", LINKS);
    assert_int_equal(port_of(fe, "e"), 5701);
    now = fe->now;
    fe_done(fe);

    /* the range moved: 5701 is outside it now, dropped (and rewritten);
     * d, proxied without a port, gets the free 5703 at this start */
    range = "5702-5703";
    fe = fe_new_ports(path, range);
    fe->now = now;
    assert_int_equal(port_of(fe, "e"), 0);
    assert_int_equal(port_of(fe, "c"), 5702);
    assert_int_equal(port_of(fe, "d"), 5703);
    /* c deleted: 5702 quarantined, nobody gets it */
    r = req(fe, COAP_GET, "rd-lookup/ep", "ep=c", NULL);
    const char *t = strstr(r->payload, "</reg/");
    assert_non_null(t);
    char cpath[32];
    snprintf(cpath, sizeof(cpath), "reg/%lu", strtoul(t + 6, NULL, 10));
    assert_int_equal(req(fe, COAP_DELETE, cpath, NULL, NULL)->code, COAP_DELETED);
    req(fe, COAP_POST, "rd", "ep=f&proxy=yes", LINKS);
    assert_int_equal(port_of(fe, "f"), 0);
    fe_done(fe);
    fe = fe_new_ports(path, range);
    fe->now = now;
    assert_int_equal(port_of(fe, "e"), 0); /* the rewrite stuck; 5702 is in quarantine */
    assert_int_equal(port_of(fe, "f"), 0);
    assert_int_equal(port_of(fe, "d"), 5703);
    fe_done(fe);
    rm_db(path);
}

/* The registry's census (metrics.c) equals a walk over the registrations,
 * through registration, a proxied one, an update from another transport,
 * expiry, refresh after expiry, delete and removal after grace. */
static void assert_census(struct frontend *fe)
{
    size_t walk[16] = {0};

    for (const struct rd_reg *r = fe->reg.first; r; r = r->next) {
        unsigned k = (r->peer.transport & 3u) | (r->host[0] ? 4u : 0u) | (r->expired ? 0u : 8u);
        walk[k]++;
    }
    for (unsigned k = 0; k < 16; k++)
        assert_int_equal(fe->reg.census[k], walk[k]);
}

static void test_census(void **state)
{
    struct frontend *fe = fe_new();
    struct resp *r;
    char a[64], b[64];

    (void)state;
    assert_census(fe);
    r = req(fe, COAP_POST, "rd", "ep=c1&lt=10", "</a>");
    assert_int_equal(r->code, COAP_CREATED);
    snprintf(a, sizeof(a), "%s", r->loc);
    r = req(fe, COAP_POST, "rd", "ep=c2&proxy=yes&lt=1000", "</b>");
    snprintf(b, sizeof(b), "%s", r->loc);
    assert_census(fe);
    assert_int_equal(fe->reg.census[8 | 4 | RR_TRANSPORT_UDP], 1);
    peer_udp.transport = RR_TRANSPORT_TCP; /* the update comes over TCP */
    assert_int_equal(req(fe, COAP_POST, b, NULL, NULL)->code, COAP_CHANGED);
    peer_udp.transport = RR_TRANSPORT_UDP;
    assert_census(fe);
    assert_int_equal(fe->reg.census[8 | 4 | RR_TRANSPORT_TCP], 1);
    fe->now += 11000; /* c1 expires */
    rd_tick(fe);
    assert_census(fe);
    assert_int_equal(fe->reg.census[RR_TRANSPORT_UDP], 1);
    assert_int_equal(req(fe, COAP_POST, a, NULL, NULL)->code, COAP_CHANGED); /* revived */
    assert_census(fe);
    assert_int_equal(req(fe, COAP_POST, "rd", "ep=c2&proxy=yes", "</b2>")->code, COAP_CREATED);
    assert_census(fe); /* re-registered: replaced in place */
    assert_int_equal(req(fe, COAP_DELETE, b, NULL, NULL)->code, COAP_DELETED);
    assert_census(fe);
    fe->now += 11000 + 200000; /* c1 expires and its grace ends */
    rd_tick(fe);
    rd_tick(fe);
    assert_census(fe);
    for (unsigned k = 0; k < 16; k++)
        assert_int_equal(fe->reg.census[k], 0);
    fe_done(fe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_update_get_delete),
        cmocka_unit_test(test_replace_keeps_path_ids_not_reused),
        cmocka_unit_test(test_base_from_peer_and_updates),
        cmocka_unit_test(test_bad_input_changes_nothing),
        cmocka_unit_test(test_proxy_without_domain),
        cmocka_unit_test(test_expiry_and_grace),
        cmocka_unit_test(test_proxy_names_and_routes),
        cmocka_unit_test(test_block2),
        cmocka_unit_test(test_block1_registration),
        cmocka_unit_test(test_response_cache),
        cmocka_unit_test(test_simple_registration),
        cmocka_unit_test(test_observe),
        cmocka_unit_test(test_observe_index),
        cmocka_unit_test(test_ctl_status_list),
        cmocka_unit_test(test_restart_keeps_registrations),
        cmocka_unit_test(test_repeated_attributes),
        cmocka_unit_test(test_resource_lookup_anchor),
        cmocka_unit_test(test_port_hosting),
        cmocka_unit_test(test_census),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
