/*
 * stream_transport.c - a stream relay (relay-tcp, relay-ws) as a transport
 * module of the relay core (core.h). Owns stream_transport, the table of
 * callbacks through
 * which the core's loop, ctl, RD path, proxy decision and cross-transport
 * forwarding reach this relay: timers (connection deadlines, exchanges),
 * the stream counters (then the transport's own) for RELAY_STATUS, whether a route's connection is
 * gone (with "unreachable since"), and the reachability of the routes whose path is one of our
 * connections: a closed connection makes them unreachable at once (REACHABILITY 0), a route update
 * onto a live connection reachable again; after a resync every route on a connection we do not have
 * is reported. Also st_init / st_free and st_main: the setup, start-up and shut-down every
 * stream relay shares (its main.c keeps only what differs, struct st_program). Talks to the core,
 * stream_exch.c, stream_conn.c, stream_rd.c, stream_proxy.c, stream_xfwd.c, the transport (st_io).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stream.h"
#include "timeutil.h"

static void on_timer(void *tp, struct rr_timer *t, uint64_t now)
{
    st_exch_on_timer(tp, t, now);
}

static void flush(void *tp)
{
    struct st_relay *r = tp;
    if (r->io->flush)
        r->io->flush(r->ioa);
}

static unsigned counters(void *tp, struct rc_counter *f, unsigned max)
{
    struct st_relay *r = tp;
    const struct rc_counter mine[] = {
        {"connections", r->nconns},
        {"connections_max", r->nconns_max},
        {"accepted", r->c.accepted},
        {"closed", r->c.closed},
        {"refused", r->c.conn_refused},
        {"limit_conns_source", r->c.conn_src_refused},
        {"aborts_sent", r->c.sig.aborts_sent},
        {"csm_timeouts", r->c.sig.csm_timeouts},
        {"partial_timeouts", r->c.sig.partial_timeouts},
        {"too_big", r->c.too_big},
        {"pong_timeouts", r->c.sig.pong_timeouts},
        {"slow_readers", r->c.slow_readers},
        {"exchanges_down", r->core.dx.used},
        {"exchanges_up", r->core.ux.used},
        {"aborts_received", r->c.sig.aborts_rcvd},
        {"releases_received", r->c.sig.releases_rcvd},
        {"releases_sent", r->c.sig.releases_sent},
        {"bad_frames", r->c.bad_frames},
        {"rx", r->c.rx_msgs},
        {"tx", r->c.tx_msgs},
        {"pings_sent", r->c.sig.pings_sent},
        {"pings_answered", r->c.sig.pings_answered},
    };
    unsigned n = 0;
    for (; n < sizeof(mine) / sizeof(mine[0]) && n < max; n++)
        f[n] = mine[n];
    n += rc_handoff_counters(&r->hand, f + n, max - n);
    if (r->io->counters && n < max)
        n += r->io->counters(r->ioa, f + n, max - n);
    return n;
}

void st_gone_diag(struct st_relay *r, uint64_t conn_id, char *buf, size_t len)
{
    uint64_t since = st_gone_since(r, conn_id);

    /* a connection of an earlier run ended with that run */
    if (!since && !rc_conn_id_ours(&r->core, conn_id))
        since = r->core.start_wall_ms;
    char suffix[48];
    snprintf(suffix, sizeof(suffix), " (its %s closed)", r->io->what);
    rc_unreachable_diag(since, suffix, buf, len);
}

static bool path_down(void *tp, const struct rr_route *rt, char *diag, size_t len)
{
    struct st_relay *r = tp;

    if (st_conn_find(r, rt->path.conn_id) != ST_NONE)
        return false;
    st_gone_diag(r, rt->path.conn_id, diag, len);
    return true;
}

struct gone_walk {
    struct st_relay *r;
    uint64_t conn_id; /* 0: every route whose connection we do not have */
    uint64_t since;
};

static int gone_one(const struct rr_route *rt, void *arg)
{
    struct gone_walk *g = arg;

    if (!rc_route_is_ours(&g->r->core, rt))
        return 0;
    if (g->conn_id) {
        if (rt->path.conn_id != g->conn_id)
            return 0;
        log_info("route %s unreachable: its %s closed", rt->host, g->r->io->what);
        rc_send_reachability(&g->r->core, rt->host, false, g->since);
        return 0;
    }
    if (st_conn_find(g->r, rt->path.conn_id) == ST_NONE) {
        uint64_t since = st_gone_since(g->r, rt->path.conn_id);
        rc_send_reachability(&g->r->core, rt->host, false, since ? since : g->since);
    }
    return 0;
}

