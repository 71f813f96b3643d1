/*
 * connect.h - rdrelay-connect, the operators' one command (issue 12).
 * Role: declarations shared by the files of connect/: the three modes
 * (serve.c, reach.c, list.c), the URI and socket helpers (net.c), the small
 * blocking CoAP client used outside the forwarding path (client.c).
 * The message-level forwarder both serve and reach run is in fwd.h.
 * Owns nothing itself. Talks to: rdrelay's relays (the RD and the proxy;
 * UDP, or TCP / WebSocket in serve, list and reach),
 * a local CoAP server (serve), local CoAP clients (reach).
 *
 * Why message level and not libcoap's session layer: rdrelay-connect must be
 * transparent. libcoap 4.3.1's session layer terminates every exchange
 * itself: it picks its own message ids, answers CON requests with its own
 * (immediate empty) ACKs, cannot relay Observe notifications that originate
 * elsewhere, and its block-wise support wants to reassemble bodies. A
 * transparent relay needs exactly the opposite: every option, every block and
 * every notification passing one by one, with only the message id and token
 * rewritten. So connect/ uses plain UDP sockets and common/coap_msg.h (the
 * zero-copy codec, whose option headers are libcoap's coap_opt_parse /
 * coap_opt_encode); libcoap is used for URI splitting (coap_split_uri).
 */
#ifndef RDRELAY_CONNECT_H
#define RDRELAY_CONNECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "strbuf.h"

#define CN_HOSTLEN 256
#define CN_PATHLEN 256
#define CN_DGRAM_MAX 65536 /* largest UDP datagram we accept */

/* Exit codes (BRIEF §7): 2 = bad configuration, do not restart. */
#define CN_EXIT_OK 0
#define CN_EXIT_RUNTIME 1
#define CN_EXIT_CONFIG 2

/* A parsed and resolved coap:// URI. */
struct cn_uri {
    char host[CN_HOSTLEN]; /* as written, without brackets */
    uint16_t port;
    char path[CN_PATHLEN];  /* "/a/b" or "" */
    char query[CN_PATHLEN]; /* "a=b&c" or "" */
    struct rr_addr addr;    /* resolved (first UDP address) */
    bool ws;                /* a coap+ws:// URI (port default 8683) */
    bool wss;               /* coaps+ws:// (TLS; port default 8684; ws set too) */
};

struct ws_tls_opts;

/* Parse "coap://host[:port][/path][?query]" (coap+tcp://, coap[s]+ws:// too
 * when allow_tcp)
 * and resolve the host. 0 / -1 with a reason in err. */
int cn_uri_parse(const char *text, bool allow_tcp, struct cn_uri *u, char *err, size_t errlen);

/* A non-blocking UDP socket of a's family, bound to the wildcard address
 * (so the source address follows routing: address changes are followed),
 * or to bind_to when given. -1 on error (logged). */
int cn_udp_socket(const struct rr_addr *family_of, const struct rr_addr *bind_to);
/* sendto; logs failures at debug (UDP loss is normal). 0 / -1. */
int cn_sendto(int fd, const void *buf, size_t len, const struct rr_addr *to);
/* recvfrom into buf; returns the length, or -1 (EAGAIN: nothing left). */
ssize_t cn_recvfrom(int fd, void *buf, size_t cap, struct rr_addr *from);

struct coap_msg;
/* A 4.01 with an Echo option (RFC 9175 §2.4: rdrelay verifies our address
 * before it sends a larger answer): copy the Echo into buf (cap bytes) and
 * return its length, for the request to be repeated with it; else 0. */
size_t cn_echo_challenge(const struct coap_msg *m, uint8_t *buf, size_t cap);
/* Append Uri-Path options for "/a/b" and Uri-Query options for "a=b&c" to a
 * request; the strings are split in place into storage, which must outlive
 * the message. 0 / -1 if there are too many options. */
int cn_add_path_query(struct coap_msg *m, const char *path, const char *query, char *storage,
                      size_t storage_len);

/* Blocking request on its own socket (outside any forwarding loop): CON with
 * RFC 7252 retransmission, empty ACK + separate response, Block2 followed;
 * or, with ws set, the same over one WebSocket (RFC 8323 §4: CSM first, no
 * message layer, Pings answered).
 * The whole body ends up in body; *code is the final response code.
 * 0 on a response (any code), -1 on timeout or error (err set). */
struct cn_request {
    const struct rr_addr *to;
    uint8_t method;
    const char *path, *query; /* query may be NULL */
    const void *payload;
    size_t payload_len;
    int content_format;            /* -1: none */
    unsigned timeout_ms;           /* overall bound */
    const struct cn_uri *ws;       /* non-NULL: over a WebSocket to this coap+ws:// URI */
    const struct ws_tls_opts *tls; /* for a coaps+ws:// ws */
};
int cn_request_blocking(const struct cn_request *req, uint8_t *code, struct strbuf *body, char *err,
                        size_t errlen);

/* format.c: host of a base URI ("coap://alice.proxy.example.net" ->
 * "alice.proxy.example.net"); the proxy host name rdrelay gives (ep, d)
 * under domain; a JSON string with quotes and escapes. 0 / -1. */
int cn_base_host(const char *base, char *out, size_t outlen);
int cn_host_compute(const char *ep, const char *d, const char *domain, char *out, size_t outlen);
void cn_json_str(FILE *out, const char *s);

/* The three modes: argc/argv start at the mode name. Return the exit code. */
int serve_main(int argc, char **argv);
int reach_main(int argc, char **argv);
int list_main(int argc, char **argv);

/* Signal flags for the event loops (set only by the handlers in main.c). */
struct cn_signals {
    volatile int stop; /* SIGINT / SIGTERM seen */
};
extern struct cn_signals cn_sig;
void cn_install_signals(void);

/* A random 32-bit value (getrandom, falling back to time). */
uint32_t cn_random32(void);

#endif
