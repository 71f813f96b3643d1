/*
 * stream.h - the connection-oriented half of the relay core: everything
 * relay-tcp and relay-ws do alike once a connection carries whole RFC 8323
 * messages (issue 16: nothing written twice). One struct st_relay (the
 * relay core embedded in it) per process; the transport embeds it and
 * plugs its I/O in through struct st_io (framing, write, release, close).
 * Each .c file owns one responsibility:
 *   stream_conn.c      the connection pool (allocated once for the maximum),
 *                      the connection-id index, the record of closed
 *                      connections, sending a message, and the close that
 *                      ends everything depending on a connection
 *   stream_transport.c the transport interface (struct relay_transport)
 *                      that plugs a stream relay into the core: timers,
 *                      counters, route changes and the reachability of the
 *                      routes on our connections, path state; st_main,
 *                      the start-up and shut-down both relays share
 *   stream_sig.c       glue to the shared RFC 8323 signalling module
 *                      (sig8323.c: CSM, Ping/Pong, Release, Abort, the
 *                      CSM / half-message / Pong deadlines, keepalive)
 *   stream_msgin.c     classification of every non-signal message (request
 *                      to the RD or the proxy, response to an upstream
 *                      exchange)
 *   stream_exch.c      the exchange arrays (downstream: a client's request;
 *                      upstream: a request we sent to a registrant) whose
 *                      slots and timers are the core's pools (dxpool.c,
 *                      uxpool.c), answering a client on its connection
 *   stream_rd.c        RD traffic: RD_REQUEST/RESPONSE, RD_NOTIFY,
 *                      OBSERVE_GONE (EP_REQUEST is the core's, answer.c)
 *   stream_proxy.c     name-based proxying: over a registrant's connection
 *                      (routes this relay holds) or through another relay
 *   (the XFWD holder and the outcome of upstream exchanges by origin are
 *   the core's: relay-core/answer.c, over ux_send / ux_end)
 * RFC 8323 has no message layer: no message ids, no ACKs, no
 * EMPTY_ACK_DELAY; a response goes back on the request's connection with
 * the request's token.
 *
 * Memory per connection (BRIEF §6: 10,000 concurrent registrants): one
 * struct st_conn (about 200 bytes, in a pool allocated once at start for
 * the maximum) plus what the transport keeps (relay-tcp: struct tcp_conn
 * and the kernel's socket buffers; relay-ws: libwebsockets' wsi). Nothing
 * else is allocated per connection, nor per request except the copy of an
 * RD request kept for re-sending it to rd-frontend.
 */
#ifndef RDRELAY_STREAM_H
#define RDRELAY_STREAM_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "clone_client.h"
#include "coap_msg.h"
#include "config.h"
#include "core.h"
#include "srccount.h"
#include "fwd_rules.h"
#include "handoff.h"
#include "proto.h"
#include "ratelog.h"
#include "sig8323.h"
#include "timerheap.h"

#define ST_NONE UINT32_MAX
#define ST_OBS_REQ_MAX 320 /* kept copy of an Observe request */
#define ST_TXBUF_SIZE (RR_PROTO_MAX_BODY + 64)

enum st_conn_state { RC_FREE = 0, RC_OPEN, RC_CLOSING };

/*
 * What the transport does for the stream layer. io is the transport's own
 * state (st_relay.ioa), ci the connection's slot.
 */
struct st_io {
    /* "TCP connection", "WebSocket": diagnostics and logs */
    const char *what;
    /* RFC 8323 framing: TCP (Length field) or WebSocket (none) */
    ssize_t (*serialize)(const struct coap_msg *m, uint8_t *buf, size_t cap);
    int (*parse)(const uint8_t *buf, size_t len, struct coap_msg *m);
    /* send one whole serialised message (queue what the peer does not
     * take); may close the connection (slow reader). 0 / -1 */
    int (*write)(void *io, uint32_t ci, const uint8_t *buf, size_t len);
    /* Release: close once the queued output is out */
    void (*release)(void *io, uint32_t ci, uint64_t now);
    /* the connection is closing (st_conn_close): free the transport's part
     * (descriptor, queues); why is the reason for the peer if it can get one */
    void (*closed)(void *io, uint32_t ci, const char *why);
    /* the transport's own counters for RELAY_STATUS; returns how many */
    unsigned (*counters)(void *io, struct rc_counter *out, unsigned max);
    /* optional: a timer of the transport's own (kind >= ST_T_IO) fired */
    void (*on_timer)(void *io, struct rr_timer *t, uint64_t now);
    /* optional: end of every loop iteration (relay-ws: run libwebsockets) */
    void (*flush)(void *io);
};

