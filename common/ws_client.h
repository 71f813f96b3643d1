/*
 * ws_client.h - the client side of CoAP over WebSockets (RFC 8323 §4 on
 * RFC 6455): the opening handshake (GET /.well-known/coap, subprotocol
 * "coap"), client frames (always masked), a decoder for the server's frames
 * (binary messages, reassembled when fragmented; Ping answered by the
 * caller with Pong; Close), and the conversion between the TCP framing of
 * RFC 8323 §3.2 and the WebSocket framing of §4.2 (no Length field).
 * Owns: the receive buffers of a struct ws_rx. Talks to: one connected
 * stream socket of the caller's (rdrelay-connect serve, rr-registrant,
 * rr-wsclient), nothing else.
 *
 * Why hand-rolled framing and not libwebsockets' client API: every user
 * runs its own poll loop over several sockets (connect/tcp.c, the
 * fixtures) or is a blocking one-shot client; libwebsockets' client wants
 * to own the loop (lws_service, callbacks, its own context per process)
 * and 4.1.6 cannot be driven from a foreign poll loop without its external
 * poll-array glue. The client half of RFC 6455 is small (masking, a
 * 2/4/10-byte header, three control opcodes) and fully unit-tested here;
 * the SHA-1 and base64 of the handshake are libwebsockets' (lws_SHA1,
 * lws_b64_encode_string), so no crypto is written twice, and TLS
 * (coaps+ws://) is OpenSSL's, which libwebsockets is built on (ws_io.c).
 */
#ifndef RDRELAY_WS_CLIENT_H
#define RDRELAY_WS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WS_COAP_PATH "/.well-known/coap"
#define WS_COAP_PROTOCOL "coap"
#define WS_COAP_PORT 8683
#define WS_COAPS_PORT 8684
#define WS_MAX_HEADER 14 /* 2 + 8 extended length + 4 mask */

enum ws_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xa,
};

/* RFC 6455 §7.4.1 close codes we send */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_PROTOCOL 1002
#define WS_CLOSE_UNSUPPORTED 1003
#define WS_CLOSE_TOO_BIG 1009

/* ---- pure codec (no I/O) ---- */

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2): out must
 * hold 29 bytes. 0 / -1. */
int ws_accept_key(const char *key, char *out, size_t outlen);

/* The opening handshake request (RFC 6455 §4.1). key is the base64 nonce.
 * Returns the length, or -1 if it does not fit. */
int ws_handshake_request(char *out, size_t cap, const char *host, uint16_t port, const char *path,
                         const char *key);

/* Check a complete handshake response (through the empty line): status 101,
 * Upgrade: websocket, Connection: upgrade, the right Sec-WebSocket-Accept and
 * Sec-WebSocket-Protocol: coap. 0, or -1 with the reason in err. */
int ws_handshake_check(const char *resp, size_t len, const char *key, char *err, size_t errlen);

/* The header of a frame (FIN set) of len payload bytes without its masking
 * key: 2, 4 or 10 bytes. */
static inline size_t ws_frame_header_len(size_t len)
{
    return len < 126 ? 2 : len <= 0xffff ? 4 : 10;
}
/* Write that header (the mask bit set if masked: the caller appends the
 * key); returns its length. relay-ws frames its server frames with it too
 * (relay-ws/conn.c). */
size_t ws_frame_header(uint8_t *out, unsigned opcode, size_t len, bool masked);
/* The whole size of the well-formed frame (header, key, payload) that
 * starts at p, e.g. in a queue of frames we wrote ourselves. */
size_t ws_frame_size(const uint8_t *p);

/* One client frame (FIN set, masked with mask) of payload into out.
 * Returns the frame length, or -1 if cap is too small. */
ssize_t ws_frame_encode(uint8_t *out, size_t cap, unsigned opcode, const uint8_t *payload,
                        size_t len, uint32_t mask);

/* What the decoder found. */
enum ws_ev_kind {
    WS_EV_NONE,    /* need more bytes */
    WS_EV_MESSAGE, /* a whole binary message: data/len */
    WS_EV_PING,    /* answer with a Pong carrying data/len */
    WS_EV_PONG,
    WS_EV_CLOSE, /* the server closed: code (0 if none), reason data/len */
    WS_EV_ERROR, /* protocol violation: close with code, reason in data */
};

struct ws_event {
    enum ws_ev_kind kind;
    const uint8_t *data; /* valid until the next ws_rx_feed / ws_rx_free */
    size_t len;
    uint16_t code;
};

/* The server's byte stream -> events. */
struct ws_rx {
    uint8_t *buf; /* received bytes not yet decoded, from off */
    size_t off, len, cap;
    uint8_t *msg; /* fragments of a message being reassembled */
    size_t msg_len, msg_cap;
    bool in_frag;
    size_t max_msg; /* larger messages are a WS_CLOSE_TOO_BIG error */
};

