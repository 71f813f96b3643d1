/*
 * core.h - the relay core: what every rdrelay relay does whatever its
 * transport (BRIEF §3.1, issue 16), in one struct relay_core embedded in
 * the transport's own state, and the transport interface (struct
 * relay_transport, a table of callbacks) through which the core hands a
 * transport what it cannot do itself. Each .c file owns one part:
 *   loop.c   the event loop: epoll as the run-time fd registry (transports
 *            add/remove UDP sockets, TCP listeners and connections with a
 *            callback each), every ZeroMQ socket's ZMQ_FD, the timer heap,
 *            the clone client tick, RELAY_STATUS and signal flags
 *   ctl.c    the DEALER to rd-frontend, the clone client (route SUB),
 *            HELLO, RELAY_STATUS (core counters + the transport's),
 *            dispatch of rd-frontend's messages, route-table changes,
 *            REACHABILITY
 *   rd.c     the RD path's protocol: RD_REQUEST (ids, re-send verdicts),
 *            RD_RESPONSE, RD_NOTIFY, EP_REQUEST/EP_RESPONSE, OBSERVE_GONE
 *   xfwd.c   cross-transport forwarding: our ROUTER (holder side) and the
 *            DEALERs to other relays (requester side), XFWD ids, the one
 *            status -> CoAP code mapping
 *   proxy.c  the proxy decision (route lookup, "is this route ours",
 *            is its path down, option checks and Hop-Limit from
 *            common/fwd_rules), diagnostics with RFC 3339 times
 *   ids.c    token check values, RD/XFWD request ids, connection ids
 *   porthost.c port-based virtual hosting: hosting port -> route, the
 *            transport's port listeners opened/closed with the routes
 *   portlisten.c the hosting port listeners of the stream relays
 *   resend.c one-shot messages to rd-frontend (REACHABILITY, OBSERVE_GONE,
 *            EP_RESPONSE) kept and re-sent while the DEALER's high-water
 *            mark refuses them
 *   slotpool.c the one free list of a fixed slot array (both pools)
 *   uxpool.c the upstream exchange pool (on slotpool, relay tokens)
 *   dxpool.c the downstream exchange pool (on slotpool, observations), the
 *            core timer of a downstream exchange (RD re-send, XFWD
 *            requester timeout) and the RD request's start
 *   answer.c where an upstream exchange's outcome goes, by origin (EP ->
 *            EP_RESPONSE, XFWD -> XFWD_RESPONSE, proxy -> the client's
 *            downstream exchange), its timeout, the holder's XFWD_REQUEST
 *            / XFWD_CANCEL and EP_REQUEST, and the requester's vetting of
 *            an XFWD_RESPONSE
 *   metrics.c the Prometheus listener (metrics_listen, common/http_min.h)
 *            in the fd registry; renders what RELAY_STATUS reports plus
 *            requests by kind and method and responses by source and code
 * The exchange arrays are the transport's (each entry begins with the
 * core's head, struct rc_dx / struct rc_ux; the rest is UDP's message
 * layer or TCP's connection); the core's pools hand out their slots and
 * the core refers to them by slot number in ids and callbacks. Nothing here
 * allocates per request: buffers are sized once in rc_init.
 */
#ifndef RDRELAY_RELAY_CORE_H
#define RDRELAY_RELAY_CORE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "addr.h"
#include "clone_client.h"
#include "ratelimit.h"
#include "coap_msg.h"
#include "config.h"
#include "proto.h"
#include "slotpool.h"
#include "timerheap.h"

struct rr_msg_relay_status;

#define RC_NONE UINT32_MAX
#define RC_RD_RESEND_MS 1000  /* re-send RD_REQUEST while unanswered */
#define RC_RD_GIVEUP_MS 60000 /* then 5.03 */
#define RC_STATUS_INTERVAL_MS 5000
#define RC_RESEND_RETRY_MS 100         /* a one-shot the high-water mark refused: again */
#define RC_RESEND_MAX_BYTES (8u << 20) /* and what they may hold together */
#define RC_XF_HWM 100000
#define RC_MAX_COUNTERS 96
/* Timer kinds of the core's own timers in the transport's exchanges (the
 * loop handles them; a transport's own kinds stay below RC_T_FIRST). */
#define RC_T_FIRST 200
#define RC_T_DX 200 /* struct rc_dx.t: RD re-send, XFWD requester timeout */
#define RC_T_UX 201 /* struct rc_ux.t: upstream timeout (5.04) */

/* One registered file descriptor: the owner embeds it (an exchange-free
 * object that lives as long as the fd) and is found again from it. */
struct rc_handler {
    void (*fn)(struct rc_handler *h, uint32_t events, uint64_t now);
    void *arg;
    uint32_t idx;
};

/* A counter in RELAY_STATUS. */
struct rc_counter {
    const char *name;
    uint64_t v;
};

enum rc_req_kind { RC_REQ_RD = 0, RC_REQ_PROXY, RC_REQ_LOCAL, RC_REQ_KINDS };
/* endpoint: relayed from an endpoint (rc_proxy_check_response); rd: from
 * rd-frontend; relay: made by the core (4.02, 5.02, 5.05, 5.08 ...) */
enum rc_resp_src { RC_RESP_ENDPOINT = 0, RC_RESP_RD, RC_RESP_RELAY, RC_RESP_SRCS };

