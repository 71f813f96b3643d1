/*
 * portlisten.c - the hosting port listeners of a stream relay (relay-tcp,
 * relay-ws) for port-based virtual hosting (porthost.c says which ports):
 * the same addresses as the relay's own listeners, each port replaced by
 * the hosting port. Owns those sockets (struct rc_port_listeners); an
 * accepted connection goes to the relay's own accept callback, so a hosting
 * connection is set up like any other (the stream layer marks it by its
 * local port, stream_conn.c). Talks to listen.c and the fd registry.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core.h"
#include "log.h"

static void on_plisten(struct rc_handler *h, uint32_t events, uint64_t now)
{
    const struct rc_port_listeners *p = h->arg;
    (void)events;
    rc_listeners_accept(p->base, p->pl[h->idx].fd, -1, now);
}

int rc_plis_init(struct relay_core *c, struct rc_port_listeners *p, const struct rc_listeners *base,
                 uint32_t skip)
{
    p->base = base;
    p->skip = skip;
    p->n = c->nports * (uint32_t)base->n;
    p->pl = NULL;
    if (p->n == 0)
        return 0;
    p->pl = calloc(p->n, sizeof(*p->pl));
    if (!p->pl)
        return -1;
    for (uint32_t i = 0; i < p->n; i++)
        p->pl[i].fd = -1;
    return 0;
}

static uint32_t slot(const struct relay_core *c, const struct rc_port_listeners *p, uint16_t port,
                     int k)
{
    return (uint32_t)(port - c->port_lo) * (uint32_t)p->base->n + (uint32_t)k;
}

void rc_plis_close(struct relay_core *c, struct rc_port_listeners *p, uint16_t port)
{
    if (!p->pl || !rc_port_is_hosting(c, port))
        return;
    for (int k = 0; k < p->base->n; k++) {
        struct rc_plisten *l = &p->pl[slot(c, p, port, k)];
        if (l->fd < 0)
            continue;
        rc_fd_del(c, l->fd, &l->h);
        close(l->fd);
        l->fd = -1;
    }
}

int rc_plis_open(struct relay_core *c, struct rc_port_listeners *p, uint16_t port)
{
    int opened = 0;

    if (!p->pl || !rc_port_is_hosting(c, port))
        return -1;
    for (int k = 0; k < p->base->n; k++) {
        uint32_t i = slot(c, p, port, k);
        struct rc_plisten *l = &p->pl[i];
        struct rr_addr a = p->base->bound[k], bound;
        opened += l->fd >= 0;
        if (l->fd >= 0 || (p->skip & (1u << k)))
            continue;
        addr_set_port(&a, port);
        l->fd = rc_listen_socket(p->base->what, &a, &bound);
        if (l->fd < 0)
            goto fail;
        l->h = (struct rc_handler){.fn = on_plisten, .arg = p, .idx = i};
        if (rc_fd_add(c, l->fd, EPOLLIN, &l->h) < 0) {
            close(l->fd);
            l->fd = -1;
            goto fail;
        }
        opened++;
    }
    return opened ? 0 : -1; /* every address skipped: nothing listens */
fail:
    rc_plis_close(c, p, port);
    return -1;
}

static bool is_wildcard(const struct rr_addr *a)
{
    static const uint8_t zero[16];
    if (a->ss.ss_family == AF_INET)
        return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
    return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr, zero, 16) == 0;
}

bool rc_listen_overlap(const struct rr_addr *a, const struct rr_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return false;
    return is_wildcard(a) || is_wildcard(b) || addr_equal_host(a, b);
}

void rc_plis_stop(struct relay_core *c, struct rc_port_listeners *p)
{
    for (uint32_t i = 0; p->pl && i < p->n; i++)
        if (p->pl[i].fd >= 0) {
            rc_fd_del(c, p->pl[i].fd, &p->pl[i].h);
            close(p->pl[i].fd);
            p->pl[i].fd = -1;
        }
}

void rc_plis_free(struct rc_port_listeners *p)
{
    for (uint32_t i = 0; p->pl && i < p->n; i++)
        if (p->pl[i].fd >= 0)
            close(p->pl[i].fd);
    free(p->pl);
    p->pl = NULL;
    p->n = 0;
}
