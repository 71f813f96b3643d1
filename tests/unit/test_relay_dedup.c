/*
 * test_relay_dedup.c - unit tests for relay-udp/exchange.c and dedup.c
 * without sockets: duplicate detection by (peer, message id), answers kept
 * after the exchange slot is freed, a flood from one peer leaving another
 * peer's entry alone, the per-peer and total bounds (least recent peer
 * first), expiry after the lifetime, the ack-wait table, and upstream
 * slots found by relay token (a stale token of a reused slot never
 * matches).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fwd_rules.h"
#include "relay.h"

static struct relay *mkrelay_dd(uint32_t max_exchanges, uint32_t entries, uint32_t per_peer)
{
    struct relay *r = calloc(1, sizeof(*r));
    char err[128];
    config_defaults(&r->cfg);
    config_finish(&r->cfg, err, sizeof(err));
    r->cfg.max_exchanges = max_exchanges;
    r->cfg.dedup_entries = entries;
    r->cfg.dedup_per_peer = per_peer;
    assert_int_equal(exch_init(r), 0);
    return r;
}

static struct relay *mkrelay(uint32_t max_exchanges)
{
    return mkrelay_dd(max_exchanges, 1024, 256);
}

static void freerelay(struct relay *r)
{
    exch_free(r);
    free(r);
}

static struct rr_addr peer(const char *s)
{
    struct rr_addr a;
    assert_int_equal(addr_parse(&a, s, 5683), 0);
    return a;
}

static uint32_t add_req(struct relay *r, const char *p, uint16_t mid, uint64_t now)
{
    uint32_t i = dx_alloc(r, now);
    assert_int_not_equal(i, RU_NONE);
    r->dx[i].peer = peer(p);
    r->dx[i].req_msgid = mid;
    r->dx[i].req_type = COAP_T_CON;
    dx_dedup_insert(r, i);
    return i;
}

/* A request answered piggybacked with `bytes`. */
static void answer(struct relay *r, uint32_t i, const char *bytes, uint64_t now)
{
    struct dexch *d = &r->dx[i];
    d->out_kind = DX_O_PIGGY;
    d->out.len = (uint16_t)strlen(bytes);
    memcpy(d->out.buf, bytes, d->out.len);
    dx_done(r, i, now);
}

static void test_dup_found(void **state)
{
    struct relay *r = mkrelay(4);
    (void)state;

    struct rr_addr a = peer("192.0.2.1:1000"), b = peer("192.0.2.1:1001");
    uint32_t i = add_req(r, "192.0.2.1:1000", 7, 0);
    uint32_t di = dx_find_dup(r, &a, 7, 10);
    assert_int_not_equal(di, RU_NONE);
    assert_int_equal(r->dd.e[di].state, DD_PENDING);
    assert_int_equal(r->dd.e[di].ref, i);
    assert_int_equal(dx_find_dup(r, &a, 8, 10), RU_NONE);
    assert_int_equal(dx_find_dup(r, &b, 7, 10), RU_NONE);
    /* a v4-mapped spelling of the same peer is the same peer */
    struct rr_addr m = peer("[::ffff:192.0.2.1]:1000");
    addr_normalise(&m);
    assert_int_equal(dx_find_dup(r, &m, 7, 10), di);
    /* answered: the slot is free at once, the answer stays in the duplicate
     * memory within the lifetime and is gone after it */
    answer(r, i, "answer-7", 20);
    assert_int_equal(r->core.dx.used, 0);
    assert_int_equal(dx_find_dup(r, &a, 7, 1000), di);
    assert_int_equal(r->dd.e[di].state, DD_DONE);
    assert_int_equal(r->dd.e[di].len, 8);
    assert_memory_equal(r->dd.ans[di], "answer-7", 8);
    assert_int_not_equal(dx_find_dup(r, &a, 7, RU_EXCHANGE_LIFETIME_MS - 1), RU_NONE);
    assert_int_equal(dx_find_dup(r, &a, 7, RU_EXCHANGE_LIFETIME_MS), RU_NONE);
    assert_int_equal(r->dd.n, 0);
    assert_int_equal(r->dd.npeers, 0);
    freerelay(r);
}

