/*
 * metrics.c - rd-frontend's Prometheus target (issue 20): the listener
 * named "frontend" in metrics_listen (common/http_min.h) served from the
 * main loop's zmq_poll set (no thread), and the page: requests by method
 * and answers by code (counted in ctl.c as they pass), registrations by
 * transport, proxied and expired (the registry's census, kept by
 * registry_census as registrations change: a scrape never walks them, and
 * never touches SQLite, so it never waits for a COMMIT), route publishing (epoch,
 * sequence, snapshots), inter-process messages dropped, relays heard from.
 * The relays are targets of their own (relay-core/metrics.c): one target
 * per process, so a relay's numbers do not depend on rd-frontend running.
 */
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "frontend.h"
#include "http_min.h"
#include "log.h"
#include "metrics.h"

struct fe_metrics {
    struct frontend *fe;
    struct hm_server hs;
    int fd[1 + HM_MAX_CONNS]; /* what http_min wants watched, per slot */
    unsigned ev[1 + HM_MAX_CONNS];
    int slot_of[1 + HM_MAX_CONNS]; /* poll item -> slot, this turn */
};

static void watch(void *arg, int slot, int fd, enum hm_op op, unsigned events)
{
    struct fe_metrics *mx = arg;

    mx->fd[slot] = op == HM_DEL ? -1 : fd;
    mx->ev[slot] = events;
}

/* class = transport (2 bits) | proxied << 2 | live << 3, + 1 (0: not counted) */
void registry_census(struct registry *g, struct rd_reg *r, int sign)
{
    if (sign > 0) {
        r->census = (uint8_t)(1 + ((r->peer.transport & 3u) | (r->host[0] ? 4u : 0u) |
                                   (r->expired ? 0u : 8u)));
        g->census[r->census - 1]++;
    } else if (r->census) {
        g->census[r->census - 1]--;
        r->census = 0;
    }
}

static void render(void *arg, struct strbuf *sb)
{
    struct fe_metrics *mx = arg;
    struct frontend *fe = mx->fe;
    uint64_t by_tp[4] = {0}, proxied = 0, expired = 0, pending = 0;
    static const char *const tps[4] = {"none", "udp", "tcp", "ws"};
    char l[160];

    for (unsigned k = 0; k < 16; k++) {
        if (!(k & 8u)) {
            expired += fe->reg.census[k];
            continue;
        }
        by_tp[k & 3u] += fe->reg.census[k];
        if (k & 4u)
            proxied += fe->reg.census[k];
    }
    for (const struct rd_pending *pd = fe->pending; pd; pd = pd->next)
        pending++;
    mx_one(sb, "rdrelay_up", MX_GAUGE, "1: the process answers.", "process=\"rd-frontend\"", 1);
    mx_one(sb, "rdrelay_start_time_seconds", MX_GAUGE, "Unix time the process started.", NULL,
           fe->start_wall_ms / 1000);
    mx_head(sb, "rdrelay_registrations", MX_GAUGE,
            "Live registrations by the transport they came over last.");
    for (unsigned t = 1; t < 4; t++) {
        snprintf(l, sizeof(l), "transport=\"%s\"", tps[t]);
        mx_sample(sb, "rdrelay_registrations", l, by_tp[t]);
    }
    mx_one(sb, "rdrelay_registrations_proxied", MX_GAUGE, "Live proxied registrations.", NULL,
           proxied);
    mx_head(sb, "rdrelay_reachability_reports_total", MX_COUNTER,
            "REACHABILITY reports from relays (a registrant's path found dead, or alive again).");
    mx_sample(sb, "rdrelay_reachability_reports_total", "reachable=\"no\"", fe->mx_reach[0]);
    mx_sample(sb, "rdrelay_reachability_reports_total", "reachable=\"yes\"", fe->mx_reach[1]);
    mx_one(sb, "rdrelay_registrations_expired", MX_GAUGE,
           "Expired registrations still refreshable (expiry_grace).", NULL, expired);
    mx_one(sb, "rdrelay_registrations_created_total", MX_COUNTER,
           "New registrations (not re-registrations or updates).", NULL, fe->registrations_made);
    mx_one(sb, "rdrelay_simple_pending", MX_GAUGE,
           "Simple registrations waiting for the endpoint's /.well-known/core.", NULL, pending);
    mx_one(sb, "rdrelay_observers", MX_GAUGE, "Lookup observations.", NULL, fe->nobservers);
    mx_head(sb, "rdrelay_requests_total", MX_COUNTER, "RD requests by method.");
    mx_methods(sb, "rdrelay_requests_total", NULL, fe->mx_req);
    mx_head(sb, "rdrelay_responses_total", MX_COUNTER, "RD answers by code.");
    mx_codes(sb, "rdrelay_responses_total", NULL, fe->mx_resp);
    mx_one(sb, "rdrelay_rd_resent_answered_total", MX_COUNTER,
           "Re-sent RD requests answered from the response cache.", NULL, fe->mx_cache_hits);
    mx_one(sb, "rdrelay_route_epoch", MX_GAUGE, "This run's epoch.", NULL, fe->epoch);
    mx_one(sb, "rdrelay_route_seq", MX_GAUGE, "Last route update sequence number published.", NULL,
           fe->seq);
    mx_head(sb, "rdrelay_ipc_dropped_total", MX_COUNTER,
            "Inter-process messages dropped: high-water mark (PUB: relays see a gap and resync), "
            "or the relay was not connected.");
    mx_sample(sb, "rdrelay_ipc_dropped_total", "socket=\"pub\",why=\"hwm\"", fe->pub_eagain);
    mx_sample(sb, "rdrelay_ipc_dropped_total", "socket=\"router\",why=\"hwm\"", fe->router_eagain);
    mx_sample(sb, "rdrelay_ipc_dropped_total", "socket=\"router\",why=\"unroutable\"",
              fe->router_unroutable);
    mx_head(sb, "rdrelay_snapshots_total", MX_COUNTER, "Route snapshots, by what became of them.");
    mx_sample(sb, "rdrelay_snapshots_total", "outcome=\"merged\"", fe->snaps_merged);
    mx_sample(sb, "rdrelay_snapshots_total", "outcome=\"aborted\"", fe->snaps_aborted);
    mx_one(sb, "rdrelay_snapshot_hwm_pauses_total", MX_COUNTER,
           "Snapshot sends paused at the high-water mark.", NULL, fe->snap_hwm_pauses);
    mx_head(sb, "rdrelay_relay_last_seen_seconds", MX_GAUGE,
            "Seconds since a relay's last HELLO or RELAY_STATUS.");
    for (unsigned i = 0; i < fe->nrelays; i++) {
        const struct rd_relay *rl = &fe->relays[i];
        uint64_t seen = rl->status_at > rl->hello_at ? rl->status_at : rl->hello_at;
        char name[64];
        mx_label_escape(rl->name, name, sizeof(name));
        snprintf(l, sizeof(l), "relay=\"%s\",transport=\"%s\"", name,
                 proto_transport_name(rl->transport));
        mx_sample(sb, "rdrelay_relay_last_seen_seconds", l,
                  seen && fe->now > seen ? (fe->now - seen) / 1000 : 0);
    }
    mx_head(sb, "rdrelay_relay_draining", MX_GAUGE,
            "1: rdrelayctl drain stopped new registrations "
            "through this relay.");
    for (unsigned i = 0; i < fe->nrelays; i++) {
        char name[64];
        mx_label_escape(fe->relays[i].name, name, sizeof(name));
        snprintf(l, sizeof(l), "relay=\"%s\"", name);
        mx_sample(sb, "rdrelay_relay_draining", l, fe->relays[i].draining);
    }
    mx_one(sb, "rdrelay_metrics_scrapes_total", MX_COUNTER, "Scrapes of this page served.", NULL,
           mx->hs.scrapes + 1);
}