/* The limits every stream transport has (from its settings). */
struct st_limits {
    uint32_t max_conns;       /* connections (lowered to RLIMIT_NOFILE) */
    uint32_t max_message;     /* our Max-Message-Size */
    uint32_t max_inflight;    /* a connection's requests in flight */
    uint32_t timeout_ms;      /* no CSM / incomplete message -> Abort */
    uint32_t pong_timeout_ms; /* keepalive Ping unanswered -> close */
};

struct st_conn {
    uint8_t state;
    uint64_t id;         /* never reused (rc_conn_id_new) */
    uint32_t hnext;      /* id hash chain / free list */
    struct sig_conn sig; /* RFC 8323 signalling state (relay-core/sig8323.c) */
    struct rr_addr remote, local;
    uint16_t mux_port;                      /* accepted on this hosting port, 0 = name-based */
    uint16_t inflight;                      /* downstream exchanges of this connection */
    uint16_t nobs;                          /* RD observations of this client */
    bool src_over;                          /* over max_conns_per_source: Abort at open */
    bool released;                          /* SIGTERM: our Release is sent */
    bool busy;                              /* SIGTERM: upstream exchanges on it */
    uint8_t (*obs)[1 + COAP_MSG_MAX_TOKEN]; /* tkl + token each */
    struct rr_timer t;                      /* the signalling deadline */
};

/* Downstream exchange: a request a client sent us over a connection; the
 * common head and the pool are the relay core's (struct rc_dx). */
enum dx_state { DX_FREE = RC_DX_FREE, DX_WAIT = RC_DX_WAIT, DX_OBSERVE = RC_DX_OBSERVE };
enum dx_kind { DX_K_RD = RC_DX_K_RD, DX_K_PROXY = RC_DX_K_PROXY, DX_K_XFWD = RC_DX_K_XFWD };

struct st_dx {
    struct rc_dx h; /* state, kind, token, up, XFWD ids, t: RD re-send / XFWD timeout */
    uint32_t conn;
    uint64_t conn_id;
    uint8_t *req; /* RD request (datagram framing) for re-sends */
    uint32_t req_len;
};

/* Upstream exchange: a request we sent to a registrant over its
 * connection; the common head (with the upstream timeout h.t) and the pool
 * are the relay core's. */
enum ux_state {
    UX_FREE = RC_UX_FREE,
    UX_SENT = RC_UX_SENT,
    UX_OBSERVE = RC_UX_OBSERVE,
    UX_CANCEL = RC_UX_CANCEL,
};

struct st_ux {
    struct rc_ux h; /* state, origin, token check, requester, host, timeout */
    uint32_t conn;  /* the registrant's connection */
    uint64_t conn_id;
    uint16_t obs_len; /* the Observe request as sent (the transport's framing) */
    uint8_t obs_req[ST_OBS_REQ_MAX];
};

/* the exchanges' timers are the core's (RC_T_DX, RC_T_UX) */
enum st_timer_kind {
    ST_T_CONN = 1,
    ST_T_HANDOFF, /* the hosting connections' first-bytes deadline (handoff.h) */
    ST_T_IO       /* and up: the transport's */
};

/* Closed connections, for the "unreachable since" diagnostic. */
#define ST_GONE_SLOTS 4096
struct st_gone {
    uint64_t id, since_wall_ms;
};

/* What every stream transport counts (the rest: struct rc_counters; the
 * transport's own: st_io.counters). */
struct st_counters {
    uint64_t accepted, closed, too_big, bad_frames, slow_readers;
    uint64_t rx_msgs, tx_msgs, conn_refused;
    uint64_t conn_src_refused; /* over max_conns_per_source */
    struct sig_counters sig;
};

struct st_relay {
    struct relay_core core; /* loop, timers, ctl, xfwd sockets, core counters */
    struct rr_config cfg;
    struct relay_transport tp; /* the stream table with this transport's id */
    const struct st_io *io;
    void *ioa;
    struct st_limits lim;

    struct st_conn *conns;
    uint32_t nconns_max, nconns, conn_free;
    uint32_t *idb, nidb;      /* id hash buckets */
    struct srccount conn_src; /* open connections per source (srccount.h) */
    struct ratelog conn_src_log;
    uint8_t *txbuf; /* serialising scratch (ST_TXBUF_SIZE) */

