/*
 * handoff.h - one hosting port number for coap+tcp and coap+ws (issue 18):
 * a TCP port has one listener per address, so where tcp_listen and
 * ws_listen share an address (the defaults: 0.0.0.0 and [::]) relay-tcp
 * owns the hosting port and tells the two protocols apart by the first
 * bytes of each connection, looked at with MSG_PEEK so nothing is consumed:
 * an HTTP upgrade starts "GET ", a CoAP over TCP peer must send a CSM first
 * (RFC 8323 §5.3), whose code byte 0xE1 is never 'E'. A coap+tcp
 * connection goes on to relay-tcp's own accept; a WebSocket one is handed
 * to rdrelay-ws over a unix-domain SOCK_SEQPACKET socket in the state
 * directory (port_handoff_socket, 0600) with SCM_RIGHTS, and rdrelay-ws
 * adopts the descriptor into libwebsockets as if it had accepted it: its
 * local address (getsockname) is the hosting port, so it is a hosting
 * connection of that port's route there.
 * Sender (relay-tcp): a fixed pool of connections waiting for their first
 * bytes, each with a deadline (tcp_timeout_ms: a peer that stays silent is
 * closed, counted), at most max_conns_per_source of them per source; relay-ws down or the handoff
 * refused -> "HTTP/1.1 503" with a short body and close, logged rate-limited, counted. Receiver
 * (relay-ws): the listening unix socket and the connections of the relay-tcp processes that hand
 * over. No allocation after init; nothing here is on the per-request path.
 */
#ifndef RDRELAY_RC_HANDOFF_H
#define RDRELAY_RC_HANDOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "core.h"
#include "srccount.h"
#include "ratelog.h"

#define RC_HANDOFF_SNIFF_MAX 1024 /* connections waiting for their first bytes */
#define RC_HANDOFF_PEERS 8        /* relay-tcp processes handing over to one relay-ws */

struct rc_sniff {
    int fd; /* -1: free */
    uint32_t fnext;
    uint64_t due;   /* monotonic ms: silent until then -> closed */
    uint64_t src_h; /* counted in src under this hash */
    struct rc_handler h;
};

struct rc_handoff_counters {
    uint64_t sniff_tcp, sniff_ws, sniff_timeouts, sniff_closed, sniff_refused;
    uint64_t handed, failed_503; /* sender */
    uint64_t adopted, rx_bad;    /* receiver */
};

struct rc_handoff {
    struct relay_core *c;
    char path[256]; /* the unix socket (port_handoff_socket) */
    /* sender: connections on hosting ports, until their first bytes */
    void (*to_stream)(void *arg, int fd, uint64_t now); /* not WebSocket: ours */
    void *arg;
    struct rc_sniff *s;
    uint32_t ns, free, used, timeout_ms;
    struct srccount src; /* waiting connections per source (IPv4, IPv6 /64) */
    uint32_t per_source; /* most of them per source (max_conns_per_source), 0 = any */
    struct rr_timer t;   /* the earliest deadline */
    int tx;              /* connected to rdrelay-ws, -1 */
    struct ratelog fail_log;
    /* receiver: the listening socket and relay-tcp's connections */
    void (*adopt)(void *arg, int fd, uint64_t now);
    int lfd;
    struct rc_handler lh;
    int rx[RC_HANDOFF_PEERS];
    struct rc_handler rxh[RC_HANDOFF_PEERS];
    struct rc_handoff_counters n;
};

/* Nothing open (every descriptor -1); call once before anything else. */
void rc_handoff_reset(struct rc_handoff *h);
/* Sender: sniff what rc_handoff_sniff gets; coap+tcp goes to to_stream,
 * WebSocket to the receiver at path; at most per_source waiting from one
 * source (0: no limit); timer_kind is the timer the caller's on_timer
 * hands to rc_handoff_on_timer. 0 / -1. */
int rc_handoff_tx_init(struct rc_handoff *h, struct relay_core *c, const char *path,
                       uint32_t timeout_ms, uint32_t per_source, uint8_t timer_kind,
                       void (*to_stream)(void *arg, int fd, uint64_t now), void *arg);
/* A connection accepted on a hosting port (non-blocking): decided when its
 * first bytes are in (or closed on its deadline). */
void rc_handoff_sniff(struct rc_handoff *h, int fd, uint64_t now);
void rc_handoff_on_timer(struct rc_handoff *h, uint64_t now);
/* Receiver: listen at path (a stale socket there is replaced; 0600); each
 * descriptor handed over goes to adopt. 0 / -1 (logged). */
int rc_handoff_rx_open(struct rc_handoff *h, struct relay_core *c, const char *path,
                       void (*adopt)(void *arg, int fd, uint64_t now), void *arg);
/* SIGTERM: the receiver takes no more (relay-tcp answers 503 until the
 * next relay-ws listens); the sender's waiting connections go on. */
void rc_handoff_stop_rx(struct rc_handoff *h);
/* Everything closed (pending connections too). */
void rc_handoff_close(struct rc_handoff *h);
/* The counters for RELAY_STATUS (only the side in use); returns how many. */
unsigned rc_handoff_counters(const struct rc_handoff *h, struct rc_counter *f, unsigned max);
/* Pure: what the first n bytes of a hosting connection say. */
enum rc_sniff_verdict { RC_SNIFF_MORE = 0, RC_SNIFF_TCP, RC_SNIFF_WS };
enum rc_sniff_verdict rc_handoff_classify(const uint8_t *b, size_t n);

#endif