/* What the core counts itself (every transport the same way). */
struct rc_counters {
    uint64_t hwm_drops;
    uint64_t rd_requests, rd_responses, rd_resends, rd_giveups, rd_notify, ep_requests;
    uint64_t proxied, proxy_responses, proxy_5_02, proxy_5_04, proxy_5_05, no_slot;
    uint64_t observations, xfwd_out, xfwd_in, xfwd_refused;
    uint64_t port_requests, ports_open;
    uint64_t resend_queued, resend_sent, resend_dropped; /* resend.c */
    /* client requests by kind (enum rc_req_kind) and method (0.01..0.07;
     * 0 = any other code), counted once in rc_on_request */
    uint64_t req[RC_REQ_KINDS][8];
    /* responses by source (enum rc_resp_src) and code byte */
    uint64_t resp[RC_RESP_SRCS][256];
};

/* One-shot messages waiting for the DEALER's high-water mark (resend.c). */
struct rc_resend_item {
    uint16_t type;
    uint32_t len;
    uint8_t *body;
};
struct rc_resend {
    struct rc_resend_item *q; /* ring of cap (ctl_resend_max) */
    uint32_t cap, head, n;
    size_t bytes;     /* bodies held (at most RC_RESEND_MAX_BYTES) */
    uint64_t next_ms; /* next retry (0: at the next iteration) */
};

/* An XFWD_REQUEST or XFWD_CANCEL as the holder receives it. */
struct rc_xreq {
    const uint8_t *id; /* the requester's routing id (1..RR_RELAY_NAME_MAX bytes) */
    size_t idlen;
    uint64_t req_id;
    const char *host;
    size_t coap_len; /* the request's size in datagram framing (requester's token) */
};

/*
 * The transport interface. The core calls these; every pointer may be NULL
 * where a transport has nothing to do. tp is the transport's own state.
 */
struct relay_transport {
    uint8_t transport; /* enum rr_transport: HELLO, "is this route ours" */
    /* a timer of the transport's fired (the core owns the heap) */
    void (*on_timer)(void *tp, struct rr_timer *t, uint64_t now);
    /* end of every loop iteration (UDP: send the queued datagrams) */
    void (*flush)(void *tp);
    /* every loop iteration after the timers (UDP: keepalive sweep) */
    void (*tick)(void *tp, uint64_t now);
    /* the transport's counters for RELAY_STATUS; returns how many */
    unsigned (*counters)(void *tp, struct rc_counter *out, unsigned max);
    /* the route table changed (after the core's own handling); new_frontend:
     * a new rd-frontend epoch was swapped in */
    void (*route_change)(void *tp, const struct rr_route *old_rt, const struct rr_route *new_rt,
                         bool swapped, bool new_frontend);
    /* a client's request, after rc_on_request classified it: for the RD
     * (raw: the request as received, datagram framing on UDP), or for the
     * proxied host (normalised); answer: end the client's exchange slot
     * with a locally made response (code, diagnostic payload) */
    void (*rd_request)(void *tp, uint32_t slot, struct coap_msg *m, const uint8_t *raw, size_t n,
                       uint64_t now);
    void (*proxy_request)(void *tp, uint32_t slot, struct coap_msg *m, const char *host,
                          uint64_t now);
    void (*answer)(void *tp, uint32_t slot, uint8_t code, const char *diag, uint64_t now);
    /* is the path of one of our routes down? true + diag (why, since when) */
    bool (*path_down)(void *tp, const struct rr_route *rt, char *diag, size_t len);
    /* RD_RESPONSE for downstream slot (from req_id), raw datagram framing;
     * only while the slot waits for that very request (the core checks) */
    void (*rd_response)(void *tp, uint32_t slot, uint64_t req_id, const uint8_t *coap, size_t n,
                        uint64_t now);
    /* RD_NOTIFY: deliver a notification to the observer p */
    void (*rd_notify)(void *tp, const struct rr_peer *p, bool confirmable, const uint8_t *coap,
                      size_t n, uint64_t now);
    /* EP_REQUEST: send m to the endpoint over path; answer rc_send_ep_response */
    void (*ep_request)(void *tp, uint64_t req_id, const struct rr_peer *path, struct coap_msg *m,
                       uint64_t now);
    /* holder: XFWD_REQUEST for route (ours, vetted by the requester) */
    void (*xfwd_request)(void *tp, const struct rc_xreq *x, struct coap_msg *m,
                         const struct rr_route *route, uint64_t now);
    /* port-based hosting (porthost.c): open / close the transport's
     * listeners on hosting port `port` (every listen address); open 0 / -1.
     * A request arriving there goes to rc_port_request. */
    int (*port_open)(void *tp, uint16_t port);
    void (*port_close)(void *tp, uint16_t port);
    /* holder: XFWD_CANCEL */
    void (*xfwd_cancel)(void *tp, const struct rc_xreq *x, uint64_t now);
    /* requester: XFWD_RESPONSE for downstream slot (from req_id); a
     * transport vets it with rc_xfwd_response_vet first */
    void (*xfwd_response)(void *tp, int xp, uint32_t slot, uint64_t req_id, uint8_t status,
                          const uint8_t *coap, size_t n, uint8_t kind, uint64_t now);

    /* ---- the exchanges (dxpool.c, answer.c) ---- */
    /* (re-)send RD_REQUEST for downstream slot (the transport keeps the
     * request: datagram on UDP, a copy on TCP) */
    void (*rd_send)(void *tp, uint32_t slot);
    /* do downstream slots a and b belong to the same client (peer address
     * on UDP, connection on TCP)? */
    bool (*same_client)(void *tp, uint32_t a, uint32_t b);
    /* send m upstream for exchange ui over path (relay token, the
     * transport's framing); m->type is CON or NON. 0 sent; 1 answered or
     * dealt with by the transport (UDP: a body split in blocks, or 4.13),
     * -1 no way to send (the core answers UNREACHABLE and releases).
     * With it, ep_request / xfwd_request / xfwd_cancel may be NULL: the
     * core does the rest (answer.c). */
    int (*ux_send)(void *tp, uint32_t ui, struct coap_msg *m, const struct rr_peer *path,
                   uint64_t now);
    /* release upstream exchange ui (stop what the transport runs for it,
     * then rc_ux_put) */
    void (*ux_release)(void *tp, uint32_t ui);
    /* end upstream exchange ui at the endpoint: an observation (or a
     * pending Observe 0 request) is deregistered, anything else released */
    void (*ux_end)(void *tp, uint32_t ui, uint64_t now);

