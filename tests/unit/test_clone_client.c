/*
 * test_clone_client.c - unit tests for common/clone_client.c driven by a
 * real ZeroMQ PUB + ROUTER pair in-process (inproc://), playing rd-frontend:
 * snapshot then updates, updates during a snapshot applied once, a seq gap,
 * a new epoch, heartbeat silence (and a pause of our own that is not), a
 * heartbeat ahead of us, snapshot timeout with backoff, stale and incomplete snapshots. Time is
 * passed in by the test (now_ms), so no test depends on wall-clock timing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "clone_client.h"
#include "proto_msg.h"

struct rec {
    int swaps, changes;
    bool had_old, had_new;
    struct rr_route old_rt, new_rt;
};

struct fx {
    void *ctx, *pub, *router, *dealer;
    struct clone_client *c;
    struct rec rec;
    uint64_t epoch;
};

static void on_change(void *arg, const struct rr_route *o, const struct rr_route *n, bool swapped)
{
    struct rec *r = arg;

    if (swapped) {
        assert_null(o);
        assert_null(n);
        r->swaps++;
        return;
    }
    r->changes++;
    r->had_old = o != NULL;
    r->had_new = n != NULL;
    if (o)
        r->old_rt = *o;
    if (n)
        r->new_rt = *n;
}

static struct rr_route mkroute(const char *ep)
{
    struct rr_route rt;

    memset(&rt, 0, sizeof(rt));
    snprintf(rt.host, sizeof(rt.host), "%s.proxy.localhost", ep);
    snprintf(rt.ep, sizeof(rt.ep), "%s", ep);
    snprintf(rt.reg_path, sizeof(rt.reg_path), "/reg/1/");
    rt.path.transport = RR_TRANSPORT_UDP;
    strcpy(rt.path.relay, "udp");
    addr_parse(&rt.path.remote, "192.0.2.10:40000", 0);
    rt.ka = RR_KA_DEFAULT;
    return rt;
}

static void publish_update(struct fx *f, uint64_t epoch, uint64_t seq, const char *ep, bool deleted)
{
    uint8_t buf[1024];
    struct wire_w w;
    struct rr_msg_route_update m = {.epoch = epoch, .seq = seq, .route = mkroute(ep)};

    if (deleted)
        m.route.flags |= RR_ROUTE_DELETED;
    wire_w_init(&w, buf, sizeof(buf));
    assert_int_equal(proto_enc_route_update(&w, &m), 0);
    assert_int_equal(proto_send(f->pub, NULL, 0, RR_MSG_ROUTE_UPDATE, buf, w.len), 0);
}

static void publish_heartbeat(struct fx *f, uint64_t epoch, uint64_t seq, uint32_t interval)
{
    uint8_t buf[32];
    struct wire_w w;
    const struct rr_msg_heartbeat m = {.epoch = epoch, .seq = seq, .interval_ms = interval};

    wire_w_init(&w, buf, sizeof(buf));
    assert_int_equal(proto_enc_heartbeat(&w, &m), 0);
    assert_int_equal(proto_send(f->pub, NULL, 0, RR_MSG_HEARTBEAT, buf, w.len), 0);
}

/* Read whatever reached the relay's DEALER and the SUB, for up to ms. */
static void pump(struct fx *f, uint64_t now, int ms)
{
    uint8_t body[RR_PROTO_MAX_BODY];
    uint16_t type;
    size_t len;

    for (int i = 0; i < ms; i++) {
        zmq_pollitem_t it[2] = {{f->dealer, 0, ZMQ_POLLIN, 0},
                                {clone_client_sub_socket(f->c), 0, ZMQ_POLLIN, 0}};
        zmq_poll(it, 2, 1);
        clone_client_on_sub_readable(f->c, now);
        while (proto_recv(f->dealer, false, NULL, NULL, &type, body, sizeof(body), &len) == 0)
            clone_client_on_snapshot_msg(f->c, type, body, len, now);
    }
}

/* Wait (bounded) for a SNAPSHOT_REQ at the ROUTER; returns its snap_id, or
 * 0 if none came within ms. */
