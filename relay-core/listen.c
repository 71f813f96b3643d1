/*
 * listen.c - stream listeners for every relay that accepts connections
 * (relay-tcp, relay-ws, later port-based hosting): one socket per address
 * of a listen list (IPv6 ones V6ONLY, so IPv4 and IPv6 on one port are
 * separate sockets, as relay-udp does it), port 0 learnt from the kernel
 * (tests), each in the core's fd registry; accepted sockets go to the
 * owner's callback non-blocking. A socket passed by the parent for the
 * address (sockact.c) is taken instead of binding one. Owns the listening sockets of one struct
 * rc_listeners.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core.h"
#include "log.h"

#define RC_ACCEPT_BATCH 64

int rc_listen_socket(const char *what, const struct rr_addr *a, struct rr_addr *bound)
{
    int one = 1, fd;
    char name[RR_ADDRSTRLEN];

    fd = rc_sockact_take(SOCK_STREAM, a);
    if (fd >= 0) {
        /* listen() again: a no-op on a listening socket, and makes a bound
         * one (a parent that only bound it) listen */
        if (listen(fd, 1024) < 0) {
            log_warn("%s listener %s (from the parent)", what, addr_to_str(a, name, sizeof(name)));
            close(fd);
            return -1;
        }
        *bound = *a;
        return fd;
    }
    fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("socket(%s)", addr_to_str(a, name, sizeof(name)));
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        (a->ss.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
        bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, 1024) < 0) {
        log_warn("%s listener %s", what, addr_to_str(a, name, sizeof(name)));
        close(fd);
        return -1;
    }
    *bound = *a;
    if (addr_port(a) == 0) {
        /* port 0 (tests): learn the port the kernel picked */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
            addr_from_sockaddr(bound, (struct sockaddr *)&ss, sl);
    }
    log_info("listening on %s %s", what, addr_to_str(bound, name, sizeof(name)));
    return fd;
}

static int listen_one(struct rc_listeners *l, const struct rr_addr *a)
{
    int fd = rc_listen_socket(l->what, a, &l->bound[l->n]);
    if (fd < 0)
        return -1;
    l->fd[l->n++] = fd;
    return 0;
}

void rc_listeners_accept(const struct rc_listeners *l, int lfd, int li, uint64_t now)
{
    for (int k = 0; k < RC_ACCEPT_BATCH; k++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_warn("accept");
            return;
        }
        l->on_accept(l->arg, li, fd, now);
    }
}

static void on_listener(struct rc_handler *h, uint32_t events, uint64_t now)
{
    struct rc_listeners *l = h->arg;
    (void)events;
    rc_listeners_accept(l, l->fd[h->idx], (int)h->idx, now);
}

int rc_listeners_open(struct relay_core *c, struct rc_listeners *l, const char *list,
                      uint16_t default_port)
{
    struct rr_addr addrs[RC_MAX_LISTEN];
    int n = addr_parse_list(list, default_port, addrs, RC_MAX_LISTEN);

    if (n <= 0) {
        log_warnx("%s listen \"%s\": no valid address", l->what, list);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (listen_one(l, &addrs[i]) < 0)
            return -1;
    for (int i = 0; i < l->n; i++) {
        l->h[i] = (struct rc_handler){.fn = on_listener, .arg = l, .idx = (uint32_t)i};
        if (rc_fd_add(c, l->fd[i], EPOLLIN, &l->h[i]) < 0)
            return -1;
    }
    return 0;
}

void rc_listeners_close(struct rc_listeners *l)
{
    for (int i = 0; i < l->n; i++)
        close(l->fd[i]);
    l->n = 0;
}

void rc_listeners_stop(struct relay_core *c, struct rc_listeners *l)
{
    for (int i = 0; i < l->n; i++)
        rc_fd_del(c, l->fd[i], &l->h[i]);
    rc_listeners_close(l);
}

void rc_sock_addrs(int fd, struct rr_addr *remote, struct rr_addr *local)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    memset(remote, 0, sizeof(*remote));
    memset(local, 0, sizeof(*local));
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
        addr_from_sockaddr(remote, (struct sockaddr *)&ss, sl);
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        addr_from_sockaddr(local, (struct sockaddr *)&ss, sl);
}
