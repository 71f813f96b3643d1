/*
 * sig.c - relay-tcp's glue to the shared RFC 8323 signalling module
 * (relay-core/sig8323.c): how it sends (TCP framing, rt_conn_send_msg),
 * closes, releases and arms a connection's deadline timer, and the
 * parameters (our Max-Message-Size tcp_max_message, tcp_timeout_ms,
 * nat_keepalive, tcp_pong_timeout_ms). Owns nothing.
 * Talks to conn.c and sig8323.c.
 */
#include <stdio.h>

#include "tcp_relay.h"

static int op_send(void *arg, uint32_t ci, const struct coap_msg *m)
{
    return rt_conn_send_msg(arg, ci, m);
}

static void op_close(void *arg, uint32_t ci, const char *why, uint64_t now)
{
    rt_conn_close(arg, ci, why, now);
}

static void op_release(void *arg, uint32_t ci, uint64_t now)
{
    rt_conn_close_after_flush(arg, ci, now);
}

static void op_arm(void *arg, uint32_t ci, uint64_t due)
{
    struct rt_relay *r = arg;
    if (due == UINT64_MAX)
        th_cancel(&r->core.timers, &r->conns[ci].t);
    else
        th_arm(&r->core.timers, &r->conns[ci].t, due);
}

static void op_describe(void *arg, uint32_t ci, char *buf, size_t len)
{
    struct rt_relay *r = arg;
    char a[RR_ADDRSTRLEN];
    snprintf(buf, len, "conn %llx (%s)", (unsigned long long)r->conns[ci].id,
             addr_to_str(&r->conns[ci].remote, a, sizeof(a)));
}

static const struct sig_ops rt_sig_ops = {
    .send = op_send,
    .close = op_close,
    .release = op_release,
    .arm = op_arm,
    .describe = op_describe,
};

static struct sig_ctx ctx(struct rt_relay *r)
{
    return (struct sig_ctx){.ops = &rt_sig_ops,
                            .arg = r,
                            .our_mms = r->cfg.tcp_max_message,
                            .timeout_ms = r->cfg.tcp_timeout_ms,
                            .ka_ms = r->cfg.nat_keepalive * 1000u,
                            .pong_timeout_ms = r->cfg.tcp_pong_timeout_ms,
                            .c = &r->c.sig};
}

void rt_sig_open(struct rt_relay *r, uint32_t ci, uint64_t now)
{
    struct sig_ctx x = ctx(r);
    sig_conn_open(&x, &r->conns[ci].sig, ci, now);
}

void rt_sig_abort(struct rt_relay *r, uint32_t ci, const char *why, uint16_t bad_opt, uint64_t now)
{
    struct sig_ctx x = ctx(r);
    if (r->conns[ci].state != RC_FREE)
        sig_abort(&x, ci, why, bad_opt, now);
}

void rt_sig_rearm(struct rt_relay *r, uint32_t ci)
{
    struct sig_ctx x = ctx(r);
    if (r->conns[ci].state != RC_FREE)
        sig_rearm(&x, &r->conns[ci].sig, ci);
}

void rt_sig_on_timer(struct rt_relay *r, uint32_t ci, uint64_t now)
{
    struct sig_ctx x = ctx(r);
    if (r->conns[ci].state != RC_FREE)
        sig_on_timer(&x, &r->conns[ci].sig, ci, now);
}

void rt_sig_on_message(struct rt_relay *r, uint32_t ci, const struct coap_msg *m, uint64_t now)
{
    struct sig_ctx x = ctx(r);
    sig_on_message(&x, &r->conns[ci].sig, ci, m, now);
}
