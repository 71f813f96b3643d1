/*
 * test_rd_owner.c - name ownership, per-name secrets and registry limits
 * of rd-frontend (ownership.c, secrets.c, limits.c), through
 * rd_handle_request as a relay would send them (fe_harness.h):
 * takeover=same-address refuses another address (4.03) for re-registration,
 * update and DELETE but takes another port; the name is free after DELETE
 * or after the grace period, never before, and a freed path is never given
 * to the next registrant; takeover=deny wants the very path, the own TCP
 * connection qualifies; takeover=allow is the old behaviour; a name with a
 * secret needs ?sec= (4.01) which is never stored nor shown; max_links
 * (4.13), max_regs_per_source (4.29 + Max-Age, IPv6 /64 as one source),
 * max_registrations (5.03 + Max-Age) refuse only the new request; a new
 * Block1 body never pushes out another client's live one (5.03 + Max-Age);
 * simple registrations in flight (5.03) and lookup observers (served
 * without Observe) are bounded per source;
 * every refusal is counted in the status JSON.
 */
#include "fe_harness.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#define LINKS "</temp>;rt=temperature"

static const char *status(struct frontend *fe)
{
    static char buf[4096];
    json_t *j = ctl_status_json(fe);
    char *s = json_dumps(j, JSON_COMPACT);

    snprintf(buf, sizeof(buf), "%s", s ? s : "");
    free(s);
    json_decref(j);
    return buf;
}

static void set_peer_tcp(const char *remote, uint64_t conn)
{
    set_peer(remote);
    peer_udp.transport = RR_TRANSPORT_TCP;
    snprintf(peer_udp.relay, sizeof(peer_udp.relay), "tcp");
    peer_udp.conn_id = conn;
}

static void expect(struct frontend *fe, uint8_t method, const char *path, const char *query,
                   const char *payload, uint8_t want)
{
    struct resp *r = req(fe, method, path, query, payload);

    if (r->code != want)
        fail_msg("%s %s?%s: got %u.%02u, want %u.%02u (%s)",
                 method == COAP_DELETE ? "DELETE" : "POST", path, query ? query : "", r->code >> 5,
                 r->code & 31, want >> 5, want & 31, r->payload);
    if (COAP_CODE_CLASS(want) >= 4)
        assert_true(r->plen > 0 && r->plen < 200); /* a short diagnostic */
}
#define EXPECT(m, p, q, pl, want) expect(fe, (m), (p), (q), (pl), (want))

static void test_takeover_same_address(void **state)
{
    struct frontend *fe = fe_new();
    (void)state;

    assert_string_equal(req(fe, COAP_POST, "rd", "ep=alice&proxy=yes", LINKS)->loc, "reg/1");
    const char *before = lookup(fe, "rd-lookup/ep", NULL);
    static char saved[sizeof(((struct resp *)0)->payload)];
    memcpy(saved, before, sizeof(saved));
    set_peer("192.0.2.77:40000"); /* a stranger */
    EXPECT(COAP_POST, "rd", "ep=alice&proxy=yes", "</evil>", COAP_FORBIDDEN);
    EXPECT(COAP_POST, "rd", "ep=ALICE&proxy=yes", "</evil>", COAP_FORBIDDEN); /* same proxy name */
    EXPECT(COAP_POST, "reg/1", "lt=60", NULL, COAP_FORBIDDEN);
    EXPECT(COAP_DELETE, "reg/1", NULL, NULL, COAP_FORBIDDEN);
    assert_string_equal(lookup(fe, "rd-lookup/ep", NULL), saved);
    assert_non_null(strstr(status(fe), "\"takeover_refused\":4"));
    /* the owner from another port (a NAT rebinding) may */
    set_peer("192.0.2.1:5555");
    EXPECT(COAP_POST, "reg/1", NULL, NULL, COAP_CHANGED);
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=alice&proxy=yes", LINKS)->loc, "reg/1");
    EXPECT(COAP_DELETE, "reg/1", NULL, NULL, COAP_DELETED);
    /* deleted: the name is free, the path is not given again */
    set_peer("192.0.2.77:40000");
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=alice&proxy=yes", LINKS)->loc, "reg/2");
    EXPECT(COAP_POST, "reg/1", NULL, NULL, COAP_NOT_FOUND);
    fe_done(fe);
}

