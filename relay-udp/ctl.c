/*
 * ctl.c - relay-udp's link to rd-frontend.
 * Owns the ZeroMQ context, the DEALER (routing id "udp", connected to
 * ctl_endpoint) and the clone client (SUB to pub_endpoint + route table).
 * Sends HELLO at start and whenever a new rd-frontend epoch appears,
 * RELAY_STATUS every 5 s; dispatches what rd-frontend sends (a flat switch:
 * length checks live in the handlers' decoders). Route changes are logged
 * and passed to keepalive.c; a route held by another relay makes xfwd.c
 * connect to that relay.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "relay.h"
#include "timeutil.h"

int ctl_send(struct relay *r, uint16_t type, const void *body, size_t len)
{
    if (!r->dealer)
        return -1; /* not connected (unit tests) */
    if (proto_send(r->dealer, NULL, 0, type, body, len) < 0) {
        if (errno == EAGAIN)
            r->c.hwm_drops++;
        else
            log_warn("send %s", proto_msg_name(type));
        return -1;
    }
    return 0;
}

void ctl_send_hello(struct relay *r)
{
    uint8_t body[64];
    struct wire_w w;

    wire_w_init(&w, body, sizeof(body));
    wire_put_str(&w, RU_RELAY_NAME);
    wire_put_u8(&w, RR_TRANSPORT_UDP);
    wire_put_u32(&w, (uint32_t)getpid());
    ctl_send(r, RR_MSG_HELLO, body, w.len);
}

void ctl_send_status(struct relay *r)
{
    uint8_t body[2048];
    struct wire_w w;
    const struct route_table *t = clone_client_routes(r->clone);
    /* most useful first: rd-frontend keeps the first 32 (RD_MAX_COUNTERS) */
    const struct {
        const char *name;
        uint64_t v;
    } f[] = {
        {"routes", t ? route_table_count(t) : 0},
        {"synced", clone_client_synced(r->clone)},
        {"epoch", clone_client_epoch(r->clone)},
        {"seq", clone_client_seq(r->clone)},
        {"resyncs", clone_client_resyncs(r->clone)},
        {"gaps", clone_client_gaps(r->clone)},
        {"hwm_drops", r->c.hwm_drops},
        {"rx", r->c.rx},
        {"tx", r->c.tx},
        {"proxied", r->c.proxied},
        {"proxy_responses", r->c.proxy_responses},
        {"proxy_5_04", r->c.proxy_5_04},
        {"proxy_5_05", r->c.proxy_5_05},
        {"rd_requests", r->c.rd_requests},
        {"rd_responses", r->c.rd_responses},
        {"rd_resends", r->c.rd_resends},
        {"rd_giveups", r->c.rd_giveups},
        {"ka_routes", r->ka.n},
        {"ka_pings", r->c.ka_pings},
        {"ka_unreachable", r->c.ka_unreachable},
        {"ka_reachable", r->c.ka_reachable},
        {"observations", r->c.observations},
        {"xfwd_out", r->c.xfwd_out},
        {"xfwd_in", r->c.xfwd_in},
        {"xfwd_refused", r->c.xfwd_refused},
        {"dup_requests", r->c.dup_requests},
        {"dedup_entries", r->dd.n},
        {"dedup_evicted_own", r->dd.evicted_own},
        {"dedup_evicted_full", r->dd.evicted_full},
        {"retransmissions", r->c.retransmissions},
        {"rtx_exhausted", r->c.rtx_exhausted},
        {"exchanges_down", r->dx_used},
        {"exchanges_up", r->ux_used},
        {"no_slot", r->c.proxy_no_slot},
        {"rd_notify", r->c.rd_notify},
        {"ep_requests", r->c.ep_requests},
        {"rx_bad", r->c.rx_bad},
        {"tx_err", r->c.tx_err},
        {"updates", clone_client_updates(r->clone)},
        {"pings_answered", r->c.pings_answered},
    };
    unsigned n = sizeof(f) / sizeof(f[0]);

    wire_w_init(&w, body, sizeof(body));
    wire_put_str(&w, RU_RELAY_NAME);
    wire_put_u16(&w, (uint16_t)n);
    for (unsigned i = 0; i < n; i++) {
        wire_put_str(&w, f[i].name);
        wire_put_u64(&w, f[i].v);
    }
    if (!w.err)
        ctl_send(r, RR_MSG_RELAY_STATUS, body, w.len);
}

/* Connect early to the relay holding a route (see xfwd.c). */
static int connect_holder(const struct rr_route *rt, void *arg)
{
    struct relay *r = arg;
    if (strcmp(rt->path.relay, RU_RELAY_NAME) != 0)
        xfwd_peer_get(r, rt->path.relay);
    return 0;
}

void ctl_on_route_change(void *arg, const struct rr_route *old_rt, const struct rr_route *new_rt,
                         bool swapped)
{
    struct relay *r = arg;

    if (swapped) {
        const struct route_table *t = clone_client_routes(r->clone);
        if (t)
            route_table_foreach(t, connect_holder, r);
        uint64_t epoch = clone_client_epoch(r->clone);
        log_debug("routes swapped in: epoch=%016llx seq=%llu count=%zu", (unsigned long long)epoch,
                  (unsigned long long)clone_client_seq(r->clone), t ? route_table_count(t) : 0);
        bool new_frontend = epoch != r->last_epoch;
        if (new_frontend) {
            /* a new rd-frontend: introduce ourselves again */
            r->last_epoch = epoch;
            ctl_send_hello(r);
        }
        ka_on_route_change(r, old_rt, new_rt, swapped);
        if (new_frontend)
            ka_resend_unreachable(r);
        return;
    }
    if (new_rt) {
        char a[RR_ADDRSTRLEN];
        log_info("route %s -> %s via %s", new_rt->host,
                 addr_to_str(&new_rt->path.remote, a, sizeof(a)), new_rt->path.relay);
        connect_holder(new_rt, r);
    } else if (old_rt) {
        log_info("route %s removed", old_rt->host);
    }
    ka_on_route_change(r, old_rt, new_rt, swapped);
}

int ctl_open(struct relay *r)
{
    int hwm = 100000;

    r->ctlbuf = malloc(RR_PROTO_MAX_BODY);
    r->zctx = zmq_ctx_new();
    if (!r->ctlbuf || !r->zctx)
        return -1;
    /* routing id = relay name: rd-frontend addresses us by it, and with
     * ROUTER_HANDOVER a restarted relay takes it back */
    r->dealer = proto_dealer_connect(r->zctx, RU_RELAY_NAME, r->cfg.ctl_endpoint, hwm, false);
    if (!r->dealer)
        return -1;
    r->clone = clone_client_new(r->zctx, r->cfg.pub_endpoint, r->dealer, ctl_on_route_change, r);
    if (!r->clone)
        goto fail;
    return 0;
fail:
    log_warnx("zeromq setup: %s", zmq_strerror(errno));
    return -1;
}

void ctl_close(struct relay *r)
{
    xfwd_close(r);
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

void ctl_on_dealer_readable(struct relay *r, uint64_t now)
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
            rd_on_response(r, r->ctlbuf, len, now);
            break;
        case RR_MSG_RD_NOTIFY:
            rd_on_notify(r, r->ctlbuf, len, now);
            break;
        case RR_MSG_EP_REQUEST:
            rd_on_ep_request(r, r->ctlbuf, len, now);
            break;
        default:
            log_warnx("unexpected %s (0x%04x) from rd-frontend dropped", proto_msg_name(type),
                      type);
            break;
        }
    }
}