static void test_release_forgets(void **state)
{
    struct relay *r = mkrelay(4);
    (void)state;
    struct rr_addr a = peer("192.0.2.1:1000");

    /* ended without an answer (e.g. the client left): a repeat is new */
    uint32_t i = add_req(r, "192.0.2.1:1000", 7, 0);
    dx_release(r, i);
    assert_int_equal(dx_find_dup(r, &a, 7, 10), RU_NONE);
    assert_int_equal(r->dd.n, 0);
    /* answered separately: no bytes, a duplicate CON gets an empty ACK */
    i = add_req(r, "192.0.2.1:1000", 8, 20);
    r->dx[i].ack_sent = true;
    r->dx[i].out_kind = DX_O_SEP;
    dx_done(r, i, 30);
    uint32_t di = dx_find_dup(r, &a, 8, 40);
    assert_int_not_equal(di, RU_NONE);
    assert_int_equal(r->dd.e[di].len, 0);
    assert_true(r->dd.e[di].ack);
    freerelay(r);
}

static void test_pool_full(void **state)
{
    struct relay *r = mkrelay(2); /* 4 downstream slots */
    (void)state;
    uint32_t s[4];
    char p[32];

    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof(p), "192.0.2.%d:5683", k + 1);
        s[k] = add_req(r, p, (uint16_t)k, (uint64_t)k);
    }
    /* all in flight: no slot */
    assert_int_equal(dx_alloc(r, 10), RU_NONE);
    /* an answered one frees its slot, its answer stays */
    answer(r, s[2], "a2", 11);
    assert_int_equal(dx_alloc(r, 13), s[2]);
    struct rr_addr a3 = peer("192.0.2.3:5683");
    assert_int_not_equal(dx_find_dup(r, &a3, 2, 14), RU_NONE);
    assert_int_equal(dx_alloc(r, 16), RU_NONE);
    freerelay(r);
}

/* Issue 15 item 7: a flood from A, far more requests than the whole table
 * holds, leaves B's answer in place for B's retransmission 2 s later. */
static void test_flood_keeps_quiet_peer(void **state)
{
    struct relay *r = mkrelay_dd(64, 64, 16);
    (void)state;
    struct rr_addr b = peer("198.51.100.2:40000");

    uint32_t i = add_req(r, "198.51.100.2:40000", 0x4242, 0);
    answer(r, i, "b-answer", 1);
    for (uint32_t k = 0; k < 10000; k++) {
        uint64_t now = 1 + k / 5; /* 5,000 req/s for 2 s */
        uint32_t ai = add_req(r, "203.0.113.1:5683", (uint16_t)k, now);
        answer(r, ai, "a-answer", now);
        assert_true(r->dd.n <= 64);
    }
    uint32_t di = dx_find_dup(r, &b, 0x4242, 2001);
    assert_int_not_equal(di, RU_NONE);
    assert_memory_equal(r->dd.ans[di], "b-answer", 8);
    /* A holds exactly its own bound: its newest, not its oldest */
    struct rr_addr a = peer("203.0.113.1:5683");
    assert_int_equal(r->dd.n, 16 + 1);
    assert_int_not_equal(dx_find_dup(r, &a, 9999, 2001), RU_NONE);
    assert_int_not_equal(dx_find_dup(r, &a, 9984, 2001), RU_NONE);
    assert_int_equal(dx_find_dup(r, &a, 9983, 2001), RU_NONE);
    assert_int_equal(r->dd.evicted_own, 10000 - 16);
    assert_int_equal(r->dd.evicted_full, 0);
    /* still there at the end of B's lifetime, gone after it */
    assert_int_not_equal(dx_find_dup(r, &b, 0x4242, RU_EXCHANGE_LIFETIME_MS - 1), RU_NONE);
    assert_int_equal(dx_find_dup(r, &b, 0x4242, RU_EXCHANGE_LIFETIME_MS), RU_NONE);
    freerelay(r);
}

static void insert(struct dd_table *t, const char *p, uint16_t mid, uint64_t now)
{
    struct rr_addr a = peer(p);
    dd_insert(t, &a, mid, 1, now, 1000);
}

static bool has(struct dd_table *t, const char *p, uint16_t mid, uint64_t now)
{
    struct rr_addr a = peer(p);
    return dd_find(t, &a, mid, now) != DD_NONE;
}

