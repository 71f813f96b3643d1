/*
 * proto.h - the rdrelay inter-process protocol: the ONLY definition of
 * message types and frames (docs/architecture.md explains the flows).
 *
 * Sockets (ZeroMQ, endpoints from the config):
 *   rd-frontend  PUB    pub_endpoint   routing updates + heartbeats (Clone pattern)
 *   rd-frontend  ROUTER ctl_endpoint   everything else: relays (DEALER, routing id
 *                                      = relay name, e.g. "udp") and rdrelayctl
 *                                      (DEALER, random id). ROUTER_HANDOVER is on,
 *                                      so a restarted relay takes its id back.
 *
 * Frames: every message is [header][body] as two ZeroMQ frames (a ROUTER
 * adds/strips the identity frame in front; the body frame is always sent,
 * possibly empty, and a receiver treats a missing body frame as empty).
 * header = 4 bytes: u8 RR_PROTO_VERSION, u8 flags (0), u16 type (big-endian).
 * body = the fields listed per type, encoded one by one with wire.h (never a
 * memcpy'd struct; proto_msg.h has one encoder and one decoder per type).
 * A receiver drops a message with an unknown version or type, or a body
 * that does not decode, and logs it; a peer of another version is logged
 * by proto_recv naming both versions, at once and then once a minute with
 * a count. Trailing body bytes are ignored (forward compatibility); fields
 * added later are optional at the end of a body ("[opt]" below: absent from
 * an older sender, with the default proto_msg.h names).
 *
 * "peer" below is struct rr_peer encoded field by field (proto_put_peer):
 *   u8 transport, str relay, addr remote, addr local, u64 conn_id
 * "route" is struct rr_route (proto_put_route):
 *   str host, str ep, str d, str reg_path, peer path, u32 ka, u8 flags, u16 mux_port
 * "coap" is a CoAP message in RFC 7252 datagram framing (bytes); for requests
 * to/answers from rd-frontend the type and message id are ignored: the relay
 * owns the message layer, rd-frontend the request/response layer.
 */
#ifndef RDRELAY_PROTO_H
#define RDRELAY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "wire.h"

#define RR_PROTO_VERSION 1
#define RR_PROTO_HDR_LEN 4
#define RR_PROTO_MAX_BODY 70000 /* a coap message plus envelope */

/*
 * name, value, direction: body fields.
 * Grouped by direction; values never change once released.
 */
#define RR_MSG_TYPES(X)                                                                            \
    /* rd-frontend -> relays, PUB */                                                               \
    X(ROUTE_UPDATE, 0x0101) /* u64 epoch, u64 seq, route */                                        \
    X(HEARTBEAT, 0x0102)    /* u64 epoch, u64 seq (last published), u32 interval_ms */             \
    /* relay -> rd-frontend, DEALER -> ROUTER */                                                   \
    X(HELLO, 0x0201)        /* str relay, u8 transport, u32 pid, [opt] u8 version */               \
    X(SNAPSHOT_REQ, 0x0202) /* u64 snap_id (echoed in SNAPSHOT_ROUTE/END) */                       \
    X(RD_REQUEST, 0x0203)   /* u64 req_id, peer, bytes coap (a request) */                         \
    X(EP_RESPONSE, 0x0204)  /* u64 req_id, u8 ep_status, bytes coap (empty unless OK) */           \
    X(OBSERVE_GONE, 0x0205) /* peer, bytes token: the client stopped observing */                  \
    X(REACHABILITY, 0x0206) /* str host, u8 reachable, u64 since_ms (unix) */                      \
    X(RELAY_STATUS, 0x0207) /* str relay, u16 n, n x (str name, u64 value) */                      \
    /* rd-frontend -> relay, ROUTER -> DEALER */                                                   \
    X(SNAPSHOT_ROUTE, 0x0301) /* u64 snap_id, u64 epoch, route */                                  \
    X(SNAPSHOT_END, 0x0302)   /* u64 snap_id, u64 epoch, u64 seq, u32 count (ROUTEs sent) */       \
    X(RD_RESPONSE, 0x0303)    /* u64 req_id, bytes coap (a response, token = request's) */         \
    X(RD_NOTIFY, 0x0304)      /* peer, u8 confirmable, bytes coap (notification) */                \
    X(EP_REQUEST, 0x0305)     /* u64 req_id, peer path, bytes coap (request to an endpoint) */     \
    /* relay <-> relay, cross-transport forwarding (relay-tcp issue) */                            \
    X(XFWD_REQUEST, 0x0401)  /* u64 req_id, str host, bytes coap, [opt] u8 kind */                 \
    X(XFWD_RESPONSE, 0x0402) /* u64 req_id, u8 ep_status, bytes coap, [opt] u8 kind */             \
    X(XFWD_CANCEL, 0x0403)   /* u64 req_id */                                                      \
    /* rdrelayctl <-> rd-frontend (and, relayed by it, the relays) */                              \
    X(CTL_REQUEST, 0x0501)  /* str command, str argument */                                        \
    X(CTL_RESPONSE, 0x0502) /* u8 ok, str text (JSON object when ok) */

enum rr_msg_type {
#define RR_MSG_ENUM(name, val) RR_MSG_##name = val,
    RR_MSG_TYPES(RR_MSG_ENUM)
#undef RR_MSG_ENUM
};

/* "ROUTE_UPDATE" etc., or "UNKNOWN". */
const char *proto_msg_name(uint16_t type);

enum rr_transport {
    RR_TRANSPORT_NONE = 0,
    RR_TRANSPORT_UDP = 1,
    RR_TRANSPORT_TCP = 2,
    RR_TRANSPORT_WS = 3
};
const char *proto_transport_name(uint8_t t); /* "udp", "tcp", "ws", "none" */

