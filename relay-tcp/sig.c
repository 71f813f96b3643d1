/*
 * sig.c - RFC 8323 §5 signalling on relay-tcp's connections.
 * Owns each connection's deadline timer and the signalling decisions:
 *   - our CSM is sent at once on accept (Max-Message-Size = r->cfg.tcp_max_message,
 *     Block-Wise-Transfer); the peer's CSM must be its first message
 *     (§5.3: a missing or invalid CSM aborts the connection) and must come
 *     within tcp_timeout_ms; a later CSM updates the settings;
 *   - Ping is answered with Pong (same token); Release closes the
 *     connection once our queued output is out; Abort closes it at once;
 *   - a message that stays incomplete for tcp_timeout_ms is aborted;
 *   - an idle connection (nothing received for nat_keepalive seconds) gets a
 *     Ping; no Pong (or anything else) within r->cfg.tcp_pong_timeout_ms closes it,
 *     so a registrant whose path died is found out and its routes turn
 *     unreachable.
 * Talks to conn.c (writes, close).
 */
#include <string.h>

#include "log.h"
#include "tcp_relay.h"

void rt_sig_send_csm(struct rt_relay *r, uint32_t ci)
{
    struct coap_msg m;
    uint8_t v[4];

    coap_msg_init(&m);
    m.code = COAP_SIG_CSM;
    coap_msg_add_opt_uint(&m, RT_SIG_OPT_MAX_MESSAGE_SIZE, r->cfg.tcp_max_message, v);
    coap_msg_add_opt(&m, RT_SIG_OPT_BLOCK_WISE, NULL, 0);
    rt_conn_send_msg(r, ci, &m);
}

void rt_sig_abort(struct rt_relay *r, uint32_t ci, const char *why, uint16_t bad_opt, uint64_t now)
{
    struct coap_msg m;
    uint8_t v[4], b[160];
    char a[RR_ADDRSTRLEN];
    struct rt_conn *c = &r->conns[ci];

    if (c->state == RC_FREE)
        return;
    coap_msg_init(&m);
    m.code = COAP_SIG_ABORT;
    if (bad_opt)
        coap_msg_add_opt_uint(&m, RT_SIG_OPT_BAD_CSM_OPTION, bad_opt, v);
    m.payload = (const uint8_t *)why;
    m.payload_len = strlen(why);
    ssize_t n = coap_msg_serialize_tcp(&m, b, sizeof(b));
    /* best effort, straight to the kernel: the connection ends anyway */
    if (n > 0 && c->state == RC_OPEN)
        rt_conn_write(r, ci, b, (size_t)n);
    r->c.aborts_sent++;
    log_info("abort conn %llx (%s): %s", (unsigned long long)c->id,
             addr_to_str(&c->remote, a, sizeof(a)), why);
    rt_conn_close(r, ci, why, now);
}

void rt_sig_rearm(struct rt_relay *r, uint32_t ci)
{
    struct rt_conn *c = &r->conns[ci];
    uint64_t due = UINT64_MAX;
    uint32_t ka_ms = r->cfg.nat_keepalive * 1000u;

    if (c->state == RC_FREE)
        return;
    if (!c->peer_csm)
        due = c->opened_ms + r->cfg.tcp_timeout_ms;
    if (c->partial_since_ms && c->partial_since_ms + r->cfg.tcp_timeout_ms < due)
        due = c->partial_since_ms + r->cfg.tcp_timeout_ms;
    if (c->ping_out) {
        if (c->ping_sent_ms + r->cfg.tcp_pong_timeout_ms < due)
            due = c->ping_sent_ms + r->cfg.tcp_pong_timeout_ms;
    } else if (ka_ms && c->peer_csm && c->last_rx_ms + ka_ms < due) {
        due = c->last_rx_ms + ka_ms;
    }
    if (due == UINT64_MAX)
        th_cancel(&r->core.timers, &c->t);
    else
        th_arm(&r->core.timers, &c->t, due);
}