void st_conn_routes_gone(struct st_relay *r, uint64_t conn_id, uint64_t since)
{
    const struct route_table *t = rc_routes(&r->core);
    struct gone_walk g = {r, conn_id, since};

    if (t && conn_id)
        route_table_foreach(t, gone_one, &g);
}

static void route_change(void *tp, const struct rr_route *old_rt, const struct rr_route *new_rt,
                         bool swapped, bool new_frontend)
{
    struct st_relay *r = tp;
    (void)new_frontend;

    if (swapped) {
        /* routes on connections we do not have (closed, or from before our
         * restart) are unreachable until the endpoint registers again */
        const struct route_table *t = rc_routes(&r->core);
        struct gone_walk g = {r, 0, r->core.start_wall_ms};
        if (t)
            route_table_foreach(t, gone_one, &g);
        return;
    }
    if (!new_rt || !rc_route_is_ours(&r->core, new_rt))
        return;
    if (st_conn_find(r, new_rt->path.conn_id) == ST_NONE) {
        uint64_t since = st_gone_since(r, new_rt->path.conn_id);
        rc_send_reachability(&r->core, new_rt->host, false, since ? since : now_wall_ms());
    } else if (old_rt && rc_route_is_ours(&r->core, old_rt) &&
               old_rt->path.conn_id != new_rt->path.conn_id) {
        /* re-registered over a new connection: the route is taken over */
        rc_send_reachability(&r->core, new_rt->host, true, now_wall_ms());
    }
}

static void answer(void *tp, uint32_t i, uint8_t code, const char *diag, uint64_t now)
{
    st_dx_answer_local(tp, i, code, diag, now);
}

static int port_open(void *tp, uint16_t port)
{
    struct st_relay *r = tp;
    return rc_plis_open(&r->core, &r->plis, port);
}

static void port_close(void *tp, uint16_t port)
{
    struct st_relay *r = tp;
    uint64_t now = now_mono_ms();

    rc_plis_close(&r->core, &r->plis, port);
    /* the connections accepted there go too: after the quarantine the
     * number may belong to another endpoint, and a client kept connected
     * that long must not reach it (rare: a scan of the pool is fine) */
    for (uint32_t ci = 0; ci < r->nconns_max; ci++)
        if (r->conns[ci].state == RC_OPEN && r->conns[ci].mux_port == port)
            st_conn_close(r, ci, "its hosting port closed (registration gone)", now);
}

static bool same_client(void *tp, uint32_t a, uint32_t b)
{
    const struct st_relay *r = tp;
    return r->dx[a].conn == r->dx[b].conn && r->dx[a].conn_id == r->dx[b].conn_id;
}

/* EP_REQUEST and another relay's XFWD_REQUEST (the core's): over the
 * registrant's connection, if we still have it */
static int ux_send(void *tp, uint32_t ui, struct coap_msg *m, const struct rr_peer *path,
                   uint64_t now)
{
    struct st_relay *r = tp;
    uint32_t ci = path->transport == r->tp.transport ? st_conn_find(r, path->conn_id) : ST_NONE;
    if (ci == ST_NONE || st_ux_send_request(r, ui, m, ci, now) < 0)
        return -1;
    return 0;
}

/* SIGHUP: the limits st_init copied from the configuration */
static void reload(void *tp)
{
    struct st_relay *r = tp;
    r->lim.max_inflight = r->cfg.tcp_max_inflight;
}

/* SIGTERM: no new connections (the listeners close: with socket
 * activation the parent's copy queues them for the next instance). A
 * Release makes peers close at once (libcoap does), so each connection
 * gets it once nothing is in flight on it, either way: its own requests
 * (inflight) or ours to the endpoint behind it (busy); final: all left. */
void st_stop(void *tp, bool final, uint64_t now)
{
    struct st_relay *r = tp;
    struct rc_listeners *l = (struct rc_listeners *)(uintptr_t)r->plis.base;
    uint32_t n = 0;
    (void)now;

    /* hosting ports first: their slots are counted in base addresses */
    rc_plis_stop(&r->core, &r->plis);
    rc_handoff_stop_rx(&r->hand); /* relay-ws: no more from relay-tcp either */
    if (l && l->n)
        rc_listeners_stop(&r->core, l);
    for (uint32_t ci = 0; ci < r->nconns_max; ci++)
        r->conns[ci].busy = false;
    for (uint32_t ui = 0; ui < r->core.ux.n; ui++)
        if (r->ux[ui].h.state != RC_UX_FREE && r->ux[ui].conn != ST_NONE)
            r->conns[r->ux[ui].conn].busy = true;
    for (uint32_t ci = 0; ci < r->nconns_max; ci++) {
        struct st_conn *k = &r->conns[ci];
        if (k->state != RC_OPEN || k->released || (!final && (k->inflight || k->busy)))
            continue;
        st_sig_release(r, ci);
        k->released = true;
        n++;
    }
    if (n)
        log_info("Release sent on %u connection(s)", n);
}