/* EP_RESPONSE / XFWD_RESPONSE status */
enum rr_ep_status { RR_EP_OK = 0, RR_EP_TIMEOUT = 1, RR_EP_UNREACHABLE = 2, RR_EP_NO_ROUTE = 3 };

#define RR_RELAY_NAME_MAX 32
#define RR_HOST_MAX 192 /* ep(63) . d(63) . proxy domain */
#define RR_EP_MAX 64    /* 63 bytes + NUL */
#define RR_REGPATH_MAX 32

/* Who a request came from, and the path back to them. */
struct rr_peer {
    uint8_t transport;             /* enum rr_transport */
    char relay[RR_RELAY_NAME_MAX]; /* relay holding the socket/connection */
    struct rr_addr remote;         /* the peer (after NAT: its binding) */
    struct rr_addr local;          /* our address the request was sent to */
    uint64_t conn_id;              /* TCP/WS connection id; 0 for UDP */
};

#define RR_ROUTE_DELETED 0x01 /* in ROUTE_UPDATE: remove this host */
#define RR_KA_DEFAULT 0xffffffffu

/* A proxied registration as the relays see it. */
struct rr_route {
    char host[RR_HOST_MAX];        /* lower-case host name: the key */
    char ep[RR_EP_MAX];            /* as registered */
    char d[RR_EP_MAX];             /* "" when no sector */
    char reg_path[RR_REGPATH_MAX]; /* "/reg/17/" */
    struct rr_peer path;           /* how to reach the endpoint */
    uint32_t ka;                   /* keepalive s; RR_KA_DEFAULT = relay's nat_keepalive */
    uint8_t flags;
    uint16_t mux_port; /* port-based hosting port (rd-frontend/ports.c); 0 = none */
};

void proto_put_peer(struct wire_w *w, const struct rr_peer *p);
void proto_get_peer(struct wire_r *r, struct rr_peer *p);
void proto_put_route(struct wire_w *w, const struct rr_route *rt);
void proto_get_route(struct wire_r *r, struct rr_route *rt);

/* Header helpers: write the 4 header bytes / parse them (0, or -1 if short or
 * wrong version). */
void proto_put_header(uint8_t hdr[RR_PROTO_HDR_LEN], uint16_t type);
int proto_parse_header(const uint8_t *hdr, size_t len, uint16_t *type);

/*
 * ZeroMQ send/receive. proto_send sends [identity?][header][body] with
 * ZMQ_DONTWAIT and returns 0, or -1 (errno; EAGAIN = high-water mark hit:
 * the caller counts it). identity may be NULL (DEALER, PUB).
 * proto_recv receives one whole message non-blocking: fills identity (if
 * want_identity; up to 255 bytes), type and body (copied into body, up to
 * bodycap). Returns 0, -1 with errno EAGAIN when nothing is there, or -1 with
 * EPROTO for a malformed message (already drained and logged).
 */
int proto_send(void *sock, const void *identity, size_t idlen, uint16_t type, const void *body,
               size_t bodylen);
int proto_recv(void *sock, bool want_identity, uint8_t *identity, size_t *idlen, uint16_t *type,
               uint8_t *body, size_t bodycap, size_t *bodylen);

/*
 * Cross-transport forwarding (relay <-> relay). Every relay binds a ROUTER at
 * proto_relay_endpoint(state_dir, own name) = "ipc://<state_dir>/relay-<name>.sock"
 * and, to reach a route held by another relay, connects a DEALER (routing id
 * = its own relay name, ZMQ_IMMEDIATE=1 so a send to a relay that is not
 * running fails at once -> 5.02) to that relay's endpoint.
 *   requester -> holder  XFWD_REQUEST(req_id, host, coap, kind): a request in
 *       datagram framing, already checked by the requester (Hop-Limit handled,
 *       Uri-Host/Uri-Port removed, options vetted). The holder forwards it to
 *       the endpoint over the route's own path with its own tokens; kind
 *       (enum rr_xfwd_kind, CON/NON) is how the client sent it, which a UDP
 *       holder keeps upstream.
 *   holder -> requester  XFWD_RESPONSE(req_id, status, coap, kind): kind
 *       ACK = piggybacked answer, CON/NON = separate response or
 *       notification sent that way (a TCP holder says CON). One per
 *       response; for an observation every notification is another
 *       XFWD_RESPONSE with the same req_id until one without Observe (or an
 *       error) ends it. status != RR_EP_OK carries no coap: NO_ROUTE and
 *       UNREACHABLE -> the requester answers 5.02, TIMEOUT -> 5.04.
 *   requester -> holder  XFWD_CANCEL(req_id): the client went away or
 *       cancelled; the holder cancels upstream and forgets req_id.
 * The requester owns its client's message layer (EMPTY_ACK_DELAY, dedup,
 * retransmission) and its own timeout (upstream_timeout_ms -> 5.04 + CANCEL).
 */
/*
 * A DEALER socket as every rdrelay process uses one: routing id identity
 * (NULL = ZeroMQ's random one), LINGER 0 (never hang at exit), SNDHWM and
 * RCVHWM = hwm (set on purpose, BRIEF §3.2), ZMQ_IMMEDIATE (and a 20 ms
 * reconnect interval) when immediate
 * (a send to a peer that is not there fails at once), connected to
 * endpoint. NULL on failure, logged, nothing left open.
 */
void *proto_dealer_connect(void *zctx, const char *identity, const char *endpoint, int hwm,
                           bool immediate);

int proto_relay_endpoint(const char *state_dir, const char *relay, char *out, size_t outlen);

#endif
