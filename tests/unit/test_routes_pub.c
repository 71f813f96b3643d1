/*
 * test_routes_pub.c - rd-frontend's snapshot sender (routes_pub.c) over a
 * real in-process ROUTER/DEALER pair with small high-water marks: a big
 * table arrives whole (a full queue pauses the snapshot, nothing is
 * dropped), a repeated SNAPSHOT_REQ restarts the running snapshot instead
 * of starting a second one, a registration removed under the cursor does
 * not derail it, and a relay that is not connected ends it (counted).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "config.h"
#include "frontend.h"

#define NROUTES 5000
#define HWM 100

struct rig {
    struct frontend *fe;
    void *ctx, *dealer;
};

static void add_reg(struct frontend *fe, int64_t id, bool proxied)
{
    struct rd_reg *r = reg_new();

    assert_non_null(r);
    r->id = id;
    {
        char name_[RD_BASE_MAX];
        snprintf(name_, sizeof(name_), "ep%lld", (long long)id);
        assert_int_equal(reg_set_names(r, name_, NULL, NULL, NULL), 0);
    }
    if (proxied) {
        char name_[RD_BASE_MAX];
        snprintf(name_, sizeof(name_), "ep%lld.proxy.example.net", (long long)id);
        assert_int_equal(reg_set_names(r, NULL, NULL, NULL, name_), 0);
    }
    r->lt = 3600;
    r->expires_at = fe->now + 3600000;
    r->peer.transport = RR_TRANSPORT_UDP;
    r->peer.relay = (uint16_t)proto_relay_intern("udp");
    assert_int_equal(registry_insert(&fe->reg, r), 0);
}

static void rig_open(struct rig *g)
{
    struct rr_config cfg;
    int hwm = HWM, one = 1;
    uint8_t id[RD_IDENT_MAX], body[64];
    size_t idlen, len;
    uint16_t type;

    memset(g, 0, sizeof(*g));
    g->fe = calloc(1, sizeof(*g->fe));
    config_defaults(&cfg);
    assert_int_equal(frontend_init(g->fe, &cfg, ":memory:"), 0);
    for (int64_t i = 1; i <= NROUTES + NROUTES / 10; i++)
        add_reg(g->fe, i, i % 11 != 0); /* some not proxied: no route */
    g->ctx = zmq_ctx_new();
    g->fe->router = zmq_socket(g->ctx, ZMQ_ROUTER);
    assert_int_equal(zmq_setsockopt(g->fe->router, ZMQ_SNDHWM, &hwm, sizeof(hwm)), 0);
    assert_int_equal(zmq_setsockopt(g->fe->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)), 0);
    assert_int_equal(zmq_bind(g->fe->router, "inproc://routes"), 0);
    g->dealer = proto_dealer_connect(g->ctx, "udp", "inproc://routes", HWM, false);
    assert_non_null(g->dealer);
    /* the ROUTER knows the relay once it has heard from it */
    assert_int_equal(proto_send(g->dealer, NULL, 0, RR_MSG_HELLO, "", 0), 0);
    for (int i = 0; i < 1000; i++) {
        if (proto_recv(g->fe->router, true, id, &idlen, &type, body, sizeof(body), &len) == 0)
            break;
        zmq_poll(NULL, 0, 1);
    }
}

static void rig_close(struct rig *g)
{
    zmq_close(g->dealer);
    zmq_close(g->fe->router);
    g->fe->router = NULL;
    zmq_ctx_term(g->ctx);
    frontend_free(g->fe);
    free(g->fe);
}

static size_t proxied_routes(const struct frontend *fe)
{
    size_t n = 0;

    for (const struct rd_reg *r = fe->reg.first; r; r = r->next)
        n += r->host[0] != 0;
    return n;
}

static const struct rd_snap *running(const struct frontend *fe)
{
    for (unsigned i = 0; i < RD_MAX_RELAYS; i++)
        if (fe->snaps[i].active)
            return &fe->snaps[i];
    return NULL;
}

static void test_big_snapshot_merged(void **state)
{
    struct rig g;
    uint8_t body[RR_PROTO_MAX_BODY];
    size_t len;
    uint16_t type;
    uint32_t routes1 = 0, routes2 = 0, ends = 0, end_count = 0;
    uint64_t end_id = 0;
    bool restarted = false, removed = false;
    size_t removed_proxied = 0;

    (void)state;
    rig_open(&g);
    routes_snapshot(g.fe, (const uint8_t *)"udp", 3, 1);
    for (int turn = 0; turn < 100000 && ends == 0; turn++) {
        (void)routes_snapshot_pump(g.fe);
        /* the relay reads slowly: the queue fills, the snapshot pauses */
        for (int k = 0; k < 37; k++) {
            struct wire_r r;
            if (proto_recv(g.dealer, false, NULL, NULL, &type, body, sizeof(body), &len) < 0)
                break;
            wire_r_init(&r, body, len);
            if (type == RR_MSG_SNAPSHOT_ROUTE) {
                struct rr_msg_snapshot_route m;
                assert_int_equal(proto_dec_snapshot_route(&r, &m), 0);
                if (m.snap_id == 1)
                    routes1++;
                else
                    routes2++;
            } else if (type == RR_MSG_SNAPSHOT_END) {
                struct rr_msg_snapshot_end m;
                assert_int_equal(proto_dec_snapshot_end(&r, &m), 0);
                ends++;
                end_id = m.snap_id;
                end_count = m.count;
            }
        }
        const struct rd_snap *s = running(g.fe);
        if (!restarted && routes1 > 1500) {
            /* the relay timed out and asks again: one snapshot, restarted */
            routes_snapshot(g.fe, (const uint8_t *)"udp", 3, 2);
            restarted = true;
        } else if (restarted && !removed && s && s->last_id > 100) {
            /* the registration just sent goes away under the cursor */
            struct rd_reg *gone = registry_by_id(&g.fe->reg, s->last_id);
            assert_non_null(gone);
            removed_proxied = gone->host[0] != 0;
            registry_remove(&g.fe->reg, gone);
            reg_free(gone);
            removed = true;
        }
    }
    assert_true(removed);
    assert_int_equal(ends, 1);
    assert_true(end_id == 2);
    assert_int_equal(end_count, routes2);
    assert_int_equal(routes2, proxied_routes(g.fe) + removed_proxied); /* it was sent */
    assert_true(routes2 >= NROUTES - 1);
    assert_true(g.fe->snaps_merged == 1);
    assert_true(g.fe->snap_hwm_pauses > 0);
    assert_true(g.fe->snaps_aborted == 0);
    assert_null(running(g.fe));
    assert_int_equal(routes_snapshot_pump(g.fe), -1);
    rig_close(&g);
}

static void test_relay_gone(void **state)
{
    struct rig g;

    (void)state;
    rig_open(&g);
    routes_snapshot(g.fe, (const uint8_t *)"nobody", 6, 5);
    assert_non_null(running(g.fe));
    (void)routes_snapshot_pump(g.fe);
    assert_null(running(g.fe));
    assert_true(g.fe->snaps_aborted == 1);
    rig_close(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_big_snapshot_merged),
        cmocka_unit_test(test_relay_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
