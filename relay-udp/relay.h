/*
 * relay.h - the state of the rdrelay-udp process (one struct relay) and the
 * functions its files share. Each .c file owns one responsibility:
 *   main.c      command line, start and stop
 *   transport.c the transport interface (struct relay_transport) that plugs
 *               this relay into the relay core (relay-core/core.h: event
 *               loop, ctl, RD path protocol, proxy decision, XFWD sockets):
 *               timers, counters, route changes, path state
 *   udp_io.c    the public UDP sockets (pktinfo in and out)
 *   exchange.c  the CoAP message layer: exchange pools, dedup and ack-wait
 *               hash tables, empty ACKs, separate responses, retransmission
 *   msglayer.c  classification of every incoming datagram
 *   rd_path.c   RD traffic: RD_REQUEST/RESPONSE, RD_NOTIFY, EP_REQUEST
 *   proxy.c     name-based proxying to registered endpoints (hot path)
 *   keepalive.c NAT keepalive and reachability of proxied UDP routes
 *   xfwd.c      cross-transport forwarding over the core's sockets: the
 *               requester's client side and the holder's upstream side
 *   amp_udp.c   the amplification limit on every answer (RFC 9175 Echo,
 *               relay-core/amplify.h)
 *   xblock.c    block-wise across transports: Block1 collection (requester)
 *               and splitting (holder) over r->bw (common/blockwise.h)
 * Nothing here allocates per request: pools are sized from max_exchanges.
 */
#ifndef RDRELAY_RU_RELAY_H
#define RDRELAY_RU_RELAY_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "addr.h"
#include "amplify.h"
#include "blockwise.h"
#include "clone_client.h"
#include "coap_msg.h"
#include "config.h"
#include "core.h"
#include "dedup.h"
#include "proto.h"
#include "timerheap.h"

#define RU_MAX_SOCKS 16
/* send queues (udp_io.c): one for each listen socket and 16 for hosting
 * port listeners with datagrams waiting at once; with all lent, all are
 * flushed */
#define RU_TXQ (RU_MAX_SOCKS + 16)
#define RU_NONE UINT32_MAX

/* RFC 7252 §4.8 transmission parameters */
#define RU_ACK_TIMEOUT_MS 2000
#define RU_ACK_RANDOM_PCT 50 /* ACK_RANDOM_FACTOR 1.5 */
#define RU_MAX_RETRANSMIT 4
#define RU_EXCHANGE_LIFETIME_MS 247000
#define RU_NON_LIFETIME_MS 145000
#define RU_NON_RST_WAIT_MS 3000 /* how long a NON RD notification may be rejected */

/* Per-socket routing mode: name-based (Uri-Host), or a port-based hosting
 * listener (BRIEF §3.4, relay-core/porthost.c) whose every request goes to
 * the one route holding its port. */
enum ru_sock_kind { RU_SOCK_NAME = 0, RU_SOCK_MUX = 1 };

/*
 * r->socks: the udp_listen sockets at 0..nsocks-1, then from RU_MAX_SOCKS
 * on the hosting port listeners, one slot per (port, udp_listen address):
 * RU_MAX_SOCKS + (port - port_lo) * nlisten + k, fd -1 while closed. Every
 * socket's datagrams of one loop iteration leave by one sendmmsg: a socket
 * with datagrams waiting holds a send queue (txq) lent from a fixed pool of
 * RU_TXQ (udp_io.c), returned at the flush (a queue per port of a large
 * range would cost megabytes).
 */
struct ru_sock {
    int fd;
    int txq;              /* its send queue while datagrams wait (udp_io.c), -1 */
    struct rc_handler h;  /* in the core's fd registry */
    struct rr_addr bound; /* as configured (may be a wildcard) */
    uint8_t kind;         /* enum ru_sock_kind */
    uint16_t mux_port;    /* RU_SOCK_MUX: the hosting port */
    bool no_gso;          /* the kernel refused UDP_SEGMENT on it (udp_gso.c) */
};

