/*
 * main.c - rdrelay-ws: the CoAP over WebSockets (RFC 8323 §4) relay
 * worker. Reads the shared configuration (relay-core/cmdline.c), sets up
 * the state in one struct ws_relay (the stream layer and the relay core
 * embedded in it) and runs the core's loop, libwebsockets inside it
 * (evloop.c). Exit codes: 0 clean stop, 1 runtime failure (restart), 2
 * configuration error (do not restart).
 */
#include <stddef.h>
#include <stdlib.h>

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
    .listen_offset = offsetof(struct rr_config, ws_listen),
    .name_offset = offsetof(struct rr_config, ws_relay_name),
    .listen_setting = "ws_listen",
    .name_setting = "ws_relay_name",
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

int main(int argc, char **argv)
{
    struct ws_relay *r = calloc(1, sizeof(*r));
    int rc = 1;

    if (!r)
        fatalx("out of memory");
    r->s.core.epfd = -1;
    int cl = rc_cmdline(&ws_cmdline, &r->s.cfg, argc, argv);
    if (cl != 0) {
        free(r);
        return cl == 1 ? 0 : 2;
    }
    const struct st_limits lim = {
        .max_conns = r->s.cfg.ws_max_conns,
        .max_message = r->s.cfg.ws_max_message,
        .max_inflight = r->s.cfg.tcp_max_inflight,
        .timeout_ms = r->s.cfg.tcp_timeout_ms,
        .pong_timeout_ms = r->s.cfg.tcp_pong_timeout_ms,
    };
    if (rc_signals_install() < 0 ||
        st_init(&r->s, RR_TRANSPORT_WS, r->s.cfg.ws_relay_name, &ws_io, r, &lim) < 0 ||
        ws_conns_init(r) < 0 || ws_evloop_open(r) < 0 || rc_ctl_open(&r->s.core) < 0 ||
        rc_xfwd_open(&r->s.core) < 0)
        goto done;
    r->s.tp.stop = ws_stop;
    log_info("rdrelay-ws %s started as relay \"%s\": proxy domain \"%s\", %d listener(s)%s, %u "
             "connections max, %u exchanges, files from %s",
             RDRELAY_VERSION, r->s.core.name, r->s.cfg.proxy_domain, r->lis.n,
             r->tls_lis.n ? " + TLS" : "", r->s.nconns_max, r->s.nux, ws_www_dir(r));
    rc_ctl_send_hello(&r->s.core);
    if (rc_run(&r->s.core) == 0)
        rc = 0;
done:
    ws_evloop_close(r);
    rc_ctl_close(&r->s.core);
    st_free(&r->s);
    ws_conns_free(r);
    free(r);
    return rc;
}