static uint64_t expect_snapshot_req(struct fx *f, int ms)
{
    uint8_t id[255], body[64];
    size_t idlen, len;
    uint16_t type;
    struct wire_r r;

    for (int i = 0; i < ms; i++) {
        zmq_pollitem_t it = {f->router, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 1);
        if (proto_recv(f->router, true, id, &idlen, &type, body, sizeof(body), &len) < 0)
            continue;
        assert_int_equal(type, RR_MSG_SNAPSHOT_REQ);
        assert_int_equal(idlen, 3);
        assert_memory_equal(id, "udp", 3);
        struct rr_msg_snapshot_req m;
        wire_r_init(&r, body, len);
        assert_int_equal(proto_dec_snapshot_req(&r, &m), 0);
        return m.snap_id;
    }
    return 0;
}

static void send_route(struct fx *f, uint64_t snap_id, uint64_t epoch, const char *ep)
{
    uint8_t buf[1024];
    struct wire_w w;
    const struct rr_msg_snapshot_route m = {
        .snap_id = snap_id, .epoch = epoch, .route = mkroute(ep)};

    wire_w_init(&w, buf, sizeof(buf));
    assert_int_equal(proto_enc_snapshot_route(&w, &m), 0);
    assert_int_equal(proto_send(f->router, "udp", 3, RR_MSG_SNAPSHOT_ROUTE, buf, w.len), 0);
}

static void send_end(struct fx *f, uint64_t snap_id, uint64_t epoch, uint64_t seq, uint32_t count)
{
    uint8_t buf[64];
    struct wire_w w;
    const struct rr_msg_snapshot_end m = {
        .snap_id = snap_id, .epoch = epoch, .seq = seq, .count = count};

    wire_w_init(&w, buf, sizeof(buf));
    assert_int_equal(proto_enc_snapshot_end(&w, &m), 0);
    assert_int_equal(proto_send(f->router, "udp", 3, RR_MSG_SNAPSHOT_END, buf, w.len), 0);
}

static void send_snapshot(struct fx *f, uint64_t snap_id, uint64_t epoch, uint64_t seq,
                          const char **eps, unsigned n, uint32_t count)
{
    for (unsigned i = 0; i < n; i++)
        send_route(f, snap_id, epoch, eps[i]);
    send_end(f, snap_id, epoch, seq, count);
}

/* Pump until synced (bounded). */
static void wait_synced(struct fx *f, uint64_t now)
{
    for (int i = 0; i < 200 && !clone_client_synced(f->c); i++)
        pump(f, now, 10);
    assert_true(clone_client_synced(f->c));
}

