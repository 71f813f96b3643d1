/*
 * ctl.c - relay-tcp's link to rd-frontend.
 * Owns the ZeroMQ context, the DEALER (routing id "tcp", connected to
 * ctl_endpoint) and the clone client (SUB to pub_endpoint + route table).
 * Sends HELLO at start and whenever a new rd-frontend epoch appears,
 * RELAY_STATUS every 5 s (with the connection counts); dispatches what
 * rd-frontend sends (a flat switch: length checks live in the handlers'
 * decoders). Reachability of the routes whose path is one of our
 * connections: a closed connection makes them unreachable at once
 * (REACHABILITY 0), a route update onto a live connection reachable again;
 * after a resync every route on a connection we do not have is reported.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "tcp_relay.h"
#include "timeutil.h"

int rt_ctl_send(struct rt_relay *r, uint16_t type, const void *body, size_t len)
{
    if (proto_send(r->dealer, NULL, 0, type, body, len) < 0) {
        if (errno == EAGAIN)
            r->c.hwm_drops++;
        else
            log_warn("send %s", proto_msg_name(type));
        return -1;
    }
    return 0;
}

void rt_ctl_send_hello(struct rt_relay *r)
{
    uint8_t body[64];
    struct wire_w w;

    wire_w_init(&w, body, sizeof(body));
    wire_put_str(&w, RT_RELAY_NAME);
    wire_put_u8(&w, RR_TRANSPORT_TCP);
    wire_put_u32(&w, (uint32_t)getpid());
    rt_ctl_send(r, RR_MSG_HELLO, body, w.len);
}

void rt_ctl_send_status(struct rt_relay *r)
{
    uint8_t body[2048];
    struct wire_w w;
    const struct route_table *t = clone_client_routes(r->clone);
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {
        /* rd-frontend keeps the first 32 (RD_MAX_COUNTERS): most useful first */
        {"routes", t ? route_table_count(t) : 0},
        {"synced", clone_client_synced(r->clone)},
        {"epoch", clone_client_epoch(r->clone)},
        {"seq", clone_client_seq(r->clone)},
        {"resyncs", clone_client_resyncs(r->clone)},
        {"gaps", clone_client_gaps(r->clone)},
        {"updates", clone_client_updates(r->clone)},
        {"hwm_drops", r->c.hwm_drops},
        {"connections", r->nconns},
        {"connections_max", r->nconns_max},
        {"accepted", r->c.accepted},
        {"closed", r->c.closed},
        {"refused", r->c.conn_refused},
        {"aborts_sent", r->c.aborts_sent},
        {"csm_timeouts", r->c.csm_timeouts},
        {"partial_timeouts", r->c.partial_timeouts},
        {"too_big", r->c.too_big},
        {"pong_timeouts", r->c.pong_timeouts},
        {"slow_readers", r->c.slow_readers},
        {"rd_requests", r->c.rd_requests},
        {"rd_responses", r->c.rd_responses},
        {"rd_giveups", r->c.rd_giveups},
        {"rd_notify", r->c.rd_notify},
        {"ep_requests", r->c.ep_requests},
        {"proxied", r->c.proxied},
        {"proxy_5_02", r->c.proxy_5_02},
        {"proxy_5_04", r->c.proxy_5_04},
        {"proxy_5_05", r->c.proxy_5_05},
        {"observations", r->c.observations},
        {"xfwd_out", r->c.xfwd_out},
        {"xfwd_in", r->c.xfwd_in},
        {"xfwd_refused", r->c.xfwd_refused},
        {"exchanges_down", r->dx_used},
        {"exchanges_up", r->ux_used},
        {"aborts_received", r->c.aborts_rcvd},
        {"releases_received", r->c.releases_rcvd},
        {"bad_frames", r->c.bad_frames},
        {"rx", r->c.rx_msgs},
        {"tx", r->c.tx_msgs},
        {"pings_sent", r->c.pings_sent},
        {"pings_answered", r->c.pings_answered},
        {"rd_resends", r->c.rd_resends},
        {"proxy_responses", r->c.proxy_responses},
        {"no_slot", r->c.no_slot},
    };
    unsigned n = sizeof(f) / sizeof(f[0]);

    wire_w_init(&w, body, sizeof(body));
    wire_put_str(&w, RT_RELAY_NAME);
    wire_put_u16(&w, (uint16_t)n);
    for (unsigned i = 0; i < n; i++) {
        wire_put_str(&w, f[i].name);
        wire_put_u64(&w, f[i].v);
    }
    if (!w.err)
        rt_ctl_send(r, RR_MSG_RELAY_STATUS, body, w.len);
}

bool rt_route_is_ours(const struct rr_route *rt)
{
    return rt->path.transport == RR_TRANSPORT_TCP && strcmp(rt->path.relay, RT_RELAY_NAME) == 0;
}

void rt_ctl_reachability(struct rt_relay *r, const char *host, bool reachable, uint64_t since)
{
    uint8_t body[RR_HOST_MAX + 32];
    struct wire_w w;

    wire_w_init(&w, body, sizeof(body));
    wire_put_str(&w, host);
    wire_put_u8(&w, reachable ? 1 : 0);
    wire_put_u64(&w, since);
    if (!w.err)
        rt_ctl_send(r, RR_MSG_REACHABILITY, body, w.len);
}

struct gone_walk {
    struct rt_relay *r;
    uint64_t conn_id; /* 0: every route whose connection we do not have */
    uint64_t since;
};

