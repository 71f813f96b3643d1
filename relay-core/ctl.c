/*
 * ctl.c - the relay core's link to rd-frontend (core.h).
 * Owns the DEALER (routing id = the relay's name, connected to
 * ctl_endpoint) and the clone client (SUB to pub_endpoint + route table).
 * Sends HELLO at start and whenever a new rd-frontend epoch appears,
 * RELAY_STATUS every 5 s (the core's counters, then the transport's);
 * dispatches what rd-frontend sends (a flat switch: the decoders in rd.c
 * check lengths). Route changes: a route held by another relay makes
 * xfwd.c connect to it early, then the transport's route_change callback
 * sees the change. Every send counts a high-water-mark drop the same way
 * (rc_zsend in xfwd.c).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "core.h"
#include "route_digest.h"
#include "log.h"
#include "proto_msg.h"

const struct route_table *rc_routes(const struct relay_core *c)
{
    return c->clone ? clone_client_routes(c->clone) : c->static_routes;
}

int rc_ctl_send(struct relay_core *c, uint16_t type, const void *body, size_t len)
{
    if (!c->dealer)
        return -1; /* not connected (unit tests) */
    return rc_zsend(c, c->dealer, NULL, 0, type, body, len);
}

void rc_ctl_send_hello(struct relay_core *c)
{
    uint8_t body[64];
    struct wire_w w;
    struct rr_msg_hello m = {.transport = c->tp->transport, .pid = (uint32_t)getpid()};

    snprintf(m.relay, sizeof(m.relay), "%s", c->name);
    wire_w_init(&w, body, sizeof(body));
    if (proto_enc_hello(&w, &m) == 0)
        rc_ctl_send(c, RR_MSG_HELLO, body, w.len);
}

unsigned rc_status_collect(struct relay_core *c, struct rc_counter *f, unsigned max)
{
    const struct route_table *t = rc_routes(c);
    const struct clone_client *cl = c->clone;
    unsigned n = 0, reason = CLONE_RS_N;
    uint64_t last = cl ? clone_client_last_resync(cl, &reason, NULL) : 0;

    if (max < RC_MAX_COUNTERS)
        return 0;
        /* most useful first: rd-frontend keeps the first RD_MAX_COUNTERS */
#define RC_PUT(nm, val) f[n++] = (struct rc_counter){nm, val}
    RC_PUT("routes", t ? route_table_count(t) : 0);
    RC_PUT("route_digest", route_digest_table(t)); /* equals rd-frontend's when in step */
    RC_PUT("synced", cl ? clone_client_synced(cl) : 0);
    RC_PUT("epoch", cl ? clone_client_epoch(cl) : 0);
    RC_PUT("seq", cl ? clone_client_seq(cl) : 0);
    RC_PUT("resyncs", cl ? clone_client_resyncs(cl) : 0);
    RC_PUT("gaps", cl ? clone_client_gaps(cl) : 0);
    RC_PUT("updates", cl ? clone_client_updates(cl) : 0);
    RC_PUT("hwm_drops", c->c.hwm_drops);
    RC_PUT("proxied", c->c.proxied);
    RC_PUT("proxy_responses", c->c.proxy_responses);
    RC_PUT("proxy_5_02", c->c.proxy_5_02);
    RC_PUT("proxy_5_04", c->c.proxy_5_04);
    RC_PUT("proxy_5_05", c->c.proxy_5_05);
    RC_PUT("no_slot", c->c.no_slot);
    RC_PUT("limit_rate_source", c->lim.hit_source);
    RC_PUT("limit_rate_endpoint", c->lim.hit_endpoint);
    RC_PUT("limit_inflight_source", c->lim.hit_inflight_source);
    RC_PUT("limit_inflight_endpoint", c->lim.hit_inflight_endpoint);
    RC_PUT("limit_observe_client", c->lim.hit_observe);
    /* endpoint names with proxied exchanges in flight (local clients' and
     * other relays' XFWD requests): 0 again once everything ended */
    RC_PUT("inflight_endpoints", srccount_keys(&c->lim.live_ep));
    RC_PUT("rd_requests", c->c.rd_requests);
    RC_PUT("rd_responses", c->c.rd_responses);
    RC_PUT("rd_resends", c->c.rd_resends);
    RC_PUT("rd_giveups", c->c.rd_giveups);
    RC_PUT("rd_notify", c->c.rd_notify);
    RC_PUT("ep_requests", c->c.ep_requests);
    RC_PUT("observations", c->c.observations);
    RC_PUT("xfwd_out", c->c.xfwd_out);
    RC_PUT("xfwd_in", c->c.xfwd_in);
    RC_PUT("xfwd_refused", c->c.xfwd_refused);
    RC_PUT("port_requests", c->c.port_requests);
    RC_PUT("ports_open", c->c.ports_open);
    RC_PUT("resend_queued", c->c.resend_queued);
    RC_PUT("resend_sent", c->c.resend_sent);
    RC_PUT("resend_dropped", c->c.resend_dropped);
    RC_PUT("start_ms", c->start_wall_ms);
    RC_PUT("last_resync_ms", last);
    RC_PUT("last_resync_reason", reason);
    RC_PUT("resyncs_gap", cl ? clone_client_resyncs_by(cl, CLONE_RS_GAP) : 0);
    RC_PUT("resyncs_epoch", cl ? clone_client_resyncs_by(cl, CLONE_RS_EPOCH) : 0);
    RC_PUT("resyncs_silence", cl ? clone_client_resyncs_by(cl, CLONE_RS_SILENCE) : 0);
    RC_PUT("resyncs_snapshot", cl ? clone_client_resyncs_by(cl, CLONE_RS_SNAPSHOT) : 0);
    RC_PUT("resyncs_other", cl ? clone_client_resyncs_by(cl, CLONE_RS_OTHER) : 0);
#undef RC_PUT
    if (c->tp->counters)
        n += c->tp->counters(c->tpa, f + n, max - n);
    return n;
}

