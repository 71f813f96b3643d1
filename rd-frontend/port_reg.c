/*
 * port_reg.c - registrations and their hosting ports (issue 18): a proxied
 * registration gets a port from ports.c when it is made (or becomes
 * proxied), keeps it across updates, re-registrations of the same (ep, d),
 * lifetime expiry within the grace period and restarts (and one made
 * before port hosting was on gets one at the next start), and gives it back
 * to quarantine when it ends or stops being proxied. Persists through
 * store.c (the port is a column of the registration, written with it; the
 * quarantine is its own table) inside the batch's transaction, so what the
 * 2.01 says is durable like the rest. Talks to ports.c, store.c and the log.
 */
#include <inttypes.h>

#include "frontend.h"
#include "log.h"

static void store_ok(int rc)
{
    if (rc < 0)
        fatalx("store: hosting port failed; exiting so the registry reloads a consistent state");
}

void port_reg_release(struct frontend *fe, struct rd_reg *r)
{
    uint64_t until;

    if (r->port == 0)
        return;
    until = ports_release(&fe->ports, r->port, fe->now);
    if (until) {
        store_ok(store_port_quarantine(fe->store, r->port, until));
        log_info("hosting port %u of ep=%s d=%s released: quarantined for %" PRIu64 " s", r->port,
                 r->ep, r->d, fe->ports.quarantine_ms / 1000u);
    }
    r->port = 0;
}

void port_reg_sync(struct frontend *fe, struct rd_reg *r)
{
    enum rd_port_why why;
    char src[RR_ADDRSTRLEN];

    if (r->host[0] == '\0') {
        port_reg_release(fe, r);
        return;
    }
    if (r->port != 0 || !ports_on(&fe->ports))
        return;
    struct rr_addr remote = cpeer_addr(&r->peer.remote);
    r->port = ports_assign(&fe->ports, &remote, fe->now, &why);
    if (r->port != 0) {
        store_ok(store_port_clear(fe->store, r->port));
        log_info("hosting port %u assigned to ep=%s d=%s", r->port, r->ep, r->d);
        return;
    }
    /* the operator's answer to "why has this one no port" */
    log_warnx("no hosting port for ep=%s d=%s from %s: %s; name-based hosting only", r->ep, r->d,
              remote.ss.ss_family ? addr_to_str(&remote, src, sizeof(src)) : "?",
              ports_why_text(why));
}

bool port_reg_load(struct frontend *fe, struct rd_reg *r)
{
    if (r->port == 0)
        return false;
    struct rr_addr remote = cpeer_addr(&r->peer.remote);
    if (r->host[0] != '\0' && ports_load_assigned(&fe->ports, r->port, &remote) == 0)
        return false;
    log_warnx("ep=%s d=%s: stored hosting port %u is outside port_hosting_range or taken; dropped",
              r->ep, r->d, r->port);
    r->port = 0;
    return true;
}

static void load_q(uint16_t port, uint64_t until, void *arg)
{
    struct frontend *fe = arg;

    if (until > fe->now)
        ports_load_quarantined(&fe->ports, port, until);
}

/* Proxied registrations without a port (made before port hosting was on,
 * or before the database had the column): oldest first, while the range
 * lasts; no log line each, one in all. */
static int assign_missing(struct frontend *fe)
{
    enum rd_port_why why;
    unsigned n = 0;

    for (struct rd_reg *r = fe->reg.first; r; r = r->next) {
        if (r->host[0] == '\0' || r->port != 0 || r->expired)
            continue;
        struct rr_addr remote = cpeer_addr(&r->peer.remote);
        r->port = ports_assign(&fe->ports, &remote, fe->now, &why);
        if (r->port == 0) {
            if (why == RD_PORT_EXHAUSTED)
                break;
            continue; /* its source holds its share */
        }
        if (store_port_clear(fe->store, r->port) < 0 || store_update(fe->store, r) < 0)
            return -1;
        n++;
    }
    if (n)
        log_info("hosting ports given to %u registrations that had none", n);
    return 0;
}

int port_reg_load_end(struct frontend *fe)
{
    if (!ports_on(&fe->ports))
        return 0;
    if (store_load_quarantine(fe->store, load_q, fe) < 0)
        return -1;
    ports_load_end(&fe->ports);
    return assign_missing(fe);
}