/* A CON/NON message we sent and may retransmit; also the cached answer to a
 * duplicate request. Lives inside an exchange (no allocation). */
struct ru_out {
    uint16_t len;
    uint16_t msgid;
    uint8_t tries;       /* retransmissions so far */
    bool awaiting;       /* in the ack-wait table */
    uint32_t timeout_ms; /* current retransmission timeout */
    uint32_t hnext;      /* ack-wait hash chain */
    int sock;
    struct rr_addr local, remote;
    uint8_t buf[COAP_MSG_MAX_UDP];
};

/* Downstream exchange: a request a client sent us (or a notification we
 * push to a client); the common head and the pool are the relay core's
 * (struct rc_dx: state, kind, token, upstream, XFWD ids, core timer). */
enum dx_state {
    DX_FREE = RC_DX_FREE,
    DX_WAIT = RC_DX_WAIT,       /* answer outstanding (RD or endpoint) */
    DX_OBSERVE = RC_DX_OBSERVE, /* a proxied observation: notifications go to this client */
    DX_SEP,                     /* CON separate response sent, waiting for the client's ACK */
    DX_NOTIFY,                  /* an RD_NOTIFY being delivered (no request) */
};
enum dx_kind {
    DX_K_LOCAL = RC_DX_K_LOCAL,
    DX_K_RD = RC_DX_K_RD,
    DX_K_PROXY = RC_DX_K_PROXY,
    DX_K_XFWD = RC_DX_K_XFWD,
    DX_K_NOTIFY = RC_DX_K_NOTIFY,
};
enum dx_out_kind { DX_O_NONE = 0, DX_O_REQ, DX_O_PIGGY, DX_O_SEP, DX_O_NON };

struct dexch {
    struct rc_dx h; /* state, kind, token, up, XFWD ids, t: RD re-send / XFWD timeout */
    uint8_t out_kind;
    uint8_t req_type; /* CON or NON */
    bool ack_sent;    /* empty ACK already sent */
    uint16_t req_msgid;
    uint16_t req_len; /* the request's datagram size (amplification limit, amplify.h) */
    int sock;
    struct rr_addr peer, local;
    uint32_t dd;     /* our entry in the duplicate memory (dedup.c), RU_NONE */
    uint32_t blk2;   /* XFWD: the request's Block2 value, BW_NONE (bw_fit_response) */
    uint32_t b1echo; /* XFWD: Block1 of a collected upload's last block, BW_NONE */
    uint64_t bkey;   /* XFWD, not GET/FETCH: key of the answer's copy (xblock.c), 0 */
    struct ru_out out;
    struct rr_timer t_ack; /* empty-ACK delay, then retransmission of out */
};

/* Upstream exchange: a request we sent to an endpoint (proxy, EP_REQUEST,
 * XFWD); the common head and the pool are the relay core's (struct rc_ux,
 * with the upstream timeout h.t). */
enum ux_state {
    UX_FREE = RC_UX_FREE,
    UX_SENT = RC_UX_SENT,
    UX_OBSERVE = RC_UX_OBSERVE,
    UX_CANCEL = RC_UX_CANCEL,
    UX_WAITSEP, /* the endpoint ACKed; its separate response is to come */
};

struct uexch {
    struct rc_ux h;        /* state, origin, token check, requester, host, timeout */
    bool have_last;        /* last_msgid valid */
    uint16_t last_msgid;   /* last CON/NON from upstream (duplicate detection) */
    uint32_t b1sent;       /* XFWD: Block1 value of the block in flight */
    uint32_t b1slot;       /* XFWD: body split into Block1 blocks (xblock.c), BW_NONE */
    struct ru_out out;     /* the request, for retransmission */
    struct rr_timer t_rtx; /* retransmission */
};

enum ru_timer_kind {
    RU_T_DX_ACK = 1,
    RU_T_UX_RTX,
};