void rc_ctl_send_status(struct relay_core *c)
{
    struct rc_counter f[RC_MAX_COUNTERS];
    unsigned n = rc_status_collect(c, f, RC_MAX_COUNTERS);
    struct wire_w w;

    struct rr_msg_relay_status *m = c->status_msg; /* large: allocated once */
    snprintf(m->relay, sizeof(m->relay), "%s", c->name);
    m->n = (uint16_t)(n < RR_STATUS_MAX ? n : RR_STATUS_MAX);
    for (unsigned i = 0; i < m->n; i++) {
        snprintf(m->c[i].name, sizeof(m->c[i].name), "%s", f[i].name);
        m->c[i].value = f[i].v;
    }
    wire_w_init(&w, c->txbuf, RR_PROTO_MAX_BODY);
    if (proto_enc_relay_status(&w, m) == 0)
        rc_ctl_send(c, RR_MSG_RELAY_STATUS, c->txbuf, w.len);
}

void rc_send_reachability(struct relay_core *c, const char *host, bool reachable,
                          uint64_t since_wall_ms)
{
    uint8_t body[RR_HOST_MAX + 32];
    struct wire_w w;
    struct rr_msg_reachability m = {.reachable = reachable ? 1 : 0, .since_ms = since_wall_ms};

    snprintf(m.host, sizeof(m.host), "%s", host);
    wire_w_init(&w, body, sizeof(body));
    if (proto_enc_reachability(&w, &m) == 0)
        rc_ctl_send_oneshot(c, RR_MSG_REACHABILITY, body, w.len);
}

/* Connect early to the relay holding a route (see xfwd.c): with
 * ZMQ_IMMEDIATE a DEALER made on first use would fail its first send. */
static int connect_holder(const struct rr_route *rt, void *arg)
{
    struct relay_core *c = arg;
    if (strcmp(rt->path.relay, c->name) != 0)
        rc_xpeer_get(c, rt->path.relay);
    return 0;
}

