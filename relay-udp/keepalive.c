/*
 * keepalive.c - NAT keepalive and reachability of proxied UDP routes.
 * Owns the ka_table: one entry per route this relay holds the path of,
 * hashed by host name (reachability check on every proxied request) and by
 * remote address (every received datagram proves its binding alive).
 * When nothing came from a binding for the route's interval (ka=, or
 * nat_keepalive), a CoAP ping (empty CON) goes through it; the endpoint's RST
 * keeps the NAT binding open from the inside. Unanswered pings (RFC 7252
 * retransmission schedule) mark the route unreachable: requests then get a
 * 5.02 at once. A datagram from the binding or a route update marks it
 * reachable again. Changes go to rd-frontend as REACHABILITY and to the log.
 * Scheduling: a sweep visits a tenth of the table every 100 ms (each entry
 * about once a second), due times carry up to 10 % jitter and each tick
 * sends a bounded number of pings, so 100,000 routes never ping in a burst.
 * The table grows only on route changes, never per request.
 * Talks to udp_io.c (pings), ctl.c (REACHABILITY).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "relay.h"
#include "timeutil.h"

static uint32_t host_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void ka_rehash(struct ka_table *t)
{
    memset(t->bh, 0xff, t->nb * sizeof(uint32_t));
    memset(t->br, 0xff, t->nb * sizeof(uint32_t));
    t->free_head = RU_NONE;
    for (uint32_t i = t->cap; i-- > 0;) {
        struct ka_entry *e = &t->e[i];
        if (!e->used) {
            e->next_host = t->free_head;
            t->free_head = i;
            continue;
        }
        uint32_t bh = host_hash(e->host) & (t->nb - 1), br = addr_hash(&e->remote) & (t->nb - 1);
        e->next_host = t->bh[bh];
        t->bh[bh] = i;
        e->next_remote = t->br[br];
        t->br[br] = i;
    }
}

static int ka_grow(struct ka_table *t, uint32_t cap)
{
    struct ka_entry *e = realloc(t->e, cap * sizeof(*e));
    if (!e)
        return -1;
    memset(e + t->cap, 0, (cap - t->cap) * sizeof(*e));
    t->e = e;
    t->cap = cap;
    uint32_t nb = 64;
    while (nb < cap * 2)
        nb <<= 1;
    if (nb != t->nb) {
        uint32_t *bh = realloc(t->bh, nb * sizeof(uint32_t));
        if (!bh)
            return -1;
        t->bh = bh;
        uint32_t *br = realloc(t->br, nb * sizeof(uint32_t));
        if (!br)
            return -1;
        t->br = br;
        t->nb = nb;
    }
    ka_rehash(t);
    return 0;
}

int ka_init(struct relay *r)
{
    memset(&r->ka, 0, sizeof(r->ka));
    return ka_grow(&r->ka, 256);
}

void ka_free(struct relay *r)
{
    free(r->ka.e);
    free(r->ka.bh);
    free(r->ka.br);
    memset(&r->ka, 0, sizeof(r->ka));
}

static uint32_t ka_find(const struct ka_table *t, const char *host)
{
    if (!t->nb)
        return RU_NONE;
    for (uint32_t i = t->bh[host_hash(host) & (t->nb - 1)]; i != RU_NONE; i = t->e[i].next_host)
        if (strcmp(t->e[i].host, host) == 0)
            return i;
    return RU_NONE;
}

static void unlink_chain(struct ka_table *t, uint32_t *head, uint32_t i, bool by_host)
{
    for (uint32_t *pp = head; *pp != RU_NONE;
         pp = by_host ? &t->e[*pp].next_host : &t->e[*pp].next_remote) {
        if (*pp == i) {
            *pp = by_host ? t->e[i].next_host : t->e[i].next_remote;
            return;
        }
    }
}

static void ka_send_reachability(struct relay *r, const struct ka_entry *e)
{
    rc_send_reachability(&r->core, e->host, !e->unreachable,
                         e->unreachable ? e->since_wall_ms : now_wall_ms());
}

void ka_resend_unreachable(struct relay *r)
{
    /* a restarted rd-frontend knows nothing of our verdicts */
    for (uint32_t i = 0; i < r->ka.cap; i++)
        if (r->ka.e[i].used && r->ka.e[i].unreachable)
            ka_send_reachability(r, &r->ka.e[i]);
}

