/*
 * ports.c - which public port each proxied registration gets for port-based
 * virtual hosting (BRIEF §3.4, issue 18), in memory.
 * Owns: struct rd_ports, one slot per port of port_hosting_range (free,
 * assigned with the source it was assigned to, or quarantined until a
 * time) and a FIFO of the ports not assigned. Assignment takes the head of
 * the FIFO: never-used ports first, then released ports in the order they
 * were released, so a port goes back to work as late as the range allows
 * and never before its quarantine is over (a stale client must not reach a
 * stranger's server). A registrant (IPv4 address or IPv6 /64) holds at
 * most port_per_source ports, counted in the shared count table
 * (common/srccount.h, room for one source per port) so a large range does
 * not make every assignment a scan. No I/O and no SQL: port_reg.c persists what
 * this decides through store.c (registrations.port, port_quarantine).
 */
#include <stdlib.h>
#include <string.h>

#include "frontend.h"

enum { PS_FREE = 0, PS_ASSIGNED, PS_QUARANTINED };

bool ports_on(const struct rd_ports *p)
{
    return p->n > 0;
}

int ports_init(struct rd_ports *p, const struct rr_config *cfg)
{
    memset(p, 0, sizeof(*p));
    p->quarantine_ms = (uint64_t)cfg->port_quarantine * 1000u;
    p->per_source = cfg->port_per_source;
    if (cfg->port_lo == 0)
        return 0;
    p->lo = cfg->port_lo;
    p->n = (uint32_t)cfg->port_hi - cfg->port_lo + 1u;
    p->slot = calloc(p->n, sizeof(*p->slot));
    p->fifo = calloc(p->n, sizeof(*p->fifo));
    /* at most n sources hold ports: the table never refuses one */
    if (!p->slot || !p->fifo || srccount_init(&p->src, p->n, 0) < 0) {
        ports_free(p);
        return -1;
    }
    ports_load_end(p);
    return 0;
}

void ports_free(struct rd_ports *p)
{
    free(p->slot);
    free(p->fifo);
    srccount_free(&p->src);
    memset(p, 0, sizeof(*p));
}

static struct rd_port_slot *slot_of(struct rd_ports *p, uint16_t port)
{
    if (p->n == 0 || port < p->lo || (uint32_t)(port - p->lo) >= p->n)
        return NULL;
    return &p->slot[port - p->lo];
}

/* A registrant is its addr_source_key (common/addr.c): the IPv4 address,
 * or the IPv6 /64 (one site's prefix, so rotating interface identifiers do
 * not make new sources); the registry limits (limits.c) count by it too. */
bool ports_same_source(const struct rr_addr *a, const struct rr_addr *b)
{
    /* an unset address is nobody's source */
    return (a->ss.ss_family == AF_INET || a->ss.ss_family == AF_INET6) && addr_same_source(a, b);
}

unsigned ports_held_by(const struct rd_ports *p, const struct rr_addr *src)
{
    return srccount_get_addr(&p->src, src);
}

int ports_load_assigned(struct rd_ports *p, uint16_t port, const struct rr_addr *src)
{
    struct rd_port_slot *s = slot_of(p, port);

    if (s == NULL || s->state == PS_ASSIGNED)
        return -1;
    s->state = PS_ASSIGNED;
    s->src = *src;
    srccount_inc_addr(&p->src, src, 0);
    return 0;
}

void ports_load_quarantined(struct rd_ports *p, uint16_t port, uint64_t until)
{
    struct rd_port_slot *s = slot_of(p, port);

    if (s != NULL && s->state == PS_FREE) {
        s->state = PS_QUARANTINED;
        s->until = until;
    }
}

static int cmp_until(const void *a, const void *b, void *arg)
{
    const struct rd_ports *p = arg;
    uint64_t ua = p->slot[*(const uint16_t *)a - p->lo].until;
    uint64_t ub = p->slot[*(const uint16_t *)b - p->lo].until;
    return ua < ub ? -1 : ua > ub;
}

void ports_load_end(struct rd_ports *p)
{
    uint32_t k = 0, q0;

    p->head = 0;
    for (uint32_t i = 0; i < p->n; i++)
        if (p->slot[i].state == PS_FREE)
            p->fifo[k++] = (uint16_t)(p->lo + i);
    q0 = k;
    for (uint32_t i = 0; i < p->n; i++)
        if (p->slot[i].state == PS_QUARANTINED)
            p->fifo[k++] = (uint16_t)(p->lo + i);
    /* released longest ago first (qsort_r: glibc; the list is one range) */
    qsort_r(p->fifo + q0, k - q0, sizeof(*p->fifo), cmp_until, p);
    p->count = k;
}

uint16_t ports_assign(struct rd_ports *p, const struct rr_addr *src, uint64_t now,
                      enum rd_port_why *why)
{
    if (p->n == 0) {
        *why = RD_PORT_OFF;
        return 0;
    }
    /* the head is the port released longest ago (or never used) */
    if (p->count == 0 || (p->slot[p->fifo[p->head] - p->lo].state == PS_QUARANTINED &&
                          p->slot[p->fifo[p->head] - p->lo].until > now)) {
        *why = RD_PORT_EXHAUSTED;
        return 0;
    }
    if (ports_held_by(p, src) >= p->per_source) {
        *why = RD_PORT_SOURCE_LIMIT;
        return 0;
    }
    uint16_t port = p->fifo[p->head];
    struct rd_port_slot *s = &p->slot[port - p->lo];
    p->head = (p->head + 1) % p->n;
    p->count--;
    s->state = PS_ASSIGNED;
    s->src = *src;
    s->until = 0;
    srccount_inc_addr(&p->src, src, 0);
    *why = RD_PORT_OK;
    return port;
}

uint64_t ports_release(struct rd_ports *p, uint16_t port, uint64_t now)
{
    struct rd_port_slot *s = slot_of(p, port);

    if (s == NULL || s->state != PS_ASSIGNED)
        return 0;
    srccount_dec_addr(&p->src, &s->src);
    s->state = PS_QUARANTINED;
    s->until = now + p->quarantine_ms;
    p->fifo[(p->head + p->count) % p->n] = port;
    p->count++;
    return s->until;
}

const char *ports_why_text(enum rd_port_why why)
{
    switch (why) {
    case RD_PORT_OK:
        return "assigned";
    case RD_PORT_OFF:
        return "port hosting off";
    case RD_PORT_EXHAUSTED:
        return "port_hosting_range exhausted (every port assigned or in quarantine)";
    case RD_PORT_SOURCE_LIMIT:
        return "port_per_source reached for this registrant's address";
    }
    return "?";
}
