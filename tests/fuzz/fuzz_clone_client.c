/*
 * fuzz_clone_client.c - libFuzzer target for the relay side of route
 * distribution (common/clone_client.c) driven through real in-process
 * ZeroMQ sockets, as test_clone_client.c does: a PUB and a ROUTER play
 * rd-frontend. Input: records of (u8 kind, u16 length, body): kind 0/1 a
 * ROUTE_UPDATE/HEARTBEAT body published to the client's SUB, 2/3 a
 * SNAPSHOT_ROUTE/SNAPSHOT_END body handed in from the DEALER (its first 8
 * bytes, the snap_id, replaced by the one the client asked for, so the
 * fuzzer reaches past the id check), 4 the clock moves on by length ms.
 * Invariants: a change callback is either a whole-table swap (no routes
 * passed) or names a route; a delete passes the old route; a synced client
 * has a table; nothing leaks or overruns. A fresh client per input.
 */
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "clone_client.h"
#include "fuzz_check.h"
#include "log.h"
#include "proto_msg.h"

struct fuzz_clone {
    void *ctx, *pub, *router, *dealer;
    uint64_t snap_id;
};

static void on_change(void *arg, const struct rr_route *o, const struct rr_route *n, bool swapped)
{
    (void)arg;
    if (swapped)
        FUZZ_CHECK(o == NULL && n == NULL);
    else
        FUZZ_CHECK(o != NULL || n != NULL);
    if (n)
        FUZZ_CHECK(memchr(n->host, '\0', sizeof(n->host)) != NULL);
}

static void fixture(struct fuzz_clone *f)
{
    int linger = 0;

    log_set_level(LOG_LVL_ERROR);
    f->ctx = zmq_ctx_new();
    f->pub = zmq_socket(f->ctx, ZMQ_PUB);
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    f->dealer = zmq_socket(f->ctx, ZMQ_DEALER);
    FUZZ_CHECK(f->ctx && f->pub && f->router && f->dealer);
    zmq_setsockopt(f->pub, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(f->router, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(f->dealer, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(f->dealer, ZMQ_ROUTING_ID, "udp", 3);
    FUZZ_CHECK(zmq_bind(f->pub, "inproc://fuzz-clone-pub") == 0);
    FUZZ_CHECK(zmq_bind(f->router, "inproc://fuzz-clone-ctl") == 0);
    FUZZ_CHECK(zmq_connect(f->dealer, "inproc://fuzz-clone-ctl") == 0);
}

/* Take in whatever the client sent to "rd-frontend" (SNAPSHOT_REQs). */
static void drain_router(struct fuzz_clone *f)
{
    uint8_t id[255], body[64];
    size_t idlen, len;
    uint16_t type;
    struct wire_r r;
    struct rr_msg_snapshot_req m;

    while (proto_recv(f->router, true, id, &idlen, &type, body, sizeof(body), &len) == 0) {
        wire_r_init(&r, body, len);
        if (type == RR_MSG_SNAPSHOT_REQ && proto_dec_snapshot_req(&r, &m) == 0)
            f->snap_id = m.snap_id;
    }
}

static void pump_sub(struct clone_client *c, uint64_t now)
{
    zmq_pollitem_t it = {clone_client_sub_socket(c), 0, ZMQ_POLLIN, 0};

    zmq_poll(&it, 1, 1);
    clone_client_on_sub_readable(c, now);
}

/* The SUB's subscription reaches the PUB asynchronously ("slow joiner"):
 * publish heartbeats of a snapshotting client (ignored) until one arrives. */
static int subscribe(struct fuzz_clone *f, struct clone_client *c)
{
    static const uint8_t hb[20] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0, 0,
                                   0,    0,    0,    0,    0,    0,    0,    0,    3, 0xe8};

    for (int i = 0; i < 1000; i++) {
        zmq_pollitem_t it = {clone_client_sub_socket(c), 0, ZMQ_POLLIN, 0};
        proto_send(f->pub, NULL, 0, RR_MSG_HEARTBEAT, hb, sizeof(hb));
        if (zmq_poll(&it, 1, 1) == 1) {
            clone_client_on_sub_readable(c, 0);
            return 0;
        }
    }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fuzz_clone f;
    static uint8_t body[RR_PROTO_MAX_BODY];
    uint64_t now = 1000;
    size_t off = 0;
    int n = 0;

    if (!f.ctx)
        fixture(&f);
    struct clone_client *c =
        clone_client_new(f.ctx, "inproc://fuzz-clone-pub", f.dealer, on_change, NULL);
    FUZZ_CHECK(c != NULL);
    FUZZ_CHECK(subscribe(&f, c) == 0);
    drain_router(&f);
    clone_client_tick(c, now);
    drain_router(&f);
    while (off + 3 <= size && n++ < 64) {
        uint8_t kind = data[off] % 5;
        size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        if (len > sizeof(body))
            len = sizeof(body);
        memcpy(body, data + off, len);
        off += len;
        switch (kind) {
        case 0:
        case 1:
            proto_send(f.pub, NULL, 0, kind ? RR_MSG_HEARTBEAT : RR_MSG_ROUTE_UPDATE, body, len);
            pump_sub(c, now);
            break;
        case 2:
        case 3:
            for (int i = 0; i < 8 && (size_t)i < len; i++)
                body[i] = (uint8_t)(f.snap_id >> (56 - 8 * i));
            clone_client_on_snapshot_msg(c, kind == 2 ? RR_MSG_SNAPSHOT_ROUTE : RR_MSG_SNAPSHOT_END,
                                         body, len, now);
            break;
        case 4:
            now += len;
            clone_client_tick(c, now);
            drain_router(&f);
            break;
        }
        if (clone_client_synced(c))
            FUZZ_CHECK(clone_client_routes(c) != NULL);
    }
    (void)clone_client_resyncs(c);
    clone_client_free(c);
    return 0;
}