/* NAT keepalive state of one proxied UDP route (keepalive.c). */
struct ka_entry {
    bool used;
    bool seen; /* present in the table being merged (swap) */
    bool unreachable;
    bool pinging;
    uint8_t tries;
    char host[RR_HOST_MAX];
    int sock;
    struct rr_addr remote, local;
    uint32_t ka_ms; /* 0 = off */
    uint64_t last_rx_ms;
    uint64_t next_due_ms;
    uint64_t since_wall_ms;          /* unreachable since */
    uint32_t next_host, next_remote; /* hash chains */
    uint16_t next_msgid;             /* message ids towards this binding (see ka_next_msgid) */
};

struct ka_table {
    struct ka_entry *e;
    uint32_t cap, n;
    uint32_t *bh, *br; /* buckets by host, by remote */
    uint32_t nb;
    uint32_t free_head; /* free list through next_host */
    uint32_t cursor;    /* sweep position */
};

struct ru_rxbatch;

/* What only the UDP transport counts (the rest: core.c, struct rc_counters). */
struct ru_counters {
    uint64_t rx, tx, rx_bad, tx_err;
    uint64_t tx_segmented; /* datagrams sent in UDP_SEGMENT runs (udp_gso.c) */
    uint64_t dup_requests, retransmissions, rtx_exhausted;
    uint64_t ka_pings, ka_unreachable, ka_reachable;
    uint64_t pings_answered;
    uint64_t separate; /* empty ACKs sent for a request: its answer goes separately */
};

struct relay {
    struct relay_core core; /* loop, timers, ctl, xfwd sockets, core counters */
    struct rr_config cfg;

    struct ru_sock *socks;               /* see struct ru_sock */
    int nsocks;                          /* udp_listen sockets */
    int nsock_slots;                     /* RU_MAX_SOCKS + hosting port slots */
    struct rr_addr listen[RU_MAX_SOCKS]; /* udp_listen as parsed (port listeners reuse it) */
    int nlisten;
    struct ru_rxbatch *rxb; /* recvmmsg buffers (udp_io.c) */

    /* downstream exchanges in flight (the pool: r->core.dx) */
    struct dexch *dx;
    uint32_t ndx;
    /* recent requests per peer, with the answers to repeat (dedup.c) */
    struct dd_table dd;

    /* upstream exchanges */
    struct uexch *ux;
    uint32_t nux; /* the pool: r->core.ux */

    /* ack-wait hash: (remote, msgid) -> out index: dx slots 0..ndx-1,
     * ux slots ndx.. */
    uint32_t *ack_b, nack_b;

    struct ka_table ka;
    struct bw_store bw; /* block-wise bodies (xblock.c), sized once */
    struct rc_amp amp;  /* amplification limit: Echo and verified sources */

    uint16_t next_msgid;
    uint64_t next_ka_tick_ms;

    struct ru_counters c;
};

/* udp_io.c */
int udp_open_all(struct relay *r);
void udp_close_all(struct relay *r);
/* Hosting port listeners on every udp_listen address (transport callbacks
 * port_open / port_close, in the core's fd registry). 0 / -1. */
int udp_port_open(void *tp, uint16_t port);
void udp_port_close(void *tp, uint16_t port);
/* Queue a datagram from local (pktinfo source; AF_UNSPEC = let the kernel
 * choose); it leaves at the next udp_flush (end of the batch / iteration). */
int udp_send(struct relay *r, int sock, const struct rr_addr *remote, const struct rr_addr *local,
             const void *buf, size_t len);
void udp_flush(struct relay *r);
/* udp_gso.c: how many of the n queued datagrams h[] (one iovec each) may
 * leave as one UDP_SEGMENT send (1: on its own); the message for such a
 * run of k into out, with ctl (the first's control messages and the
 * segment size: UDP_GSO_CTL bytes) as its storage. The run's iovecs are
 * the queue's own: h[i]'s iovec must follow h[i-1]'s in one array. */