static void test_free_only_after_grace(void **state)
{
    struct frontend *fe = fe_new(); /* expiry_grace 100 s */
    (void)state;

    assert_string_equal(req(fe, COAP_POST, "rd", "ep=bob&lt=10", LINKS)->loc, "reg/1");
    fe->now += 11000; /* expired: out of lookups, but refreshable */
    rd_tick(fe);
    set_peer("198.51.100.5:1000");
    EXPECT(COAP_POST, "rd", "ep=bob", LINKS, COAP_FORBIDDEN);
    EXPECT(COAP_POST, "reg/1", NULL, NULL, COAP_FORBIDDEN);
    fe->now += 100000; /* past the grace period */
    rd_tick(fe);
    assert_null(registry_by_id(&fe->reg, 1));
    /* the name is free; its old path answers 4.04 and is never reused */
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=bob", LINKS)->loc, "reg/2");
    set_peer("[::ffff:192.0.2.1]:40000");
    EXPECT(COAP_POST, "reg/1", NULL, NULL, COAP_NOT_FOUND);
    EXPECT(COAP_POST, "rd", "ep=bob", LINKS, COAP_FORBIDDEN); /* now the stranger's */

    /* past grace before the timer ran: the name is free, the path still not reused */
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=carol&lt=10&proxy=yes", LINKS)->loc, "reg/3");
    fe->now += 111000;
    set_peer("198.51.100.5:1000");
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=carol&proxy=yes", LINKS)->loc, "reg/4");
    assert_null(registry_by_id(&fe->reg, 3));
    assert_non_null(registry_by_host(&fe->reg, "carol.proxy.localhost"));
    fe_done(fe);
}

static void test_takeover_deny_and_connections(void **state)
{
    struct rr_config cfg;
    struct frontend *fe;
    (void)state;

    fe_test_cfg(&cfg, "proxy.localhost");
    snprintf(cfg.takeover, sizeof(cfg.takeover), "deny");
    cfg.takeover_mode = RR_TAKEOVER_DENY;
    fe = fe_new_cfg(&cfg, ":memory:");
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=u", LINKS)->loc, "reg/1");
    set_peer("[::ffff:192.0.2.1]:40001"); /* the same address, another port */
    EXPECT(COAP_POST, "reg/1", NULL, NULL, COAP_FORBIDDEN);
    set_peer("192.0.2.1:40000"); /* the very path (v4-mapped or not) */
    EXPECT(COAP_POST, "reg/1", NULL, NULL, COAP_CHANGED);
    /* TCP: the registration's own connection, nothing else */
    set_peer_tcp("192.0.2.1:50000", 7);
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=t", LINKS)->loc, "reg/2");
    set_peer_tcp("192.0.2.1:50000", 8);
    EXPECT(COAP_POST, "reg/2", NULL, NULL, COAP_FORBIDDEN);
    set_peer("192.0.2.1:50000"); /* UDP from the same address and port */
    EXPECT(COAP_POST, "reg/2", NULL, NULL, COAP_FORBIDDEN);
    set_peer_tcp("192.0.2.1:50000", 7);
    EXPECT(COAP_POST, "reg/2", NULL, NULL, COAP_CHANGED);
    EXPECT(COAP_DELETE, "reg/2", NULL, NULL, COAP_DELETED);
    fe_done(fe);

    /* same-address: any connection from the address; allow: anyone */
    fe_test_cfg(&cfg, "proxy.localhost");
    fe = fe_new_cfg(&cfg, ":memory:");
    set_peer_tcp("192.0.2.1:50000", 7);
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=t", LINKS)->loc, "reg/1");
    set_peer_tcp("192.0.2.1:50001", 9);
    EXPECT(COAP_POST, "reg/1", NULL, NULL, COAP_CHANGED);
    set_peer_tcp("203.0.113.1:50001", 10);
    EXPECT(COAP_POST, "reg/1", NULL, NULL, COAP_FORBIDDEN);
    fe_done(fe);
    cfg.takeover_mode = RR_TAKEOVER_ALLOW;
    fe = fe_new_cfg(&cfg, ":memory:");
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=t", LINKS)->loc, "reg/1");
    set_peer("203.0.113.9:1");
    assert_string_equal(req(fe, COAP_POST, "rd", "ep=t", LINKS)->loc, "reg/1");
    EXPECT(COAP_DELETE, "reg/1", NULL, NULL, COAP_DELETED);
    fe_done(fe);
}