static int setup(void **state)
{
    static int n;
    static struct fx fx;
    char pub_ep[64], ctl_ep[64];
    int linger = 0;
    struct fx *f = &fx;

    memset(f, 0, sizeof(*f));
    snprintf(pub_ep, sizeof(pub_ep), "inproc://clone-pub-%d", n);
    snprintf(ctl_ep, sizeof(ctl_ep), "inproc://clone-ctl-%d", n++);
    f->ctx = zmq_ctx_new();
    f->pub = zmq_socket(f->ctx, ZMQ_PUB);
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    f->dealer = zmq_socket(f->ctx, ZMQ_DEALER);
    zmq_setsockopt(f->pub, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(f->dealer, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(f->dealer, ZMQ_ROUTING_ID, "udp", 3);
    assert_int_equal(zmq_bind(f->pub, pub_ep), 0);
    assert_int_equal(zmq_bind(f->router, ctl_ep), 0);
    assert_int_equal(zmq_connect(f->dealer, ctl_ep), 0);
    f->c = clone_client_new(f->ctx, pub_ep, f->dealer, on_change, &f->rec);
    assert_non_null(f->c);
    assert_false(clone_client_synced(f->c));
    /* The subscription reaches the PUB asynchronously ("slow joiner"):
     * publish heartbeats until one arrives (ignored while not synced). */
    f->epoch = 0x1122334455667788ull;
    bool seen = false;
    for (int i = 0; i < 500 && !seen; i++) {
        zmq_pollitem_t it = {clone_client_sub_socket(f->c), 0, ZMQ_POLLIN, 0};
        publish_heartbeat(f, f->epoch, 0, 1000);
        seen = zmq_poll(&it, 1, 2) == 1;
    }
    assert_true(seen);
    clone_client_on_sub_readable(f->c, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    clone_client_free(f->c);
    zmq_close(f->dealer);
    zmq_close(f->router);
    zmq_close(f->pub);
    zmq_ctx_term(f->ctx);
    return 0;
}

/* Initial sync at now=1000: routes a, b in the snapshot at seq 2. */
static void initial_sync(struct fx *f)
{
    static const char *eps[] = {"a", "b"};
    uint64_t snap;

    clone_client_tick(f->c, 1000);
    snap = expect_snapshot_req(f, 2000);
    assert_true(snap != 0);
    send_snapshot(f, snap, f->epoch, 2, eps, 2, 2);
    wait_synced(f, 1000);
    assert_int_equal(route_table_count(clone_client_routes(f->c)), 2);
    assert_true(clone_client_epoch(f->c) == f->epoch);
    assert_int_equal(clone_client_seq(f->c), 2);
}

static void test_snapshot_then_updates(void **state)
{
    struct fx *f = *state;
    const struct route_table *t;

    initial_sync(f);
    assert_int_equal(f->rec.swaps, 1);
    assert_int_equal(f->rec.changes, 0);
    assert_int_equal(clone_client_resyncs(f->c), 0);

    publish_update(f, f->epoch, 3, "c", false);
    publish_update(f, f->epoch, 4, "a", true);
    for (int i = 0; i < 200 && clone_client_seq(f->c) < 4; i++)
        pump(f, 1100, 5);
    assert_int_equal(clone_client_seq(f->c), 4);
    t = clone_client_routes(f->c);
    assert_int_equal(route_table_count(t), 2);
    assert_non_null(route_table_get(t, "c.proxy.localhost"));
    assert_null(route_table_get(t, "a.proxy.localhost"));
    assert_int_equal(f->rec.changes, 2);
    assert_true(f->rec.had_old);
    assert_false(f->rec.had_new);
    assert_string_equal(f->rec.old_rt.host, "a.proxy.localhost");
    assert_int_equal(clone_client_updates(f->c), 2);
    /* a replayed (old) update is ignored */
    publish_update(f, f->epoch, 3, "zzz", false);
    pump(f, 1200, 20);
    assert_null(route_table_get(clone_client_routes(f->c), "zzz.proxy.localhost"));
    assert_true(clone_client_synced(f->c));
    assert_int_equal(clone_client_tick(f->c, 1200) > 0, 1);
}

static void test_updates_during_snapshot_applied_once(void **state)
{
    struct fx *f = *state;
    static const char *eps[] = {"a", "b"};
    uint64_t snap;

    clone_client_tick(f->c, 1000);
    snap = expect_snapshot_req(f, 2000);
    assert_true(snap != 0);
    /* seq 2 is already in the snapshot, seq 3 is not */
    publish_update(f, f->epoch, 2, "b", false);
    publish_update(f, f->epoch, 3, "c", false);
    pump(f, 1000, 30);
    assert_false(clone_client_synced(f->c));
    assert_int_equal(route_table_count(clone_client_routes(f->c)), 0); /* old table serves */
    send_snapshot(f, snap, f->epoch, 2, eps, 2, 2);
    wait_synced(f, 1000);
    assert_int_equal(clone_client_seq(f->c), 3);
    assert_int_equal(route_table_count(clone_client_routes(f->c)), 3);
    assert_non_null(route_table_get(clone_client_routes(f->c), "c.proxy.localhost"));
    assert_int_equal(f->rec.swaps, 1);
    assert_int_equal(f->rec.changes, 0); /* folded into the swap, not applied twice */
    /* the next live update continues from seq 3 */
    publish_update(f, f->epoch, 4, "d", false);
    for (int i = 0; i < 200 && clone_client_seq(f->c) < 4; i++)
        pump(f, 1100, 5);
    assert_int_equal(clone_client_seq(f->c), 4);
    assert_int_equal(f->rec.changes, 1);
    assert_false(f->rec.had_old);
    assert_string_equal(f->rec.new_rt.host, "d.proxy.localhost");
    assert_int_equal(clone_client_resyncs(f->c), 0);
}

static void resync_and_recover(struct fx *f, uint64_t now, uint64_t epoch, uint64_t seq)
{
    static const char *eps[] = {"x"};
    uint64_t snap;

    /* backoff: nothing is asked before 100 ms have passed */
    clone_client_tick(f->c, now + 50);
    assert_int_equal(expect_snapshot_req(f, 20), 0);
    clone_client_tick(f->c, now + 100);
    snap = expect_snapshot_req(f, 2000);
    assert_true(snap != 0);
    send_snapshot(f, snap, epoch, seq, eps, 1, 1);
    wait_synced(f, now + 100);
    assert_true(clone_client_epoch(f->c) == epoch);
    assert_int_equal(clone_client_seq(f->c), seq);
    assert_int_equal(route_table_count(clone_client_routes(f->c)), 1);
}

static void test_gap_triggers_resync(void **state)
{
    struct fx *f = *state;

    initial_sync(f);
    publish_update(f, f->epoch, 4, "c", false); /* 3 is missing */
    for (int i = 0; i < 200 && clone_client_synced(f->c); i++)
        pump(f, 2000, 5);
    assert_false(clone_client_synced(f->c));
    assert_int_equal(clone_client_gaps(f->c), 1);
    assert_int_equal(clone_client_resyncs(f->c), 1);
    /* the old table keeps serving meanwhile */
    assert_int_equal(route_table_count(clone_client_routes(f->c)), 2);
    assert_null(route_table_get(clone_client_routes(f->c), "c.proxy.localhost"));
    resync_and_recover(f, 2000, f->epoch, 4);
    assert_int_equal(f->rec.swaps, 2);
}

static void test_new_epoch_triggers_resync(void **state)
{
    struct fx *f = *state;
    uint64_t epoch2 = 0xabcdef0123456789ull;

    initial_sync(f);
    publish_update(f, epoch2, 1, "c", false);
    for (int i = 0; i < 200 && clone_client_synced(f->c); i++)
        pump(f, 2000, 5);
    assert_false(clone_client_synced(f->c));
    assert_int_equal(clone_client_resyncs(f->c), 1);
    assert_int_equal(clone_client_gaps(f->c), 0);
    resync_and_recover(f, 2000, epoch2, 1);
    /* a heartbeat from yet another epoch also resyncs */
    publish_heartbeat(f, 0x42, 0, 1000);
    for (int i = 0; i < 200 && clone_client_synced(f->c); i++)
        pump(f, 2200, 5);
    assert_false(clone_client_synced(f->c));
    assert_int_equal(clone_client_resyncs(f->c), 2);
}

static void test_heartbeat_ahead_triggers_resync(void **state)
{
    struct fx *f = *state;

    initial_sync(f);
    publish_heartbeat(f, f->epoch, 2, 1000); /* in step: nothing happens */
    pump(f, 1500, 20);
    assert_true(clone_client_synced(f->c));
    publish_heartbeat(f, f->epoch, 3, 1000); /* we missed seq 3 */
    for (int i = 0; i < 200 && clone_client_synced(f->c); i++)
        pump(f, 1600, 5);
    assert_false(clone_client_synced(f->c));
    assert_int_equal(clone_client_gaps(f->c), 1);
}

static void test_heartbeat_silence_triggers_resync(void **state)
{
    struct fx *f = *state;

    initial_sync(f); /* interval 1000 announced in setup; last heard at 1000 */
    publish_heartbeat(f, f->epoch, 2, 500);
    for (int i = 0; i < 20; i++)
        pump(f, 1000, 5);
    clone_client_tick(f->c, 2500); /* 1.5 s: 3 x 500 ms is exactly the limit */
    assert_true(clone_client_synced(f->c));
    clone_client_tick(f->c, 2501);
    assert_false(clone_client_synced(f->c));
    assert_int_equal(clone_client_resyncs(f->c), 1);
    resync_and_recover(f, 2501, f->epoch, 2);
}

/* A process that did not run (SIGSTOP, starved) for longer than the
 * silence window: its own pause is not the publisher's silence. */
static void test_pause_is_not_silence(void **state)
{
    struct fx *f = *state;

    initial_sync(f); /* interval 1000 announced in setup; last heard at 1000 */
    clone_client_tick(f->c, 1100);
    clone_client_tick(f->c, 9000); /* did not run for 7.9 s */
    assert_true(clone_client_synced(f->c));
    clone_client_tick(f->c, 12000); /* a full window after the pause: the limit */
    assert_true(clone_client_synced(f->c));
    clone_client_tick(f->c, 12001); /* ticking, and still nothing heard: silence */
    assert_false(clone_client_synced(f->c));
    assert_int_equal(clone_client_resyncs(f->c), 1);
}

static void test_snapshot_timeout_backoff(void **state)
{
    struct fx *f = *state;
    uint64_t now = 1000, s1, s2;
    static const char *eps[] = {"late"};

    clone_client_tick(f->c, now);
    s1 = expect_snapshot_req(f, 2000);
    assert_true(s1 != 0);
    assert_true(clone_client_tick(f->c, now + 1999) <= 100);
    assert_int_equal(clone_client_resyncs(f->c), 0);
    now += 2000;
    clone_client_tick(f->c, now); /* timed out: retry after 100 ms */
    assert_int_equal(clone_client_resyncs(f->c), 1);
    clone_client_tick(f->c, now + 99);
    assert_int_equal(expect_snapshot_req(f, 20), 0);
    now += 100;
    clone_client_tick(f->c, now);
    s2 = expect_snapshot_req(f, 2000);
    assert_true(s2 != 0 && s2 != s1);
    /* a late answer to the first request is ignored */
    send_snapshot(f, s1, f->epoch, 9, eps, 1, 1);
    pump(f, now, 30);
    assert_false(clone_client_synced(f->c));
    now += 2000;
    clone_client_tick(f->c, now); /* second timeout: backoff doubles to 200 */
    clone_client_tick(f->c, now + 199);
    assert_int_equal(expect_snapshot_req(f, 20), 0);
    clone_client_tick(f->c, now + 200);
    assert_true(expect_snapshot_req(f, 2000) != 0);
}

static void test_incomplete_snapshot_resyncs(void **state)
{
    struct fx *f = *state;
    static const char *eps[] = {"a"};
    uint64_t snap;

    clone_client_tick(f->c, 1000);
    snap = expect_snapshot_req(f, 2000);
    send_snapshot(f, snap, f->epoch, 5, eps, 1, 2); /* one route lost on the way */
    for (int i = 0; i < 200 && clone_client_resyncs(f->c) == 0; i++)
        pump(f, 1000, 5);
    assert_false(clone_client_synced(f->c));
    assert_int_equal(clone_client_resyncs(f->c), 1);
    assert_int_equal(f->rec.swaps, 0);
}

/* The snapshot timeout is about progress: a slow but flowing snapshot
 * (rd-frontend paces a big table) completes; 2 s without a route ends it. */
static void test_snapshot_progress_extends_timeout(void **state)
{
    struct fx *f = *state;
    uint64_t snap;

    clone_client_tick(f->c, 1000);
    snap = expect_snapshot_req(f, 2000);
    send_route(f, snap, f->epoch, "a");
    pump(f, 2500, 20); /* arrives at 2500: deadline 4500 */
    clone_client_tick(f->c, 4000);
    send_route(f, snap, f->epoch, "b");
    pump(f, 4400, 20); /* deadline 6400 */
    clone_client_tick(f->c, 6000);
    assert_int_equal(clone_client_resyncs(f->c), 0);
    /* a host sent twice (it changed while the snapshot was paced) is
     * not a lost route: count is in messages */
    send_route(f, snap, f->epoch, "a");
    send_end(f, snap, f->epoch, 3, 3);
    wait_synced(f, 6000);
    assert_int_equal(route_table_count(clone_client_routes(f->c)), 2);
    assert_int_equal(clone_client_resyncs(f->c), 0);

    /* the next snapshot stalls after one route: resync 2 s later */
    publish_heartbeat(f, f->epoch + 1, 1, 500); /* new epoch: resync */
    for (int i = 0; i < 200 && clone_client_resyncs(f->c) == 0; i++)
        pump(f, 7000, 5);
    assert_int_equal(clone_client_resyncs(f->c), 1);
    clone_client_tick(f->c, 7200);
    snap = expect_snapshot_req(f, 2000);
    assert_true(snap != 0);
    send_route(f, snap, f->epoch + 1, "c");
    pump(f, 7300, 20);
    clone_client_tick(f->c, 9299);
    assert_int_equal(clone_client_resyncs(f->c), 1);
    clone_client_tick(f->c, 9300); /* 3 routes last time: 3 / 50 ms, no extra */
    assert_int_equal(clone_client_resyncs(f->c), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snapshot_then_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_updates_during_snapshot_applied_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_triggers_resync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_epoch_triggers_resync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_ahead_triggers_resync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_silence_triggers_resync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pause_is_not_silence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_timeout_backoff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incomplete_snapshot_resyncs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_progress_extends_timeout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
