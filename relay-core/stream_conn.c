/*
 * stream_conn.c - the connections of a stream relay (relay-tcp, relay-ws),
 * whatever carries them. Owns: the connection pool (allocated once for the
 * maximum), the index from connection id to slot, the serialising scratch
 * buffer, every connection's RD observation list and signalling deadline,
 * and the record of recently closed connections.
 * A close ends everything that depended on the connection (its clients'
 * exchanges, the requests sent to it as a registrant: 5.02 at once, its RD
 * observations, the reachability of its routes); the transport frees its
 * own part (descriptor, queues) in st_io.closed.
 * Talks to the transport (st_io), stream_exch.c, stream_proxy.c,
 * stream_rd.c, stream_transport.c.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "log.h"
#include "stream.h"
#include "timeutil.h"

static uint32_t id_hash(const struct st_relay *r, uint64_t id)
{
    return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & (r->nidb - 1);
}

int st_conns_init(struct st_relay *r)
{
    struct rlimit rl;
    uint32_t max = r->lim.max_conns;

    /* every connection is a descriptor: take the hard limit if we may */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            (void)setrlimit(RLIMIT_NOFILE, &rl);
            (void)getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)max + 64)
            max = rl.rlim_cur > 128 ? (uint32_t)rl.rlim_cur - 64 : 64;
    }
    r->nconns_max = max;
    r->nidb = 64;
    while (r->nidb < max)
        r->nidb <<= 1;
    r->conns = calloc(max, sizeof(*r->conns));
    r->idb = malloc(r->nidb * sizeof(uint32_t));
    r->txbuf = malloc(ST_TXBUF_SIZE);
    if (!r->conns || !r->idb || !r->txbuf) {
        log_warnx("out of memory for %u connections", max);
        return -1;
    }
    memset(r->idb, 0xff, r->nidb * sizeof(uint32_t));
    /* every open connection holds one source: room for all of them */
    if (r->cfg.max_conns_per_source && srccount_init(&r->conn_src, max, 0) < 0) {
        log_warnx("out of memory for the connections per source");
        return -1;
    }
    for (uint32_t i = 0; i < max; i++) {
        r->conns[i].hnext = i + 1 < max ? i + 1 : ST_NONE;
        th_timer_init(&r->conns[i].t, ST_T_CONN, i);
    }
    r->conn_free = 0;
    return 0;
}

void st_conns_free(struct st_relay *r)
{
    if (r->conns) {
        for (uint32_t i = 0; i < r->nconns_max; i++) {
            if (r->conns[i].state != RC_FREE && r->io && r->io->closed)
                r->io->closed(r->ioa, i, "shutting down");
            free(r->conns[i].obs);
        }
    }
    srccount_free(&r->conn_src);
    free(r->conns);
    free(r->idb);
    free(r->txbuf);
    r->conns = NULL;
    r->idb = NULL;
    r->txbuf = NULL;
}

/* ---- the id index ---- */

uint32_t st_conn_find(struct st_relay *r, uint64_t id)
{
    if (id == 0 || !r->idb)
        return ST_NONE;
    for (uint32_t i = r->idb[id_hash(r, id)]; i != ST_NONE; i = r->conns[i].hnext)
        if (r->conns[i].id == id && r->conns[i].state == RC_OPEN)
            return i;
    return ST_NONE;
}

bool st_conn_alive(struct st_relay *r, uint32_t ci, uint64_t id)
{
    return ci < r->nconns_max && r->conns[ci].state == RC_OPEN && r->conns[ci].id == id;
}

static void id_unlink(struct st_relay *r, uint32_t ci)
{
    for (uint32_t *pp = &r->idb[id_hash(r, r->conns[ci].id)]; *pp != ST_NONE;
         pp = &r->conns[*pp].hnext) {
        if (*pp == ci) {
            *pp = r->conns[ci].hnext;
            return;
        }
    }
}

uint64_t st_gone_since(const struct st_relay *r, uint64_t id)
{
    const struct st_gone *g = &r->gone[id % ST_GONE_SLOTS];
    return g->id == id ? g->since_wall_ms : 0;
}

void st_conn_peer(const struct st_relay *r, uint32_t ci, struct rr_peer *p)
{
    const struct st_conn *c = &r->conns[ci];
    rc_peer_make(&r->core, &c->remote, &c->local, c->id, p);
}