#define UDP_GSO_CTL (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t)))
unsigned udp_gso_run(const struct mmsghdr *h, unsigned n);
void udp_gso_build(struct msghdr *out, const struct mmsghdr *h, unsigned k, void *ctl,
                   size_t ctl_size);
/* Socket whose address serves `local` (exact, or a wildcard on its port), -1. */
int udp_sock_for_local(const struct relay *r, const struct rr_addr *local);
/* Receive a batch from one socket and hand each datagram to msglayer;
 * err: poll reported an error (ICMP errors are queued: read them first). */
void udp_drain(struct relay *r, int sock, bool err, uint64_t now);

/* msglayer.c */
void msg_on_datagram(struct relay *r, int sock, const struct rr_addr *peer,
                     const struct rr_addr *local, uint8_t *buf, size_t len, uint64_t now);

/* An ICMP unreachable came back for a datagram we sent to peer. */
void msg_on_unreachable(struct relay *r, const struct rr_addr *peer, uint64_t now);

/* exchange.c */
int exch_init(struct relay *r);
void exch_free(struct relay *r);
uint16_t exch_new_msgid(struct relay *r);
uint32_t dx_find_dup(struct relay *r, const struct rr_addr *peer, uint16_t msgid, uint64_t now);
uint32_t dx_alloc(struct relay *r, uint64_t now);
void dx_release(struct relay *r, uint32_t i);
void dx_dedup_insert(struct relay *r, uint32_t i);
/* Duplicate memory: dx_find_dup returns an entry of r->dd (or RU_NONE);
 * dx_on_duplicate answers a duplicate of req_len bytes that came in on sock
 * at local. */
void dx_on_duplicate(struct relay *r, uint32_t di, int sock, const struct rr_addr *local,
                     size_t req_len, uint64_t now);
/* Deliver a response (raw bytes; their token is replaced with the client's,
 * the header with ACK/CON/NON as the state requires). notify_type is the
 * type for an Observe notification (CON/NON) or 0xff for a plain response.
 * final: the exchange ends after this. 0 / -1. */
int dx_answer(struct relay *r, uint32_t i, const uint8_t *resp, size_t len, uint8_t notify_type,
              bool final, uint64_t now);
/* The bytes dx_answer sends in place of an answer of len bytes that would
 * make us an amplifier (amplify.h): 4.01 + Echo rewritten into d->out, or
 * nothing (0) when even that is too large. Returns len when it may go. */
size_t dx_amp_limit(struct relay *r, uint32_t i, size_t len, uint64_t now);
/* The same for an RD notification of len bytes in d->out (no request of
 * its own: see amp_udp.c). */
size_t dx_amp_limit_notify(struct relay *r, uint32_t i, size_t len, uint64_t now);
/* A proxied request with an unsafe method (not GET/FETCH) from an
 * unverified source: answered 4.01 + Echo here, before it is forwarded
 * (1), so the origin never runs it twice; else 0. */
int dx_amp_prechallenge(struct relay *r, uint32_t i, const struct coap_msg *m, uint64_t now);
/* Answer with a locally made response (code, text payload). */
int dx_answer_local(struct relay *r, uint32_t i, uint8_t code, const char *payload, uint64_t now);
/* The same with a Max-Age option (seconds; 0 = none), e.g. 5.03 over a rate limit. */
int dx_answer_local_max_age(struct relay *r, uint32_t i, uint8_t code, uint32_t max_age,
                            const char *payload, uint64_t now);
void dx_arm_empty_ack(struct relay *r, uint32_t i, uint64_t now);
void dx_send_empty_ack(struct relay *r, uint32_t i);
void dx_done(struct relay *r, uint32_t i, uint64_t now);
/* End exchange i with a locally made error (the core's `answer`): a plain
 * answer, or for an observation the final (non-2.xx, RFC 7641 §3.2) CON
 * notification. */
