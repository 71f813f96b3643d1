/*
 * udp_gso.c - coalescing a send queue for UDP segmentation offload.
 * Owns: nothing (pure functions over a queue's message headers).
 * A run of queued datagrams to one destination, with the same source
 * pinning, every one but the last of the same length, leaves as one
 * sendmsg with UDP_SEGMENT (Linux 4.18): the kernel takes it down the
 * stack as one buffer and cuts it into datagrams as late as it can (on
 * loopback at the receiving socket, on a NIC in the driver or the card).
 * The kernel's per-datagram path is most of the relay's CPU per proxied
 * request (docs/benchmarks.md "The kernel floor"); under load, when one
 * loop iteration forwards several requests to one registrant or answers
 * several to one client, this is what lowers it. The datagrams are the
 * same on the wire. Talks to: udp_io.c (udp_flush_q).
 */
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>

#include "relay.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* linux/udp.h; glibc's netinet/udp.h has it from 2.29 on */
#endif

/* The kernel's limits: UDP_MAX_SEGMENTS, and the whole run in one IP
 * packet's worth (64 KiB less the headers). */
#define GSO_MAX_SEGS 64u
#define GSO_MAX_BYTES 60000u

static bool same_path(const struct msghdr *a, const struct msghdr *b)
{
    return a->msg_namelen == b->msg_namelen &&
           memcmp(a->msg_name, b->msg_name, a->msg_namelen) == 0 &&
           a->msg_controllen == b->msg_controllen &&
           (a->msg_controllen == 0 ||
            memcmp(a->msg_control, b->msg_control, a->msg_controllen) == 0);
}

unsigned udp_gso_run(const struct mmsghdr *h, unsigned n)
{
    if (n == 0)
        return 0;
    size_t seg = h[0].msg_hdr.msg_iov[0].iov_len, total = seg;
    unsigned k = 1;

    /* an empty datagram, or control messages that leave no room for the
     * segment size in UDP_GSO_CTL, go alone */
    if (seg == 0 || h[0].msg_hdr.msg_controllen > UDP_GSO_CTL - CMSG_SPACE(sizeof(uint16_t)))
        return 1;
    while (k < n && k < GSO_MAX_SEGS) {
        size_t len = h[k].msg_hdr.msg_iov[0].iov_len;
        if (len == 0 || len > seg || total + len > GSO_MAX_BYTES ||
            !same_path(&h[0].msg_hdr, &h[k].msg_hdr))
            break;
        total += len;
        k++;
        if (len < seg)
            break; /* a shorter one ends the run */
    }
    return k;
}

void udp_gso_build(struct msghdr *out, const struct mmsghdr *h, unsigned k, void *ctl,
                   size_t ctl_size)
{
    const struct msghdr *first = &h[0].msg_hdr;

    *out = *first;
    if (k < 2)
        return;
    /* the queue's own iovecs are one per datagram, consecutive: the run's
     * payload is theirs end to end, nothing is copied */
    out->msg_iovlen = k;
    /* the first datagram's control messages (source pinning) and the
     * segment size after them */
    memset(ctl, 0, ctl_size);
    if (first->msg_controllen)
        memcpy(ctl, first->msg_control, first->msg_controllen);
    out->msg_control = ctl;
    out->msg_controllen = first->msg_controllen + CMSG_SPACE(sizeof(uint16_t));
    struct cmsghdr *cm = (struct cmsghdr *)((char *)ctl + first->msg_controllen);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t seg = (uint16_t)first->msg_iov[0].iov_len;
    memcpy(CMSG_DATA(cm), &seg, sizeof(seg));
}