    /* ---- signals (loop.c) ---- */
    /* SIGHUP: the core reloaded c->cfg; re-read what the transport copied
     * at start (NULL: it reads the configuration on every use) */
    void (*reload)(void *tp);
    /* SIGTERM: stop taking new work (stream: listeners closed, Release on
     * every connection once nothing is in flight on it); called on every
     * iteration while the core lets the exchanges in flight finish, with
     * final set on the last one (deadline or nothing left) */
    void (*stop)(void *tp, bool final, uint64_t now);
};

/* Where an upstream exchange came from (what its answer goes to). */
enum rc_ux_origin {
    UX_O_PROXY = 0, /* one of our clients (downstream exchange dx) */
    UX_O_EP,        /* rd-frontend's EP_REQUEST -> EP_RESPONSE */
    UX_O_XFWD,      /* another relay's XFWD_REQUEST -> XFWD_RESPONSE */
};
#define RC_UX_FREE 0 /* state values every transport shares; more are its own */
#define RC_UX_SENT 1
#define RC_UX_OBSERVE 2 /* an observation: notifications keep coming */
#define RC_UX_CANCEL 3  /* deregistering (GET with Observe 1) */

/*
 * The common head of every transport's upstream exchange (a request we sent
 * to an endpoint under a relay token = slot + check): the transport's
 * struct begins with it, the pool (c->ux, a struct rc_slotpool) hands out slots.
 */
struct rc_ux {
    uint8_t state;    /* RC_UX_FREE, RC_UX_SENT, then the transport's states */
    uint8_t origin;   /* enum rc_ux_origin */
    bool observe_req; /* the request registered an observation (Observe 0) */
    uint8_t ep_tkl;   /* the requester's token (EP, XFWD) */
    uint8_t xid_len;  /* XFWD: the requesting relay's routing id */
    uint32_t check;   /* token check value */
    uint32_t dx;      /* downstream exchange (proxy), RC_NONE */
    uint32_t fnext;   /* free list (slotpool.h) */
    uint64_t req_id;  /* EP_REQUEST / XFWD_REQUEST id */
    uint8_t ep_token[COAP_MSG_MAX_TOKEN];
    uint8_t xid[RR_RELAY_NAME_MAX];
    char host[RR_HOST_MAX]; /* route name, for logs and reachability */
    uint32_t xlen;          /* XFWD: the request's size at the requester */
    uint64_t ep_h;          /* counted in lim.live_ep under this hash, 0 = not */
    struct rr_timer t;      /* upstream timeout (RC_T_UX: 5.04) */
};

/* States of a downstream exchange every transport shares; more are its own
 * (UDP: a separate response in flight, an RD notification). */
#define RC_DX_FREE 0
#define RC_DX_WAIT 1    /* the client waits for an answer */
#define RC_DX_OBSERVE 2 /* an observation: notifications go to the client */
/* What a downstream exchange is for. */
enum rc_dx_kind {
    RC_DX_K_LOCAL = 0, /* answered here */
    RC_DX_K_RD,        /* for the RD: RD_REQUEST, re-sent (t) */
    RC_DX_K_PROXY,     /* proxied over one of our paths (up) */
    RC_DX_K_XFWD,      /* proxied through another relay (xpeer, req_id, t) */
    RC_DX_K_NOTIFY,    /* UDP: an RD notification being delivered */
};

/*
 * The common head of every transport's downstream exchange (a client's
 * request in flight, under the client's token): the transport's struct
 * begins with it, the pool (c->dx, a struct rc_slotpool) hands out slots.
 */
struct rc_dx {
    uint8_t state;    /* RC_DX_FREE, RC_DX_WAIT, RC_DX_OBSERVE, the transport's */
    uint8_t kind;     /* enum rc_dx_kind */
    uint8_t tkl;      /* the client's token */
    bool observe_req; /* XFWD: the request had Observe 0 */
    uint8_t xpeer;    /* XFWD: the holder relay's DEALER */
    uint8_t token[COAP_MSG_MAX_TOKEN];
    uint32_t up;       /* upstream exchange (proxy), RC_NONE */
    uint32_t fnext;    /* free list (slotpool.h) */
    uint64_t req_id;   /* RD_REQUEST id; XFWD_REQUEST id */
    uint64_t start_ms; /* when the request came (RD give-up) */
    uint64_t src_h;    /* counted in lim.live_src under this hash, 0 = not */
    uint64_t obs_h;    /* counted in lim.live_obs under this hash, 0 = not */
    struct rr_timer t; /* RC_T_DX: RD re-send, XFWD requester timeout */
};

struct rc_zsock {
    void *sock;
    int fd;
    bool pending; /* ZMQ_FD fired, or we used the socket: read ZMQ_EVENTS */
    int xp;       /* -1: dealer/sub/router; else xpeer index */
    struct rc_handler h;
};

struct rc_xpeer {
    char name[RR_RELAY_NAME_MAX];
    void *sock;
};

/* One hosting port (porthost.c). */
struct rc_port {
    char host[RR_HOST_MAX]; /* the route on this port, "" = none */
    bool open;              /* the transport's listeners are open */
    bool seen;              /* reconciling a swapped table */
};

