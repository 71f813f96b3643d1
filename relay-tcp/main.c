/*
 * main.c - rdrelay-tcp: the CoAP over TCP (RFC 8323) relay worker. Reads
 * the shared configuration (relay-core/cmdline.c), sets up the state in one
 * struct rt_relay (the relay core embedded in it) and runs the core's loop
 * (relay-core/loop.c: one epoll registry holding every listener,
 * connection and ZeroMQ socket, so 10,000 connections cost no more per
 * wake-up than one) with this relay plugged in as a transport
 * (transport.c). Exit codes: 0 clean stop, 1 runtime failure (restart), 2
 * configuration error (do not restart).
 */
#include <stddef.h>
#include <stdlib.h>

#include "log.h"
#include "tcp_relay.h"

static const struct rc_cmdline rt_cmdline = {
    .prog = "rdrelay-tcp",
    .blurb = "The CoAP over TCP (RFC 8323) relay worker of rdrelay: owns the public TCP\n"
             "listeners (tcp_listen), hands Resource Directory requests to\n"
             "rdrelay-frontend with the connection they came over, and proxies requests\n"
             "for registered endpoints over the connection the endpoint registered on,\n"
             "or through the relay that holds the endpoint's path (cross-transport).\n"
             "Limits are settings: tcp_max_message (our Max-Message-Size),\n"
             "tcp_outq_max, tcp_max_conns, tcp_max_inflight, tcp_pong_timeout_ms; a peer\n"
             "with no CSM or stuck mid-message for tcp_timeout_ms gets an Abort; idle\n"
             "connections get a Ping every nat_keepalive seconds.",
    .listen_offset = offsetof(struct rr_config, tcp_listen),
    .name_offset = offsetof(struct rr_config, tcp_relay_name),
    .listen_setting = "tcp_listen",
    .name_setting = "tcp_relay_name",
};

int main(int argc, char **argv)
{
    struct rt_relay *r = calloc(1, sizeof(*r));
    int rc = 1;

    if (!r)
        fatalx("out of memory");
    r->s.core.epfd = -1;
    int cl = rc_cmdline(&rt_cmdline, &r->s.cfg, argc, argv);
    if (cl != 0) {
        free(r);
        return cl == 1 ? 0 : 2;
    }
    const struct st_limits lim = {
        .max_conns = r->s.cfg.tcp_max_conns,
        .max_message = r->s.cfg.tcp_max_message,
        .max_inflight = r->s.cfg.tcp_max_inflight,
        .timeout_ms = r->s.cfg.tcp_timeout_ms,
        .pong_timeout_ms = r->s.cfg.tcp_pong_timeout_ms,
    };
    if (rc_signals_install() < 0 ||
        st_init(&r->s, RR_TRANSPORT_TCP, r->s.cfg.tcp_relay_name, &rt_io, r, &lim) < 0 ||
        rt_conns_init(r) < 0 || rt_listen_all(r) < 0 || rc_ctl_open(&r->s.core) < 0 ||
        rc_xfwd_open(&r->s.core) < 0)
        goto done;
    log_info("rdrelay-tcp %s started as relay \"%s\": proxy domain \"%s\", %d listener(s), %u "
             "connections max, %u exchanges",
             RDRELAY_VERSION, r->s.core.name, r->s.cfg.proxy_domain, r->lis.n, r->s.nconns_max,
             r->s.nux);
    rc_ctl_send_hello(&r->s.core);
    if (rc_run(&r->s.core) == 0)
        rc = 0;
done:
    rc_ctl_close(&r->s.core);
    rt_listen_close(r);
    st_free(&r->s); /* closes the connections (rt_io.closed) */
    rt_conns_free(r);
    free(r);
    return rc;
}
