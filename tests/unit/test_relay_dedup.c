/*
 * test_relay_dedup.c - unit tests for relay-udp/exchange.c without sockets:
 * duplicate detection by (peer, message id), recycling of the oldest
 * answered exchange when the pool is full, expiry after EXCHANGE_LIFETIME,
 * the ack-wait table, and upstream slots found by relay token (a stale
 * token of a reused slot never matches).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "fwd_rules.h"
#include "relay.h"

static struct relay *mkrelay(uint32_t max_exchanges)
{
    struct relay *r = calloc(1, sizeof(*r));
    char err[128];
    config_defaults(&r->cfg);
    config_finish(&r->cfg, err, sizeof(err));
    r->cfg.max_exchanges = max_exchanges;
    assert_int_equal(exch_init(r), 0);
    return r;
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

static void test_dup_found(void **state)
{
    struct relay *r = mkrelay(4);
    (void)state;

    struct rr_addr a = peer("192.0.2.1:1000"), b = peer("192.0.2.1:1001");
    uint32_t i = add_req(r, "192.0.2.1:1000", 7, 0);
    assert_int_equal(dx_find_dup(r, &a, 7, 10), i);
    assert_int_equal(dx_find_dup(r, &a, 8, 10), RU_NONE);
    assert_int_equal(dx_find_dup(r, &b, 7, 10), RU_NONE);
    /* a v4-mapped spelling of the same peer is the same peer */
    struct rr_addr m = peer("[::ffff:192.0.2.1]:1000");
    addr_normalise(&m);
    assert_int_equal(dx_find_dup(r, &m, 7, 10), i);
    /* answered: still a duplicate within the lifetime, gone after it */
    dx_done(r, i, 20);
    assert_int_equal(dx_find_dup(r, &a, 7, 1000), i);
    assert_int_equal(dx_find_dup(r, &a, 7, RU_EXCHANGE_LIFETIME_MS + 10), RU_NONE);
    assert_int_equal(r->dx_used, 0);
    freerelay(r);
}

static void test_recycle_oldest(void **state)
{
    struct relay *r = mkrelay(2); /* 4 downstream slots */
    (void)state;
    uint32_t s[4];
    char p[32];

    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof(p), "192.0.2.%d:5683", k + 1);
        s[k] = add_req(r, p, (uint16_t)k, (uint64_t)k);
    }
    /* all busy and none answered: no slot */
    assert_int_equal(dx_alloc(r, 10), RU_NONE);
    dx_done(r, s[2], 11);
    dx_done(r, s[0], 12);
    /* the first answered (s[2]) is recycled first */
    uint32_t n = dx_alloc(r, 13);
    assert_int_equal(n, s[2]);
    struct rr_addr a3 = peer("192.0.2.3:5683"), a1 = peer("192.0.2.1:5683");
    assert_int_equal(dx_find_dup(r, &a3, 2, 14), RU_NONE);
    assert_int_equal(dx_find_dup(r, &a1, 0, 14), s[0]);
    assert_int_equal(dx_alloc(r, 15), s[0]);
    assert_int_equal(dx_alloc(r, 16), RU_NONE);
    freerelay(r);
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

    uint32_t u = ux_alloc(r);
    uint32_t v = ux_alloc(r);
    assert_int_not_equal(u, RU_NONE);
    assert_int_not_equal(v, RU_NONE);
    assert_int_equal(ux_alloc(r), RU_NONE);
    fwd_token_encode(u, r->ux[u].check, tok);
    assert_int_equal(ux_from_token(r, tok, sizeof(tok)), u);
    assert_int_equal(ux_from_token(r, tok, 4), RU_NONE);
    ux_release(r, u);
    assert_int_equal(ux_from_token(r, tok, sizeof(tok)), RU_NONE);
    /* the slot comes back with a different check: the old token is stale */
    uint32_t w = ux_alloc(r);
    assert_int_equal(w, u);
    fwd_token_encode(w, r->ux[w].check, tok2);
    assert_memory_not_equal(tok, tok2, FWD_TOKEN_LEN);
    assert_int_equal(ux_from_token(r, tok, sizeof(tok)), RU_NONE);
    assert_int_equal(ux_from_token(r, tok2, sizeof(tok2)), w);
    /* out-of-range slot */
    fwd_token_encode(1000, 0, tok);
    assert_int_equal(ux_from_token(r, tok, sizeof(tok)), RU_NONE);
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
        cmocka_unit_test(test_dup_found),   cmocka_unit_test(test_recycle_oldest),
        cmocka_unit_test(test_ackwait),     cmocka_unit_test(test_ux_token),
        cmocka_unit_test(test_raw_rewrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
