/*
 * proto_msg.h - one encoder and one decoder per message type of the
 * inter-process protocol (the types are listed once, in RR_MSG_TYPES in
 * proto.h; the wire layout of each body is documented there and in
 * docs/architecture.md). No body is encoded by hand at a call site.
 *
 * For every type T (lower case): struct rr_msg_T holds its fields,
 *   int proto_enc_T(struct wire_w *w, const struct rr_msg_T *m);
 *   int proto_dec_T(struct wire_r *r, struct rr_msg_T *m);
 * both return 0, or -1 when the body did not fit (w->err) or was short or
 * malformed (r->err). Decoders ignore trailing bytes (a newer sender's
 * fields); fields added after release are optional at the end of a body
 * and get a documented default when absent (an older sender). Byte-string
 * fields (coap, token, text) point into the decoded buffer: no copy, valid
 * as long as that buffer. Owns nothing, never allocates.
 */
#ifndef RDRELAY_PROTO_MSG_H
#define RDRELAY_PROTO_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "wire.h"

/*
 * The CoAP message type of a message carried in XFWD_REQUEST/XFWD_RESPONSE,
 * as a field of its own (the datagram's type bits are not looked at).
 * Values equal CoAP's type bits, so a body from a sender that predates the
 * field decodes to the type its datagram carried.
 */
enum rr_xfwd_kind {
    RR_XK_CON = 0, /* request: the client sent it CON (a UDP holder sends it
                      upstream CON); response: a separate response or an
                      Observe notification the endpoint sent CON (a TCP
                      holder says CON: the requester then learns when its
                      client has gone) */
    RR_XK_NON = 1, /* as CON, but non-confirmable */
    RR_XK_ACK = 2  /* response only: the endpoint piggybacked it on its ACK */
};

/* "a CoAP message" or a token: points into the decoded body. */
struct rr_bytes {
    const uint8_t *p;
    size_t len;
};

struct rr_msg_route_update {
    uint64_t epoch, seq;
    struct rr_route route;
};

struct rr_msg_heartbeat {
    uint64_t epoch, seq; /* seq = last published */
    uint32_t interval_ms;
};

struct rr_msg_hello {
    char relay[RR_RELAY_NAME_MAX];
    uint8_t transport; /* enum rr_transport */
    uint32_t pid;
    /* protocol version the sender speaks; the encoder always sends
     * RR_PROTO_VERSION, the decoder gives 1 when absent (older relay) */
    uint8_t version;
};

struct rr_msg_snapshot_req {
    uint64_t snap_id; /* echoed in SNAPSHOT_ROUTE / SNAPSHOT_END */
};

struct rr_msg_rd_request {
    uint64_t req_id;
    struct rr_peer peer;
    struct rr_bytes coap; /* a request */
};

struct rr_msg_ep_response {
    uint64_t req_id;
    uint8_t status;       /* enum rr_ep_status */
    struct rr_bytes coap; /* empty unless RR_EP_OK */
};

struct rr_msg_observe_gone {
    struct rr_peer peer;
    struct rr_bytes token;
};

struct rr_msg_reachability {
    char host[RR_HOST_MAX];
    uint8_t reachable;
    uint64_t since_ms; /* unix ms */
};

#define RR_STATUS_MAX 96 /* counters per RELAY_STATUS that a decoder keeps (RC_MAX_COUNTERS) */
#define RR_STATUS_NAME_MAX 48

struct rr_status_counter {
    char name[RR_STATUS_NAME_MAX];
    uint64_t value;
};

struct rr_msg_relay_status {
    char relay[RR_RELAY_NAME_MAX];
    uint16_t n; /* counters in c[]; a decoder skips those past RR_STATUS_MAX */
    struct rr_status_counter c[RR_STATUS_MAX];
};

struct rr_msg_snapshot_route {
    uint64_t snap_id, epoch;
    struct rr_route route;
};

struct rr_msg_snapshot_end {
    uint64_t snap_id, epoch, seq;
    uint32_t count; /* SNAPSHOT_ROUTEs sent for snap_id */
};

struct rr_msg_rd_response {
    uint64_t req_id;
    struct rr_bytes coap; /* a response, token = the request's */
};

struct rr_msg_rd_notify {
    struct rr_peer peer;
    uint8_t confirmable;
    struct rr_bytes coap; /* a notification */
};

struct rr_msg_ep_request {
    uint64_t req_id;
    struct rr_peer path;
    struct rr_bytes coap; /* a request to the endpoint */
};

struct rr_msg_xfwd_request {
    uint64_t req_id;
    char host[RR_HOST_MAX];
    struct rr_bytes coap;
    uint8_t kind; /* enum rr_xfwd_kind: RR_XK_CON or RR_XK_NON */
};

struct rr_msg_xfwd_response {
    uint64_t req_id;
    uint8_t status;       /* enum rr_ep_status */
    struct rr_bytes coap; /* empty unless RR_EP_OK */
    uint8_t kind;         /* enum rr_xfwd_kind */
};

struct rr_msg_xfwd_cancel {
    uint64_t req_id;
};

#define RR_CTL_COMMAND_MAX 64
#define RR_CTL_ARGUMENT_MAX 256

struct rr_msg_ctl_request {
    char command[RR_CTL_COMMAND_MAX];
    char argument[RR_CTL_ARGUMENT_MAX];
};

struct rr_msg_ctl_response {
    uint8_t ok;
    struct rr_bytes text; /* a JSON object when ok, else a message */
};

#define RR_MSG_CODEC_DECL(name)                                                                    \
    int proto_enc_##name(struct wire_w *w, const struct rr_msg_##name *m);                         \
    int proto_dec_##name(struct wire_r *r, struct rr_msg_##name *m);

RR_MSG_CODEC_DECL(route_update)
RR_MSG_CODEC_DECL(heartbeat)
RR_MSG_CODEC_DECL(hello)
RR_MSG_CODEC_DECL(snapshot_req)
RR_MSG_CODEC_DECL(rd_request)
RR_MSG_CODEC_DECL(ep_response)
RR_MSG_CODEC_DECL(observe_gone)
RR_MSG_CODEC_DECL(reachability)
RR_MSG_CODEC_DECL(relay_status)
RR_MSG_CODEC_DECL(snapshot_route)
RR_MSG_CODEC_DECL(snapshot_end)
RR_MSG_CODEC_DECL(rd_response)
RR_MSG_CODEC_DECL(rd_notify)
RR_MSG_CODEC_DECL(ep_request)
RR_MSG_CODEC_DECL(xfwd_request)
RR_MSG_CODEC_DECL(xfwd_response)
RR_MSG_CODEC_DECL(xfwd_cancel)
RR_MSG_CODEC_DECL(ctl_request)
RR_MSG_CODEC_DECL(ctl_response)
#undef RR_MSG_CODEC_DECL

#endif
