/*
 * tcp_relay.h - the state of the rdrelay-tcp process (one struct rt_relay)
 * and the functions its files share. Each .c file owns one responsibility:
 *   main.c     command line, start and stop
 *   transport.c the transport interface (struct relay_transport) that plugs
 *              this relay into the relay core (relay-core/core.h: event
 *              loop, ctl, RD path protocol, proxy decision, XFWD sockets):
 *              timers, counters, route changes and the reachability of the
 *              routes on our connections, path state
 *   conn.c     listeners and connections: accept, non-blocking reads into
 *              whole RFC 8323 messages, the bounded output queue, close
 *              (and everything a close ends), the connection-id index
 *   sig.c      glue to the shared RFC 8323 signalling module
 *              (relay-core/sig8323.c: CSM, Ping/Pong, Release, Abort, the
 *              CSM / half-message / Pong deadlines and idle keepalive)
 *   msgin.c    classification of every non-signal message (request to the
 *              RD or the proxy, response to an upstream exchange)
 *   exch.c     exchange pools (downstream: a client's request; upstream: a
 *              request we sent to a registrant), relay tokens, timers
 *   rd_path.c  RD traffic: RD_REQUEST/RESPONSE, RD_NOTIFY, OBSERVE_GONE,
 *              EP_REQUEST/RESPONSE
 *   proxy.c    name-based proxying: over a registrant's connection (routes
 *              this relay holds) or through another relay (XFWD requester)
 *   xfwd.c     the XFWD holder side over the core's ROUTER: other relays'
 *              requests for routes on our connections
 * TCP has no message layer: no message ids, no ACKs, no EMPTY_ACK_DELAY; a
 * response goes back on the request's connection with the request's token.
 *
 * Memory per connection (BRIEF §6: 10,000 concurrent registrants): one
 * struct rt_conn (about 400 bytes, in a pool allocated once at start for
 * max connections) plus the kernel's socket buffers. Input is read into one
 * relay-wide buffer; only the bytes of an incomplete message are kept per
 * connection (at most our Max-Message-Size, freed when the message
 * completes), and only output the peer has not taken yet is queued per
 * connection (at most tcp_outq_max, then the slow reader is dropped).
 * Nothing else is allocated per connection, nor per request except the copy
 * of an RD request kept for re-sending it to rd-frontend.
 */
#ifndef RDRELAY_RT_TCP_RELAY_H
#define RDRELAY_RT_TCP_RELAY_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "clone_client.h"
#include "coap_msg.h"
#include "config.h"
#include "core.h"
#include "proto.h"
#include "sig8323.h"
#include "tcp_rules.h"
#include "timerheap.h"

#define RT_NONE UINT32_MAX
#define RT_MAX_LISTEN 16
/* The limits are settings (config.c: tcp_max_message, tcp_outq_max,
 * tcp_max_conns, tcp_max_inflight, tcp_pong_timeout_ms). */
#define RT_OBS_REQ_MAX 320 /* kept copy of an Observe request */
#define RT_TXBUF_SIZE (RR_PROTO_MAX_BODY + 64)

enum rt_conn_state { RC_FREE = 0, RC_OPEN, RC_CLOSING };

struct rt_conn {
    uint8_t state;
    bool want_write; /* EPOLLOUT registered */
    int fd;
    struct rc_handler h; /* in the core's fd registry */
    uint64_t id;         /* never reused (rc_conn_id_new) */
    uint32_t hnext;      /* id hash chain / free list */
    struct sig_conn sig; /* RFC 8323 signalling state (relay-core/sig8323.c) */
    struct rr_addr remote, local;
    uint8_t *in; /* bytes of an incomplete message */
    uint32_t in_len;
    uint8_t *out; /* output the kernel did not take yet */
    uint32_t out_off, out_len, out_cap;
    uint16_t mux_port;                      /* accepted on this hosting port, 0 = name-based */
    uint16_t inflight;                      /* downstream exchanges of this connection */
    uint16_t nobs;                          /* RD observations of this client */
    uint8_t (*obs)[1 + COAP_MSG_MAX_TOKEN]; /* tkl + token each */
    struct rr_timer t;                      /* the signalling deadline */
};

/* Downstream exchange: a request a client sent us over a connection. */
enum dx_state { DX_FREE = 0, DX_WAIT, DX_OBSERVE };
enum dx_kind { DX_K_RD = 1, DX_K_PROXY, DX_K_XFWD };

struct rt_dx {
    uint8_t state, kind, tkl;
    bool observe_req; /* the request registered an observation */
    uint8_t token[COAP_MSG_MAX_TOKEN];
    uint32_t conn;
    uint64_t conn_id;
    uint64_t req_id; /* RD_REQUEST / XFWD_REQUEST id */
    uint32_t up;     /* upstream exchange (local proxy), RT_NONE */
    uint8_t xpeer;   /* holder relay (XFWD) */
    uint8_t *req;    /* RD request (datagram framing) for re-sends */
    uint32_t req_len;
    uint64_t start_ms;
    uint32_t fnext;
    struct rr_timer t; /* RD re-send, or the XFWD timeout */
};

