/*
 * serve.h - what `rdrelay-connect serve` shares between its UDP path
 * (serve.c) and its TCP path (tcp.c, RFC 8323): the options, the
 * registration helpers both transports use (registration query, discovery
 * and Location-Path parsing, the host name from the endpoint lookup, the
 * refresh interval, the printed line), and the TCP entry point (which also
 * runs serve over WebSockets).
 * Owns nothing. Talks to nothing itself.
 */
#ifndef RDRELAY_CONNECT_SERVE_H
#define RDRELAY_CONNECT_SERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "connect.h"
#include "ws_client.h"

struct coap_msg;

struct serve_opts {
    struct cn_uri rd;
    char rd_text[CN_PATHLEN];
    char d[64];
    const char *links;
    const char *proxy_domain;
    char secret[201]; /* --secret / --secret-file: sent as sec= ("" = none) */
    bool json;
    bool tcp;               /* --transport tcp or a coap+tcp:// --rd (and over WebSockets) */
    bool ws;                /* --transport ws or a coap+ws:// --rd: tcp.c on a WebSocket */
    struct ws_tls_opts tls; /* coaps+ws:// (--ca, --insecure) */
    uint32_t lt;            /* 0: not sent, the RD's default applies */
    unsigned timeout_ms;
    unsigned ping_ms;
    unsigned probe_ms;
};

/* One name served over TCP: its local server and the links it registers. */
struct serve_target {
    const char *ep;
    const struct cn_uri *local;
    const char *links;
};

/* The registration query: ep=..[&d=..]&proxy=yes[&lt=..][&sec=..]. */
void serve_reg_query(const struct serve_opts *o, const char *ep, char *q, size_t qlen);
/* The query of a refresh or DELETE: "sec=.." with a secret, else NULL. */
const char *serve_auth_query(const struct serve_opts *o, char *q, size_t qlen);
/* Location-Path options of a 2.01 -> "/reg/3". 0 / -1. */
int serve_take_location(const struct coap_msg *m, char *out, size_t outlen);
/* The registration interface from a discovery answer ("/rd" by default). */
void serve_take_iface(const struct coap_msg *m, char *out, size_t outlen);
/* The host name from an endpoint lookup answer (m may be NULL), falling
 * back to --proxy-domain. host is "" when neither gives one; *port is the
 * link's port="N" (port-based hosting), 0 when it has none. */
void serve_take_host(const struct serve_opts *o, const char *ep, const struct coap_msg *m,
                     char *host, size_t hostlen, unsigned *port);
uint64_t serve_refresh_interval_ms(const struct serve_opts *o);
/* The line (or JSON object) that tells the operator the host name and
 * the hosting port (0: none). */
void serve_print(const struct serve_opts *o, const char *ep, const char *host, unsigned port,
                 const char *reg_loc, const struct rr_addr *local);

/* tcp.c: serve the targets over one RFC 8323 connection (TCP, or a
 * WebSocket when o->ws) each until SIGINT/SIGTERM. Returns the exit code. */
int serve_tcp_run(const struct serve_opts *o, const struct serve_target *t, unsigned n);

#endif
