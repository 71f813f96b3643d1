/*
 * sig8323.c - implementation of sig8323.h (RFC 8323 §5 signalling).
 */
#include "sig8323.h"

#include <stdio.h>
#include <string.h>

#include "coap_opts.h"
#include "log.h"

int sig_csm_apply(const struct coap_msg *m, struct sig_csm *csm, uint16_t *bad)
{
    for (unsigned i = 0; i < m->nopts; i++) {
        const struct coap_msg_opt *o = &m->opts[i];
        switch (o->num) {
        case SIG_OPT_MAX_MESSAGE_SIZE:
            csm->mms = coap_opt_value_uint(o);
            break;
        case SIG_OPT_BLOCK_WISE:
            csm->bwt = true;
            break;
        default:
            /* RFC 8323 §5.3: unknown elective options are ignored, an
             * unknown critical one aborts the connection */
            if (coap_opt_is_critical(o->num)) {
                *bad = o->num;
                return -1;
            }
            break;
        }
    }
    return 0;
}

void sig_conn_open(const struct sig_ctx *x, struct sig_conn *s, uint32_t ci, uint64_t now)
{
    struct coap_msg m;
    uint8_t v[4];

    memset(s, 0, sizeof(*s));
    s->csm.mms = SIG_BASE_MMS;
    s->opened_ms = s->last_rx_ms = now;
    coap_msg_init(&m);
    m.code = COAP_SIG_CSM;
    coap_msg_add_opt_uint(&m, SIG_OPT_MAX_MESSAGE_SIZE, x->our_mms, v);
    coap_msg_add_opt(&m, SIG_OPT_BLOCK_WISE, NULL, 0);
    x->ops->send(x->arg, ci, &m);
    sig_rearm(x, s, ci);
}

void sig_on_rx(struct sig_conn *s, uint64_t now)
{
    s->last_rx_ms = now;
    s->ping_out = false;
}

void sig_abort(const struct sig_ctx *x, uint32_t ci, const char *why, uint16_t bad_opt,
               uint64_t now)
{
    struct coap_msg m;
    uint8_t v[4];
    char who[96];

    coap_msg_init(&m);
    m.code = COAP_SIG_ABORT;
    if (bad_opt)
        coap_msg_add_opt_uint(&m, SIG_OPT_BAD_CSM_OPTION, bad_opt, v);
    m.payload = (const uint8_t *)why;
    m.payload_len = strlen(why) > 120 ? 120 : strlen(why);
    /* best effort: the connection ends anyway */
    x->ops->send(x->arg, ci, &m);
    x->c->aborts_sent++;
    x->ops->describe(x->arg, ci, who, sizeof(who));
    log_info("abort %s: %s", who, why);
    x->ops->close(x->arg, ci, why, now);
}

void sig_release(const struct sig_ctx *x, uint32_t ci)
{
    struct coap_msg m;
    char who[96];

    coap_msg_init(&m);
    m.code = COAP_SIG_RELEASE;
    /* the connection stays open: answers in flight still travel on it */
    if (x->ops->send(x->arg, ci, &m) == 0)
        x->c->releases_sent++;
    x->ops->describe(x->arg, ci, who, sizeof(who));
    log_debug("release %s: stopping", who);
}

void sig_rearm(const struct sig_ctx *x, struct sig_conn *s, uint32_t ci)
{
    uint64_t due = UINT64_MAX;

    if (!s->peer_csm)
        due = s->opened_ms + x->timeout_ms;
    if (s->partial_since_ms && s->partial_since_ms + x->timeout_ms < due)
        due = s->partial_since_ms + x->timeout_ms;
    if (s->ping_out) {
        if (s->ping_sent_ms + x->pong_timeout_ms < due)
            due = s->ping_sent_ms + x->pong_timeout_ms;
    } else if (x->ka_ms && s->peer_csm && s->last_rx_ms + x->ka_ms < due) {
        due = s->last_rx_ms + x->ka_ms;
    }
    x->ops->arm(x->arg, ci, due);
}

void sig_on_timer(const struct sig_ctx *x, struct sig_conn *s, uint32_t ci, uint64_t now)
{
    char why[64];

    if (!s->peer_csm && now >= s->opened_ms + x->timeout_ms) {
        x->c->csm_timeouts++;
        snprintf(why, sizeof(why), "no CSM within %u ms", (unsigned)x->timeout_ms);
        sig_abort(x, ci, why, 0, now);
        return;
    }
    if (s->partial_since_ms && now >= s->partial_since_ms + x->timeout_ms) {
        x->c->partial_timeouts++;
        snprintf(why, sizeof(why), "incomplete message for %u ms", (unsigned)x->timeout_ms);
        sig_abort(x, ci, why, 0, now);
        return;
    }
    if (s->ping_out && now >= s->ping_sent_ms + x->pong_timeout_ms) {
        x->c->pong_timeouts++;
        x->ops->close(x->arg, ci, "no Pong to a keepalive Ping", now);
        return;
    }
    if (!s->ping_out && x->ka_ms && s->peer_csm && now >= s->last_rx_ms + x->ka_ms) {
        struct coap_msg m;
        coap_msg_init(&m);
        m.code = COAP_SIG_PING;
        s->ping_out = true;
        s->ping_sent_ms = now;
        x->c->pings_sent++;
        if (x->ops->send(x->arg, ci, &m) < 0)
            return;
    }
    sig_rearm(x, s, ci);
}

void sig_on_message(const struct sig_ctx *x, struct sig_conn *s, uint32_t ci,
                    const struct coap_msg *m, uint64_t now)
{
    char who[96];

    if (!s->peer_csm && m->code != COAP_SIG_CSM) {
        sig_abort(x, ci, "the first message must be a CSM (RFC 8323 5.3)", 0, now);
        return;
    }
    switch (m->code) {
    case COAP_SIG_CSM: {
        uint16_t bad = 0;
        if (sig_csm_apply(m, &s->csm, &bad) < 0) {
            char why[64];
            snprintf(why, sizeof(why), "unknown critical CSM option %u", bad);
            sig_abort(x, ci, why, bad, now);
            return;
        }
        /* a peer that cannot take our own CSM and a small answer is unusable */
        if (s->csm.mms < 64)
            s->csm.mms = 64;
        s->peer_csm = true;
        sig_rearm(x, s, ci);
        break;
    }
    case COAP_SIG_PING: {
        struct coap_msg pong;
        coap_msg_init(&pong);
        pong.code = COAP_SIG_PONG;
        pong.tkl = m->tkl;
        memcpy(pong.token, m->token, m->tkl);
        x->c->pings_answered++;
        x->ops->send(x->arg, ci, &pong);
        break;
    }
    case COAP_SIG_PONG:
        s->ping_out = false;
        sig_rearm(x, s, ci);
        break;
    case COAP_SIG_RELEASE:
        x->c->releases_rcvd++;
        x->ops->describe(x->arg, ci, who, sizeof(who));
        log_debug("%s: Release", who);
        x->ops->release(x->arg, ci, now);
        break;
    case COAP_SIG_ABORT:
        x->c->aborts_rcvd++;
        x->ops->describe(x->arg, ci, who, sizeof(who));
        log_info("%s: Abort from peer: %.*s", who,
                 (int)(m->payload_len > 120 ? 120 : m->payload_len),
                 m->payload ? (const char *)m->payload : "");
        x->ops->close(x->arg, ci, "aborted by peer", now);
        break;
    default:
        log_debug("unknown signal code %u ignored", m->code);
        break;
    }
}