int fe_metrics_open(struct frontend *fe)
{
    struct rr_addr a;
    int rc = mx_listen_for(fe->cfg.metrics_listen, "frontend", &a);

    if (rc <= 0)
        return rc;
    struct fe_metrics *mx = calloc(1, sizeof(*mx));
    if (!mx)
        return -1;
    mx->fe = fe;
    for (int i = 0; i <= HM_MAX_CONNS; i++)
        mx->fd[i] = -1;
    if (hm_open(&mx->hs, &a, watch, render, mx) < 0) {
        free(mx);
        return -1; /* logged: rd-frontend runs without metrics */
    }
    fe->mx = mx;
    return 0;
}

void fe_metrics_close(struct frontend *fe)
{
    if (!fe->mx)
        return;
    hm_close(&fe->mx->hs);
    free(fe->mx);
    fe->mx = NULL;
}

int fe_metrics_pollitems(struct frontend *fe, zmq_pollitem_t *items, int max)
{
    struct fe_metrics *mx = fe->mx;
    int n = 0;

    if (!mx)
        return 0;
    for (int s = 0; s <= HM_MAX_CONNS && n < max; s++) {
        if (mx->fd[s] < 0)
            continue;
        items[n] = (zmq_pollitem_t){.fd = mx->fd[s],
                                    .events = (short)(((mx->ev[s] & HM_IN) ? ZMQ_POLLIN : 0) |
                                                      ((mx->ev[s] & HM_OUT) ? ZMQ_POLLOUT : 0))};
        mx->slot_of[n++] = s;
    }
    return n;
}

void fe_metrics_after_poll(struct frontend *fe, const zmq_pollitem_t *items, int n, uint64_t now)
{
    struct fe_metrics *mx = fe->mx;

    if (!mx)
        return;
    for (int i = 0; i < n; i++) {
        unsigned ev = ((items[i].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) ? HM_IN : 0u) |
                      ((items[i].revents & ZMQ_POLLOUT) ? HM_OUT : 0u);
        if (ev && mx->fd[mx->slot_of[i]] == items[i].fd)
            hm_ready(&mx->hs, mx->slot_of[i], ev, now);
    }
    hm_tick(&mx->hs, now);
}