static void on_route_change(void *arg, const struct rr_route *old_rt, const struct rr_route *new_rt,
                            bool swapped)
{
    struct relay_core *c = arg;
    bool new_frontend = false;

    if (swapped) {
        const struct route_table *t = rc_routes(c);
        if (t)
            route_table_foreach(t, connect_holder, c);
        uint64_t epoch = clone_client_epoch(c->clone);
        log_debug("routes swapped in: epoch=%016llx seq=%llu count=%zu", (unsigned long long)epoch,
                  (unsigned long long)clone_client_seq(c->clone), t ? route_table_count(t) : 0);
        if (epoch != c->last_epoch) {
            /* a new rd-frontend: introduce ourselves again */
            c->last_epoch = epoch;
            new_frontend = true;
            rc_ctl_send_hello(c);
        }
    } else if (new_rt) {
        char a[RR_ADDRSTRLEN];
        log_info("route %s -> %s via %s conn %llx", new_rt->host,
                 addr_to_str(&new_rt->path.remote, a, sizeof(a)), new_rt->path.relay,
                 (unsigned long long)new_rt->path.conn_id);
        connect_holder(new_rt, c);
    } else if (old_rt) {
        log_info("route %s removed", old_rt->host);
    }
    rc_port_route_change(c, old_rt, new_rt, swapped);
    if (c->tp->route_change)
        c->tp->route_change(c->tpa, old_rt, new_rt, swapped, new_frontend);
}

int rc_ctl_open(struct relay_core *c)
{
    int hwm = 100000;

    /* routing id = relay name: rd-frontend addresses us by it, and with
     * ROUTER_HANDOVER a restarted relay takes it back */
    c->dealer = proto_dealer_connect(c->zctx, c->name, c->cfg->ctl_endpoint, hwm, false);
    if (!c->dealer)
        return -1;
    c->clone = clone_client_new(c->zctx, c->cfg->pub_endpoint, c->dealer, on_route_change, c);
    if (!c->clone) {
        log_warnx("zeromq setup: %s", zmq_strerror(errno));
        return -1;
    }
    if (rc_zsock_add(c, c->dealer, -1) < 0 ||
        rc_zsock_add(c, clone_client_sub_socket(c->clone), -1) < 0)
        return -1;
    return 0;
}

void rc_ctl_close(struct relay_core *c)
{
    rc_xfwd_close(c);
    for (int i = 0; i < c->nzs; i++)
        if (c->zs[i].sock)
            rc_fd_del(c, c->zs[i].fd, &c->zs[i].h);
    if (c->clone)
        clone_client_free(c->clone);
    if (c->dealer)
        zmq_close(c->dealer);
    c->clone = NULL;
    c->dealer = NULL;
    c->nzs = 0;
}

void rc_ctl_on_dealer(struct relay_core *c, uint64_t now)
{
    /* bounded per wake-up; the loop comes back for the rest */
    for (int k = 0; k < 256; k++) {
        uint16_t type;
        size_t len;
        if (proto_recv(c->dealer, false, NULL, NULL, &type, c->ctlbuf, RR_PROTO_MAX_BODY, &len) <
            0) {
            if (errno == EAGAIN)
                return;
            continue; /* malformed: already logged and drained */
        }
        switch (type) {
        case RR_MSG_SNAPSHOT_ROUTE:
        case RR_MSG_SNAPSHOT_END:
            clone_client_on_snapshot_msg(c->clone, type, c->ctlbuf, len, now);
            break;
        case RR_MSG_RD_RESPONSE:
            rc_rd_on_response(c, c->ctlbuf, len, now);
            break;
        case RR_MSG_RD_NOTIFY:
            rc_rd_on_notify(c, c->ctlbuf, len, now);
            break;
        case RR_MSG_EP_REQUEST:
            rc_rd_on_ep_request(c, c->ctlbuf, len, now);
            break;
        default:
            log_warnx("unexpected %s (0x%04x) from rd-frontend dropped", proto_msg_name(type),
                      type);
            break;
        }
    }
}
