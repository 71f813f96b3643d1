/*
 * udp-floor.c - rdrelay-udp-floor: the least a UDP relay built on kernel
 * sockets can do, to measure the floor of the relay's CPU per proxied
 * request on a machine (issue 21, docs/benchmarks.md "The kernel floor").
 * It forwards every datagram from its one socket to one origin and every
 * datagram from the origin back to the last client, with the relay's own
 * system calls (epoll_wait, recvmmsg and sendmmsg in batches of 32 on one
 * socket for both directions, as rdrelay-udp) and no CoAP at all: no parsing,
 * no routing, no exchange state, no message IDs or tokens rewritten. What
 * it costs per request is what the kernel charges any such relay; the
 * difference to rdrelay-udp is rdrelay's own work.
 * A benchmark tool only: loopback addresses, one client at a time.
 * Owns: its socket. Talks to: nothing else.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define FLOOR_BATCH 32
#define FLOOR_MTU 1500

struct floor_batch {
    struct mmsghdr hdr[FLOOR_BATCH];
    struct iovec iov[FLOOR_BATCH];
    struct sockaddr_in from[FLOOR_BATCH];
    unsigned char data[FLOOR_BATCH][FLOOR_MTU];
};

static volatile sig_atomic_t floor_stop;

static void on_signal(int sig)
{
    (void)sig;
    floor_stop = 1;
}

static int parse_addr(const char *s, struct sockaddr_in *a)
{
    char host[64];
    const char *colon = strrchr(s, ':');

    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    a->sin_port = htons((unsigned short)atoi(colon + 1));
    return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static int udp_socket(const struct sockaddr_in *bind_to)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int sz = 4 << 20;

    if (fd < 0)
        return -1;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    if (bind_to && bind(fd, (const struct sockaddr *)bind_to, sizeof(*bind_to)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool is_origin(const struct sockaddr_in *a, const struct sockaddr_in *origin)
{
    return a->sin_port == origin->sin_port && a->sin_addr.s_addr == origin->sin_addr.s_addr;
}

/* Receive what waits (one batch) and send it all on in one sendmmsg: what
 * the origin sent to the client last seen, everything else to the origin
 * (rdrelay-udp, too, has one socket for both directions). */
static void forward(int fd, const struct sockaddr_in *origin, struct sockaddr_in *client,
                    struct floor_batch *b)
{
    for (int i = 0; i < FLOOR_BATCH; i++) {
        b->iov[i] = (struct iovec){.iov_base = b->data[i], .iov_len = FLOOR_MTU};
        b->hdr[i].msg_hdr = (struct msghdr){.msg_name = &b->from[i],
                                            .msg_namelen = sizeof(b->from[i]),
                                            .msg_iov = &b->iov[i],
                                            .msg_iovlen = 1};
    }
    int n = recvmmsg(fd, b->hdr, FLOOR_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
        return;
    for (int i = 0; i < n; i++) {
        b->iov[i].iov_len = b->hdr[i].msg_len;
        if (is_origin(&b->from[i], origin)) {
            b->from[i] = *client;
        } else {
            *client = b->from[i];
            b->from[i] = *origin;
        }
    }
    for (int off = 0; off < n;) {
        int k = sendmmsg(fd, b->hdr + off, (unsigned)(n - off), 0);
        off += k > 0 ? k : 1; /* a failed datagram is dropped */
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_in listen_at, origin, client = {0};
    struct epoll_event ev[4];

    if (argc != 3 || parse_addr(argv[1], &listen_at) < 0 || parse_addr(argv[2], &origin) < 0) {
        fprintf(stderr,
                "usage: rdrelay-udp-floor LISTEN_IP:PORT ORIGIN_IP:PORT\n\n"
                "Forwards UDP datagrams from LISTEN to ORIGIN and the answers back to the\n"
                "last client, with recvmmsg/sendmmsg batches and nothing else: the kernel's\n"
                "floor under a UDP relay's CPU per request (docs/benchmarks.md). IPv4 only;\n"
                "stops on SIGTERM or SIGINT.\n");
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    int fd = udp_socket(&listen_at), ep = epoll_create1(EPOLL_CLOEXEC);
    struct floor_batch *b = calloc(1, sizeof(*b));
    if (fd < 0 || ep < 0 || !b) {
        perror("rdrelay-udp-floor");
        return 1;
    }
    struct epoll_event add = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &add);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    while (!floor_stop) {
        int n = epoll_wait(ep, ev, 4, 1000);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 1;
        }
        if (n > 0)
            forward(fd, &origin, &client, b);
    }
    free(b);
    close(ep);
    close(fd);
    return 0;
}
