/*
 * routes_pub.c - the server side of route distribution (ZeroMQ guide
 * "Clone", hardened; docs/architecture.md).
 * Owns: the epoch (random per start, so relays see a restart and resync)
 * and the sequence number of the last ROUTE_UPDATE. Publishes every route
 * change in order on the PUB socket (via the outbox, after the batch is
 * committed), a HEARTBEAT every heartbeat_ms, and answers SNAPSHOT_REQ with
 * SNAPSHOT_ROUTE* + SNAPSHOT_END to the asking relay over the ROUTER.
 * Snapshots (one per relay; a repeated SNAPSHOT_REQ restarts it) are sent
 * a chunk per loop turn, after the batch is committed, straight to the
 * ROUTER: a full queue towards a relay pauses its snapshot (counted) instead
 * of dropping messages, and no message is allocated.
 * A route exists for every proxied registration that has not expired.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "frontend.h"
#include "log.h"
#include "timeutil.h"

#define ROUTES_SNAP_CHUNK 1024     /* SNAPSHOT_ROUTEs per relay per loop turn */
#define ROUTES_SNAP_STALL_MS 30000 /* a relay that takes nothing this long is given up */
#define ROUTES_SNAP_PAUSE_MS 5     /* retry after a full queue: give the relay time to read */

void routes_init(struct frontend *fe)
{
    uint64_t e = 0;

    if (getrandom(&e, sizeof(e), 0) != (ssize_t)sizeof(e))
        e = now_wall_ms() ^ ((uint64_t)now_mono_ms() << 32);
    fe->epoch = e ? e : 1;
    fe->seq = 0;
}

void routes_from_reg(const struct rd_reg *r, struct rr_route *rt)
{
    memset(rt, 0, sizeof(*rt));
    snprintf(rt->host, sizeof(rt->host), "%s", r->host);
    snprintf(rt->ep, sizeof(rt->ep), "%s", r->ep);
    snprintf(rt->d, sizeof(rt->d), "%s", r->d);
    snprintf(rt->reg_path, sizeof(rt->reg_path), "/reg/%lld", (long long)r->id);
    cpeer_unpack(&r->peer, &rt->path);
    rt->ka = r->ka;
    rt->mux_port = r->port;
}

void routes_publish(struct frontend *fe, const struct rd_reg *r, bool deleted)
{
    struct rr_msg_route_update m = {.epoch = fe->epoch};
    uint8_t body[1024];
    struct wire_w w;

    routes_from_reg(r, &m.route);
    if (deleted)
        m.route.flags |= RR_ROUTE_DELETED;
    m.seq = ++fe->seq;
    wire_w_init(&w, body, sizeof(body));
    if (proto_enc_route_update(&w, &m) < 0) {
        log_warnx("route for %s does not encode", r->host);
        return;
    }
    fe_queue(fe, true, NULL, 0, RR_MSG_ROUTE_UPDATE, body, w.len);
    log_debug("route %s %s seq=%llu", deleted ? "deleted" : "updated", r->host,
              (unsigned long long)fe->seq);
}

void routes_heartbeat(struct frontend *fe)
{
    const struct rr_msg_heartbeat m = {
        .epoch = fe->epoch, .seq = fe->seq, .interval_ms = fe->cfg.heartbeat_ms};
    uint8_t body[32];
    struct wire_w w;

    wire_w_init(&w, body, sizeof(body));
    if (proto_enc_heartbeat(&w, &m) == 0)
        fe_queue(fe, true, NULL, 0, RR_MSG_HEARTBEAT, body, w.len);
}

/* Send one snapshot message to its relay: directly on the ROUTER, so a
 * 100,000-route table costs no allocation per message (ZeroMQ copies the
 * frame); into the outbox when there is no socket (unit tests).
 * 0 sent, 1 the relay's queue is full (retry later), -1 relay gone. */
static int snap_send(struct frontend *fe, struct rd_snap *s, uint16_t type, const uint8_t *body,
                     size_t len)
{
    if (fe->router == NULL) {
        fe_queue(fe, false, s->ident, s->idlen, type, body, len);
        return 0;
    }
    if (proto_send(fe->router, s->ident, s->idlen, type, body, len) == 0) {
        s->progress_at = fe->now;
        return 0;
    }
    return errno == EAGAIN ? 1 : -1;
}

static void snap_stop(struct frontend *fe, struct rd_snap *s, const char *why)
{
    if (why) {
        fe->snaps_aborted++;
        log_warnx("snapshot %llu to %.*s abandoned after %u routes: %s",
                  (unsigned long long)s->snap_id, (int)s->idlen, (const char *)s->ident, s->sent,
                  why);
    }
    s->active = false;
}

/* The first registration not sent yet (id order; the one last sent may be
 * gone by now). */
static const struct rd_reg *snap_resume(const struct frontend *fe, const struct rd_snap *s)
{
    const struct rd_reg *r = s->last_id ? registry_by_id(&fe->reg, s->last_id) : NULL;

    if (r)
        return r->next;
    for (r = fe->reg.first; r && r->id <= s->last_id; r = r->next)
        ;
    return r;
}