    struct st_dx *dx;
    uint32_t ndx; /* the pool: r->core.dx */
    struct st_ux *ux;
    uint32_t nux; /* the pool: r->core.ux */

    struct st_gone gone[ST_GONE_SLOTS];
    struct st_counters c;
    struct rc_port_listeners plis; /* hosting ports (st_port_listeners) */
    struct rc_handoff hand;        /* one port number for coap+tcp and coap+ws */
};

/* stream_conn.c */
/* The pool for lim.max_conns (lowered to what RLIMIT_NOFILE allows, after
 * raising the soft limit to the hard one). 0 / -1. */
int st_conns_init(struct st_relay *r);
void st_conns_free(struct st_relay *r);
/* A new connection from remote to local: its slot (id, index, counted),
 * or ST_NONE when the pool is full (counted as refused). The transport
 * sets up its part, then calls st_sig_open. */
uint32_t st_conn_open(struct st_relay *r, const struct rr_addr *remote,
                      const struct rr_addr *local);
/* The open connection with that id, or ST_NONE. */
uint32_t st_conn_find(struct st_relay *r, uint64_t id);
/* Still the same open connection? */
bool st_conn_alive(struct st_relay *r, uint32_t ci, uint64_t id);
/* Serialise m in the transport's framing and send it; -1 when it exceeds the peer's
 * Max-Message-Size (nothing sent) or the connection failed. */
int st_conn_send_msg(struct st_relay *r, uint32_t ci, const struct coap_msg *m);
/* Close now and end everything that depended on the connection. */
void st_conn_close(struct st_relay *r, uint32_t ci, const char *why, uint64_t now);
/* When the connection with that id closed (wall ms), or 0 if unknown. */
uint64_t st_gone_since(const struct st_relay *r, uint64_t id);
/* The peer as rd-frontend sees it. */
void st_conn_peer(const struct st_relay *r, uint32_t ci, struct rr_peer *p);

/* stream_sig.c: glue to relay-core/sig8323.c */
/* A new connection: signalling state, our CSM, the first deadline. */
void st_sig_open(struct st_relay *r, uint32_t ci, uint64_t now);
void st_sig_abort(struct st_relay *r, uint32_t ci, const char *why, uint16_t bad_opt, uint64_t now);
/* A signalling message (code 7.xx) from the peer. */
void st_sig_on_message(struct st_relay *r, uint32_t ci, const struct coap_msg *m, uint64_t now);
/* Recompute the connection's next deadline. */
/* SIGTERM (the stream relays' tp->stop): listeners closed, Release on each
 * connection once nothing is in flight on it; a relay with listeners of
 * its own (relay-ws: TLS) closes them, then calls this. */
void st_stop(void *tp, bool final, uint64_t now);
/* SIGTERM: Release on connection ci (it stays open for answers due). */
void st_sig_release(struct st_relay *r, uint32_t ci);
void st_sig_rearm(struct st_relay *r, uint32_t ci);
void st_sig_on_timer(struct st_relay *r, uint32_t ci, uint64_t now);

/* stream_msgin.c: one whole message from a connection (the transport's
 * framing). */
void st_msg_on_message(struct st_relay *r, uint32_t ci, const uint8_t *buf, size_t len,
                       uint64_t now);

/* stream_exch.c */
int st_exch_init(struct st_relay *r);
void st_exch_free(struct st_relay *r);
uint32_t st_dx_alloc(struct st_relay *r, uint32_t ci, const struct coap_msg *req, uint64_t now);
void st_dx_release(struct st_relay *r, uint32_t i);
/* Answer a client: resp (any framing, already parsed) goes back with the
 * client's token; final ends the exchange. 0, or -1 if it could not be
 * sent (the exchange is ended then). */
int st_dx_answer(struct st_relay *r, uint32_t i, struct coap_msg *resp, bool final, uint64_t now);
int st_dx_answer_local(struct st_relay *r, uint32_t i, uint8_t code, const char *payload,
                       uint64_t now);
/* Release upstream exchange i (the core's ux_release). A free slot is
 * clean: rc_ux_take gives it out. */
void st_ux_release(void *tp, uint32_t i);
void st_exch_on_timer(struct st_relay *r, struct rr_timer *t, uint64_t now);
/* A request in datagram framing (type CON, message id 0) for rd-frontend or
 * another relay; returns the length or -1. */