struct relay_core {
    const struct rr_config *cfg; /* the transport's own, writable: SIGHUP reloads it */
    const struct relay_transport *tp;
    void *tpa; /* the transport's state, passed to every callback */
    char name[RR_RELAY_NAME_MAX];

    int epfd;
    /* the events of the epoll_wait being dispatched (rc_dispatch):
     * rc_fd_del takes back those not yet dispatched */
    struct epoll_event *batch;
    int batch_n, batch_next;
    struct timerheap timers; /* sized by the transport (th_init) */

    void *zctx, *dealer, *xrouter;
    struct clone_client *clone;
    /* the routes when there is no clone client (unit tests) */
    const struct route_table *static_routes;
    uint64_t last_epoch;
    uint8_t *ctlbuf;  /* receive buffer (RR_PROTO_MAX_BODY) */
    uint8_t *txbuf;   /* send scratch (RR_PROTO_MAX_BODY) */
    uint8_t *coapbuf; /* CoAP serialising scratch (RC_COAP_MAX) */
    struct rr_msg_relay_status *status_msg;

    struct rc_xpeer *xpeers;
    int nxpeers, max_xpeers;
    struct rc_zsock *zs; /* dealer, sub, router, then one per xpeer */
    int nzs, max_zs;

    struct rc_slotpool ux; /* the transport's upstream exchanges (struct rc_ux heads) */
    struct rc_slotpool dx; /* the transport's downstream exchanges (struct rc_dx heads) */
    struct rc_resend resend;

    uint32_t next_check, rd_seq;
    uint32_t conn_epoch; /* random per start: high half of connection ids */
    uint32_t conn_seq;
    uint64_t start_wall_ms;
    bool stopping;             /* SIGTERM seen: draining (loop.c) */
    uint64_t stop_deadline_ms; /* then exit even with exchanges in flight */
    uint64_t next_status_ms, next_clone_ms;

    struct rc_port *ports; /* port_hosting_range, NULL when off */
    uint16_t port_lo;
    uint32_t nports;

    struct rc_counters c;
    struct rc_limits lim;  /* rate limits (ratelimit.h) */
    struct rc_metrics *mx; /* metrics.c; NULL: no metrics_listen for us */
    struct curve_zap *zap; /* xfwd.c: a tcp:// xfwd endpoint's key check */
};

#define RC_COAP_MAX (RR_PROTO_MAX_BODY - RR_HOST_MAX - 64)

/* ---- loop.c ---- */
/* Set up the state (no sockets yet): name from the configuration, epoll,
 * buffers, ZeroMQ context, random seeds. 0 / -1. */
int rc_init(struct relay_core *c, const struct rr_config *cfg, const char *name,
            const struct relay_transport *tp, void *tpa);
void rc_free(struct relay_core *c);
/* Register fd (events: EPOLLIN ...) with its handler; change; remove. 0/-1. */
int rc_fd_add(struct relay_core *c, int fd, uint32_t events, struct rc_handler *h);
int rc_fd_mod(struct relay_core *c, int fd, uint32_t events, struct rc_handler *h);
/* Take fd out of the registry. Events already returned for it by the
 * epoll_wait being dispatched are dropped too (EPOLL_CTL_DEL does not take
 * them back): h is never called for fd again, so its slot may be reused at
 * once. Each handler serves one fd. */
void rc_fd_del(struct relay_core *c, int fd, const struct rc_handler *h);
/* Call the handler of each of ev[0..n) (rc_run's dispatch; tests). */
void rc_dispatch(struct relay_core *c, struct epoll_event *ev, int n, uint64_t now);
/* Install SIGTERM/SIGINT handlers (they only set a flag). 0 / -1. */
int rc_signals_install(void);
/* A timer fired: the core's own (RC_T_DX, RC_T_UX) or the transport's
 * on_timer. */
void rc_on_timer(struct relay_core *c, struct rr_timer *t, uint64_t now);
/* Run until a signal; 0, or -1 on a loop failure. */
int rc_run(struct relay_core *c);
/* Put a ZeroMQ socket's ZMQ_FD in the registry (xp: its xpeer or -1). */
int rc_zsock_add(struct relay_core *c, void *sock, int xp);
/* A ZeroMQ socket was used (sent on): read its ZMQ_EVENTS again. */
void rc_zsock_used(struct relay_core *c, void *sock);
/* Seed random() from getrandom. */
void rc_seed_random(void);

/* ---- sockact.c ---- */
/* Socket activation (LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES): the inherited
 * socket of type (SOCK_DGRAM, SOCK_STREAM) bound to exactly a, made
 * non-blocking and close-on-exec, or -1 (none: bind one yourself). */
int rc_sockact_take(int type, const struct rr_addr *a);
/* After the listeners are open (rc_run calls it): close inherited sockets
 * nobody took (logged), clear the environment. */
void rc_sockact_done(void);

/* ---- listen.c ---- */
#define RC_MAX_LISTEN 16
/* Stream listeners (one per address of a listen list); the owner fills
 * what ("tcp", "ws") and on_accept (gets each accepted socket,
 * non-blocking, close-on-exec; li: which listener). */
struct rc_listeners {
    const char *what;
    void (*on_accept)(void *arg, int li, int fd, uint64_t now);
    void *arg;
    int n;
    int fd[RC_MAX_LISTEN];
    struct rr_addr bound[RC_MAX_LISTEN]; /* with the port the kernel picked for 0 */
    struct rc_handler h[RC_MAX_LISTEN];
};
/* Bind every address of list (default_port where none is given) and put
 * the sockets in the registry. 0 / -1 (logged). */
int rc_listeners_open(struct relay_core *c, struct rc_listeners *l, const char *list,
                      uint16_t default_port);