static void test_secrets(void **state)
{
    char path[] = "/tmp/rr-secrets-XXXXXX";
    int fd = mkstemp(path);
    struct rr_config cfg;
    struct frontend *fe;
    (void)state;

    assert_true(fd >= 0);
    const char *text = "# name secret\nalice s3cret\n*.LAB   labsecret  # a sector\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    fe_test_cfg(&cfg, "proxy.localhost");
    snprintf(cfg.name_secrets, sizeof(cfg.name_secrets), "%s", path);
    fe = fe_new_cfg(&cfg, ":memory:");
    EXPECT(COAP_POST, "rd", "ep=alice", LINKS, COAP_UNAUTHORIZED);
    EXPECT(COAP_POST, "rd", "ep=Alice&sec=wrong", LINKS, COAP_UNAUTHORIZED);
    EXPECT(COAP_POST, "rd", "ep=alice&sec=s3cre", LINKS, COAP_UNAUTHORIZED);
    EXPECT(COAP_POST, "rd", "ep=alice&sec=s3cret&et=x", LINKS, COAP_CREATED);
    EXPECT(COAP_POST, "rd", "ep=node&d=lab", LINKS, COAP_UNAUTHORIZED);
    EXPECT(COAP_POST, "rd", "ep=node&d=lab&sec=labsecret", LINKS, COAP_CREATED);
    EXPECT(COAP_POST, "rd", "ep=free", LINKS, COAP_CREATED); /* no secret: no need */
    assert_null(strstr(lookup(fe, "rd-lookup/ep", NULL), "sec"));
    assert_null(strstr(lookup(fe, "rd-lookup/res", NULL), "s3cret"));
    assert_string_equal(lookup(fe, "rd-lookup/ep", "sec=s3cret"), "");
    /* updates and DELETE need it too, even from the owner's address */
    EXPECT(COAP_POST, "reg/1", "lt=100", NULL, COAP_UNAUTHORIZED);
    EXPECT(COAP_POST, "reg/1", "lt=100&sec=s3cret", NULL, COAP_CHANGED);
    assert_null(strstr(lookup(fe, "rd-lookup/ep", NULL), "sec"));
    EXPECT(COAP_DELETE, "reg/2", NULL, NULL, COAP_UNAUTHORIZED);
    /* the secret is the proof of ownership: it moves the name to a new address */
    set_peer("203.0.113.50:7000");
    EXPECT(COAP_POST, "rd", "ep=alice&sec=s3cret", LINKS, COAP_CREATED);
    assert_int_equal(registry_by_id(&fe->reg, 1)->peer.remote.u.sa.sa_family, AF_INET);
    EXPECT(COAP_DELETE, "reg/1", "sec=s3cret", NULL, COAP_DELETED);
    assert_non_null(strstr(status(fe), "\"secret_refused\":6"));
    fe_done(fe);
    /* a malformed file: the frontend does not start */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "alice\n", 6), 6);
    close(fd);
    fe = calloc(1, sizeof(*fe));
    assert_int_equal(frontend_init(fe, &cfg, ":memory:"), -1);
    frontend_free(fe);
    free(fe);
    unlink(path);
}

