/*
 * porthost.c - port-based virtual hosting in the relay core (BRIEF §3.4,
 * issue 18), beside name-based hosting (proxy.c): which hosting port
 * belongs to which route, from the route table (rr_route.mux_port, given
 * out by rd-frontend), and the transport's listeners that follow it.
 * Owns: one entry per port of port_hosting_range (the route's host name,
 * whether the transport's listeners are open). On every route change it
 * opens and closes the transport's listeners (port_open / port_close
 * callbacks); on a swap (start, resync, new rd-frontend) it reconciles the
 * whole range, so a restarted relay has every listener back as soon as its
 * routes are, before it serves any of them.
 * A request on a hosting port skips rc_on_request's classification: it
 * never reaches the RD, Uri-Host plays no part in routing; it goes to the
 * port's route through the transport's proxy_request, i.e. the very
 * forwarding of name-based hosting (rc_proxy_decide: path down -> 5.02,
 * option checks, Hop-Limit, Uri-Host removed). No I/O of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "fwd_rules.h"
#include "log.h"

int rc_port_init(struct relay_core *c)
{
    c->port_lo = c->cfg->port_lo;
    c->nports = c->port_lo ? (uint32_t)c->cfg->port_hi - c->port_lo + 1u : 0;
    if (c->nports == 0)
        return 0;
    c->ports = calloc(c->nports, sizeof(*c->ports));
    return c->ports ? 0 : -1;
}

void rc_port_free(struct relay_core *c)
{
    free(c->ports);
    c->ports = NULL;
    c->nports = 0;
}

static struct rc_port *port_at(const struct relay_core *c, uint16_t port)
{
    if (c->nports == 0 || port < c->port_lo || (uint32_t)(port - c->port_lo) >= c->nports)
        return NULL;
    return &c->ports[port - c->port_lo];
}

const char *rc_port_host(const struct relay_core *c, uint16_t port)
{
    const struct rc_port *p = port_at(c, port);
    return p && p->host[0] ? p->host : NULL;
}

/* The port's route is host (NULL: none); its listeners follow. */
static void port_set(struct relay_core *c, uint16_t port, const char *host)
{
    struct rc_port *p = port_at(c, port);

    if (p == NULL) {
        if (host && port)
            log_warnx("route %s has hosting port %u, outside our port_hosting_range \"%s\"", host,
                      port, c->cfg->port_hosting_range);
        return;
    }
    snprintf(p->host, sizeof(p->host), "%s", host ? host : "");
    if (host && !p->open && c->tp->port_open) {
        p->open = c->tp->port_open(c->tpa, port) == 0;
        if (p->open) {
            c->c.ports_open++;
            log_info("hosting port %u -> %s", port, host);
        }
    } else if (!host && p->open) {
        if (c->tp->port_close)
            c->tp->port_close(c->tpa, port);
        p->open = false;
        c->c.ports_open--;
        log_info("hosting port %u closed", port);
    }
}

static int mark_route(const struct rr_route *rt, void *arg)
{
    struct relay_core *c = arg;
    struct rc_port *p = port_at(c, rt->mux_port);

    if (p)
        p->seen = true;
    if (rt->mux_port)
        port_set(c, rt->mux_port, rt->host);
    return 0;
}

void rc_port_route_change(struct relay_core *c, const struct rr_route *old_rt,
                          const struct rr_route *new_rt, bool swapped)
{
    if (c->nports == 0)
        return;
    if (swapped) {
        const struct route_table *t = rc_routes(c);
        for (uint32_t i = 0; i < c->nports; i++)
            c->ports[i].seen = false;
        if (t)
            route_table_foreach(t, mark_route, c);
        for (uint32_t i = 0; i < c->nports; i++)
            if (!c->ports[i].seen && (c->ports[i].open || c->ports[i].host[0]))
                port_set(c, (uint16_t)(c->port_lo + i), NULL);
        return;
    }
    if (old_rt && old_rt->mux_port && (!new_rt || new_rt->mux_port != old_rt->mux_port)) {
        /* only if the port still names this route (it may have moved on) */
        const char *h = rc_port_host(c, old_rt->mux_port);
        if (h && strcmp(h, old_rt->host) == 0)
            port_set(c, old_rt->mux_port, NULL);
    }
    if (new_rt && new_rt->mux_port)
        port_set(c, new_rt->mux_port, new_rt->host);
}

void rc_port_request(struct relay_core *c, uint16_t port, uint32_t slot, struct coap_msg *m,
                     uint64_t now)
{
    const char *host = rc_port_host(c, port);
    char diag[64];

    if (fwd_is_forward_proxy_request(m)) {
        c->c.proxy_5_05++;
        c->tp->answer(c->tpa, slot, fwd_verdict_answer(FWD_V_FORWARD_PROXY, 0, diag, sizeof(diag)),
                      diag, now);
        return;
    }
    if (host == NULL) {
        /* the route left while a request was on its way to the listener */
        c->c.proxy_5_02++;
        c->tp->answer(c->tpa, slot, COAP_BAD_GATEWAY, "no registration holds this port now", now);
        return;
    }
    c->c.port_requests++;
    c->tp->proxy_request(c->tpa, slot, m, host, now);
}

bool rc_port_is_hosting(const struct relay_core *c, uint16_t port)
{
    return port_at(c, port) != NULL;
}
