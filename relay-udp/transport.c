/*
 * transport.c - relay-udp as a transport module of the relay core
 * (relay-core/core.h). Owns ru_transport, the table of callbacks through
 * which the core's loop, ctl, RD path, proxy decision and cross-transport
 * forwarding reach this relay: timers (the message layer's and the
 * exchanges'), the end-of-iteration flush of queued datagrams, the
 * keepalive sweep, the UDP counters for RELAY_STATUS, route-table changes
 * (keepalive bindings) and whether a route's NAT binding is down. Also
 * puts the UDP sockets into the core's fd registry.
 * Talks to the core, exchange.c, udp_io.c, keepalive.c, rd_path.c, xfwd.c.
 */
#include <sys/epoll.h>

#include "log.h"
#include "relay.h"

#define RU_KA_TICK_MS 100

static void on_timer(void *tp, struct rr_timer *t, uint64_t now)
{
    exch_on_timer(tp, t, now);
}

static void flush(void *tp)
{
    udp_flush(tp);
}

static void tick(void *tp, uint64_t now)
{
    struct relay *r = tp;
    if (now >= r->next_ka_tick_ms) {
        ka_tick(r, now);
        r->next_ka_tick_ms = now + RU_KA_TICK_MS;
    }
}

static unsigned counters(void *tp, struct rc_counter *f, unsigned max)
{
    struct relay *r = tp;
    const struct rc_counter mine[] = {
        {"rx", r->c.rx},
        {"tx", r->c.tx},
        {"ka_routes", r->ka.n},
        {"ka_pings", r->c.ka_pings},
        {"ka_unreachable", r->c.ka_unreachable},
        {"ka_reachable", r->c.ka_reachable},
        {"dup_requests", r->c.dup_requests},
        {"dedup_entries", r->dd.n},
        {"dedup_evicted_own", r->dd.evicted_own},
        {"dedup_evicted_full", r->dd.evicted_full},
        {"retransmissions", r->c.retransmissions},
        {"rtx_exhausted", r->c.rtx_exhausted},
        {"exchanges_down", r->core.dx.used},
        {"exchanges_up", r->core.ux.used},
        {"rx_bad", r->c.rx_bad},
        {"tx_err", r->c.tx_err},
        {"tx_segmented", r->c.tx_segmented},
        {"pings_answered", r->c.pings_answered},
        {"separate", r->c.separate},
        {"amp_challenged", r->amp.c.challenged},
        {"amp_verified", r->amp.c.verified},
        {"amp_echo_stale", r->amp.c.echo_stale},
        {"amp_dropped", r->amp.c.dropped},
    };
    unsigned n = 0;
    for (; n < sizeof(mine) / sizeof(mine[0]) && n < max; n++)
        f[n] = mine[n];
    return n;
}

static void route_change(void *tp, const struct rr_route *old_rt, const struct rr_route *new_rt,
                         bool swapped, bool new_frontend)
{
    struct relay *r = tp;

    ka_on_route_change(r, old_rt, new_rt, swapped);
    if (new_frontend)
        ka_resend_unreachable(r);
}

static bool path_down(void *tp, const struct rr_route *rt, char *diag, size_t len)
{
    uint64_t since = ka_unreachable_since(tp, rt->host);
    if (!since)
        return false;
    rc_unreachable_diag(since, "", diag, len);
    return true;
}

static bool same_client(void *tp, uint32_t a, uint32_t b)
{
    const struct relay *r = tp;
    return addr_equal(&r->dx[a].peer, &r->dx[b].peer);
}

static int ux_send(void *tp, uint32_t ui, struct coap_msg *m, const struct rr_peer *path,
                   uint64_t now)
{
    struct relay *r = tp;
    if (r->ux[ui].h.origin == UX_O_XFWD)
        return xfwd_holder_send(r, ui, m, path, now);
    return ux_send_request(r, ui, m, path, now);
}

const struct relay_transport ru_transport = {
    .transport = RR_TRANSPORT_UDP,
    .on_timer = on_timer,
    .flush = flush,
    .tick = tick,
    .counters = counters,
    .route_change = route_change,
    .rd_request = rd_on_request,
    .proxy_request = proxy_on_request,
    .answer = dx_answer_end,
    .path_down = path_down,
    .rd_response = rd_on_response,
    .rd_notify = rd_on_notify,
    .port_open = udp_port_open,
    .port_close = udp_port_close,
    .xfwd_response = xfwd_on_response,
    .rd_send = rd_send,
    .same_client = same_client,
    .ux_send = ux_send,
    .ux_release = ux_release,
    .ux_end = proxy_end_upstream,
};

int ru_core_init(struct relay *r)
{
    return rc_init(&r->core, &r->cfg, r->cfg.udp_relay_name, &ru_transport, r);
}

void ru_on_sock(struct rc_handler *h, uint32_t events, uint64_t now)
{
    udp_drain(h->arg, (int)h->idx, (events & EPOLLERR) != 0, now);
}

int ru_attach(struct relay *r)
{
    for (int i = 0; i < r->nsocks; i++) {
        r->socks[i].h = (struct rc_handler){.fn = ru_on_sock, .arg = r, .idx = (uint32_t)i};
        if (rc_fd_add(&r->core, r->socks[i].fd, EPOLLIN, &r->socks[i].h) < 0)
            return -1;
    }
    return 0;
}