static void test_limits(void **state)
{
    struct rr_config cfg;
    struct frontend *fe;
    struct resp *r;
    (void)state;

    fe_test_cfg(&cfg, "proxy.localhost");
    cfg.max_links = 3;
    cfg.max_registrations = 5;
    cfg.max_regs_per_source = 2;
    fe = fe_new_cfg(&cfg, ":memory:");
    EXPECT(COAP_POST, "rd", "ep=a", "</1>,</2>,</3>,</4>", COAP_TOO_LARGE);
    EXPECT(COAP_POST, "rd", "ep=a", "</1>,</2>,</3>", COAP_CREATED);
    EXPECT(COAP_POST, "reg/1", NULL, "</1>,</2>,</3>,</4>", COAP_TOO_LARGE);
    EXPECT(COAP_POST, "rd", "ep=b", LINKS, COAP_CREATED);
    r = req(fe, COAP_POST, "rd", "ep=c", LINKS);
    assert_int_equal(r->code, COAP_TOO_MANY_REQUESTS);
    assert_true(r->has_max_age && r->max_age == 60);
    /* re-registering an existing name adds nothing and is not refused */
    EXPECT(COAP_POST, "rd", "ep=a&et=again", LINKS, COAP_CREATED);
    /* one IPv6 /64 is one source */
    set_peer("[2001:db8:1::1]:5683");
    EXPECT(COAP_POST, "rd", "ep=x", LINKS, COAP_CREATED);
    set_peer("[2001:db8:1::2]:5683");
    EXPECT(COAP_POST, "rd", "ep=y", LINKS, COAP_CREATED);
    set_peer("[2001:db8:1:0:ffff::3]:5683");
    EXPECT(COAP_POST, "rd", "ep=z", LINKS, COAP_TOO_MANY_REQUESTS);
    set_peer("[2001:db8:2::1]:5683");
    EXPECT(COAP_POST, "rd", "ep=w", LINKS, COAP_CREATED);
    /* the registry is full: a new one is refused, nobody is evicted */
    set_peer("[2001:db8:3::1]:5683");
    r = req(fe, COAP_POST, "rd", "ep=v", LINKS);
    assert_int_equal(r->code, COAP_SERVICE_UNAVAILABLE);
    assert_true(r->has_max_age && r->max_age == 60);
    assert_int_equal(fe->reg.count, 5);
    const char *all = lookup(fe, "rd-lookup/ep", NULL);
    assert_non_null(strstr(all, "ep=\"a\""));
    assert_non_null(strstr(all, "ep=\"b\""));
    assert_non_null(strstr(all, "ep=\"x\""));
    assert_non_null(strstr(all, "ep=\"y\""));
    /* room comes back when an owner deletes its registration */
    set_peer("[2001:db8:1::2]:1");
    EXPECT(COAP_DELETE, "reg/4", NULL, NULL, COAP_DELETED);
    set_peer("[2001:db8:3::1]:5683");
    EXPECT(COAP_POST, "rd", "ep=v", LINKS, COAP_CREATED);
    const char *st = status(fe);
    assert_non_null(strstr(st, "\"too_many_links\":2"));
    assert_non_null(strstr(st, "\"source_full\":2"));
    assert_non_null(strstr(st, "\"registrations_full\":1"));
    assert_non_null(strstr(st, "\"sources\":4"));
    /* 0 switches a limit off */
    fe->cfg.max_registrations = 0;
    fe->cfg.max_regs_per_source = 0;
    set_peer("192.0.2.1:1");
    EXPECT(COAP_POST, "rd", "ep=more", LINKS, COAP_CREATED);
    fe_done(fe);
}

/* First block (of two, 16 bytes: szx 0) of a Block1 registration of ep. */
static struct resp *block1(struct frontend *fe, const char *ep, uint32_t num, bool more)
{
    struct xopt x[] = {{COAP_OPT_BLOCK1, coap_block_encode(num, more, 0)}, {0, 0}};
    char q[64];

    snprintf(q, sizeof(q), "ep=%s", ep);
    return reqx(fe, COAP_POST, "rd", q, more ? "</aaaaaaaaaaaa>," : "</b>", 40, x);
}