static void ka_report(struct relay *r, struct ka_entry *e)
{
    char a[RR_ADDRSTRLEN];

    if (e->unreachable) {
        r->c.ka_unreachable++;
        log_info("route %s unreachable through %s", e->host, addr_to_str(&e->remote, a, sizeof(a)));
    } else {
        r->c.ka_reachable++;
        log_info("route %s reachable again through %s", e->host,
                 addr_to_str(&e->remote, a, sizeof(a)));
    }
    ka_send_reachability(r, e);
}

static uint64_t next_due(uint64_t from, uint32_t ka_ms)
{
    return from + ka_ms - (uint64_t)(random() % (ka_ms / 10 + 1));
}

static void ka_remove(struct relay *r, uint32_t i)
{
    struct ka_table *t = &r->ka;
    struct ka_entry *e = &t->e[i];
    unlink_chain(t, &t->bh[host_hash(e->host) & (t->nb - 1)], i, true);
    unlink_chain(t, &t->br[addr_hash(&e->remote) & (t->nb - 1)], i, false);
    e->used = false;
    e->next_host = t->free_head;
    t->free_head = i;
    t->n--;
}

/* reset: a real update of this route (not a resync copy): reachable again */
static void ka_upsert(struct relay *r, const struct rr_route *rt, bool reset, uint64_t now)
{
    struct ka_table *t = &r->ka;
    uint32_t i = ka_find(t, rt->host);
    int sock = udp_sock_for_local(r, &rt->path.local);
    struct rr_addr remote = rt->path.remote, local = rt->path.local;

    addr_normalise(&remote);
    addr_normalise(&local);
    if (i != RU_NONE && !addr_equal(&t->e[i].remote, &remote)) {
        bool was = t->e[i].unreachable;
        ka_remove(r, i);
        i = RU_NONE;
        reset = true;
        if (was) {
            /* the NAT binding moved: the old verdict does not apply */
            struct ka_entry tmp = {.unreachable = false};
            snprintf(tmp.host, sizeof(tmp.host), "%s", rt->host);
            tmp.remote = remote;
            ka_report(r, &tmp);
        }
    }
    if (i == RU_NONE) {
        if (t->free_head == RU_NONE && ka_grow(t, t->cap * 2) < 0) {
            log_warnx("keepalive table: out of memory");
            return;
        }
        i = t->free_head;
        struct ka_entry *e = &t->e[i];
        t->free_head = e->next_host;
        memset(e, 0, sizeof(*e));
        e->used = true;
        snprintf(e->host, sizeof(e->host), "%s", rt->host);
        e->remote = remote;
        uint32_t bh = host_hash(e->host) & (t->nb - 1), br = addr_hash(&remote) & (t->nb - 1);
        e->next_host = t->bh[bh];
        t->bh[bh] = i;
        e->next_remote = t->br[br];
        t->br[br] = i;
        t->n++;
        e->last_rx_ms = now;
        e->next_msgid = (uint16_t)random();
        reset = true;
    }
    struct ka_entry *e = &t->e[i];
    e->seen = true;
    e->local = local;
    e->sock = sock;
    uint32_t ka_s = rt->ka == RR_KA_DEFAULT ? r->cfg.nat_keepalive : rt->ka;
    e->ka_ms = ka_s > 86400 ? 86400000u : ka_s * 1000u;
    if (reset) {
        e->last_rx_ms = now;
        e->pinging = false;
        e->tries = 0;
        if (e->unreachable) {
            e->unreachable = false;
            ka_report(r, e);
        }
    }
    if (e->ka_ms)
        e->next_due_ms = next_due(e->last_rx_ms, e->ka_ms);
}

struct ka_merge {
    struct relay *r;
    uint64_t now;
};

static int ka_merge_one(const struct rr_route *rt, void *arg)
{
    struct ka_merge *m = arg;
    if (rc_route_is_ours(&m->r->core, rt))
        ka_upsert(m->r, rt, false, m->now);
    return 0;
}

void ka_on_route_change(struct relay *r, const struct rr_route *old_rt,
                        const struct rr_route *new_rt, bool swapped)
{
    uint64_t now = now_mono_ms();

    if (swapped) {
        /* a whole new table (resync): keep the state of unchanged paths */
        for (uint32_t i = 0; i < r->ka.cap; i++)
            r->ka.e[i].seen = false;
        struct ka_merge m = {r, now};
        const struct route_table *t = rc_routes(&r->core);
        if (t)
            route_table_foreach(t, ka_merge_one, &m);
        for (uint32_t i = 0; i < r->ka.cap; i++)
            if (r->ka.e[i].used && !r->ka.e[i].seen)
                ka_remove(r, i);
        return;
    }
    if (new_rt && rc_route_is_ours(&r->core, new_rt)) {
        ka_upsert(r, new_rt, true, now);
        return;
    }
    const char *host = new_rt ? new_rt->host : old_rt ? old_rt->host : NULL;
    uint32_t i = host ? ka_find(&r->ka, host) : RU_NONE;
    if (i != RU_NONE)
        ka_remove(r, i);
}

