/*
 * metrics.c - the relay's Prometheus target (core.h, issue 20): the
 * listener named by our relay name in metrics_listen, its connections in
 * the core's fd registry (one rc_handler per http_min slot), and the page:
 * everything RELAY_STATUS reports (rc_status_collect, under the names of
 * common/metrics.c's table), then client requests by kind and method and
 * responses by source and code. Every sample carries transport and relay
 * labels. Scrapes are served from the loop; nothing here runs per request.
 */
#include <stdlib.h>
#include <sys/epoll.h>

#include "core.h"
#include "http_min.h"
#include "log.h"
#include "metrics.h"

struct rc_metrics {
    struct relay_core *c;
    struct hm_server hs;
    struct rc_handler h[1 + HM_MAX_CONNS];
};

static void on_ready(struct rc_handler *h, uint32_t events, uint64_t now)
{
    struct rc_metrics *mx = h->arg;
    unsigned ev = 0;

    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        ev |= HM_IN;
    if (events & EPOLLOUT)
        ev |= HM_OUT;
    hm_ready(&mx->hs, (int)h->idx, ev, now);
}

static void watch(void *arg, int slot, int fd, enum hm_op op, unsigned events)
{
    struct rc_metrics *mx = arg;
    uint32_t ev = ((events & HM_IN) ? EPOLLIN : 0u) | ((events & HM_OUT) ? EPOLLOUT : 0u);

    if (op == HM_ADD)
        rc_fd_add(mx->c, fd, ev, &mx->h[slot]);
    else if (op == HM_MOD)
        rc_fd_mod(mx->c, fd, ev, &mx->h[slot]);
    else
        rc_fd_del(mx->c, fd, &mx->h[slot]);
}

static void render(void *arg, struct strbuf *sb)
{
    struct rc_metrics *mx = arg;
    struct relay_core *c = mx->c;
    struct rc_counter f[RC_MAX_COUNTERS];
    struct mx_kv kv[RC_MAX_COUNTERS];
    unsigned n = rc_status_collect(c, f, RC_MAX_COUNTERS);
    static const char *const kinds[RC_REQ_KINDS] = {"rd", "proxy", "local"};
    static const char *const srcs[RC_RESP_SRCS] = {"endpoint", "rd", "relay"};
    char base[128], l[200];

    snprintf(base, sizeof(base), "transport=\"%s\",relay=\"%s\"",
             proto_transport_name(c->tp->transport), c->name);
    mx_one(sb, "rdrelay_up", MX_GAUGE, "1: the process answers.", base, 1);
    for (unsigned i = 0; i < n; i++)
        kv[i] = (struct mx_kv){f[i].name, f[i].v};
    mx_render_relay(sb, base, kv, n);
    mx_head(sb, "rdrelay_requests_total", MX_COUNTER,
            "Client requests by kind (rd, proxy, local = answered by the relay) and method.");
    for (unsigned k = 0; k < RC_REQ_KINDS; k++) {
        snprintf(l, sizeof(l), "%s,kind=\"%s\"", base, kinds[k]);
        mx_methods(sb, "rdrelay_requests_total", l, c->c.req[k]);
    }
    mx_head(sb, "rdrelay_responses_total", MX_COUNTER,
            "Responses passing the relay core by source (endpoint, rd, relay) and code.");
    for (unsigned s = 0; s < RC_RESP_SRCS; s++) {
        snprintf(l, sizeof(l), "%s,source=\"%s\"", base, srcs[s]);
        mx_codes(sb, "rdrelay_responses_total", l, c->c.resp[s]);
    }
    mx_one(sb, "rdrelay_metrics_scrapes_total", MX_COUNTER, "Scrapes of this page served.", base,
           mx->hs.scrapes + 1);
}

int rc_metrics_open(struct relay_core *c)
{
    struct rr_addr a;
    int rc = mx_listen_for(c->cfg->metrics_listen, c->name, &a);

    if (rc <= 0)
        return rc; /* none for us (or malformed: the config check refused it) */
    struct rc_metrics *mx = calloc(1, sizeof(*mx));
    if (!mx)
        return -1;
    mx->c = c;
    for (int i = 0; i <= HM_MAX_CONNS; i++)
        mx->h[i] = (struct rc_handler){.fn = on_ready, .arg = mx, .idx = (uint32_t)i};
    if (hm_open(&mx->hs, &a, watch, render, mx) < 0) {
        free(mx);
        return -1;
    }
    c->mx = mx;
    return 0;
}

void rc_metrics_close(struct relay_core *c)
{
    if (!c->mx)
        return;
    hm_close(&c->mx->hs);
    free(c->mx);
    c->mx = NULL;
}

void rc_metrics_tick(struct relay_core *c, uint64_t now)
{
    if (c->mx)
        hm_tick(&c->mx->hs, now);
}