void rc_listeners_close(struct rc_listeners *l);
/* Out of the registry and closed (SIGTERM: no new connections). */
void rc_listeners_stop(struct relay_core *c, struct rc_listeners *l);
/* The peer and local address of a connected socket (zeroed if unknown). */
void rc_sock_addrs(int fd, struct rr_addr *remote, struct rr_addr *local);
/* One listening stream socket on a (bound: its address, the kernel's port
 * for 0), logged as what; the fd or -1. */
int rc_listen_socket(const char *what, const struct rr_addr *a, struct rr_addr *bound);
/* Accept a batch on listening socket lfd and hand each to l->on_accept
 * with li (-1: a hosting port listener, portlisten.c). */
void rc_listeners_accept(const struct rc_listeners *l, int lfd, int li, uint64_t now);

/* ---- portlisten.c ---- */
/* The hosting port listeners of a stream relay: one socket per (hosting
 * port, address of the relay's own listeners base), slot
 * (port - port_lo) * base->n + k, fd -1 while closed; an accepted socket
 * goes to base->on_accept with li -1 (the stream layer tells hosting
 * connections by their local port). */
struct rc_plisten {
    int fd;
    struct rc_handler h;
};
struct rc_port_listeners {
    const struct rc_listeners *base;
    uint32_t skip; /* bit k: no hosting ports on base address k (rc_plis_init) */
    struct rc_plisten *pl;
    uint32_t n;
};
/* Slots for the configured range over base's addresses but those in
 * skip (bit k: base address k; relay-ws leaves tcp_listen's addresses to
 * relay-tcp). 0 / -1. */
int rc_plis_init(struct relay_core *c, struct rc_port_listeners *p, const struct rc_listeners *base,
                 uint32_t skip);
/* Would a and b (listen addresses) need the same port: same family and
 * the same host, or one of them a wildcard? */
bool rc_listen_overlap(const struct rr_addr *a, const struct rr_addr *b);
int rc_plis_open(struct relay_core *c, struct rc_port_listeners *p, uint16_t port);
void rc_plis_close(struct relay_core *c, struct rc_port_listeners *p, uint16_t port);
/* Every hosting port listener out of the registry and closed (SIGTERM). */
void rc_plis_stop(struct relay_core *c, struct rc_port_listeners *p);
void rc_plis_free(struct rc_port_listeners *p);

/* ---- cmdline.c ---- */
struct rc_cmdline {
    const char *prog;                  /* "rdrelay-udp" */
    const char *blurb;                 /* what this relay does, for --help */
    size_t listen_offset, name_offset; /* offsetof(struct rr_config, ...) */
    const char *listen_setting, *name_setting;
};
/* The four fields above for transport t (udp, tcp, ws): its settings are
 * named t_listen and t_relay_name, so they are not spelled out per relay. */