void ka_on_rx(struct relay *r, const struct rr_addr *remote, uint64_t now)
{
    struct ka_table *t = &r->ka;
    if (t->n == 0)
        return;
    for (uint32_t i = t->br[addr_hash(remote) & (t->nb - 1)]; i != RU_NONE;
         i = t->e[i].next_remote) {
        struct ka_entry *e = &t->e[i];
        if (!addr_equal(&e->remote, remote))
            continue;
        e->last_rx_ms = now;
        if (e->pinging) {
            e->pinging = false;
            e->tries = 0;
        }
        if (e->ka_ms)
            e->next_due_ms = next_due(now, e->ka_ms);
        if (e->unreachable) {
            e->unreachable = false;
            ka_report(r, e);
        }
    }
}

void ka_on_icmp(struct relay *r, const struct rr_addr *remote, uint64_t now)
{
    struct ka_table *t = &r->ka;
    if (t->n == 0)
        return;
    for (uint32_t i = t->br[addr_hash(remote) & (t->nb - 1)]; i != RU_NONE;
         i = t->e[i].next_remote) {
        struct ka_entry *e = &t->e[i];
        if (!addr_equal(&e->remote, remote) || e->unreachable)
            continue;
        e->unreachable = true;
        e->pinging = false;
        e->tries = 0;
        e->since_wall_ms = now_wall_ms() - (now - e->last_rx_ms);
        ka_report(r, e);
        if (e->ka_ms)
            e->next_due_ms = next_due(now, e->ka_ms);
    }
}

uint16_t ka_next_msgid(struct relay *r, const struct rr_addr *remote)
{
    struct ka_table *t = &r->ka;
    if (t->n) {
        for (uint32_t i = t->br[addr_hash(remote) & (t->nb - 1)]; i != RU_NONE;
             i = t->e[i].next_remote)
            if (addr_equal(&t->e[i].remote, remote))
                return t->e[i].next_msgid++;
    }
    return exch_new_msgid(r);
}

uint64_t ka_unreachable_since(struct relay *r, const char *host)
{
    uint32_t i = ka_find(&r->ka, host);
    return i != RU_NONE && r->ka.e[i].unreachable ? r->ka.e[i].since_wall_ms : 0;
}

static void ka_ping(struct relay *r, struct ka_entry *e)
{
    if (e->sock < 0)
        return;
    send_empty(r, e->sock, &e->remote, &e->local, COAP_T_CON, e->next_msgid++);
    r->c.ka_pings++;
}

void ka_tick(struct relay *r, uint64_t now)
{
    struct ka_table *t = &r->ka;
    uint32_t ka_s = r->cfg.nat_keepalive ? r->cfg.nat_keepalive : 25;
    /* pings per tick: twice the steady rate, at least 16 */
    uint32_t budget = t->n / (ka_s * 10) * 2 + 16;
    uint32_t visit = t->cap / 10 + 1;

    if (t->n == 0)
        return;
    for (uint32_t k = 0; k < visit && budget > 0; k++) {
        uint32_t i = t->cursor++;
        if (t->cursor >= t->cap)
            t->cursor = 0;
        struct ka_entry *e = &t->e[i];
        if (!e->used || e->ka_ms == 0 || e->next_due_ms > now)
            continue;
        uint32_t base = RU_ACK_TIMEOUT_MS + (uint32_t)(random() % (RU_ACK_TIMEOUT_MS / 2));
        if (!e->pinging) {
            e->pinging = true;
            e->tries = 0;
            ka_ping(r, e);
            e->next_due_ms = now + base;
        } else if (e->tries < RU_MAX_RETRANSMIT) {
            e->tries++;
            ka_ping(r, e);
            e->next_due_ms = now + ((uint64_t)base << e->tries);
        } else {
            e->pinging = false;
            e->tries = 0;
            if (!e->unreachable) {
                e->unreachable = true;
                e->since_wall_ms = now_wall_ms() - (now - e->last_rx_ms);
                ka_report(r, e);
                proxy_on_remote_gone(r, &e->remote, now);
            }
            /* keep probing at the route's interval: an answer revives it */
            e->next_due_ms = next_due(now, e->ka_ms);
        }
        budget--;
    }
}