void rt_sig_on_timer(struct rt_relay *r, uint32_t ci, uint64_t now)
{
    struct rt_conn *c = &r->conns[ci];
    uint32_t ka_ms = r->cfg.nat_keepalive * 1000u;
    char why[64];

    if (c->state == RC_FREE)
        return;
    if (!c->peer_csm && now >= c->opened_ms + r->cfg.tcp_timeout_ms) {
        r->c.csm_timeouts++;
        snprintf(why, sizeof(why), "no CSM within %u ms", (unsigned)r->cfg.tcp_timeout_ms);
        rt_sig_abort(r, ci, why, 0, now);
        return;
    }
    if (c->partial_since_ms && now >= c->partial_since_ms + r->cfg.tcp_timeout_ms) {
        r->c.partial_timeouts++;
        snprintf(why, sizeof(why), "incomplete message for %u ms", (unsigned)r->cfg.tcp_timeout_ms);
        rt_sig_abort(r, ci, why, 0, now);
        return;
    }
    if (c->ping_out && now >= c->ping_sent_ms + r->cfg.tcp_pong_timeout_ms) {
        r->c.pong_timeouts++;
        rt_conn_close(r, ci, "no Pong to a keepalive Ping", now);
        return;
    }
    if (!c->ping_out && ka_ms && c->peer_csm && now >= c->last_rx_ms + ka_ms) {
        struct coap_msg m;
        coap_msg_init(&m);
        m.code = COAP_SIG_PING;
        c->ping_out = true;
        c->ping_sent_ms = now;
        r->c.pings_sent++;
        if (rt_conn_send_msg(r, ci, &m) < 0)
            return;
    }
    rt_sig_rearm(r, ci);
}

void rt_sig_on_message(struct rt_relay *r, uint32_t ci, const struct coap_msg *m, uint64_t now)
{
    struct rt_conn *c = &r->conns[ci];
    char a[RR_ADDRSTRLEN];

    if (!c->peer_csm && m->code != COAP_SIG_CSM) {
        rt_sig_abort(r, ci, "the first message must be a CSM (RFC 8323 5.3)", 0, now);
        return;
    }
    switch (m->code) {
    case COAP_SIG_CSM: {
        uint16_t bad = 0;
        if (rt_csm_apply(m, &c->csm, &bad) < 0) {
            char why[64];
            snprintf(why, sizeof(why), "unknown critical CSM option %u", bad);
            rt_sig_abort(r, ci, why, bad, now);
            return;
        }
        /* a peer that cannot take our own CSM and a small answer is unusable */
        if (c->csm.mms < 64)
            c->csm.mms = 64;
        c->peer_csm = true;
        rt_sig_rearm(r, ci);
        break;
    }
    case COAP_SIG_PING: {
        struct coap_msg pong;
        coap_msg_init(&pong);
        pong.code = COAP_SIG_PONG;
        pong.tkl = m->tkl;
        memcpy(pong.token, m->token, m->tkl);
        r->c.pings_answered++;
        rt_conn_send_msg(r, ci, &pong);
        break;
    }
    case COAP_SIG_PONG:
        c->ping_out = false;
        rt_sig_rearm(r, ci);
        break;
    case COAP_SIG_RELEASE:
        r->c.releases_rcvd++;
        log_debug("conn %llx (%s): Release", (unsigned long long)c->id,
                  addr_to_str(&c->remote, a, sizeof(a)));
        rt_conn_close_after_flush(r, ci, now);
        break;
    case COAP_SIG_ABORT:
        r->c.aborts_rcvd++;
        log_info("conn %llx (%s): Abort from peer: %.*s", (unsigned long long)c->id,
                 addr_to_str(&c->remote, a, sizeof(a)),
                 (int)(m->payload_len > 120 ? 120 : m->payload_len),
                 m->payload ? (const char *)m->payload : "");
        rt_conn_close(r, ci, "aborted by peer", now);
        break;
    default:
        log_debug("unknown signal code %u ignored", m->code);
        break;
    }
}