#define RC_CMDLINE_SETTINGS(t)                                                                     \
    .listen_offset = offsetof(struct rr_config, t##_listen),                                       \
    .name_offset = offsetof(struct rr_config, t##_relay_name), .listen_setting = #t "_listen",     \
    .name_setting = #t "_relay_name"
/* --help / --version (1: exit 0), the configuration, log level, listen
 * list and relay name (2: exit 2, do not restart), random seed (0: run). */
int rc_cmdline(const struct rc_cmdline *cl, struct rr_config *cfg, int argc, char **argv);

/* ---- ctl.c ---- */
/* DEALER (routing id = relay name) + clone client. 0 / -1. */
int rc_ctl_open(struct relay_core *c);
/* Close every ZeroMQ socket (ctl and xfwd). */
void rc_ctl_close(struct relay_core *c);
void rc_ctl_send_hello(struct relay_core *c);
void rc_ctl_send_status(struct relay_core *c);
void rc_ctl_on_dealer(struct relay_core *c, uint64_t now);
/* Send one message to rd-frontend; counts HWM drops. 0 / -1. */
int rc_ctl_send(struct relay_core *c, uint16_t type, const void *body, size_t len);
/* What RELAY_STATUS reports (core, clone client, then the transport's
 * counters): the one list the metrics render too. Returns how many. */
unsigned rc_status_collect(struct relay_core *c, struct rc_counter *f, unsigned max);
void rc_send_reachability(struct relay_core *c, const char *host, bool reachable,
                          uint64_t since_wall_ms);
const struct route_table *rc_routes(const struct relay_core *c);

/* ---- rd.c ---- */
/* RD_REQUEST(req_id, peer, coap in datagram framing). */
void rc_rd_send_request(struct relay_core *c, uint64_t req_id, const struct rr_peer *p,
                        const uint8_t *coap, size_t n);
/* The RD re-send timer of a request started at start_ms fired: 0 = re-send
 * now (counted; re-arm RC_RD_RESEND_MS), -1 = give up (counted, logged:
 * answer 5.03). */
int rc_rd_resend_due(struct relay_core *c, uint64_t req_id, uint64_t start_ms, uint64_t now);
void rc_send_observe_gone(struct relay_core *c, const struct rr_peer *p, const uint8_t *tok,
                          size_t tkl);
void rc_send_ep_response(struct relay_core *c, uint64_t req_id, uint8_t status, const uint8_t *coap,
                         size_t n);
void rc_rd_on_response(struct relay_core *c, const uint8_t *body, size_t len, uint64_t now);
void rc_rd_on_notify(struct relay_core *c, const uint8_t *body, size_t len, uint64_t now);
void rc_rd_on_ep_request(struct relay_core *c, const uint8_t *body, size_t len, uint64_t now);
/* The rr_peer rd-frontend sees for a peer of ours. */
void rc_peer_make(const struct relay_core *c, const struct rr_addr *remote,
                  const struct rr_addr *local, uint64_t conn_id, struct rr_peer *p);

/* ---- xfwd.c ---- */
/* Every ZeroMQ send of a relay: marks the socket used (loop.c), counts a
 * high-water-mark drop (EAGAIN); EHOSTUNREACH (a ROUTER's peer is gone) is
 * the caller's to handle; anything else is logged. 0 / -1 with errno. */
int rc_zsend(struct relay_core *c, void *sock, const void *id, size_t idlen, uint16_t type,
             const void *body, size_t len);
/* Bind our ROUTER, connect the DEALERs to the configured peer relays. */
int rc_xfwd_open(struct relay_core *c);
void rc_xfwd_close(struct relay_core *c);
/* The DEALER to relay name (connected on first use), its index, or -1. */
int rc_xpeer_get(struct relay_core *c, const char *name);
const char *rc_xpeer_name(const struct relay_core *c, int xp);
/* Requester: XFWD_REQUEST with m (datagram framing, msgid 0, its type kept)
 * to the relay holding route, under id rc_xfwd_req_id(slot). 0 and *xp,
 * *req_id; or -1 with the answer for the client in *code / diag (5.02,
 * 4.13), counted. */
int rc_xfwd_forward(struct relay_core *c, uint32_t slot, struct coap_msg *m,
                    const struct rr_route *route, const char *host, int *xp, uint64_t *req_id,
                    uint8_t *code, char *diag, size_t dlen);
void rc_xfwd_send_cancel(struct relay_core *c, int xp, uint64_t req_id);
/* Holder: XFWD_RESPONSE (coap NULL unless status is OK; kind enum
 * rr_xfwd_kind: ACK piggybacked, CON/NON separate). 0, or -1 with errno
 * (EHOSTUNREACH: the requester is gone; EAGAIN: HWM, counted). */
int rc_xfwd_send_response(struct relay_core *c, const uint8_t *id, size_t idlen, uint64_t req_id,
                          uint8_t status, const uint8_t *coap, size_t n, uint8_t kind);
/* The one XFWD status -> CoAP code mapping (counted as 5.02 / 5.04);
 * *diag is the diagnostic. */
uint8_t rc_xfwd_fail_code(struct relay_core *c, uint8_t status, const char **diag);
void rc_xfwd_on_router(struct relay_core *c, uint64_t now);
void rc_xfwd_on_peer(struct relay_core *c, int xp, uint64_t now);
/* One message as the loops above receive it (tests/fuzz/fuzz_xfwd.c feeds
 * them without ZeroMQ): on our ROUTER from routing id id (XFWD_REQUEST,
 * XFWD_CANCEL), from peer relay xp's DEALER (XFWD_RESPONSE); anything
 * malformed is logged and dropped. */
void rc_xfwd_router_msg(struct relay_core *c, const uint8_t *id, size_t idlen, uint16_t type,
                        const uint8_t *body, size_t len, uint64_t now);
void rc_xfwd_peer_msg(struct relay_core *c, int xp, uint16_t type, const uint8_t *body, size_t len,
                      uint64_t now);
/* Pure: the status mapping without counting (unit-tested). */
uint8_t rc_xfwd_status_code(uint8_t status, const char **diag);
/* Relay names become file names in the state dir: plain [a-z0-9-]. */
bool rc_relay_name_ok(const char *s);

/* ---- proxy.c ---- */
/* A client's request in downstream slot `slot` (the transport took the
 * slot): the one classification (fwd_classify: trailing dot, RD critical
 * options, forward-proxy options), then the transport's rd_request,
 * proxy_request or answer (4.02 / 5.05, counted). */
void rc_on_request(struct relay_core *c, uint32_t slot, struct coap_msg *m, const uint8_t *raw,
                   size_t n, uint64_t now);
enum rc_proxy_verdict {
    RC_PROXY_ANSWER = 0, /* answer the client with *code and diag */
    RC_PROXY_LOCAL,      /* our route: send upstream on route->path */
    RC_PROXY_XFWD,       /* held by another relay: rc_xfwd_forward */
};
/* The proxy decision for a request whose host is under the proxy domain:
 * route lookup (none -> 5.05), a route of ours whose path is down -> 5.02
 * (transport's path_down), unknown unsafe options -> 4.02, Hop-Limit
 * (hl: >= 4 bytes, outlives m) -> 5.08 on a loop, 5.00 when no option
 * slot is left for it, then Uri-Host/Uri-Port removed.
 * Counts what it answers. */
enum rc_proxy_verdict rc_proxy_decide(struct relay_core *c, struct coap_msg *m, const char *host,
                                      const struct rr_route **route, uint8_t *hl, uint8_t *code,
                                      char *diag, size_t dlen);
/* A response from an endpoint passing the proxy: 0, or -1 and the 5.02
 * diagnostic (unknown unsafe option), counted. */
int rc_proxy_check_response(struct relay_core *c, const struct coap_msg *m, char *diag,
                            size_t dlen);
bool rc_route_is_ours(const struct relay_core *c, const struct rr_route *rt);
/* A limit's answer: 5.03 with Max-Age max_age (come back then) and the
 * diagnostic diag (outlives a), age the option's value buffer. */
void rc_msg_limit_503(struct coap_msg *a, uint32_t max_age, const char *diag, uint8_t age[4]);
/* "2026-01-02T03:04:05Z" */
void rc_fmt_rfc3339(uint64_t wall_ms, char *buf, size_t len);
/* "registrant unreachable since <time><suffix>", or without a time for 0. */
void rc_unreachable_diag(uint64_t since_wall_ms, const char *suffix, char *buf, size_t len);

/* ---- porthost.c ---- */
/* The hosting ports from port_hosting_range (none: off). 0 / -1. */
int rc_port_init(struct relay_core *c);
void rc_port_free(struct relay_core *c);
/* A route changed (ctl.c, before the transport hears of it): listeners
 * follow; a swap reconciles the whole range. */
void rc_port_route_change(struct relay_core *c, const struct rr_route *old_rt,
                          const struct rr_route *new_rt, bool swapped);
/* The host of the route on a hosting port, or NULL. */
const char *rc_port_host(const struct relay_core *c, uint16_t port);
/* Is port in our port_hosting_range? */
bool rc_port_is_hosting(const struct relay_core *c, uint16_t port);
/* A client's request (in downstream slot `slot`) on hosting port `port`:
 * to the transport's proxy_request for the port's route (never the RD,
 * Uri-Host ignored), or answered: 5.05 for a forward-proxy request, 5.02
 * when no route holds the port. */
void rc_port_request(struct relay_core *c, uint16_t port, uint32_t slot, struct coap_msg *m,
                     uint64_t now);
/* ---- metrics.c ---- */
/* Listen on our metrics_listen entry, if any (a failure is logged and the
 * relay runs without metrics). 0 / -1. */
int rc_metrics_open(struct relay_core *c);
void rc_metrics_close(struct relay_core *c);
void rc_metrics_tick(struct relay_core *c, uint64_t now);

/* An exchange's live count (issue 19) under hash *h given back; *h = 0
 * (0: not counted, nothing to give back). */
static inline void rc_count_release(struct srccount *t, uint64_t *h)
{
    if (*h)
        srccount_dec_tag(t, *h);
    *h = 0;
}

/* ---- uxpool.c ---- */
/* Hand the transport's array (n entries of stride bytes, each beginning
 * with struct rc_ux, zeroed) to the core's pool. */
void rc_ux_pool_init(struct relay_core *c, void *base, size_t stride, uint32_t n);
static inline struct rc_ux *rc_ux_at(const struct relay_core *c, uint32_t i)
{
    return (struct rc_ux *)rc_sp_at(&c->ux, i);
}
/* A free slot with a fresh check value (RC_UX_SENT, origin PROXY), or
 * RC_NONE when all are in flight. */
uint32_t rc_ux_take(struct relay_core *c);
/* Back to the free list (its timer cancelled); false if it was free. */
bool rc_ux_put(struct relay_core *c, uint32_t i);
/* The exchange a relay token names, or RC_NONE (stale, forged, free). */
uint32_t rc_ux_from_token(const struct relay_core *c, const uint8_t *tok, size_t tkl);

/* ---- dxpool.c ---- */
/* The exchange arrays, once at start (before or after rc_init):
 * max_exchanges (0: 4096) upstream, twice that
 * downstream, each entry of the transport's size (beginning with struct
 * rc_ux / rc_dx, zeroed), in the core's pools; the timer heap for
 * timers_each timers per exchange (the core's one included) plus
 * timers_extra. 0 / -1 (logged). The transport's arrays are c->dx.base,
 * c->ux.base; rc_exch_free frees them and the heap. */
int rc_exch_alloc(struct relay_core *c, uint32_t max_exchanges, size_t dx_stride, size_t ux_stride,
                  unsigned timers_each, uint32_t timers_extra);
void rc_exch_free(struct relay_core *c);
/* Hand the transport's array (n entries of stride bytes, each beginning
 * with struct rc_dx, zeroed) to the core's pool. */
void rc_dx_pool_init(struct relay_core *c, void *base, size_t stride, uint32_t n);
static inline struct rc_dx *rc_dx_at(const struct relay_core *c, uint32_t i)
{
    return (struct rc_dx *)rc_sp_at(&c->dx, i);
}
/* A free slot (RC_DX_WAIT, kind LOCAL, the client's token from req), or
 * RC_NONE when all are in flight. */
uint32_t rc_dx_take(struct relay_core *c, const struct coap_msg *req, uint64_t now);
/* Back to the free list (its timer cancelled); false if it was free. */
bool rc_dx_put(struct relay_core *c, uint32_t i);
/* max_inflight_per_source (issue 19): count exchange i for its client's
 * source (IPv4 address, IPv6 /64; rc_dx_put releases it). false: that
 * source has the most in flight already; counted and logged here, the
 * caller answers 5.03 through the transport (tp->answer). */
bool rc_dx_count_source(struct relay_core *c, uint32_t i, const struct rr_addr *src, uint64_t now);
/* max_inflight_per_endpoint (issue 19): count upstream exchange ui for
 * its endpoint name (u->host, set before; rc_ux_put releases it), for a
 * local client's request and for one another relay forwards (XFWD, in
 * rc_ux_on_xfwd_request). false: that endpoint has the most in flight
 * already; counted and logged here, the caller releases ui and answers
 * 5.03 with Max-Age 1. */
bool rc_ux_count_endpoint(struct relay_core *c, uint32_t ui, uint64_t now);
/* ... and that answer, the same from every relay and for XFWD requests */
#define RC_INFLIGHT_EP_MAX_AGE 1
#define RC_INFLIGHT_EP_DIAG "too many requests in flight to this endpoint"
/* max_observe_per_client (issue 19): a proxied request m on slot i that
 * registers a new observation (Observe 0) is counted for its client's
 * source (rc_dx_put releases it); over the limit its Observe option is
 * removed, so it goes upstream as a plain request and the client gets one
 * response without Observe (RFC 7641 3.1: not on the list). Counted and
 * logged here. Call once the client's earlier observation under the same
 * token is released. */
void rc_dx_limit_observe(struct relay_core *c, uint32_t i, const struct rr_addr *src,
                         struct coap_msg *m, uint64_t now);
/* The observation of this kind (RC_DX_K_PROXY with an upstream exchange,
 * or RC_DX_K_XFWD) the client of slot di already holds under its token, or
 * RC_NONE: a re-registration or cancellation must reach the endpoint under
 * the same token. Only requests carrying Observe ask: a scan is fine. */
uint32_t rc_dx_find_observation(const struct relay_core *c, uint32_t di, uint8_t kind);
/* Slot i is a request for the RD: RD_REQUEST now (the transport's rd_send)
 * and re-sent every RC_RD_RESEND_MS until answered or RC_RD_GIVEUP_MS. */
void rc_dx_rd_start(struct relay_core *c, uint32_t i, uint64_t now);
/* XFWD requester: tell the holder the client's exchange i is over. */
void rc_dx_xfwd_cancel(struct relay_core *c, uint32_t i);
/* The core timer of slot i fired (loop.c): RD re-send / give-up (5.03), or
 * the XFWD holder never answered (5.04 + XFWD_CANCEL). */
void rc_dx_on_timer(struct relay_core *c, uint32_t i, uint64_t now);

/* ---- answer.c ---- */
/* Is m a notification of upstream exchange u's observation (a 2.xx with
 * Observe to a request that registered one)? */
bool rc_ux_is_notification(const struct rc_ux *u, const struct coap_msg *m);
/* An answer m from the endpoint for upstream exchange ui (after the
 * transport's message layer). Origin EP -> EP_RESPONSE; origin XFWD ->
 * XFWD_RESPONSE (xkind: enum rr_xfwd_kind, or -1: CON for a notification,
 * else ACK), an observation is kept, a requester that is gone ends it; a
 * deregistration's answer ends it. 1: done (released or kept as needed),
 * 0: origin PROXY, the transport delivers it to its client. */
int rc_ux_answer(struct relay_core *c, uint32_t ui, const struct coap_msg *m, int xkind,
                 uint64_t now);
/* Upstream exchange ui failed (code 5.04: timeout, else unreachable, 5.02):
 * EP_RESPONSE / XFWD_RESPONSE with the status, or the client's answer
 * (a final notification for an observation), counted; ui is released. */
void rc_ux_fail(struct relay_core *c, uint32_t ui, uint8_t code, const char *why, uint64_t now);
/* The EP_REQUEST / XFWD_REQUEST an upstream exchange answers: m in
 * datagram framing under the requester's own token (or just the status). */
void rc_ux_ep_answer(struct relay_core *c, uint32_t ui, uint8_t status, const struct coap_msg *m);
int rc_ux_xfwd_answer(struct relay_core *c, uint32_t ui, uint8_t status, const struct coap_msg *m,
                      uint8_t kind);
/* Without ep_request / xfwd_request / xfwd_cancel: the core's holder of
 * EP_REQUEST and XFWD (through the transport's ux_send / ux_end). */
void rc_ux_on_ep_request(struct relay_core *c, uint64_t req_id, const struct rr_peer *path,
                         struct coap_msg *m, uint64_t now);
void rc_ux_on_xfwd_request(struct relay_core *c, const struct rc_xreq *x, struct coap_msg *m,
                           const struct rr_route *route, uint64_t now);
void rc_ux_on_xfwd_cancel(struct relay_core *c, const struct rc_xreq *x, uint64_t now);
/* Requester: an XFWD_RESPONSE for downstream slot i. 1: dealt with here (a
 * late one cancelled at the holder, a failure or a bad option answered to
 * the client, counted); 0: m (parsed) is a vetted answer for the client's
 * exchange i, *notif says whether it continues an observation. */
int rc_xfwd_response_vet(struct relay_core *c, int xp, uint32_t i, uint64_t req_id, uint8_t status,
                         const uint8_t *coap, size_t n, struct coap_msg *m, bool *notif,
                         uint64_t now);

/* ---- resend.c ---- */
/* The queue of at most max one-shots (rc_init: ctl_resend_max). 0 / -1. */
int rc_resend_init(struct relay_core *c, uint32_t max);
void rc_resend_free(struct relay_core *c);
/* A one-shot message to rd-frontend: sent now, or (high-water mark, or
 * older ones waiting) queued and re-sent in order. 0, or -1 when lost
 * (no DEALER, another error, the queue full: counted). */
int rc_ctl_send_oneshot(struct relay_core *c, uint16_t type, const void *body, size_t len);
/* Re-send what waits (the loop, when due); stops at the first refusal. */
void rc_resend_flush(struct relay_core *c, uint64_t now);

/* ---- ids.c ---- */
/* A token check value: a counter from a random start, mixed so consecutive
 * tokens differ in every byte (some endpoints use only part of a token). */
uint32_t rc_new_check(struct relay_core *c);
/* RD_REQUEST ids: a per-request counter from a random start in the high
 * half (unique across restarts for rd-frontend's dedup cache), the slot in
 * the low half. */
uint64_t rc_rd_req_id(struct relay_core *c, uint32_t slot);
/* XFWD_REQUEST ids: the slot low, a check value high: a late answer for a
 * reused slot never matches. */
uint64_t rc_xfwd_req_id(uint32_t slot, uint32_t check);
static inline uint32_t rc_req_slot(uint64_t req_id)
{
    return (uint32_t)req_id;
}
/* Connection ids: the random per-start epoch in the high 32 bits and a
 * counter from 1 in the low: never 0, never repeated across restarts
 * whatever the wall clock does (2^-32 chance per restart pair). */
uint64_t rc_conn_id_new(struct relay_core *c);
/* Was id made by this run? */
bool rc_conn_id_ours(const struct relay_core *c, uint64_t id);

#endif
