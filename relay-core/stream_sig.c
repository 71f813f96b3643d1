/*
 * stream_sig.c - a stream relay's glue to the shared RFC 8323 signalling
 * module (sig8323.c): how it sends (the transport's framing,
 * st_conn_send_msg), closes, releases (st_io.release) and arms a
 * connection's deadline timer, and the parameters (our Max-Message-Size,
 * timeouts: struct st_limits; keepalive: nat_keepalive). Owns nothing.
 * Talks to stream_conn.c, the transport (st_io) and sig8323.c.
 */
#include <stdio.h>

#include "log.h"
#include "stream.h"

static int op_send(void *arg, uint32_t ci, const struct coap_msg *m)
{
    return st_conn_send_msg(arg, ci, m);
}

static void op_close(void *arg, uint32_t ci, const char *why, uint64_t now)
{
    st_conn_close(arg, ci, why, now);
}

static void op_release(void *arg, uint32_t ci, uint64_t now)
{
    struct st_relay *r = arg;
    r->io->release(r->ioa, ci, now);
}

static void op_arm(void *arg, uint32_t ci, uint64_t due)
{
    struct st_relay *r = arg;
    if (due == UINT64_MAX)
        th_cancel(&r->core.timers, &r->conns[ci].t);
    else
        th_arm(&r->core.timers, &r->conns[ci].t, due);
}

static void op_describe(void *arg, uint32_t ci, char *buf, size_t len)
{
    struct st_relay *r = arg;
    char a[RR_ADDRSTRLEN];
    snprintf(buf, len, "conn %llx (%s, %s)", (unsigned long long)r->conns[ci].id,
             addr_to_str(&r->conns[ci].remote, a, sizeof(a)), r->io->what);
}

static const struct sig_ops stream_sig_ops = {
    .send = op_send,
    .close = op_close,
    .release = op_release,
    .arm = op_arm,
    .describe = op_describe,
};

static struct sig_ctx ctx(struct st_relay *r)
{
    return (struct sig_ctx){.ops = &stream_sig_ops,
                            .arg = r,
                            .our_mms = r->lim.max_message,
                            .timeout_ms = r->lim.timeout_ms,
                            .ka_ms = r->cfg.nat_keepalive * 1000u,
                            .pong_timeout_ms = r->lim.pong_timeout_ms,
                            .c = &r->c.sig};
}

void st_sig_open(struct st_relay *r, uint32_t ci, uint64_t now)
{
    struct sig_ctx x = ctx(r);
    struct st_conn *c = &r->conns[ci];
    uint64_t held;

    /* our CSM goes first in any case (RFC 8323 5.3; it also sets the
     * peer's default Max-Message-Size the Abort is sent under) */
    sig_conn_open(&x, &c->sig, ci, now);
    if (c->src_over) {
        /* max_conns_per_source (issue 19): refused with Abort (7.05) and a
         * diagnostic, then closed; the source's other connections stay */
        r->c.conn_src_refused++;
        if (ratelog_allow(&r->conn_src_log, now, &held)) {
            char a[RR_ADDRSTRLEN];
            log_info("limit: connection from %s refused, more than %u open from its source "
                     "(%llu more not logged)",
                     addr_to_str(&c->remote, a, sizeof(a)), r->cfg.max_conns_per_source,
                     (unsigned long long)held);
        }
        st_sig_abort(r, ci, "too many connections from this source", 0, now);
    }
}

void st_sig_abort(struct st_relay *r, uint32_t ci, const char *why, uint16_t bad_opt, uint64_t now)
{
    struct sig_ctx x = ctx(r);
    if (r->conns[ci].state != RC_FREE)
        sig_abort(&x, ci, why, bad_opt, now);
}

void st_sig_release(struct st_relay *r, uint32_t ci)
{
    struct sig_ctx x = ctx(r);
    if (r->conns[ci].state == RC_OPEN)
        sig_release(&x, ci);
}

void st_sig_rearm(struct st_relay *r, uint32_t ci)
{
    struct sig_ctx x = ctx(r);
    if (r->conns[ci].state != RC_FREE)
        sig_rearm(&x, &r->conns[ci].sig, ci);
}

void st_sig_on_timer(struct st_relay *r, uint32_t ci, uint64_t now)
{
    struct sig_ctx x = ctx(r);
    if (r->conns[ci].state != RC_FREE)
        sig_on_timer(&x, &r->conns[ci].sig, ci, now);
}

void st_sig_on_message(struct st_relay *r, uint32_t ci, const struct coap_msg *m, uint64_t now)
{
    struct sig_ctx x = ctx(r);
    sig_on_message(&x, &r->conns[ci].sig, ci, m, now);
}