void ws_rx_init(struct ws_rx *rx, size_t max_msg);
void ws_rx_free(struct ws_rx *rx);
/* Append received bytes. 0 / -1 (out of memory or over the limit). */
int ws_rx_feed(struct ws_rx *rx, const uint8_t *data, size_t n);
/* The next event; WS_EV_NONE when more bytes are needed. */
void ws_rx_next(struct ws_rx *rx, struct ws_event *ev);

/* RFC 8323 §3.2 TCP frame <-> §4.2 WebSocket message. tcp_to_ws rewrites
 * in place and returns the start of the WebSocket message inside buf (the
 * extended length bytes are dropped) with its length in *wlen; ws_to_tcp
 * writes the TCP form into out. NULL / -1 when malformed or too large. */
uint8_t *ws_coap_from_tcp(uint8_t *buf, size_t len, size_t *wlen);
ssize_t ws_coap_to_tcp(const uint8_t *ws, size_t len, uint8_t *out, size_t cap);

/* ---- I/O on a connected stream socket (blocking or not) ---- */

/* A connection: the socket, and its TLS state for coaps+ws:// (ws_io.c,
 * OpenSSL). ws:// leaves ssl NULL. */
struct ssl_st;
struct ssl_ctx_st;
struct ws_conn {
    int fd;
    struct ssl_st *ssl;
    struct ssl_ctx_st *ctx;
};

struct ws_tls_opts {
    bool on;             /* coaps+ws:// */
    const char *ca_file; /* NULL: the system's CAs */
    bool insecure;       /* no certificate check (tests only) */
};

void ws_conn_init(struct ws_conn *c, int fd);
/* TLS on the connected socket (made non-blocking), bounded by timeout_ms;
 * the certificate is checked against ca_file (or the system's CAs) and
 * host (a name, or an IP literal) unless insecure. 0 / -1 with err. */
int ws_tls_start(struct ws_conn *c, const char *host, const struct ws_tls_opts *t,
                 unsigned timeout_ms, char *err, size_t errlen);
/* Free the TLS state (close_notify first); the socket stays open. */
void ws_conn_release(struct ws_conn *c);
/* ws_conn_release, then close the socket (fd = -1). */
void ws_conn_close(struct ws_conn *c);
/* send/recv on the connection (non-blocking; errno EAGAIN to wait), and
 * whether TLS holds decrypted bytes that poll cannot see. */
ssize_t ws_io_send(struct ws_conn *c, const void *p, size_t len);
ssize_t ws_io_recv(struct ws_conn *c, void *buf, size_t cap);
bool ws_io_pending(const struct ws_conn *c);

/* Send one frame; waits (poll) at most timeout_ms for the socket to take
 * it. 0 / -1. */
int ws_send(struct ws_conn *c, unsigned opcode, const uint8_t *payload, size_t len,
            unsigned timeout_ms);
/* Send a Close frame with a status code and reason. */
int ws_send_close(struct ws_conn *c, uint16_t code, const char *reason, unsigned timeout_ms);

/* The opening handshake on a connected socket (after ws_tls_start for
 * coaps+ws): request, then the response within timeout_ms. Bytes the
 * server sent after the response (its first frames) go into rx. 0, or -1
 * with the reason in err. */
int ws_client_handshake(struct ws_conn *c, const char *host, uint16_t port, const char *path,
                        struct ws_rx *rx, unsigned timeout_ms, char *err, size_t errlen);

/* The next event of rx, WebSocket Pings answered (Pong, bounded by
 * timeout_ms) and Pongs skipped: never WS_EV_PING or WS_EV_PONG. */
void ws_conn_next(struct ws_conn *c, struct ws_rx *rx, struct ws_event *ev, unsigned timeout_ms);

/* Read what the connection has into rx (one recv; with TLS, until no
 * decrypted bytes are left). >0 bytes read, 0 on EOF, -1 on error (errno;
 * EAGAIN when nothing was there). */
ssize_t ws_rx_read(struct ws_conn *c, struct ws_rx *rx);

/* Resolve host, connect, TLS when tls->on (tls may be NULL), and the
 * handshake at path, all within timeout_ms. 0 with *c open (non-blocking,
 * TCP_NODELAY), or -1 with the reason in err. */
int ws_client_open(const char *host, uint16_t port, const char *path, const struct ws_tls_opts *tls,
                   struct ws_conn *c, struct ws_rx *rx, unsigned timeout_ms, char *err,
                   size_t errlen);

/* One CoAP message in RFC 8323 §4 form as one binary frame. 0 / -1. */
struct coap_msg;
int ws_send_coap(struct ws_conn *c, const struct coap_msg *m, unsigned timeout_ms);

/* Parse "coap+ws://HOST[:PORT][/path][?query]" or "coaps+ws://..." (HOST
 * may be [v6]); the port defaults to 8683 (8684 with TLS), *tls says which
 * (tls may be NULL: then only coap+ws://). host, path and query are
 * copied. 0 / -1. */
int ws_uri_split(const char *uri, char *host, size_t hostlen, uint16_t *port, char *path,
                 size_t pathlen, char *query, size_t querylen, bool *tls);

#endif
