/*
 * test_relay_udp_gso.c - relay-udp's send coalescing (relay-udp/udp_gso.c):
 * which queued datagrams form one UDP_SEGMENT run (one destination, the
 * same source pinning, equal lengths with a shorter last one, at most 64
 * and 60,000 bytes), the message built for a run (every payload in order,
 * the first datagram's control messages, then the segment size), and over
 * a real loopback socket that such a run arrives as the separate datagrams
 * it was made of, each with its own bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define QN 80

struct queue {
    struct mmsghdr h[QN];
    struct iovec iov[QN];
    struct sockaddr_in to[QN];
    union {
        char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
        struct cmsghdr align;
    } ctl[QN];
    uint8_t data[QN][1200];
};

/* datagram i: len bytes of (i & 0xff) to 127.0.0.1:port, pinned to source
 * address src (0: no control message) */
static void put(struct queue *q, unsigned i, size_t len, uint16_t port, uint32_t src)
{
    memset(q->data[i], (int)(i & 0xff), len);
    q->iov[i] = (struct iovec){.iov_base = q->data[i], .iov_len = len};
    q->to[i] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port)};
    q->to[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct msghdr *m = &q->h[i].msg_hdr;
    *m = (struct msghdr){.msg_name = &q->to[i],
                         .msg_namelen = sizeof(q->to[i]),
                         .msg_iov = &q->iov[i],
                         .msg_iovlen = 1};
    if (src) {
        memset(&q->ctl[i], 0, sizeof(q->ctl[i]));
        m->msg_control = q->ctl[i].buf;
        m->msg_controllen = sizeof(q->ctl[i].buf);
        struct cmsghdr *cm = CMSG_FIRSTHDR(m);
        struct in_pktinfo pi = {0};
        pi.ipi_spec_dst.s_addr = htonl(src);
        cm->cmsg_level = IPPROTO_IP;
        cm->cmsg_type = IP_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof(pi));
        memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
    }
}

static void test_runs(void **state)
{
    static struct queue q;
    (void)state;

    assert_int_equal(udp_gso_run(q.h, 0), 0);
    /* 3 equal to one peer, then another peer */
    for (unsigned i = 0; i < 3; i++)
        put(&q, i, 40, 5683, 0);
    put(&q, 3, 40, 5684, 0);
    assert_int_equal(udp_gso_run(q.h, 4), 3);
    assert_int_equal(udp_gso_run(q.h + 3, 1), 1);
    /* a shorter one ends the run and belongs to it; a longer one does not */
    put(&q, 2, 30, 5683, 0);
    put(&q, 3, 40, 5683, 0);
    assert_int_equal(udp_gso_run(q.h, 4), 3);
    put(&q, 1, 41, 5683, 0);
    assert_int_equal(udp_gso_run(q.h, 4), 1);
    /* the same peer from another source address is another path */
    put(&q, 0, 40, 5683, 0x7f000001);
    put(&q, 1, 40, 5683, 0x7f000001);
    put(&q, 2, 40, 5683, 0x7f000002);
    assert_int_equal(udp_gso_run(q.h, 3), 2);
    /* at most 64 datagrams, at most 60,000 bytes */
    for (unsigned i = 0; i < QN; i++)
        put(&q, i, 20, 5683, 0);
    assert_int_equal(udp_gso_run(q.h, QN), 64);
    for (unsigned i = 0; i < QN; i++)
        put(&q, i, 1152, 5683, 0);
    assert_int_equal(udp_gso_run(q.h, QN), 52); /* 52 * 1152 = 59,904 */
    /* an empty datagram goes alone */
    put(&q, 0, 0, 5683, 0);
    assert_int_equal(udp_gso_run(q.h, 3), 1);
}

static void test_build(void **state)
{
    static struct queue q;
    struct msghdr out;
    union {
        char buf[UDP_GSO_CTL];
        struct cmsghdr align;
    } ctl;
    (void)state;

    for (unsigned i = 0; i < 4; i++)
        put(&q, i, i < 3 ? 100 : 60, 5683, 0x7f000001);
    udp_gso_build(&out, q.h, 4, ctl.buf, sizeof(ctl.buf));
    assert_ptr_equal(out.msg_name, &q.to[0]);
    assert_int_equal(out.msg_iovlen, 4);
    assert_ptr_equal(out.msg_iov, &q.iov[0]); /* the queue's own, not a copy */
    for (unsigned i = 0; i < 4; i++) {
        assert_ptr_equal(out.msg_iov[i].iov_base, q.data[i]);
        assert_int_equal(out.msg_iov[i].iov_len, q.iov[i].iov_len);
    }
    struct cmsghdr *cm = CMSG_FIRSTHDR(&out);
    assert_non_null(cm);
    assert_int_equal(cm->cmsg_level, IPPROTO_IP);
    assert_int_equal(cm->cmsg_type, IP_PKTINFO);
    assert_memory_equal(CMSG_DATA(cm), CMSG_DATA(CMSG_FIRSTHDR(&q.h[0].msg_hdr)),
                        sizeof(struct in_pktinfo));
    cm = CMSG_NXTHDR(&out, cm);
    assert_non_null(cm);
    assert_int_equal(cm->cmsg_level, SOL_UDP);
    assert_int_equal(cm->cmsg_type, UDP_SEGMENT);
    uint16_t seg;
    memcpy(&seg, CMSG_DATA(cm), sizeof(seg));
    assert_int_equal(seg, 100);
    assert_null(CMSG_NXTHDR(&out, cm));
    /* a run of one is the datagram's own message, untouched */
    udp_gso_build(&out, q.h + 3, 1, ctl.buf, sizeof(ctl.buf));
    assert_memory_equal(&out, &q.h[3].msg_hdr, sizeof(out));
}

static void test_loopback(void **state)
{
    static struct queue q;
    struct msghdr out;
    union {
        char buf[UDP_GSO_CTL];
        struct cmsghdr align;
    } ctl;
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t al = sizeof(a);
    (void)state;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(rx >= 0 && tx >= 0);
    assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(rx, (struct sockaddr *)&a, &al), 0);
    for (unsigned i = 0; i < 5; i++)
        put(&q, i, i < 4 ? 77 : 13, ntohs(a.sin_port), 0);
    assert_int_equal(udp_gso_run(q.h, 5), 5);
    udp_gso_build(&out, q.h, 5, ctl.buf, sizeof(ctl.buf));
    ssize_t sent = sendmsg(tx, &out, 0);
    if (sent < 0 && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT)) {
        close(rx);
        close(tx);
        skip(); /* a kernel without UDP GSO: relay-udp sends plainly there */
    }
    assert_int_equal(sent, 4 * 77 + 13);
    for (unsigned i = 0; i < 5; i++) {
        uint8_t b[200], want[77];
        ssize_t n = recv(rx, b, sizeof(b), 0);
        assert_int_equal(n, i < 4 ? 77 : 13);
        memset(want, (int)i, sizeof(want));
        assert_memory_equal(b, want, (size_t)n);
    }
    uint8_t extra;
    assert_int_equal(recv(rx, &extra, 1, MSG_DONTWAIT), -1);
    close(rx);
    close(tx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
