/*
 * proto.c - the inter-process protocol's codecs and ZeroMQ framing (proto.h).
 * Owns nothing; never allocates (ZeroMQ copies frames internally).
 * Talks to ZeroMQ sockets handed in by the caller.
 * Frames on the wire: [identity (ROUTER only)][header: 4 bytes][body].
 * The body frame is always sent, possibly empty.
 */
#include "proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "curve.h"
#include "log.h"
#include "timeutil.h"

const char *proto_msg_name(uint16_t type)
{
    switch (type) {
#define RR_MSG_NAME(name, val)                                                                     \
    case val:                                                                                      \
        return #name;
        RR_MSG_TYPES(RR_MSG_NAME)
#undef RR_MSG_NAME
    default:
        return "UNKNOWN";
    }
}

const char *proto_transport_name(uint8_t t)
{
    switch (t) {
    case RR_TRANSPORT_UDP:
        return "udp";
    case RR_TRANSPORT_TCP:
        return "tcp";
    case RR_TRANSPORT_WS:
        return "ws";
    default:
        return "none";
    }
}

void proto_put_peer(struct wire_w *w, const struct rr_peer *p)
{
    wire_put_u8(w, p->transport);
    wire_put_str(w, p->relay);
    wire_put_addr(w, &p->remote);
    wire_put_addr(w, &p->local);
    wire_put_u64(w, p->conn_id);
}

void proto_get_peer(struct wire_r *r, struct rr_peer *p)
{
    memset(p, 0, sizeof(*p));
    p->transport = wire_get_u8(r);
    wire_get_str(r, p->relay, sizeof(p->relay));
    wire_get_addr(r, &p->remote);
    wire_get_addr(r, &p->local);
    p->conn_id = wire_get_u64(r);
}

void proto_put_route(struct wire_w *w, const struct rr_route *rt)
{
    wire_put_str(w, rt->host);
    wire_put_str(w, rt->ep);
    wire_put_str(w, rt->d);
    wire_put_str(w, rt->reg_path);
    proto_put_peer(w, &rt->path);
    wire_put_u32(w, rt->ka);
    wire_put_u8(w, rt->flags);
    wire_put_u16(w, rt->mux_port);
}

void proto_get_route(struct wire_r *r, struct rr_route *rt)
{
    memset(rt, 0, sizeof(*rt));
    wire_get_str(r, rt->host, sizeof(rt->host));
    wire_get_str(r, rt->ep, sizeof(rt->ep));
    wire_get_str(r, rt->d, sizeof(rt->d));
    wire_get_str(r, rt->reg_path, sizeof(rt->reg_path));
    proto_get_peer(r, &rt->path);
    rt->ka = wire_get_u32(r);
    rt->flags = wire_get_u8(r);
    rt->mux_port = wire_get_u16(r);
}

void proto_put_header(uint8_t hdr[RR_PROTO_HDR_LEN], uint16_t type)
{
    hdr[0] = RR_PROTO_VERSION;
    hdr[1] = 0;
    hdr[2] = (uint8_t)(type >> 8);
    hdr[3] = (uint8_t)type;
}

int proto_parse_header(const uint8_t *hdr, size_t len, uint16_t *type)
{
    if (len < RR_PROTO_HDR_LEN || hdr[0] != RR_PROTO_VERSION)
        return -1;
    *type = (uint16_t)((hdr[2] << 8) | hdr[3]);
    return 0;
}

