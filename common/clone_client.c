/*
 * clone_client.c - the relay side of route distribution (clone_client.h):
 * ZeroMQ guide "Clone", hardened for independent restarts (BRIEF §3.2).
 * Owns: the SUB socket, the live route table, the table being built during
 * a snapshot, the queue of updates that arrive meanwhile, and the sync
 * state machine. Talks to rd-frontend: its PUB (ROUTE_UPDATE, HEARTBEAT)
 * over our SUB, and its ROUTER (SNAPSHOT_REQ out over the relay's DEALER;
 * SNAPSHOT_ROUTE / SNAPSHOT_END handed back in by the relay).
 *
 *   RESYNC_WAIT --(backoff due: SNAPSHOT_REQ)--> SNAPSHOTTING
 *   SNAPSHOTTING --(SNAPSHOT_END, counts match)--> LIVE (table swapped)
 *   any --(gap, new epoch, heartbeat silence, snapshot timeout)--> RESYNC_WAIT
 */
#include "clone_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "curve.h"
#include "log.h"
#include "proto_msg.h"
#include "strbuf.h"
#include "timeutil.h"

#define CLONE_SUB_HWM 100000            /* queued updates before PUB drops (seen as gap) */
#define CLONE_SNAPSHOT_TIMEOUT_MS 2000  /* without progress: no SNAPSHOT_ROUTE for this long */
#define CLONE_SNAPSHOT_ROUTES_PER_MS 50 /* slowest pace assumed for the first-message timeout */
#define CLONE_BACKOFF_MIN_MS 100
#define CLONE_BACKOFF_MAX_MS 5000
#define CLONE_SILENCE_FACTOR 3
#define CLONE_SILENCE_DEFAULT_MS 10000 /* until a HEARTBEAT tells us the interval */
#define CLONE_QUEUE_MAX (16u << 20)    /* bytes of updates queued during a snapshot */
#define CLONE_TICK_MAX_MS 100

enum clone_state { CLONE_RESYNC_WAIT, CLONE_SNAPSHOTTING, CLONE_LIVE };

struct clone_client {
    void *sub, *dealer;
    clone_change_fn on_change;
    void *arg;
    enum clone_state state;
    struct route_table *live, *building;
    uint64_t epoch, seq; /* of the live table */
    uint64_t snap_id, snap_deadline;
    uint64_t snap_epoch;    /* epoch of the SNAPSHOT_ROUTEs received */
    uint32_t snap_received; /* SNAPSHOT_ROUTEs of snap_id received */
    uint32_t last_count;    /* routes in the last completed snapshot */
    bool snap_epoch_set, snap_bad;
    struct strbuf queue; /* [u32 len][ROUTE_UPDATE body] ... */
    bool queue_overflow;
    uint64_t resync_at;
    uint32_t backoff_ms;
    uint64_t last_heard;
    uint64_t last_tick;      /* now_ms of the previous tick, 0 = none */
    uint32_t hb_interval_ms; /* 0 until a HEARTBEAT announces it */
    uint64_t resyncs, gaps, updates;
    uint64_t resyncs_by[CLONE_RS_N]; /* the same, by reason (metrics) */
    uint64_t last_resync_wall_ms;
    unsigned last_reason;
    const char *last_why; /* a string literal */
    uint8_t body[RR_PROTO_MAX_BODY];
};