void dx_answer_end(void *tp, uint32_t i, uint8_t code, const char *why, uint64_t now);
/* Ack-wait table for every ru_out we retransmit. */
void out_start(struct relay *r, uint32_t idx, struct ru_out *o, struct rr_timer *t, uint64_t now);
/* Only match replies (RST to a NON notification); no retransmission. */
void out_track(struct relay *r, uint32_t idx, struct ru_out *o);
void out_stop(struct relay *r, uint32_t idx, struct ru_out *o, struct rr_timer *t);
uint32_t out_find(struct relay *r, const struct rr_addr *remote, uint16_t msgid);
/* Retransmission timer fired: resend, or return 1 when exhausted. */
int out_on_timer(struct relay *r, struct ru_out *o, struct rr_timer *t, uint64_t now);
/* Release upstream exchange i (retransmission, block-wise body; the
 * core's ux_release). A free slot is clean: rc_ux_take gives it out. */
void ux_release(void *tp, uint32_t i);
void exch_on_timer(struct relay *r, struct rr_timer *t, uint64_t now);
/* Empty messages. */
void send_empty(struct relay *r, int sock, const struct rr_addr *remote,
                const struct rr_addr *local, uint8_t type, uint16_t msgid);
/* Write a CoAP header + token + rest-of-message (options+payload) into out. */
ssize_t coap_rewrite(uint8_t *out, size_t cap, uint8_t type, uint8_t code, uint16_t msgid,
                     const uint8_t *tok, uint8_t tkl, const uint8_t *rest, size_t restlen);
/* Offset of the options in a raw datagram (4 + tkl), or -1. */
int coap_raw_rest(const uint8_t *buf, size_t len);

/* rd_path.c */
/* (a transport callback: rc_on_request; buf/len: the datagram) */
void rd_on_request(void *tp, uint32_t dxi, struct coap_msg *m, const uint8_t *buf, size_t len,
                   uint64_t now);
/* (re-)send RD_REQUEST for exchange dxi (a transport callback) */
void rd_send(void *tp, uint32_t dxi);
/* transport callbacks (relay-core/rd.c decodes) */
void rd_on_response(void *tp, uint32_t i, uint64_t req_id, const uint8_t *coap, size_t n,
                    uint64_t now);
void rd_on_notify(void *tp, const struct rr_peer *p, bool confirmable, const uint8_t *coap,
                  size_t n, uint64_t now);
void rd_notify_gone(struct relay *r, uint32_t dxi);

/* proxy.c */
/* (a transport callback: rc_on_request) */
void proxy_on_request(void *tp, uint32_t dxi, struct coap_msg *m, const char *host, uint64_t now);
/* An upstream response (piggybacked, separate or notification). raw points
 * at the datagram; m is its parse. */
void proxy_on_upstream(struct relay *r, uint32_t uxi, const struct coap_msg *m, const uint8_t *raw,
                       size_t len, uint64_t now);
/* The client rejected (RST) or stopped acknowledging notifications. */
void proxy_cancel_observation(struct relay *r, uint32_t dxi, uint64_t now);
/* Holder side of an XFWD_CANCEL: deregister an observation (or a pending
 * Observe 0 request) at the endpoint, or just forget the exchange. */
void proxy_end_upstream(void *tp, uint32_t uxi, uint64_t now);
/* ICMP unreachable from remote: fail what is in flight to it (5.02). */
void proxy_on_remote_gone(struct relay *r, const struct rr_addr *remote, uint64_t now);
/* Send a request to an endpoint through a path; used by proxy and EP_REQUEST.
 * The message m gets our token and msgid. 0 / -1 (no socket for the path). */
int ux_send_request(struct relay *r, uint32_t uxi, struct coap_msg *m, const struct rr_peer *path,
                    uint64_t now);

/* keepalive.c */
int ka_init(struct relay *r);
void ka_free(struct relay *r);
void ka_on_route_change(struct relay *r, const struct rr_route *old_rt,
                        const struct rr_route *new_rt, bool swapped);