/* One chunk of one snapshot. Routes are read from the registry as it is
 * now: one that changed after the snapshot began is also in a
 * ROUTE_UPDATE newer than SNAPSHOT_END's seq, which the relay queued and
 * applies on top, so the result is the same as an instant copy. Returns
 * what snap_send returned for the last message (0, 1, -1). */
static int snap_pump_one(struct frontend *fe, struct rd_snap *s, unsigned budget)
{
    struct rr_msg_snapshot_route m = {.snap_id = s->snap_id, .epoch = fe->epoch};
    uint8_t body[1024];
    struct wire_w w;
    int rc;

    for (const struct rd_reg *r = snap_resume(fe, s); !s->routes_done && budget; budget--) {
        for (; r && (!r->host[0] || !lookup_reg_live(fe, r)); r = r->next)
            s->last_id = r->id;
        if (r == NULL) {
            s->routes_done = true;
            break;
        }
        routes_from_reg(r, &m.route);
        wire_w_init(&w, body, sizeof(body));
        if (proto_enc_snapshot_route(&w, &m) == 0) {
            if ((rc = snap_send(fe, s, RR_MSG_SNAPSHOT_ROUTE, body, w.len)) != 0)
                return rc;
            s->sent++;
        }
        s->last_id = r->id;
        r = r->next;
    }
    if (!s->routes_done)
        return 0;
    const struct rr_msg_snapshot_end e = {
        .snap_id = s->snap_id, .epoch = fe->epoch, .seq = s->seq, .count = s->sent};
    wire_w_init(&w, body, sizeof(body));
    if (proto_enc_snapshot_end(&w, &e) < 0 ||
        (rc = snap_send(fe, s, RR_MSG_SNAPSHOT_END, body, w.len)) < 0)
        return -1;
    if (rc == 0) {
        log_info("snapshot %llu to %.*s: %u routes, epoch=%llu seq=%llu",
                 (unsigned long long)s->snap_id, (int)s->idlen, (const char *)s->ident, s->sent,
                 (unsigned long long)fe->epoch, (unsigned long long)s->seq);
        snap_stop(fe, s, NULL);
    }
    return rc;
}

int routes_snapshot_pump(struct frontend *fe)
{
    int wait = -1;

    for (unsigned i = 0; i < RD_MAX_RELAYS; i++) {
        struct rd_snap *s = &fe->snaps[i];
        if (!s->active)
            continue;
        switch (snap_pump_one(fe, s, ROUTES_SNAP_CHUNK)) {
        case 0:
            if (s->active)
                wait = 0;
            break;
        case 1:
            /* the relay's queue is full: nothing is dropped, the rest
             * follows when it has read some (counted, shown in status) */
            fe->snap_hwm_pauses++;
            if (fe->now - s->progress_at > ROUTES_SNAP_STALL_MS)
                snap_stop(fe, s, "the relay takes nothing");
            else if (wait != 0)
                wait = ROUTES_SNAP_PAUSE_MS;
            break;
        default:
            snap_stop(fe, s, errno == EHOSTUNREACH ? "relay not connected" : "send failed");
            break;
        }
    }
    return wait;
}

void routes_snapshot(struct frontend *fe, const uint8_t *ident, size_t idlen, uint64_t snap_id)
{
    struct rd_snap *s = NULL;

    if (idlen == 0 || idlen > RD_IDENT_MAX)
        return;
    /* one snapshot per relay: a repeated request (the relay timed out, or
     * restarted and took its routing id back) restarts the running one,
     * whose remaining messages the relay would ignore anyway */
    for (unsigned i = 0; i < RD_MAX_RELAYS && !s; i++)
        if (fe->snaps[i].active && fe->snaps[i].idlen == idlen &&
            memcmp(fe->snaps[i].ident, ident, idlen) == 0)
            s = &fe->snaps[i];
    if (s) {
        fe->snaps_merged++;
        log_info("snapshot %llu to %.*s replaces %llu (%u routes sent)",
                 (unsigned long long)snap_id, (int)idlen, (const char *)ident,
                 (unsigned long long)s->snap_id, s->sent);
    }
    for (unsigned i = 0; i < RD_MAX_RELAYS && !s; i++)
        if (!fe->snaps[i].active)
            s = &fe->snaps[i];
    if (!s) {
        /* more relays asking at once than we know relays: the one that
         * made no progress for longest gives way */
        s = &fe->snaps[0];
        for (unsigned i = 1; i < RD_MAX_RELAYS; i++)
            if (fe->snaps[i].progress_at < s->progress_at)
                s = &fe->snaps[i];
        snap_stop(fe, s, "too many snapshots at once");
    }
    memset(s, 0, sizeof(*s));
    s->active = true;
    memcpy(s->ident, ident, idlen);
    s->idlen = idlen;
    s->snap_id = snap_id;
    s->seq = fe->seq;
    s->progress_at = fe->now;
    if (fe->router == NULL)
        while (s->active && snap_pump_one(fe, s, ROUTES_SNAP_CHUNK) == 0)
            ;
}