static void lower_host(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* The metrics' reason for a resync's log text (every why is a literal). */
static unsigned reason_of(const char *why)
{
    if (strstr(why, "epoch"))
        return CLONE_RS_EPOCH;
    if (strstr(why, "gap") || strstr(why, "missed"))
        return CLONE_RS_GAP;
    if (strstr(why, "silence"))
        return CLONE_RS_SILENCE;
    if (strstr(why, "snapshot"))
        return CLONE_RS_SNAPSHOT;
    return CLONE_RS_OTHER;
}

const char *clone_resync_reason_name(unsigned reason)
{
    static const char *const names[CLONE_RS_N] = {"gap", "epoch", "silence", "snapshot", "other"};
    return reason < CLONE_RS_N ? names[reason] : "none";
}

static void resync(struct clone_client *c, uint64_t now, const char *why)
{
    c->resyncs++;
    c->last_reason = reason_of(why);
    c->resyncs_by[c->last_reason]++;
    c->last_resync_wall_ms = now_wall_ms();
    c->last_why = why;
    log_warnx("routes: resync in %u ms: %s", c->backoff_ms, why);
    c->state = CLONE_RESYNC_WAIT;
    c->resync_at = now + c->backoff_ms;
    c->backoff_ms =
        c->backoff_ms * 2 > CLONE_BACKOFF_MAX_MS ? CLONE_BACKOFF_MAX_MS : c->backoff_ms * 2;
    route_table_free(c->building);
    c->building = NULL;
    sb_reset(&c->queue);
}

/* Until the first SNAPSHOT_ROUTE (or the END of an empty one): the idle
 * timeout, plus time for rd-frontend to start a table as large as the last
 * one (it paces a big snapshot across its loop turns). After that every
 * SNAPSHOT_ROUTE pushes the deadline on: the timeout is about progress,
 * not about the table's size. */
static uint64_t snapshot_first_timeout(const struct clone_client *c)
{
    return CLONE_SNAPSHOT_TIMEOUT_MS + c->last_count / CLONE_SNAPSHOT_ROUTES_PER_MS;
}

static void start_snapshot(struct clone_client *c, uint64_t now)
{
    uint8_t buf[16];
    struct wire_w w;
    struct rr_msg_snapshot_req m;
    size_t hint = c->live ? route_table_count(c->live) : 0;

    route_table_free(c->building);
    sb_reset(&c->queue);
    c->queue_overflow = false;
    c->snap_epoch_set = c->snap_bad = false;
    c->building = route_table_new(hint);
    if (!c->building) {
        resync(c, now, "out of memory");
        return;
    }
    c->snap_id++;
    c->snap_received = 0;
    m.snap_id = c->snap_id;
    wire_w_init(&w, buf, sizeof(buf));
    if (proto_enc_snapshot_req(&w, &m) < 0 ||
        proto_send(c->dealer, NULL, 0, RR_MSG_SNAPSHOT_REQ, buf, w.len) < 0) {
        log_warn("routes: cannot send SNAPSHOT_REQ");
        resync(c, now, "snapshot request not sent");
        return;
    }
    c->state = CLONE_SNAPSHOTTING;
    c->snap_deadline = now + snapshot_first_timeout(c);
    log_debug("routes: snapshot %llu requested", (unsigned long long)c->snap_id);
}

struct clone_client *clone_client_new(void *zctx, const char *pub_endpoint, void *dealer,
                                      clone_change_fn on_change, void *arg)
{
    struct clone_client *c = calloc(1, sizeof(*c));
    int hwm = CLONE_SUB_HWM, linger = 0;

    if (!c) {
        log_warn("routes: clone client");
        return NULL;
    }
    c->dealer = dealer;
    c->on_change = on_change;
    c->arg = arg;
    c->backoff_ms = CLONE_BACKOFF_MIN_MS;
    c->state = CLONE_RESYNC_WAIT; /* resync_at 0: the first tick asks at once */
    /* Distinguish our snapshots from a previous run's (ROUTER_HANDOVER may
     * hand this DEALER's id the old one's late replies). */
    c->snap_id = ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
    sb_init(&c->queue);
    c->live = route_table_new(0);
    c->sub = zmq_socket(zctx, ZMQ_SUB);
    if (!c->live || !c->sub || zmq_setsockopt(c->sub, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0 ||
        zmq_setsockopt(c->sub, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
        zmq_setsockopt(c->sub, ZMQ_SUBSCRIBE, "", 0) < 0 ||
        curve_client(zctx, c->sub, pub_endpoint, "rd-frontend's route PUB") < 0 ||
        zmq_connect(c->sub, pub_endpoint) < 0) {
        log_warn("routes: SUB socket for %s", pub_endpoint);
        clone_client_free(c);
        return NULL;
    }
    return c;
}

void clone_client_free(struct clone_client *c)
{
    if (!c)
        return;
    if (c->sub)
        zmq_close(c->sub);
    route_table_free(c->live);
    route_table_free(c->building);
    sb_free(&c->queue);
    free(c);
}

void *clone_client_sub_socket(struct clone_client *c)
{
    return c->sub;
}

/* Apply one update to the live table and tell the relay. -1 on oom. */
static int apply_live(struct clone_client *c, const struct rr_route *rt)
{
    const struct rr_route *cur = route_table_get(c->live, rt->host);
    struct rr_route old;
    bool had = cur != NULL;

    if (had)
        old = *cur; /* the slot is overwritten or moved by put/del */
    if (rt->flags & RR_ROUTE_DELETED) {
        route_table_del(c->live, rt->host);
        cur = NULL;
    } else {
        if (route_table_put(c->live, rt) < 0)
            return -1;
        cur = route_table_get(c->live, rt->host);
    }
    c->updates++;
    if (c->on_change && (had || cur))
        c->on_change(c->arg, had ? &old : NULL, cur, false);
    return 0;
}

static void apply_building(struct clone_client *c, const struct rr_route *rt)
{
    if (rt->flags & RR_ROUTE_DELETED)
        route_table_del(c->building, rt->host);
    else if (route_table_put(c->building, rt) < 0)
        c->snap_bad = true;
}

static void queue_update(struct clone_client *c, const uint8_t *body, size_t len)
{
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};

    if (c->queue_overflow || c->queue.len + len + 4 > CLONE_QUEUE_MAX) {
        c->queue_overflow = true;
        return;
    }
    sb_append(&c->queue, hdr, 4);
    sb_append(&c->queue, body, len);
    if (c->queue.oom)
        c->queue_overflow = true;
}

static void on_route_update(struct clone_client *c, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r r;
    struct rr_msg_route_update m;

    wire_r_init(&r, body, len);
    if (proto_dec_route_update(&r, &m) < 0) {
        log_warnx("routes: dropped malformed ROUTE_UPDATE");
        return;
    }
    if (c->state == CLONE_SNAPSHOTTING) {
        queue_update(c, body, len);
        return;
    }
    if (c->state != CLONE_LIVE)
        return; /* the coming snapshot will contain it */
    if (m.epoch != c->epoch) {
        resync(c, now, "new epoch");
        return;
    }
    if (m.seq <= c->seq)
        return; /* already in our table */
    if (m.seq != c->seq + 1) {
        c->gaps++;
        resync(c, now, "gap in update sequence");
        return;
    }
    lower_host(m.route.host);
    if (apply_live(c, &m.route) < 0) {
        resync(c, now, "out of memory");
        return;
    }
    c->seq = m.seq;
}

static void on_heartbeat(struct clone_client *c, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r r;
    struct rr_msg_heartbeat m;

    wire_r_init(&r, body, len);
    if (proto_dec_heartbeat(&r, &m) < 0) {
        log_warnx("routes: dropped malformed HEARTBEAT");
        return;
    }
    if (m.interval_ms)
        c->hb_interval_ms = m.interval_ms;
    if (c->state != CLONE_LIVE)
        return;
    if (m.epoch != c->epoch) {
        resync(c, now, "new epoch");
    } else if (m.seq > c->seq) {
        c->gaps++;
        resync(c, now, "missed updates (heartbeat ahead)");
    }
}

void clone_client_on_sub_readable(struct clone_client *c, uint64_t now_ms)
{
    uint16_t type;
    size_t len;

    for (;;) {
        if (proto_recv(c->sub, false, NULL, NULL, &type, c->body, sizeof(c->body), &len) < 0) {
            if (errno == EPROTO)
                continue;
            if (errno != EAGAIN && errno != EINTR)
                log_warn("routes: SUB receive");
            return;
        }
        c->last_heard = now_ms;
        switch (type) {
        case RR_MSG_ROUTE_UPDATE:
            on_route_update(c, c->body, len, now_ms);
            break;
        case RR_MSG_HEARTBEAT:
            on_heartbeat(c, c->body, len, now_ms);
            break;
        default:
            log_warnx("routes: unexpected %s on SUB", proto_msg_name(type));
            break;
        }
    }
}

static void on_snapshot_route(struct clone_client *c, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r r;
    struct rr_msg_snapshot_route m;

    wire_r_init(&r, body, len);
    if (proto_dec_snapshot_route(&r, &m) < 0) {
        log_warnx("routes: dropped malformed SNAPSHOT_ROUTE");
        return; /* the count in SNAPSHOT_END will not match */
    }
    if (c->state != CLONE_SNAPSHOTTING || m.snap_id != c->snap_id)
        return; /* an older snapshot's straggler */
    if (c->snap_epoch_set && m.epoch != c->snap_epoch)
        c->snap_bad = true;
    c->snap_epoch = m.epoch;
    c->snap_epoch_set = true;
    c->snap_received++;
    c->snap_deadline = now + CLONE_SNAPSHOT_TIMEOUT_MS; /* progress */
    lower_host(m.route.host);
    apply_building(c, &m.route);
}

/* Apply queued updates newer than the snapshot to the new table. Returns
 * a reason to resync afterwards, or NULL. */
static const char *drain_queue(struct clone_client *c, uint64_t epoch, uint64_t *seq)
{
    size_t off = 0;
    const uint8_t *q = (const uint8_t *)c->queue.buf;

    while (off + 4 <= c->queue.len) {
        size_t len = ((size_t)q[off] << 24) | ((size_t)q[off + 1] << 16) |
                     ((size_t)q[off + 2] << 8) | q[off + 3];
        struct wire_r r;
        struct rr_msg_route_update m;

        wire_r_init(&r, q + off + 4, len);
        off += 4 + len;
        (void)proto_dec_route_update(&r, &m); /* decoded once already when queued */
        if (m.epoch != epoch)
            return "new epoch during snapshot";
        if (m.seq <= *seq)
            continue; /* already in the snapshot */
        if (m.seq != *seq + 1) {
            c->gaps++;
            return "gap in update sequence during snapshot";
        }
        lower_host(m.route.host);
        apply_building(c, &m.route);
        *seq = m.seq;
    }
    return c->queue_overflow ? "update queue overflow during snapshot" : NULL;
}

static void on_snapshot_end(struct clone_client *c, const uint8_t *body, size_t len, uint64_t now)
{
    struct wire_r r;
    struct rr_msg_snapshot_end m;
    uint64_t epoch, seq;
    const char *why;

    wire_r_init(&r, body, len);
    if (proto_dec_snapshot_end(&r, &m) < 0) {
        log_warnx("routes: dropped malformed SNAPSHOT_END");
        return; /* the snapshot timeout resyncs */
    }
    if (c->state != CLONE_SNAPSHOTTING || m.snap_id != c->snap_id)
        return;
    epoch = m.epoch;
    seq = m.seq;
    /* count is the SNAPSHOT_ROUTEs sent: rd-frontend sends a big table
     * across several loop turns, so a host may come twice (changed
     * meanwhile; the queued updates settle it), but none may be missing */
    if (c->snap_bad || (c->snap_epoch_set && c->snap_epoch != epoch) ||
        c->snap_received != m.count) {
        log_warnx("routes: snapshot %llu incomplete: %u of %u routes arrived",
                  (unsigned long long)m.snap_id, c->snap_received, m.count);
        resync(c, now, "incomplete snapshot");
        return;
    }
    c->last_count = m.count;
    why = drain_queue(c, epoch, &seq);
    if (c->snap_bad) {
        resync(c, now, "out of memory");
        return;
    }
    route_table_free(c->live);
    c->live = c->building;
    c->building = NULL;
    sb_reset(&c->queue);
    c->epoch = epoch;
    c->seq = seq;
    c->state = CLONE_LIVE;
    c->backoff_ms = CLONE_BACKOFF_MIN_MS;
    c->last_heard = now;
    log_info("routes synced: epoch=%016llx seq=%llu count=%zu", (unsigned long long)epoch,
             (unsigned long long)seq, route_table_count(c->live));
    if (c->on_change)
        c->on_change(c->arg, NULL, NULL, true);
    if (why)
        resync(c, now, why); /* the swapped table is consistent, just not current */
}

void clone_client_on_snapshot_msg(struct clone_client *c, uint16_t type, const uint8_t *body,
                                  size_t len, uint64_t now_ms)
{
    switch (type) {
    case RR_MSG_SNAPSHOT_ROUTE:
        on_snapshot_route(c, body, len, now_ms);
        break;
    case RR_MSG_SNAPSHOT_END:
        on_snapshot_end(c, body, len, now_ms);
        break;
    default:
        log_warnx("routes: unexpected %s as snapshot message", proto_msg_name(type));
        break;
    }
}

static int until(uint64_t deadline, uint64_t now)
{
    if (deadline <= now)
        return 0;
    return deadline - now > CLONE_TICK_MAX_MS ? CLONE_TICK_MAX_MS : (int)(deadline - now);
}

int clone_client_tick(struct clone_client *c, uint64_t now_ms)
{
    uint64_t silence;

    switch (c->state) {
    case CLONE_RESYNC_WAIT:
        if (now_ms >= c->resync_at)
            start_snapshot(c, now_ms);
        break;
    case CLONE_SNAPSHOTTING:
        if (now_ms >= c->snap_deadline)
            resync(c, now_ms, "snapshot timed out");
        break;
    case CLONE_LIVE:
        silence = c->hb_interval_ms ? (uint64_t)c->hb_interval_ms * CLONE_SILENCE_FACTOR
                                    : CLONE_SILENCE_DEFAULT_MS;
        /* A tick that comes a whole silence window after the previous
         * one means this process did not run (stopped, starved): the
         * publisher was not silent, we were not listening. Give the SUB
         * a fresh window to deliver its backlog, so a lost update shows
         * as the gap it is and a mere pause costs no snapshot. */
        if (c->last_tick && now_ms > c->last_tick && now_ms - c->last_tick > silence)
            c->last_heard = now_ms;
        /* now_ms may trail last_heard if the caller sampled its clock
         * before draining the SUB: that is not silence. */
        if (now_ms > c->last_heard && now_ms - c->last_heard > silence)
            resync(c, now_ms, "heartbeat silence");
        break;
    }
    c->last_tick = now_ms;
    switch (c->state) {
    case CLONE_RESYNC_WAIT:
        return until(c->resync_at, now_ms);
    case CLONE_SNAPSHOTTING:
        return until(c->snap_deadline, now_ms);
    default:
        return CLONE_TICK_MAX_MS;
    }
}

const struct route_table *clone_client_routes(const struct clone_client *c)
{
    return c->live;
}

bool clone_client_synced(const struct clone_client *c)
{
    return c->state == CLONE_LIVE;
}

uint64_t clone_client_epoch(const struct clone_client *c)
{
    return c->epoch;
}

uint64_t clone_client_seq(const struct clone_client *c)
{
    return c->seq;
}

uint64_t clone_client_resyncs(const struct clone_client *c)
{
    return c->resyncs;
}

uint64_t clone_client_gaps(const struct clone_client *c)
{
    return c->gaps;
}

uint64_t clone_client_updates(const struct clone_client *c)
{
    return c->updates;
}

uint64_t clone_client_resyncs_by(const struct clone_client *c, unsigned reason)
{
    return reason < CLONE_RS_N ? c->resyncs_by[reason] : 0;
}

uint64_t clone_client_last_resync(const struct clone_client *c, unsigned *reason, const char **why)
{
    if (reason)
        *reason = c->last_resync_wall_ms ? c->last_reason : CLONE_RS_N;
    if (why)
        *why = c->last_why ? c->last_why : "";
    return c->last_resync_wall_ms;
}
