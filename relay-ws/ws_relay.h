/*
 * ws_relay.h - the state of the rdrelay-ws process (one struct ws_relay)
 * and the functions its files share. relay-ws is CoAP over WebSockets (RFC
 * 8323 §4) as a thin transport on the stream half of the relay core
 * (relay-core/stream.h: connections, exchanges, RD path, proxying, XFWD,
 * RFC 8323 signalling), itself on the relay core (relay-core/core.h: the
 * event loop, ctl, route table). Here is only what WebSockets add:
 *   main.c    command line, start and stop
 *   evloop.c  libwebsockets inside the core's loop: our listeners
 *             (relay-core/listen.c) accept, libwebsockets adopts each
 *             socket; its libuv loop is driven from the core's epoll
 *             registry (see below); the lws context and its vhosts
 *             (coap+ws, coaps+ws)
 *   http.c    the HTTP side: the upgrade check (/.well-known/coap with
 *             subprotocol coap, else a clear HTTP status and text), plain
 *             HTTP to that path (426), the status page's files (ws_www_dir)
 *   xff.c     X-Forwarded-For (pure, unit-tested)
 *   ws_rules.c, ws_join.c  pure rules on the peer's input: the upgrade,
 *             a whole message's check, the joining of frames and their
 *             pieces up to our Max-Message-Size (fuzzed)
 *   conn.c    the coap protocol: a WebSocket connection is a stream
 *             connection; one CoAP message per binary frame (no Length
 *             field), acting on ws_join.c's verdicts, the per-connection
 *             output queue (frames we build, all of them in one send per
 *             writeable callback), WebSocket close with status code and
 *             reason
 *
 * Why libuv: Debian's libwebsockets 4.1.6 is built without
 * LWS_WITH_EXTERNAL_POLL (no ADD_POLL_FD/DEL_POLL_FD callbacks), so the
 * only way to keep its descriptors in our one loop is a foreign event
 * loop. libwebsockets supports a foreign libuv loop, and libuv exposes its
 * epoll descriptor (uv_backend_fd) and its next timeout
 * (uv_backend_timeout): that descriptor sits in the core's registry like
 * any socket, and uv_run(UV_RUN_NOWAIT) is called only when it is readable,
 * when its timer is due, or when we asked libwebsockets for a writeable
 * callback in this loop iteration. No thread, no second blocking loop.
 *
 * Memory per connection (about 5 KB resident, docs/benchmarks.md): one
 * struct st_conn (stream layer) and one struct ws_pss (libwebsockets'
 * per-session data, about 150 bytes), libwebsockets' own struct lws and its
 * 2 KiB receive buffer (WS_RX_BUFFER, evloop.c), and the kernel's socket
 * buffers; output only while the peer has not taken it (bounded by
 * tcp_outq_max; emptied buffers go to the relay's spares), input only for a
 * message that came in pieces (bounded by ws_max_message).
 */
#ifndef RDRELAY_WS_RELAY_H
#define RDRELAY_WS_RELAY_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "outq.h"
#include "stream.h"

#define WS_NONE ST_NONE
#define WS_MAX_TRUSTED 16
#define WS_REASON_MAX 96 /* close reason (RFC 6455 allows 123 bytes) */
#define WS_COAP_PATH "/.well-known/coap"
/* at most this much of the output queue per send (also lws's
 * tx_packet_size, so lws never splits one of our sends itself) */
#define WS_TX_MAX 16384

enum ws_timer_kind { WS_T_UV = ST_T_IO };

/* A message arriving in fragments (ws_join.c). */
struct ws_join {
    uint8_t *buf; /* what came so far; kept between messages up to WS_JOIN_KEEP */
    uint32_t len, cap;
};
/* A connection that sent one message in pieces keeps a buffer this large
 * for the next (blocks of 1,024 bytes and their options fit), so a client
 * that always fragments costs no allocation per message; a larger one is
 * freed when its message is done. */
#define WS_JOIN_KEEP 2048u

/* One piece of input as libwebsockets' receive callback hands it. */
struct ws_piece {
    const uint8_t *in;
    size_t len;
    size_t rest; /* bytes of this frame still to come (lws_remaining_packet_payload) */
    bool binary; /* the message's opcode (a continuation keeps its first frame's) */
    bool final;  /* the frame is the message's last (lws_is_final_fragment) */
};

enum ws_join_verdict {
    WS_JOIN_MORE,    /* kept: the message is not complete */
    WS_JOIN_MSG,     /* *msg is one whole message; ws_join_next after it */
    WS_JOIN_TEXT,    /* close: a text frame */
    WS_JOIN_TOO_BIG, /* close: over Max-Message-Size */
    WS_JOIN_BAD,     /* close: the message fails ws_msg_check */
    WS_JOIN_NOMEM,   /* close: out of memory */
};