/* Upstream exchange: a request we sent to a registrant over its
 * connection; the common head and the pool are the relay core's. */
enum ux_state { UX_FREE = RC_UX_FREE, UX_SENT = RC_UX_SENT, UX_OBSERVE, UX_CANCEL };

struct rt_ux {
    struct rc_ux h; /* state, origin, token check, requester, host */
    uint32_t conn;  /* the registrant's connection */
    uint64_t conn_id;
    uint16_t obs_len; /* the Observe request as sent (TCP framing) */
    uint8_t obs_req[RT_OBS_REQ_MAX];
    struct rr_timer t; /* upstream timeout */
};

enum rt_timer_kind { RT_T_CONN = 1, RT_T_DX, RT_T_UX };

/* Closed connections, for the "unreachable since" diagnostic. */
#define RT_GONE_SLOTS 4096
struct rt_gone {
    uint64_t id, since_wall_ms;
};

/* What only the TCP transport counts (the rest: struct rc_counters). */
struct rt_counters {
    uint64_t accepted, closed, too_big, bad_frames, slow_readers;
    uint64_t rx_msgs, tx_msgs, conn_refused;
    struct sig_counters sig;
};

/* A hosting port listener (port-based hosting), one per (port, tcp_listen
 * address): slot (port - port_lo) * nlisten + k, fd -1 while closed. */
struct rt_plisten {
    int fd;
    uint16_t port;
    struct rc_handler h;
};

struct rt_relay {
    struct relay_core core; /* loop, timers, ctl, xfwd sockets, core counters */
    struct rr_config cfg;

    int lfd[RT_MAX_LISTEN];
    struct rc_handler lh[RT_MAX_LISTEN];
    struct rr_addr lbound[RT_MAX_LISTEN];
    int nlisten;
    struct rt_plisten *pl; /* hosting port listeners */
    uint32_t npl;

    struct rt_conn *conns;
    uint32_t nconns_max, nconns, conn_free;
    uint32_t *idb, nidb; /* id hash buckets */
    uint8_t *rbuf, *txbuf, *txbuf2;
    size_t rbuf_size;

    struct rt_dx *dx;
    uint32_t ndx, dx_free, dx_used;
    struct rt_ux *ux;
    uint32_t nux; /* the pool: r->core.ux */

    struct rt_gone gone[RT_GONE_SLOTS];
    struct rt_counters c;
};

/* conn.c */
int rt_listen_all(struct rt_relay *r);
void rt_listen_close(struct rt_relay *r);
/* Hosting port listeners on every tcp_listen address (transport callbacks
 * port_open / port_close). 0 / -1. */
int rt_port_open(void *tp, uint16_t port);
void rt_port_close(void *tp, uint16_t port);
int rt_conns_init(struct rt_relay *r);
void rt_conns_free(struct rt_relay *r);
/* Put the listeners in the core's fd registry (connections go in as
 * they are accepted). 0 / -1. */
int rt_attach(struct rt_relay *r);
/* The open connection with that id, or RT_NONE. */
uint32_t rt_conn_find(struct rt_relay *r, uint64_t id);
/* Still the same open connection? */
bool rt_conn_alive(struct rt_relay *r, uint32_t ci, uint64_t id);
/* Queue bytes (one or more whole messages); may close a slow reader. 0/-1. */
int rt_conn_write(struct rt_relay *r, uint32_t ci, const void *buf, size_t len);
/* Serialise m in TCP framing and send it; -1 when it exceeds the peer's
 * Max-Message-Size (nothing sent) or the connection failed. */
int rt_conn_send_msg(struct rt_relay *r, uint32_t ci, const struct coap_msg *m);
/* Close now and end everything that depended on the connection. */
void rt_conn_close(struct rt_relay *r, uint32_t ci, const char *why, uint64_t now);
/* Close after the queued output has gone out (Release). */
void rt_conn_close_after_flush(struct rt_relay *r, uint32_t ci, uint64_t now);
/* When the connection with that id closed (wall ms), or 0 if unknown. */
uint64_t rt_gone_since(const struct rt_relay *r, uint64_t id);
/* The peer as rd-frontend sees it. */
void rt_conn_peer(const struct rt_relay *r, uint32_t ci, struct rr_peer *p);

/* sig.c: glue to relay-core/sig8323.c */
/* A new connection: signalling state, our CSM, the first deadline. */
void rt_sig_open(struct rt_relay *r, uint32_t ci, uint64_t now);
void rt_sig_abort(struct rt_relay *r, uint32_t ci, const char *why, uint16_t bad_opt, uint64_t now);
/* A signalling message (code 7.xx) from the peer. */
void rt_sig_on_message(struct rt_relay *r, uint32_t ci, const struct coap_msg *m, uint64_t now);
/* Recompute the connection's next deadline. */
void rt_sig_rearm(struct rt_relay *r, uint32_t ci);
void rt_sig_on_timer(struct rt_relay *r, uint32_t ci, uint64_t now);