/* The total bound: the peer heard from least recently loses its oldest
 * entries first; a peer that spoke again is spared. */
static void test_total_bound_oldest_peer(void **state)
{
    struct dd_table t;
    (void)state;
    assert_int_equal(dd_init(&t, 8, 4), 0);
    const char *ps[] = {"192.0.2.1:1", "192.0.2.2:1", "192.0.2.3:1",
                        "192.0.2.4:1", "192.0.2.5:1", "192.0.2.6:1"};
    for (int k = 0; k < 4; k++) {
        insert(&t, ps[k], 0, (uint64_t)k);
        insert(&t, ps[k], 1, (uint64_t)k);
    }
    assert_int_equal(t.n, 8);
    insert(&t, ps[4], 0, 10);
    assert_int_equal(t.n, 8);
    assert_false(has(&t, ps[0], 0, 10));
    assert_true(has(&t, ps[0], 1, 10));
    insert(&t, ps[4], 1, 11);
    assert_false(has(&t, ps[0], 1, 11));
    assert_int_equal(t.npeers, 4);
    /* peer 2 speaks again while it is the least recent: it pays with its
     * own oldest entry, and then peer 3 is the least recent */
    insert(&t, ps[1], 2, 12);
    assert_false(has(&t, ps[1], 0, 12));
    insert(&t, ps[5], 0, 13);
    assert_false(has(&t, ps[2], 0, 13));
    assert_true(has(&t, ps[1], 1, 13));
    assert_true(has(&t, ps[1], 2, 13));
    assert_int_equal(t.n, 8);
    assert_int_equal(t.evicted_full, 4);
    assert_int_equal(t.evicted_own, 0);
    dd_free(&t);
}

/* The per-peer bound: a peer at its bound loses its own oldest entry. */
static void test_per_peer_bound(void **state)
{
    struct dd_table t;
    (void)state;
    assert_int_equal(dd_init(&t, 100, 3), 0);
    insert(&t, "192.0.2.9:1", 100, 0);
    for (uint16_t k = 0; k < 10; k++)
        insert(&t, "192.0.2.1:1", k, 1);
    assert_int_equal(t.n, 4);
    assert_false(has(&t, "192.0.2.1:1", 6, 1));
    for (uint16_t k = 7; k < 10; k++)
        assert_true(has(&t, "192.0.2.1:1", k, 1));
    assert_true(has(&t, "192.0.2.9:1", 100, 1));
    assert_int_equal(t.evicted_own, 7);
    assert_int_equal(t.evicted_full, 0);
    dd_free(&t);
}

/* Entries end with their lifetime, whatever their state; an insert drops
 * the peer's expired ones; a stale completion changes nothing. */
static void test_expiry(void **state)
{
    struct dd_table t;
    struct rr_addr a = peer("192.0.2.1:1");
    (void)state;
    assert_int_equal(dd_init(&t, 16, 8), 0);
    uint32_t e = dd_insert(&t, &a, 1, 5, 0, 1000);
    dd_insert(&t, &a, 2, 6, 500, 1000);
    assert_int_equal(dd_find(&t, &a, 1, 999), e);
    /* msgid 1's lifetime is over when msgid 3 comes: it goes */
    dd_insert(&t, &a, 3, 7, 1000, 1000);
    assert_int_equal(t.n, 2);
    assert_false(has(&t, "192.0.2.1:1", 1, 1000));
    /* the exchange of msgid 1 answers late: no effect on the reused slot */
    dd_complete(&t, e, 5, (const uint8_t *)"x", 1, false);
    assert_true(has(&t, "192.0.2.1:1", 2, 1499));
    assert_false(has(&t, "192.0.2.1:1", 2, 1500));
    assert_false(has(&t, "192.0.2.1:1", 3, 2000));
    assert_int_equal(t.n, 0);
    assert_int_equal(t.npeers, 0);
    assert_int_equal(t.evicted_own + t.evicted_full, 0);
    dd_free(&t);
}