static void test_block1_slots_not_evicted(void **state)
{
    struct frontend *fe = fe_new();
    char ep[16], addr[32];
    struct resp *r;
    (void)state;

    for (int i = 0; i < RD_MAX_BLOCK1; i++) {
        snprintf(addr, sizeof(addr), "192.0.2.1:%d", 1000 + i);
        snprintf(ep, sizeof(ep), "b%d", i);
        set_peer(addr);
        assert_int_equal(block1(fe, ep, 0, true)->code, COAP_CONTINUE);
    }
    /* every slot holds a live transfer: the newcomer waits, nobody is pushed out */
    set_peer("203.0.113.7:1");
    r = block1(fe, "late", 0, true);
    assert_int_equal(r->code, COAP_SERVICE_UNAVAILABLE);
    assert_true(r->has_max_age && r->max_age == 10);
    set_peer("192.0.2.1:1000");
    assert_int_equal(block1(fe, "b0", 1, false)->code, COAP_CREATED);
    assert_string_equal(registry_by_id(&fe->reg, 1)->links, "</aaaaaaaaaaaa>,</b>");
    /* b0's slot is free now; and a transfer idle 10 s is given up */
    set_peer("203.0.113.7:1");
    assert_int_equal(block1(fe, "late", 0, true)->code, COAP_CONTINUE);
    assert_int_equal(block1(fe, "late2", 0, true)->code, COAP_SERVICE_UNAVAILABLE);
    fe->now += 10000;
    assert_int_equal(block1(fe, "late2", 0, true)->code, COAP_CONTINUE);
    assert_non_null(strstr(status(fe), "\"block1_busy\":2"));
    fe_done(fe);
}

static void test_pending_and_observers(void **state)
{
    struct frontend *fe = fe_new();
    struct xopt obs[] = {{COAP_OPT_OBSERVE, 0}, {0, 0}};
    char addr[32], q[32];
    struct resp *r;
    (void)state;

    /* simple registrations in flight (each sends a GET to its source) */
    for (int i = 0; i < RD_PENDING_PER_SOURCE; i++) {
        snprintf(q, sizeof(q), "ep=s%d", i);
        assert_int_equal(req(fe, COAP_POST, ".well-known/rd", q, NULL)->rc, RD_PENDING);
    }
    r = req(fe, COAP_POST, ".well-known/rd", "ep=one-more", NULL);
    assert_int_equal(r->code, COAP_SERVICE_UNAVAILABLE);
    assert_true(r->has_max_age);
    set_peer("198.51.100.1:5683");
    assert_int_equal(req(fe, COAP_POST, ".well-known/rd", "ep=other", NULL)->rc, RD_PENDING);

    /* lookup observers: one source cannot take them all
     * (max_lookup_observe_per_client, 256 by default) */
    assert_int_equal(fe->cfg.max_lookup_observe_per_client, 256);
    for (int i = 0; i < 256; i++) {
        snprintf(addr, sizeof(addr), "192.0.2.9:%d", 2000 + i);
        set_peer(addr);
        assert_true(reqx(fe, COAP_GET, "rd-lookup/ep", NULL, NULL, -1, obs)->has_obs);
    }
    set_peer("192.0.2.9:1");
    r = reqx(fe, COAP_GET, "rd-lookup/ep", NULL, NULL, -1, obs);
    assert_int_equal(r->code, COAP_CONTENT); /* served, not observed */
    assert_false(r->has_obs);
    set_peer("203.0.113.3:1");
    assert_true(reqx(fe, COAP_GET, "rd-lookup/ep", NULL, NULL, -1, obs)->has_obs);
    /* a smaller setting holds for new observers; 0 is no per-source limit */
    fe->cfg.max_lookup_observe_per_client = 1;
    set_peer("203.0.113.3:2");
    assert_false(reqx(fe, COAP_GET, "rd-lookup/ep", NULL, NULL, -1, obs)->has_obs);
    fe->cfg.max_lookup_observe_per_client = 0;
    set_peer("192.0.2.9:2");
    assert_true(reqx(fe, COAP_GET, "rd-lookup/ep", NULL, NULL, -1, obs)->has_obs);
    const char *st = status(fe);
    assert_non_null(strstr(st, "\"simple_pending_full\":1"));
    assert_non_null(strstr(st, "\"observers_full\":2"));
    fe_done(fe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_takeover_same_address),
        cmocka_unit_test(test_free_only_after_grace),
        cmocka_unit_test(test_takeover_deny_and_connections),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_block1_slots_not_evicted),
        cmocka_unit_test(test_pending_and_observers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