/* libwebsockets' per-session data of a coap connection. */
struct ws_pss {
    struct lws *wsi;
    uint32_t ci; /* stream connection, WS_NONE once it is closed there */
    uint64_t id;
    struct outq out;   /* whole server frames, framed by conn.c */
    struct ws_join in; /* a message arriving in fragments */
    bool releasing;    /* Release: close once out is empty */
    bool closing;      /* send a close frame (code, reason) and hang up */
    bool close_sent;   /* it went out: wait for the peer's (or the timeout) */
    bool dead;         /* libwebsockets is closing it: no more callbacks */
    bool write_asked;  /* a writeable callback is pending (conn.c) */
    uint16_t close_code;
    char reason[WS_REASON_MAX];
};

struct ws_counters {
    uint64_t upgrades_refused, http_refused, text_frames, length_nibble;
    uint64_t closes_sent, http_files, uv_runs;
};

struct ws_relay {
    struct st_relay s; /* the stream layer (and in it the relay core) */

    struct rc_listeners lis, tls_lis;
    struct lws_context *ctx;
    struct lws_vhost *vh, *tls_vh;
    uv_loop_t loop;
    bool loop_ok;
    struct rc_handler uvh;                      /* uv_backend_fd in the core's registry */
    struct rr_timer uvt;                        /* uv_backend_timeout */
    bool uv_due;                                /* run libuv at the end of this loop iteration */
    bool ctx_dying;                             /* lws_context_destroy: closes are not ours */
    struct lws **wsi;                           /* stream slot -> its wsi */
    struct outq_spare spare;                    /* emptied output buffers, for the next message */
    struct lws_http_mount mounts[2];            /* /.well-known/coap, / */
    struct lws_protocol_vhost_options mimes[4]; /* content types lws lacks */
    struct rr_addr trusted[WS_MAX_TRUSTED];
    int ntrusted;
    struct ws_counters c;
};

/* evloop.c */
/* The lws context (foreign libuv loop), its vhosts and our listeners
 * (ws_listen; ws_tls_listen when ws_tls_cert and ws_tls_key are set), all
 * in the core's registry. 0 / -1. */
int ws_evloop_open(struct ws_relay *r);
void ws_evloop_close(struct ws_relay *r);
/* libwebsockets has work (a writeable callback asked for): run libuv at
 * the end of this loop iteration. */
void ws_evloop_kick(struct ws_relay *r);
void ws_evloop_on_timer(struct ws_relay *r, uint64_t now);
void ws_evloop_flush(struct ws_relay *r);

/* http.c */
/* ws_www_dir, or the source tree's www/ when it is empty. */
const char *ws_www_dir(const struct ws_relay *r);
/* Fill r->mounts (the first of the list) for ws_www_dir. */
void ws_http_mounts_init(struct ws_relay *r);
int ws_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);

/* xff.c */
/* The client a trusted proxy names in X-Forwarded-For: its last entry (the
 * address that connected to that proxy; earlier entries are the client's
 * own claims), an IPv4 or IPv6 literal, port 0. 0 / -1. */
int ws_xff_client(const char *xff, struct rr_addr *a);

/* ws_rules.c: pure checks of the peer's input */
/* Does the comma list of subprotocols (Sec-WebSocket-Protocol) offer
 * "coap"? */
bool ws_offers_coap(const char *list);
/* An upgrade request's Upgrade header, path and subprotocol list (NULL:
 * absent): 0 to accept, else the HTTP status to refuse with and *text its
 * reason. */
unsigned ws_upgrade_check(const char *upgrade, const char *uri, const char *protocols,
                          const char **text);
/* One whole message from a binary frame: NULL if it may go to the stream
 * layer, else why the connection is closed (protocol error). */
const char *ws_msg_check(const uint8_t *buf, size_t len);

/* ws_join.c: joining frames and their pieces into messages */
/* Take piece pc of a message of at most max bytes: WS_JOIN_MORE, or
 * WS_JOIN_MSG with *msg / *msg_len the whole message (pc->in itself when
 * it came in one piece: no copy), or a close verdict with *code (RFC 6455
 * status) and why. After WS_JOIN_MSG ws_join_next; when the connection
 * goes, ws_join_free. */
enum ws_join_verdict ws_join_feed(struct ws_join *j, const struct ws_piece *pc, uint32_t max,
                                  const uint8_t **msg, size_t *msg_len, uint16_t *code, char *why,
                                  size_t why_len);
/* The message was taken: start the next (the buffer stays up to WS_JOIN_KEEP). */
void ws_join_next(struct ws_join *j);
/* The connection goes: free what is kept. */
void ws_join_free(struct ws_join *j);

/* conn.c */
extern const struct st_io ws_io;
int ws_conns_init(struct ws_relay *r);
void ws_conns_free(struct ws_relay *r);
int ws_coap_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);
/* The client's address: the socket's peer, or the last X-Forwarded-For
 * entry when the peer is a trusted proxy (ws_trusted_proxies). */
void ws_client_addr(struct ws_relay *r, struct lws *wsi, struct rr_addr *remote,
                    struct rr_addr *local);

#endif