static int gone_one(const struct rr_route *rt, void *arg)
{
    struct gone_walk *g = arg;

    if (!rt_route_is_ours(rt))
        return 0;
    if (g->conn_id) {
        if (rt->path.conn_id != g->conn_id)
            return 0;
        log_info("route %s unreachable: its TCP connection closed", rt->host);
        rt_ctl_reachability(g->r, rt->host, false, g->since);
        return 0;
    }
    if (rt_conn_find(g->r, rt->path.conn_id) == RT_NONE) {
        uint64_t since = rt_gone_since(g->r, rt->path.conn_id);
        rt_ctl_reachability(g->r, rt->host, false, since ? since : g->since);
    }
    return 0;
}

void rt_ctl_conn_routes_gone(struct rt_relay *r, uint64_t conn_id, uint64_t since)
{
    const struct route_table *t = clone_client_routes(r->clone);
    struct gone_walk g = {r, conn_id, since};

    if (t && conn_id)
        route_table_foreach(t, gone_one, &g);
}

static void on_route_change(void *arg, const struct rr_route *old_rt, const struct rr_route *new_rt,
                            bool swapped)
{
    struct rt_relay *r = arg;

    if (swapped) {
        const struct route_table *t = clone_client_routes(r->clone);
        uint64_t epoch = clone_client_epoch(r->clone);
        log_debug("routes swapped in: epoch=%016llx count=%zu", (unsigned long long)epoch,
                  t ? route_table_count(t) : 0);
        if (epoch != r->last_epoch) {
            /* a new rd-frontend: introduce ourselves again */
            r->last_epoch = epoch;
            rt_ctl_send_hello(r);
        }
        /* routes on connections we do not have (closed, or from before our
         * restart) are unreachable until the endpoint registers again */
        struct gone_walk g = {r, 0, r->start_wall_ms};
        if (t)
            route_table_foreach(t, gone_one, &g);
        return;
    }
    if (new_rt) {
        char a[RR_ADDRSTRLEN];
        log_info("route %s -> %s via %s conn %llx", new_rt->host,
                 addr_to_str(&new_rt->path.remote, a, sizeof(a)), new_rt->path.relay,
                 (unsigned long long)new_rt->path.conn_id);
        if (!rt_route_is_ours(new_rt)) {
            /* connect early to the relay holding it (see xfwd.c) */
            if (strcmp(new_rt->path.relay, RT_RELAY_NAME) != 0)
                rt_xpeer_get(r, new_rt->path.relay);
            return;
        }
        if (rt_conn_find(r, new_rt->path.conn_id) == RT_NONE) {
            uint64_t since = rt_gone_since(r, new_rt->path.conn_id);
            rt_ctl_reachability(r, new_rt->host, false, since ? since : now_wall_ms());
        } else if (old_rt && rt_route_is_ours(old_rt) &&
                   old_rt->path.conn_id != new_rt->path.conn_id) {
            /* re-registered over a new connection: the route is taken over */
            rt_ctl_reachability(r, new_rt->host, true, now_wall_ms());
        }
    } else if (old_rt) {
        log_info("route %s removed", old_rt->host);
    }
}

int rt_ctl_open(struct rt_relay *r)
{
    int hwm = 100000;

    r->ctlbuf = malloc(RR_PROTO_MAX_BODY);
    r->zctx = zmq_ctx_new();
    if (!r->ctlbuf || !r->zctx)
        return -1;
    /* routing id = relay name: rd-frontend addresses us by it, and with
     * ROUTER_HANDOVER a restarted relay takes it back */
    r->dealer = proto_dealer_connect(r->zctx, RT_RELAY_NAME, r->cfg.ctl_endpoint, hwm, false);
    if (!r->dealer)
        return -1;
    r->clone = clone_client_new(r->zctx, r->cfg.pub_endpoint, r->dealer, on_route_change, r);
    if (!r->clone)
        goto fail;
    return 0;
fail:
    log_warnx("zeromq setup: %s", zmq_strerror(errno));
    return -1;
}

void rt_ctl_close(struct rt_relay *r)
{
    rt_xfwd_close(r);
    if (r->clone)
        clone_client_free(r->clone);
    if (r->dealer)
        zmq_close(r->dealer);
    if (r->zctx)
        zmq_ctx_term(r->zctx);
    free(r->ctlbuf);
    r->clone = NULL;
    r->dealer = r->zctx = NULL;
    r->ctlbuf = NULL;
}

void rt_ctl_on_dealer_readable(struct rt_relay *r, uint64_t now)
{
    /* bounded per wake-up; zmq_poll reports the rest next time */
    for (int k = 0; k < 256; k++) {
        uint16_t type;
        size_t len;
        if (proto_recv(r->dealer, false, NULL, NULL, &type, r->ctlbuf, RR_PROTO_MAX_BODY, &len) <
            0) {
            if (errno == EAGAIN)
                return;
            continue; /* malformed: already logged and drained */
        }
        switch (type) {
        case RR_MSG_SNAPSHOT_ROUTE:
        case RR_MSG_SNAPSHOT_END:
            clone_client_on_snapshot_msg(r->clone, type, r->ctlbuf, len, now);
            break;
        case RR_MSG_RD_RESPONSE:
            rt_rd_on_response(r, r->ctlbuf, len, now);
            break;
        case RR_MSG_RD_NOTIFY:
            rt_rd_on_notify(r, r->ctlbuf, len, now);
            break;
        case RR_MSG_EP_REQUEST:
            rt_rd_on_ep_request(r, r->ctlbuf, len, now);
            break;
        default:
            log_warnx("unexpected %s (0x%04x) from rd-frontend dropped", proto_msg_name(type),
                      type);
            break;
        }
    }
}