/* ---- open ---- */

uint32_t st_conn_open(struct st_relay *r, const struct rr_addr *remote, const struct rr_addr *local)
{
    if (r->conn_free == ST_NONE) {
        r->c.conn_refused++;
        return ST_NONE;
    }
    uint32_t ci = r->conn_free;
    struct st_conn *c = &r->conns[ci];
    r->conn_free = c->hnext;
    c->state = RC_OPEN;
    c->id = rc_conn_id_new(&r->core);
    c->inflight = c->nobs = 0;
    c->released = false;
    c->remote = *remote;
    c->local = *local;
    /* over max_conns_per_source the connection still opens, so that the
     * transport is set up to carry the Abort that st_sig_open sends */
    c->src_over = srccount_inc_addr(&r->conn_src, remote, r->cfg.max_conns_per_source) < 0;
    /* a hosting port's connection (no listen address is in the range,
     * config.c): every request on it goes to that port's route */
    c->mux_port = rc_port_is_hosting(&r->core, addr_port(local)) ? addr_port(local) : 0;
    uint32_t b = id_hash(r, c->id);
    c->hnext = r->idb[b];
    r->idb[b] = ci;
    r->nconns++;
    r->c.accepted++;
    if (log_get_level() >= LOG_LVL_DEBUG) {
        char a[RR_ADDRSTRLEN];
        log_debug("conn %llx from %s (%s)", (unsigned long long)c->id,
                  addr_to_str(&c->remote, a, sizeof(a)), r->io->what);
    }
    return ci;
}

/* ---- output ---- */

int st_conn_send_msg(struct st_relay *r, uint32_t ci, const struct coap_msg *m)
{
    struct st_conn *c = &r->conns[ci];
    ssize_t n;

    if (c->state != RC_OPEN)
        return -1;
    n = r->io->serialize(m, r->txbuf, ST_TXBUF_SIZE);
    if (n < 0 || (size_t)n > c->sig.csm.mms)
        return -1;
    r->c.tx_msgs++;
    return r->io->write(r->ioa, ci, r->txbuf, (size_t)n);
}

/* ---- close ---- */

void st_conn_close(struct st_relay *r, uint32_t ci, const char *why, uint64_t now)
{
    struct st_conn *c = &r->conns[ci];
    char a[RR_ADDRSTRLEN];

    if (c->state == RC_FREE)
        return;
    uint64_t id = c->id, since = now_wall_ms();
    /* RD observations are reported while the peer is still known */
    if (c->nobs)
        st_rd_conn_gone(r, ci);
    c->state = RC_FREE;
    id_unlink(r, ci);
    if (!c->src_over)
        srccount_dec_addr(&r->conn_src, &c->remote);
    r->io->closed(r->ioa, ci, why);
    th_cancel(&r->core.timers, &c->t);
    free(c->obs);
    c->obs = NULL;
    c->nobs = 0;
    r->nconns--;
    r->c.closed++;
    r->gone[id % ST_GONE_SLOTS] = (struct st_gone){id, since};
    log_debug("conn %llx (%s) closed: %s", (unsigned long long)id,
              addr_to_str(&c->remote, a, sizeof(a)), why);

    /* the connection's own clients: their requests end */
    for (uint32_t i = 0; i < r->ndx; i++) {
        struct st_dx *d = &r->dx[i];
        if (d->h.state == DX_FREE || d->conn != ci || d->conn_id != id)
            continue;
        if (d->h.kind == DX_K_PROXY && d->h.up != ST_NONE) {
            uint32_t ui = d->h.up;
            d->h.up = ST_NONE;
            st_proxy_end_observation(r, ui, now);
        } else if (d->h.kind == DX_K_XFWD) {
            rc_xfwd_send_cancel(&r->core, d->h.xpeer, d->h.req_id);
        }
        st_dx_release(r, i);
    }
    /* requests sent to it as a registrant: 5.02 at once, not a timeout */
    for (uint32_t i = 0; i < r->nux; i++) {
        struct st_ux *u = &r->ux[i];
        if (u->h.state == UX_FREE || u->conn != ci || u->conn_id != id)
            continue;
        rc_ux_fail(&r->core, i, COAP_BAD_GATEWAY, "registrant's connection closed", now);
    }
    st_conn_routes_gone(r, id, since);
    c->hnext = r->conn_free;
    r->conn_free = ci;
}
