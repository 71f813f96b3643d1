/*
 * main.c - rdrelay-tcp: the CoAP over TCP (RFC 8323) relay worker. Only
 * what differs from relay-ws: the --help text, the TCP limits and the
 * steps of struct st_program (connections and listeners, conn.c). The
 * start-up, the core's loop (relay-core/loop.c: one epoll registry holding
 * every listener, connection and ZeroMQ socket, so 10,000 connections cost
 * no more per wake-up than one) and the exit codes (0 clean stop, 1
 * runtime failure, 2 configuration error) are st_main's
 * (relay-core/stream_transport.c).
 */
#include <stddef.h>
#include <stdio.h>

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
    RC_CMDLINE_SETTINGS(tcp),
};

static int rt_open(void *ioa)
{
    struct rt_relay *r = ioa;
    return rt_conns_init(r) < 0 || rt_listen_all(r) < 0 ? -1 : 0;
}

static void rt_describe(void *ioa, char *buf, size_t len)
{
    const struct rt_relay *r = ioa;
    snprintf(buf, len, "%d listener(s)", r->lis.n);
}

static void rt_close(void *ioa)
{
    rt_listen_close(ioa);
}

static void rt_free(void *ioa)
{
    rt_conns_free(ioa);
}

static const struct st_program rt_program = {
    .cmdline = &rt_cmdline,
    .transport = RR_TRANSPORT_TCP,
    .io = &rt_io,
    .size = sizeof(struct rt_relay),
    .s_offset = offsetof(struct rt_relay, s),
    .max_conns_offset = offsetof(struct rr_config, tcp_max_conns),
    .max_message_offset = offsetof(struct rr_config, tcp_max_message),
    .open = rt_open,
    .describe = rt_describe,
    .close = rt_close,
    .free = rt_free,
};

int main(int argc, char **argv)
{
    return st_main(&rt_program, argc, argv);
}
