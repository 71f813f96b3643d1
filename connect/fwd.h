/*
 * fwd.h - the transparent message-level CoAP forwarder that both
 * `rdrelay-connect serve` and `rdrelay-connect reach` run.
 *
 * Requests flow one way: from the "down" side (serve: rdrelay; reach: local
 * clients) to the single "up" peer (serve: the local server; reach: rdrelay).
 * Everything else - ACKs, RSTs, separate responses, Observe notifications -
 * is relayed back. Only the message id and the token are rewritten (each hop
 * has its own message-id space, and clients on the down side may pick the
 * same token); reach also replaces Uri-Host and drops Uri-Port. Every other
 * option (OSCORE, EDHOC, Block1/Block2, ETag, Max-Age, unknown options) and
 * the payload pass unchanged: blocks pass one by one, never reassembled.
 *
 * Owns three mapping tables (fixed size, allocated once):
 *  - exchanges: a request from the down side <-> its upstream message id;
 *    also deduplicates retransmitted requests (re-sends the cached answer or
 *    the forwarded request with the same upstream message id);
 *  - tokens: (down peer, down token) <-> upstream token, so separate
 *    responses and notifications find their way back; an RST from the down
 *    side or a final response releases it, idle ones expire;
 *  - notifications: an upstream CON/NON response <-> the message id it got
 *    on the down side, so the down side's ACK/RST reaches upstream and
 *    upstream retransmissions are not duplicated.
 * Talks to: the two sockets it is given (it only sends; the caller reads).
 */
#ifndef RDRELAY_CONNECT_FWD_H
#define RDRELAY_CONNECT_FWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct fwd_exchange;
struct fwd_token;
struct fwd_notif;

struct fwd_stats {
    uint64_t requests, retransmissions, responses, notifications, timeouts, dropped;
};

struct fwd {
    int down_fd, up_fd;
    struct rr_addr up_addr; /* the one upstream peer */
    const char *uri_host;   /* reach: Uri-Host to set on every request; NULL: untouched */
    unsigned timeout_ms;    /* no answer at all from upstream -> 5.04; 0 = off */
    uint16_t next_down_mid; /* message ids we give messages sent down */
    uint16_t next_up_mid;   /* message ids we give requests sent up */
    uint32_t next_token;    /* upstream tokens (4 bytes) */
    uint64_t last_down_tx;  /* when we last sent anything down (serve: keepalive) */
    uint64_t next_tick;     /* when fwd_tick has work next */
    struct fwd_exchange *ex;
    struct fwd_token *tok;
    struct fwd_notif *ntf;
    unsigned n_ex, n_tok, n_ntf;
    struct fwd_stats stats;
    /* When set, messages for the down side go here instead of sendto on
     * down_fd (serve over TCP: tcp.c turns them into RFC 8323 frames). */
    void (*down_send)(void *ctx, const uint8_t *buf, size_t len);
    void *down_ctx;
    /* The same for the up side (reach over a WebSocket: reach_ws.c). */
    void (*up_send)(void *ctx, const uint8_t *buf, size_t len);
    void *up_ctx;
};

/* What the forwarder did with a message from the down side. */
enum fwd_result {
    FWD_HANDLED = 0,  /* forwarded, answered or dropped on purpose */
    FWD_NOT_MINE = 1, /* an ACK/RST/response that is not part of any forwarded
                         exchange: serve's own registration traffic */
    FWD_ERROR = -1,   /* malformed, logged and dropped */
};

/* Allocate the tables. 0 / -1. */
int fwd_init(struct fwd *f, int down_fd, int up_fd, const struct rr_addr *up_addr);
void fwd_free(struct fwd *f);

/* A datagram from the down side (from = its sender). */
enum fwd_result fwd_on_down(struct fwd *f, const uint8_t *buf, size_t len,
                            const struct rr_addr *from, uint64_t now);
/* A datagram from the upstream peer. */
void fwd_on_up(struct fwd *f, const uint8_t *buf, size_t len, uint64_t now);

/* Timers: 5.04 for unanswered requests and expiry of table entries.
 * fwd_next_timer returns the next absolute time fwd_tick needs to run. */
void fwd_tick(struct fwd *f, uint64_t now);
uint64_t fwd_next_timer(const struct fwd *f, uint64_t now);

/* A message id for a message of the caller's own sent down (serve's
 * registration and pings), drawn from the same space as forwarded ones so
 * they never collide. */
uint16_t fwd_alloc_down_mid(struct fwd *f);

#endif
