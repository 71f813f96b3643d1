/*
 * routes_pub.c - the server side of route distribution (ZeroMQ guide
 * "Clone", hardened; docs/architecture.md).
 * Owns: the epoch (random per start, so relays see a restart and resync)
 * and the sequence number of the last ROUTE_UPDATE. Publishes every route
 * change in order on the PUB socket (via the outbox, after the batch is
 * committed), a HEARTBEAT every heartbeat_ms, and answers SNAPSHOT_REQ with
 * SNAPSHOT_ROUTE* + SNAPSHOT_END to the asking relay over the ROUTER.
 * A route exists for every proxied registration that has not expired.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "frontend.h"
#include "log.h"
#include "timeutil.h"

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
    rt->path = r->peer;
    rt->ka = r->ka;
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

void routes_snapshot(struct frontend *fe, const uint8_t *ident, size_t idlen, uint64_t snap_id)
{
    struct rr_route rt;
    uint8_t body[1024];
    struct wire_w w;
    uint32_t count = 0;

    for (const struct rd_reg *r = fe->reg.first; r; r = r->next) {
        if (!r->host[0] || !lookup_reg_live(fe, r))
            continue;
        routes_from_reg(r, &rt);
        wire_w_init(&w, body, sizeof(body));
        wire_put_u64(&w, snap_id);
        wire_put_u64(&w, fe->epoch);
        proto_put_route(&w, &rt);
        if (w.err)
            continue;
        fe_queue(fe, false, ident, idlen, RR_MSG_SNAPSHOT_ROUTE, body, w.len);
        count++;
    }
    wire_w_init(&w, body, sizeof(body));
    wire_put_u64(&w, snap_id);
    wire_put_u64(&w, fe->epoch);
    wire_put_u64(&w, fe->seq);
    wire_put_u32(&w, count);
    fe_queue(fe, false, ident, idlen, RR_MSG_SNAPSHOT_END, body, w.len);
    log_info("snapshot %llu to %.*s: %u routes, epoch=%llu seq=%llu", (unsigned long long)snap_id,
             (int)idlen, (const char *)ident, count, (unsigned long long)fe->epoch,
             (unsigned long long)fe->seq);
}