static const struct relay_transport stream_transport = {
    .transport = RR_TRANSPORT_NONE, /* set by st_init */
    .on_timer = on_timer,
    .flush = flush,
    .counters = counters,
    .route_change = route_change,
    .rd_request = st_rd_on_request,
    .proxy_request = st_proxy_on_request,
    .answer = answer,
    .path_down = path_down,
    .rd_response = st_rd_on_response,
    .rd_notify = st_rd_on_notify,
    .port_open = port_open,
    .port_close = port_close,
    .xfwd_response = st_proxy_on_xfwd_response,
    .rd_send = st_rd_send,
    .same_client = same_client,
    .ux_send = ux_send,
    .ux_release = st_ux_release,
    .ux_end = st_proxy_end_observation,
    .reload = reload,
    .stop = st_stop,
};

int st_init(struct st_relay *r, uint8_t transport, const char *name, const struct st_io *io,
            void *ioa, const struct st_limits *lim)
{
    r->tp = stream_transport;
    r->tp.transport = transport;
    r->io = io;
    r->ioa = ioa;
    r->lim = *lim;
    rc_handoff_reset(&r->hand);
    if (rc_init(&r->core, &r->cfg, name, &r->tp, r) < 0 || st_conns_init(r) < 0 ||
        st_exch_init(r) < 0)
        return -1;
    return 0;
}

int st_port_listeners(struct st_relay *r, const struct rc_listeners *base, uint32_t skip)
{
    return rc_plis_init(&r->core, &r->plis, base, skip);
}

void st_free(struct st_relay *r)
{
    rc_handoff_close(&r->hand);
    rc_plis_free(&r->plis);
    st_conns_free(r);
    st_exch_free(r);
    rc_free(&r->core);
}

static uint32_t cfg_u32(const struct rr_config *cfg, size_t off)
{
    uint32_t v;
    memcpy(&v, (const char *)cfg + off, sizeof(v));
    return v;
}

int st_main(const struct st_program *p, int argc, char **argv)
{
    char *ioa = calloc(1, p->size);
    int rc = 1;

    if (!ioa)
        fatalx("out of memory");
    struct st_relay *r = (struct st_relay *)(void *)(ioa + p->s_offset);
    r->core.epfd = -1;
    int cl = rc_cmdline(p->cmdline, &r->cfg, argc, argv);
    if (cl != 0) {
        free(ioa);
        return cl == 1 ? 0 : 2;
    }
    const struct st_limits lim = {
        .max_conns = cfg_u32(&r->cfg, p->max_conns_offset),
        .max_message = cfg_u32(&r->cfg, p->max_message_offset),
        .max_inflight = r->cfg.tcp_max_inflight,
        .timeout_ms = r->cfg.tcp_timeout_ms,
        .pong_timeout_ms = r->cfg.tcp_pong_timeout_ms,
    };
    const char *name = (const char *)&r->cfg + p->cmdline->name_offset;
    if (rc_signals_install() < 0 || st_init(r, p->transport, name, p->io, ioa, &lim) < 0 ||
        p->open(ioa) < 0 || rc_ctl_open(&r->core) < 0 || rc_xfwd_open(&r->core) < 0)
        goto done;
    char what[192];
    p->describe(ioa, what, sizeof(what));
    log_info("%s %s started as relay \"%s\": proxy domain \"%s\", %s, %u connections max, %u "
             "exchanges",
             p->cmdline->prog, RDRELAY_VERSION, r->core.name, r->cfg.proxy_domain, what,
             r->nconns_max, r->nux);
    rc_ctl_send_hello(&r->core);
    if (rc_run(&r->core) == 0)
        rc = 0;
done:
    p->close(ioa);
    rc_ctl_close(&r->core);
    st_free(r); /* closes the connections (io->closed) */
    p->free(ioa);
    free(ioa);
    return rc;
}
