/*
 * bench_loop.h - rdrelay-bench's measurement loop, shared by every
 * transport (bench_loop.c): the in-flight slots, the warm-up and the
 * recording window, the token that names slot and generation, timeouts,
 * and the accounting of each answer into struct result. A transport
 * (bench_udp.c: CoAP over UDP with CON/ACK, message ids and
 * retransmission; bench_stream.c: coap+tcp:// and coap+ws://, RFC 8323,
 * no message layer) only opens its sockets or connections, frames the
 * request template, puts it on the wire and hands each answer it reads to
 * bench_answer().
 * Owns: struct bench (one per run). Talks to: the transport through
 * struct bench_xport.
 */
#ifndef RDRELAY_BENCH_LOOP_H
#define RDRELAY_BENCH_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"
#include "coap_msg.h"

#define BENCH_MAX_INFLIGHT 4096
#define BENCH_MAX_SOCKETS 64
#define BENCH_TOKEN_LEN 8
#define BENCH_REQ_MAX 600 /* request template: path + host + header */

enum slot_state { SLOT_IDLE = 0, SLOT_WAIT, SLOT_ACKED };

struct slot {
    uint64_t t_first;  /* ns, first transmission (latency origin) */
    uint64_t t_sent;   /* ns, last (re)transmission */
    uint64_t deadline; /* ns, next retransmission or give-up time */
    uint32_t gen;      /* bumped for every new request in this slot */
    uint16_t mid;      /* UDP only */
    uint8_t retx;
    uint8_t state;    /* enum slot_state */
    uint8_t recorded; /* issued inside the window: its outcome counts */
    uint16_t sock;    /* the socket or connection it is sent on */
};

struct bench;

/* One transport. Every call is on the loop's thread; none blocks longer
 * than the connection setup in open (bounded by a timeout). */
struct bench_xport {
    const char *name; /* "udp", "tcp", "ws" */
    bool reliable;    /* no message ids, no retransmission (RFC 8323) */
    /* b->nconns sockets or connections, each added to b->epfd with
     * data.u32 = its index; 0 / -1 */
    int (*open)(struct bench *b);
    /* the request template in this transport's framing: b->req, req_len,
     * tok_off (where the 8 token bytes go); 0 / -1 */
    int (*tmpl)(struct bench *b, const struct coap_msg *m);
    /* queue slot idx's request (its token patched in) on its connection */
    void (*send)(struct bench *b, unsigned idx);
    /* connection conn is readable: read what is there, bench_answer()
     * each response */
    void (*readable)(struct bench *b, unsigned conn, uint64_t now);
    /* write what is queued */
    void (*flush)(struct bench *b);
    void (*close)(struct bench *b);
};

extern const struct bench_xport bench_xport_udp;
extern const struct bench_xport bench_xport_tcp;
extern const struct bench_xport bench_xport_ws;

/* One run against one target. */
struct bench {
    const struct bench_opts *o;
    const struct bench_xport *x;
    const struct rr_addr *target;
    const char *host; /* Uri-Host or NULL */
    int epfd;
    unsigned nconns; /* sockets (UDP) or connections (TCP, WS): -s */
    struct slot *slots;
    unsigned nslots;
    uint8_t req[BENCH_REQ_MAX]; /* request template; token (and mid) patched per send */
    size_t req_len;
    size_t tok_off;
    bool recording;
    bool issuing;
    uint64_t issued; /* recorded requests issued (for --count) */
    uint64_t last_done;
    struct result *r;
    void *xp; /* the transport's state */
};

/* Start the next request in a slot, or park it when issuing has stopped. */
void bench_slot_next(struct bench *b, unsigned idx, uint64_t now);
/* Count a finished request of slot idx and start the next one. */
void bench_slot_done(struct bench *b, unsigned idx, uint8_t code, uint64_t now);
/* The slot a response token names on connection conn, or -1 (counted as
 * dup) when it is late, duplicated or not ours. */
int bench_slot_by_token(struct bench *b, unsigned conn, const uint8_t *tok, uint8_t tkl);
/* Write the slot's token (index, generation) into 8 bytes. */
void bench_put_token(const struct bench *b, unsigned idx, uint8_t *t);
uint64_t bench_retx_timeout_ns(const struct bench *b, unsigned retx);

#endif
