/*
 * reach_ws.h - `rdrelay-connect reach --rd coap+ws://` (or coaps+ws://):
 * the forwarder's up side on one WebSocket to rdrelay-ws instead of a UDP
 * socket. Owns the connection (CSM, Ping/Pong, reconnect with backoff 1 s
 * .. 30 s when it is lost) and the message layer the forwarder expects
 * from a UDP peer: a request it sends up (CON or NON, its message id) goes
 * out as one frame without message layer; the first answer with that
 * request's token comes back to it as a piggybacked ACK with that message
 * id (NON for a NON request), later ones (notifications) as NON.
 * Retransmissions of a request still waiting are not sent again (the
 * connection is reliable); empty ACKs and RSTs the forwarder sends up are
 * dropped. Talks to: rdrelay-ws, and the forwarder (fwd_on_up).
 */
#ifndef RDRELAY_CONNECT_REACH_WS_H
#define RDRELAY_CONNECT_REACH_WS_H

#include <stdbool.h>
#include <stdint.h>

#include "connect.h"
#include "fwd.h"
#include "ws_client.h"

#define RW_PENDING 256

struct rw_pending {
    bool used, con;
    uint8_t tkl, token[8];
    uint16_t mid;
    uint64_t since;
};

struct reach_ws {
    const struct cn_uri *rd;
    const struct ws_tls_opts *tls;
    struct fwd *fwd;
    struct ws_conn conn; /* conn.fd -1: not connected */
    struct ws_rx rx;
    uint64_t next_connect, backoff_ms;
    uint16_t next_mid;
    struct rw_pending pend[RW_PENDING];
};

/* Set up (no connection yet: reach_ws_tick connects). */
void reach_ws_init(struct reach_ws *w, const struct cn_uri *rd, const struct ws_tls_opts *tls,
                   struct fwd *f);
/* Connect when due; drop answers waited for too long. */
void reach_ws_tick(struct reach_ws *w, uint64_t now);
/* The connection is readable. */
void reach_ws_read(struct reach_ws *w, uint64_t now);
/* The forwarder's up_send hook (ctx: the struct reach_ws). */
void reach_ws_up_send(void *ctx, const uint8_t *buf, size_t len);
void reach_ws_close(struct reach_ws *w);

#endif
