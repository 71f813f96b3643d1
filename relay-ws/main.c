/*
 * main.c - rdrelay-ws: the CoAP over WebSockets (RFC 8323 §4) relay
 * worker. Only what differs from relay-tcp: the --help text, the WebSocket
 * limits, the SIGTERM step for the TLS listeners and the steps of struct
 * st_program (connections, libwebsockets inside the core's loop,
 * evloop.c). The start-up, the loop and the exit codes (0 clean stop, 1
 * runtime failure, 2 configuration error) are st_main's
 * (relay-core/stream_transport.c).
 */
#include <stddef.h>
#include <stdio.h>

#include "log.h"
#include "ws_relay.h"

static const struct rc_cmdline ws_cmdline = {
    .prog = "rdrelay-ws",
    .blurb = "The CoAP over WebSockets (RFC 8323 section 4, coap+ws://) relay worker of\n"
             "rdrelay: owns the public WebSocket listeners (ws_listen, default port 8683;\n"
             "coaps+ws:// on ws_tls_listen, 8684, when ws_tls_cert and ws_tls_key are\n"
             "set), takes upgrades at /.well-known/coap with the subprotocol coap, hands\n"
             "Resource Directory requests to rdrelay-frontend with the connection they\n"
             "came over, and proxies requests for registered endpoints over the\n"
             "WebSocket the endpoint registered on, or through the relay that holds the\n"
             "endpoint's path (cross-transport). Serves the status page's files from\n"
             "ws_www_dir over HTTP on the same port. Limits: ws_max_message (our\n"
             "Max-Message-Size), ws_max_conns; tcp_outq_max, tcp_max_inflight,\n"
             "tcp_timeout_ms and tcp_pong_timeout_ms apply as for TCP; idle connections\n"
             "get a CoAP Ping every nat_keepalive seconds. X-Forwarded-For is believed\n"
             "only from ws_trusted_proxies.",
    RC_CMDLINE_SETTINGS(ws),
};

/* SIGTERM: the TLS listeners too (the stream layer knows the plain ones) */
static void ws_stop(void *tp, bool final, uint64_t now)
{
    struct st_relay *s = tp;
    struct ws_relay *r = s->ioa;

    if (r->tls_lis.n)
        rc_listeners_stop(&s->core, &r->tls_lis);
    st_stop(tp, final, now);
}

static int ws_open(void *ioa)
{
    struct ws_relay *r = ioa;
    if (ws_conns_init(r) < 0 || ws_evloop_open(r) < 0)
        return -1;
    r->s.tp.stop = ws_stop;
    return 0;
}

static void ws_describe(void *ioa, char *buf, size_t len)
{
    const struct ws_relay *r = ioa;
    snprintf(buf, len, "%d listener(s)%s, files from %s", r->lis.n, r->tls_lis.n ? " + TLS" : "",
             ws_www_dir(r));
}

static void ws_close(void *ioa)
{
    ws_evloop_close(ioa);
}

static void ws_free(void *ioa)
{
    ws_conns_free(ioa);
}

static const struct st_program ws_program = {
    .cmdline = &ws_cmdline,
    .transport = RR_TRANSPORT_WS,
    .io = &ws_io,
    .size = sizeof(struct ws_relay),
    .s_offset = offsetof(struct ws_relay, s),
    .max_conns_offset = offsetof(struct rr_config, ws_max_conns),
    .max_message_offset = offsetof(struct rr_config, ws_max_message),
    .open = ws_open,
    .describe = ws_describe,
    .close = ws_close,
    .free = ws_free,
};

int main(int argc, char **argv)
{
    return st_main(&ws_program, argc, argv);
}
