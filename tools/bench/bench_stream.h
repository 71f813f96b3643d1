/*
 * bench_stream.h - one CoAP connection of rdrelay-bench over TCP (RFC 8323
 * §3) or WebSocket (§4, common/ws_client.h): connect (and the WebSocket
 * handshake) bounded by a timeout, our CSM first, then a non-blocking
 * byte queue out and a decoder in that hands each CoAP message to a
 * callback; CSM is taken, Ping answered with Pong, Release and Abort end
 * the connection. Used by the proxied-GET transport (bench_stream.c) and
 * the connection-scale scenario (bench_conns.c).
 * Owns: the socket, its queues. Talks to: one loopback peer.
 */
#ifndef RDRELAY_BENCH_STREAM_H
#define RDRELAY_BENCH_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "coap_msg.h"
#include "ws_client.h"

struct sconn {
    bool ws;
    bool dead;
    struct ws_conn wc; /* the socket (wc.fd), TCP or WebSocket */
    struct ws_rx rx;   /* WebSocket frames in */
    uint8_t *in;       /* TCP bytes in */
    size_t in_len, in_cap;
    uint8_t *out; /* framed bytes not yet written, from out_off */
    size_t out_off, out_len, out_cap;
};

/* Connect to a, do the WebSocket handshake when ws, queue our CSM; the
 * socket is non-blocking afterwards. out_cap: the output queue's size.
 * 0 / -1 (logged). */
int sconn_open(struct sconn *c, bool ws, const struct rr_addr *a, size_t out_cap);
void sconn_close(struct sconn *c);
/* Room for len framed bytes at the end of the output queue (NULL: full). */
uint8_t *sconn_reserve(struct sconn *c, size_t len);
/* Frame m and queue it. 0 / -1 (queue full). */
int sconn_queue(struct sconn *c, const struct coap_msg *m);
/* Frame m into buf (TCP form, or a masked WebSocket frame with a zero mask
 * so that bytes can be patched in place); *msg_off = where the CoAP
 * message starts. Length, or -1. */
ssize_t sconn_frame(bool ws, const struct coap_msg *m, uint8_t *buf, size_t cap, size_t *msg_off);
/* Write what is queued (as much as the socket takes). -1: connection lost. */
int sconn_flush(struct sconn *c);
/* Read what the socket has and call fn for each CoAP message other than a
 * signal. -1: the connection closed or broke (c->dead set). */
typedef void (*sconn_msg_fn)(void *arg, struct sconn *c, const struct coap_msg *m);
int sconn_read(struct sconn *c, sconn_msg_fn fn, void *arg);

#endif