/* Any datagram from remote: the binding is alive. */
void ka_on_rx(struct relay *r, const struct rr_addr *remote, uint64_t now);
/* ICMP says nothing listens at remote any more: unreachable now. */
void ka_on_icmp(struct relay *r, const struct rr_addr *remote, uint64_t now);
/* Unreachable since (wall ms), or 0 if reachable / unknown. */
uint64_t ka_unreachable_since(struct relay *r, const char *host);
void ka_tick(struct relay *r, uint64_t now);
/* Message id for a CON/NON to remote: per binding when it is a route's, so
 * a busy route never makes a quiet one reuse ids within EXCHANGE_LIFETIME
 * (RFC 7252 §4.4); otherwise the relay-wide counter. */
uint16_t ka_next_msgid(struct relay *r, const struct rr_addr *remote);
/* Send REACHABILITY for every unreachable route again (new rd-frontend). */
void ka_resend_unreachable(struct relay *r);

/* transport.c */
extern const struct relay_transport ru_transport;
/* rc_init for this relay (name udp_relay_name). 0 / -1. */
int ru_core_init(struct relay *r);
/* Put the UDP sockets in the core's fd registry. 0 / -1. */
int ru_attach(struct relay *r);
/* The registry handler of every UDP socket (h->idx = socket slot). */
void ru_on_sock(struct rc_handler *h, uint32_t events, uint64_t now);

/* xfwd.c - cross-transport forwarding (common/proto.h) over the core */
/* Requester: forward a vetted request (Uri-Host gone, Hop-Limit applied)
 * for a route another relay holds; the client's exchange i answers. */
void xfwd_on_request(struct relay *r, uint32_t i, struct coap_msg *m, const struct rr_route *route,
                     const char *host, uint64_t now);
/* Requester: the client of an XFWD observation rejected it or left. */
void xfwd_client_gone(struct relay *r, uint32_t i, uint64_t now);
/* Requester: XFWD_RESPONSE for downstream slot i (transport callback). */
void xfwd_on_response(void *tp, int xp, uint32_t i, uint64_t req_id, uint8_t status,
                      const uint8_t *coap, size_t n, uint8_t kind, uint64_t now);
/* Holder: send a request of another relay's (rc_ux_on_xfwd_request) to
 * the endpoint: a stream client's body larger than a datagram goes in
 * Block1 blocks (xblock.c). The transport's ux_send. */
int xfwd_holder_send(struct relay *r, uint32_t ui, struct coap_msg *m, const struct rr_peer *path,
                     uint64_t now);

/* xblock.c - block-wise across transports */
/* Requester: a client's Block1 request i: 1 = answered here (2.31 or an
 * error), 0 = m now carries the whole body: forward it. */
int xblock_collect(struct relay *r, uint32_t i, struct coap_msg *m, const char *host, uint64_t now);
/* Requester, methods other than GET/FETCH: note the key; a later block of
 * an answer we cut is served from its copy: 1 (answered), else 0. */
int xblock_from_copy(struct relay *r, uint32_t i, const struct coap_msg *m, const char *host,
                     uint64_t now);
/* Requester: an answer to exchange i was cut: keep the whole (raw) when
 * the method must not run again for the later blocks. */
void xblock_keep(struct relay *r, uint32_t i, const uint8_t *raw, size_t n, uint64_t now);
/* Holder: send m's body in Block1 blocks through path; 0, 1 (answered
 * here: 4.13 with Size1 when larger than block_body_max, 5.03 when every
 * slot is busy), -1 (no socket). */
int xblock_split_start(struct relay *r, uint32_t ui, struct coap_msg *m, const struct rr_peer *path,
                       uint64_t now);
/* Holder: an answer while splitting: the next block goes out, or the
 * final answer to the requester (ui released). Always 1. */
int xblock_on_answer(struct relay *r, uint32_t ui, const struct coap_msg *m, uint64_t now);
/* Holder: the exchange ends otherwise: free its body. */
void xblock_forget(struct relay *r, uint32_t ui);

#endif