ssize_t st_to_datagram(const struct coap_msg *m, uint8_t *buf, size_t cap);

/* stream_rd.c */
/* (a transport callback: rc_on_request) */
void st_rd_on_request(void *tp, uint32_t dxi, struct coap_msg *m, const uint8_t *raw, size_t n,
                      uint64_t now);
/* (re-)send RD_REQUEST for exchange dxi (a transport callback) */
void st_rd_send(void *tp, uint32_t dxi);
/* transport callbacks (relay-core/rd.c decodes) */
void st_rd_on_response(void *tp, uint32_t i, uint64_t req_id, const uint8_t *coap, size_t n,
                       uint64_t now);
void st_rd_on_notify(void *tp, const struct rr_peer *p, bool confirmable, const uint8_t *coap,
                     size_t n, uint64_t now);
/* The connection closed: tell rd-frontend about its observations. */
void st_rd_conn_gone(struct st_relay *r, uint32_t ci);

/* stream_proxy.c */
/* (a transport callback: rc_on_request) */
void st_proxy_on_request(void *tp, uint32_t dxi, struct coap_msg *m, const char *host,
                         uint64_t now);
/* A response from a registrant for upstream exchange uxi. */
void st_proxy_on_upstream(struct st_relay *r, uint32_t uxi, struct coap_msg *m, uint64_t now);
/* The client of an observation went away or cancelled. */
void st_proxy_end_observation(void *tp, uint32_t uxi, uint64_t now);
/* Send a request to a registrant over connection ci with our token. */
int st_ux_send_request(struct st_relay *r, uint32_t uxi, struct coap_msg *m, uint32_t ci,
                       uint64_t now);
/* XFWD_RESPONSE for one of our clients (transport callback). */
void st_proxy_on_xfwd_response(void *tp, int xp, uint32_t i, uint64_t req_id, uint8_t status,
                               const uint8_t *coap, size_t n, uint8_t kind, uint64_t now);

/* stream_transport.c */
/* rc_init for a stream relay of transport (enum rr_transport) named name,
 * with the transport's I/O and limits; then st_conns_init, st_exch_init.
 * 0 / -1. */
int st_init(struct st_relay *r, uint8_t transport, const char *name, const struct st_io *io,
            void *ioa, const struct st_limits *lim);
void st_free(struct st_relay *r);

/* What differs between the stream relays' start-up (relay-tcp, relay-ws
 * main.c): the command line, the transport and its I/O, where the
 * transport's limits are in the configuration, and the transport's own
 * steps. The transport's struct (size bytes, its struct st_relay at
 * s_offset) is allocated by st_main; ioa, the callbacks' argument, is it. */
struct st_program {
    const struct rc_cmdline *cmdline;
    uint8_t transport; /* enum rr_transport */
    const struct st_io *io;
    size_t size, s_offset;
    /* offsetof(struct rr_config, ...): the uint32_t connection and message
     * limits (tcp_max_inflight, tcp_timeout_ms, tcp_pong_timeout_ms are
     * every stream relay's) */
    size_t max_conns_offset, max_message_offset;
    /* after st_init: connections, listeners (may replace r->tp
     * callbacks). 0 / -1 */
    int (*open)(void *ioa);
    /* the started line's transport part ("2 listener(s)") */
    void (*describe)(void *ioa, char *buf, size_t len);
    /* before st_free: listeners, event loop; after it: the transport's
     * connection state. Both run after a failed open too. */
    void (*close)(void *ioa);
    void (*free)(void *ioa);
};
/* A stream relay's whole life: command line (--help, --version), signals,
 * st_init, the transport's open, ctl and XFWD sockets, HELLO, the core's
 * loop, then everything closed. The exit code: 0 clean stop (or --help),
 * 1 runtime failure (restart), 2 configuration error (do not restart). */
int st_main(const struct st_program *p, int argc, char **argv);
/* Port-based hosting: the hosting port listeners copy the addresses of
 * base (the transport's own listeners, opened) but those in skip (bit k);
 * porthost.c opens and closes them with the routes. 0 / -1. */
int st_port_listeners(struct st_relay *r, const struct rc_listeners *base, uint32_t skip);
/* A connection closed: its routes are unreachable now. */
void st_conn_routes_gone(struct st_relay *r, uint64_t conn_id, uint64_t since);
/* The diagnostic for a route whose connection is gone. */
void st_gone_diag(struct st_relay *r, uint64_t conn_id, char *buf, size_t len);

#endif