static void test_ackwait(void **state)
{
    struct relay *r = mkrelay(4);
    (void)state;
    uint32_t i = add_req(r, "192.0.2.9:5683", 1, 0);
    struct dexch *d = &r->dx[i];

    d->out.remote = peer("192.0.2.9:5683");
    d->out.msgid = 0x1234;
    out_start(r, i, &d->out, &d->t_ack, 0);
    assert_true(d->out.awaiting);
    assert_true(th_armed(&d->t_ack));
    assert_true(d->t_ack.due >= RU_ACK_TIMEOUT_MS);
    assert_true(d->t_ack.due < RU_ACK_TIMEOUT_MS * 3 / 2);
    struct rr_addr a = peer("192.0.2.9:5683"), o = peer("192.0.2.10:5683");
    assert_int_equal(out_find(r, &a, 0x1234), i);
    assert_int_equal(out_find(r, &a, 0x1235), RU_NONE);
    assert_int_equal(out_find(r, &o, 0x1234), RU_NONE);
    out_stop(r, i, &d->out, &d->t_ack);
    assert_false(th_armed(&d->t_ack));
    assert_int_equal(out_find(r, &a, 0x1234), RU_NONE);
    freerelay(r);
}

static void test_ux_token(void **state)
{
    struct relay *r = mkrelay(2);
    (void)state;
    uint8_t tok[FWD_TOKEN_LEN], tok2[FWD_TOKEN_LEN];

    uint32_t u = rc_ux_take(&r->core);
    uint32_t v = rc_ux_take(&r->core);
    assert_int_not_equal(u, RU_NONE);
    assert_int_not_equal(v, RU_NONE);
    assert_int_equal(rc_ux_take(&r->core), RU_NONE);
    fwd_token_encode(u, r->ux[u].h.check, tok);
    assert_int_equal(rc_ux_from_token(&r->core, tok, sizeof(tok)), u);
    assert_int_equal(rc_ux_from_token(&r->core, tok, 4), RU_NONE);
    ux_release(r, u);
    assert_int_equal(rc_ux_from_token(&r->core, tok, sizeof(tok)), RU_NONE);
    /* the slot comes back with a different check: the old token is stale */
    uint32_t w = rc_ux_take(&r->core);
    assert_int_equal(w, u);
    fwd_token_encode(w, r->ux[w].h.check, tok2);
    assert_memory_not_equal(tok, tok2, FWD_TOKEN_LEN);
    assert_int_equal(rc_ux_from_token(&r->core, tok, sizeof(tok)), RU_NONE);
    assert_int_equal(rc_ux_from_token(&r->core, tok2, sizeof(tok2)), w);
    /* out-of-range slot */
    fwd_token_encode(1000, 0, tok);
    assert_int_equal(rc_ux_from_token(&r->core, tok, sizeof(tok)), RU_NONE);
    freerelay(r);
}

static void test_raw_rewrite(void **state)
{
    (void)state;
    /* ACK 2.05, tkl 2, one option and payload */
    const uint8_t in[] = {0x62, 0x45, 0x00, 0x01, 0xaa, 0xbb, 0xc1, 0x00, 0xff, 'h', 'i'};
    uint8_t out[32];
    int rest = coap_raw_rest(in, sizeof(in));
    assert_int_equal(rest, 6);
    const uint8_t tok[3] = {1, 2, 3};
    ssize_t n = coap_rewrite(out, sizeof(out), COAP_T_CON, in[1], 0x4242, tok, 3, in + rest,
                             sizeof(in) - (size_t)rest);
    assert_int_equal(n, 4 + 3 + 5);
    const uint8_t want[] = {0x43, 0x45, 0x42, 0x42, 1, 2, 3, 0xc1, 0x00, 0xff, 'h', 'i'};
    assert_memory_equal(out, want, sizeof(want));
    assert_int_equal(coap_raw_rest(in, 3), -1);
    const uint8_t badtkl[] = {0x49, 0, 0, 0};
    assert_int_equal(coap_raw_rest(badtkl, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dup_found),
        cmocka_unit_test(test_release_forgets),
        cmocka_unit_test(test_pool_full),
        cmocka_unit_test(test_flood_keeps_quiet_peer),
        cmocka_unit_test(test_total_bound_oldest_peer),
        cmocka_unit_test(test_per_peer_bound),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_ackwait),
        cmocka_unit_test(test_ux_token),
        cmocka_unit_test(test_raw_rewrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