int proto_send(void *sock, const void *identity, size_t idlen, uint16_t type, const void *body,
               size_t bodylen)
{
    uint8_t hdr[RR_PROTO_HDR_LEN];

    proto_put_header(hdr, type);
    /* ZeroMQ queues a multipart message atomically: if the first part is
     * accepted, the rest are too (same pipe), so no half message leaves. */
    if (identity && zmq_send(sock, identity, idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    if (zmq_send(sock, hdr, sizeof(hdr), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    if (zmq_send(sock, body, bodylen, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

/* Receive one frame into buf (truncated at cap); returns its full size and
 * whether more frames follow, or -1. */
static int recv_frame(void *sock, int flags, void *buf, size_t cap, size_t *size, bool *more)
{
    int more_i = 0;
    size_t sz = sizeof(more_i);
    int n = zmq_recv(sock, buf, cap, flags);

    if (n < 0)
        return -1;
    *size = (size_t)n;
    if (zmq_getsockopt(sock, ZMQ_RCVMORE, &more_i, &sz) < 0)
        return -1;
    *more = more_i != 0;
    return 0;
}

/*
 * A peer of another protocol version: every one of its messages is dropped,
 * so say so clearly, naming both versions, at once and then at most once a
 * minute with the count (not once per message). Process-wide by nature:
 * one process speaks one version.
 */
#define PROTO_VERSION_LOG_MS 60000
static struct {
    uint64_t dropped, last_log_ms;
    bool logged;
} proto_vmismatch;

static void version_mismatch(uint8_t theirs, const uint8_t *id, size_t idlen)
{
    uint64_t now = now_mono_ms();
    char who[2 * RR_RELAY_NAME_MAX + 16];
    bool printable = idlen > 0 && idlen < RR_RELAY_NAME_MAX;

    proto_vmismatch.dropped++;
    if (proto_vmismatch.logged && now - proto_vmismatch.last_log_ms < PROTO_VERSION_LOG_MS)
        return;
    for (size_t i = 0; i < idlen && printable; i++)
        printable = id[i] > 0x20 && id[i] < 0x7f;
    if (printable)
        snprintf(who, sizeof(who), "\"%.*s\"", (int)idlen, (const char *)id);
    else
        snprintf(who, sizeof(who), "%s", idlen ? "an unnamed peer" : "the sender");
    log_warnx("proto: %s speaks protocol version %u, this process version %u: its messages are "
              "dropped until both sides run the same version (%llu dropped so far)",
              who, theirs, RR_PROTO_VERSION, (unsigned long long)proto_vmismatch.dropped);
    proto_vmismatch.logged = true;
    proto_vmismatch.last_log_ms = now;
}

static void drain(void *sock)
{
    uint8_t junk[1];
    size_t size;
    bool more = true;

    while (more && recv_frame(sock, 0, junk, sizeof(junk), &size, &more) == 0)
        ;
}

int proto_recv(void *sock, bool want_identity, uint8_t *identity, size_t *idlen, uint16_t *type,
               uint8_t *body, size_t bodycap, size_t *bodylen)
{
    uint8_t hdr[RR_PROTO_HDR_LEN + 1];
    uint8_t idbuf[255];
    size_t size;
    bool more;
    const char *why;

    if (recv_frame(sock, ZMQ_DONTWAIT, want_identity ? (void *)idbuf : (void *)hdr,
                   want_identity ? sizeof(idbuf) : sizeof(hdr), &size, &more) < 0)
        return -1; /* EAGAIN: nothing there */
    if (want_identity) {
        why = "identity too long";
        if (size > sizeof(idbuf) || !more)
            goto bad;
        memcpy(identity, idbuf, size);
        *idlen = size;
        if (recv_frame(sock, 0, hdr, sizeof(hdr), &size, &more) < 0)
            return -1;
    }
    if (size == RR_PROTO_HDR_LEN && hdr[0] != RR_PROTO_VERSION) {
        version_mismatch(hdr[0], want_identity ? identity : NULL, want_identity ? *idlen : 0);
        if (more)
            drain(sock);
        errno = EPROTO;
        return -1;
    }
    why = "bad header";
    if (size != RR_PROTO_HDR_LEN || proto_parse_header(hdr, size, type) < 0)
        goto bad;
    *bodylen = 0;
    if (!more)
        return 0; /* an absent body frame is an empty body */
    if (recv_frame(sock, 0, body, bodycap, bodylen, &more) < 0)
        return -1;
    why = "body too large";
    if (*bodylen > bodycap)
        goto bad;
    why = "extra frames";
    if (more)
        goto bad;
    return 0;
bad:
    if (more)
        drain(sock);
    log_warnx("proto: dropped malformed message: %s", why);
    errno = EPROTO;
    return -1;
}

int proto_relay_endpoint(const char *state_dir, const char *relay, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "ipc://%s/relay-%s.sock", state_dir, relay);
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

void *proto_dealer_connect(void *zctx, const char *identity, const char *endpoint, int hwm,
                           bool immediate)
{
    /* an immediate DEALER (relay to relay) fails every send until it is
     * connected: retry every 20 ms, not ZeroMQ's 100 ms, so a relay that
     * has just come up (or restarted) is reached at once; an ipc connect to
     * a relay that is not running costs a failed connect() in ZeroMQ's I/O
     * thread, 50 a second */
    int zero = 0, one = 1, ivl = 20;
    void *s = zmq_socket(zctx, ZMQ_DEALER);

    if (!s) {
        log_warnx("zmq_socket: %s", zmq_strerror(errno));
        return NULL;
    }
    if ((identity && zmq_setsockopt(s, ZMQ_ROUTING_ID, identity, strlen(identity)) < 0) ||
        (immediate && zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof(one)) < 0) ||
        (immediate && zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl)) < 0) ||
        zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0 ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm)) < 0 ||
        curve_client(zctx, s, endpoint, "rd-frontend") < 0 || zmq_connect(s, endpoint) < 0) {
        log_warnx("DEALER to %s: %s", endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}