/* msgin.c: one whole message from a connection (buf is TCP framing). */
void rt_msg_on_message(struct rt_relay *r, uint32_t ci, const uint8_t *buf, size_t len,
                       uint64_t now);

/* exch.c */
int rt_exch_init(struct rt_relay *r);
void rt_exch_free(struct rt_relay *r);
uint32_t rt_dx_alloc(struct rt_relay *r, uint32_t ci, const struct coap_msg *req, uint64_t now);
void rt_dx_release(struct rt_relay *r, uint32_t i);
/* Answer a client: resp (any framing, already parsed) goes back with the
 * client's token; final ends the exchange. 0, or -1 if it could not be
 * sent (the exchange is ended then). */
int rt_dx_answer(struct rt_relay *r, uint32_t i, struct coap_msg *resp, bool final, uint64_t now);
int rt_dx_answer_local(struct rt_relay *r, uint32_t i, uint8_t code, const char *payload,
                       uint64_t now);
uint32_t rt_ux_alloc(struct rt_relay *r);
void rt_ux_release(struct rt_relay *r, uint32_t i);
void rt_exch_on_timer(struct rt_relay *r, struct rr_timer *t, uint64_t now);
/* A request in datagram framing (type CON, message id 0) for rd-frontend or
 * another relay; returns the length or -1. */
ssize_t rt_to_datagram(const struct coap_msg *m, uint8_t *buf, size_t cap);

/* rd_path.c */
/* (a transport callback: rc_on_request) */
void rt_rd_on_request(void *tp, uint32_t dxi, struct coap_msg *m, const uint8_t *raw, size_t n,
                      uint64_t now);
void rt_rd_resend(struct rt_relay *r, uint32_t dxi, uint64_t now);
/* transport callbacks (relay-core/rd.c decodes) */
void rt_rd_on_response(void *tp, uint32_t i, uint64_t req_id, const uint8_t *coap, size_t n,
                       uint64_t now);
void rt_rd_on_notify(void *tp, const struct rr_peer *p, bool confirmable, const uint8_t *coap,
                     size_t n, uint64_t now);
void rt_rd_on_ep_request(void *tp, uint64_t req_id, const struct rr_peer *path, struct coap_msg *m,
                         uint64_t now);
void rt_rd_ep_answer(struct rt_relay *r, uint32_t uxi, uint8_t status, const struct coap_msg *m);
/* The connection closed: tell rd-frontend about its observations. */
void rt_rd_conn_gone(struct rt_relay *r, uint32_t ci);

/* proxy.c */
/* (a transport callback: rc_on_request) */
void rt_proxy_on_request(void *tp, uint32_t dxi, struct coap_msg *m, const char *host,
                         uint64_t now);
/* A response from a registrant for upstream exchange uxi. */
void rt_proxy_on_upstream(struct rt_relay *r, uint32_t uxi, struct coap_msg *m, uint64_t now);
void rt_proxy_on_upstream_fail(struct rt_relay *r, uint32_t uxi, uint8_t code, const char *why,
                               uint64_t now);
/* The client of an observation went away or cancelled. */
void rt_proxy_end_observation(struct rt_relay *r, uint32_t uxi, uint64_t now);
/* Send a request to a registrant over connection ci with our token. */
int rt_ux_send_request(struct rt_relay *r, uint32_t uxi, struct coap_msg *m, uint32_t ci,
                       uint64_t now);
/* XFWD_RESPONSE for one of our clients (transport callback). */
void rt_proxy_on_xfwd_response(void *tp, int xp, uint32_t i, uint64_t req_id, uint8_t status,
                               const uint8_t *coap, size_t n, uint8_t kind, uint64_t now);

/* xfwd.c: the holder side (transport callbacks) */
void rt_xfwd_on_request(void *tp, const struct rc_xreq *x, struct coap_msg *m,
                        const struct rr_route *route, uint64_t now);
void rt_xfwd_on_cancel(void *tp, const struct rc_xreq *x, uint64_t now);
/* XFWD_RESPONSE to the requester of an upstream exchange (origin XFWD). */
void rt_xfwd_answer(struct rt_relay *r, uint32_t uxi, uint8_t status, const struct coap_msg *m);

/* transport.c */
extern const struct relay_transport rt_transport;
/* rc_init for this relay (name tcp_relay_name). 0 / -1. */
int rt_core_init(struct rt_relay *r);
/* A connection closed: its routes are unreachable now. */
void rt_conn_routes_gone(struct rt_relay *r, uint64_t conn_id, uint64_t since);
/* The diagnostic for a route whose connection is gone. */
void rt_gone_diag(struct rt_relay *r, uint64_t conn_id, char *buf, size_t len);

#endif
