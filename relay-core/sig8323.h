/*
 * sig8323.h - RFC 8323 §5 signalling, one module for every reliable
 * transport (relay-tcp and relay-ws, through stream_sig.c): CSM (ours at
 * once, the peer's must be its first message and come within a timeout; a later
 * one updates the settings; an unknown critical option aborts), Ping/Pong
 * (answered; an idle connection gets a keepalive Ping and is closed when
 * no Pong comes), Release (close once our output is out), Abort (close at
 * once), and the incomplete-message deadline. Owns the per-connection
 * signalling state (struct sig_conn, embedded in the transport's
 * connection) and nothing else; the transport sends, closes and arms the
 * one deadline timer through struct sig_ops, so the framing (TCP Length
 * field, WebSocket frames) stays the transport's.
 */
#ifndef RDRELAY_SIG8323_H
#define RDRELAY_SIG8323_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coap_msg.h"

/* Signalling option numbers (RFC 8323 §5.3-5.6; they are per signal code). */
#define SIG_OPT_MAX_MESSAGE_SIZE 2 /* CSM */
#define SIG_OPT_BLOCK_WISE 4       /* CSM */
#define SIG_OPT_CUSTODY 2          /* Ping, Pong */
#define SIG_OPT_BAD_CSM_OPTION 2   /* Abort */
#define SIG_BASE_MMS 1152          /* Max-Message-Size before the peer's CSM */

struct sig_csm {
    uint32_t mms; /* Max-Message-Size (SIG_BASE_MMS when absent) */
    bool bwt;     /* Block-Wise-Transfer (BERT) offered */
};

/* Apply a received CSM to *csm (a later CSM updates earlier values, RFC
 * 8323 §5.3). 0, or -1 with *bad = the first unknown critical option (the
 * connection must be aborted with Bad-CSM-Option). */
int sig_csm_apply(const struct coap_msg *m, struct sig_csm *csm, uint16_t *bad);

struct sig_conn {
    bool peer_csm;      /* the peer's CSM arrived */
    bool ping_out;      /* keepalive Ping sent, no Pong yet */
    struct sig_csm csm; /* the peer's settings */
    uint64_t opened_ms, last_rx_ms, partial_since_ms, ping_sent_ms;
};

struct sig_counters {
    uint64_t csm_timeouts, partial_timeouts, pong_timeouts, pings_sent, pings_answered;
    uint64_t aborts_sent, aborts_rcvd, releases_rcvd, releases_sent;
};

/* What the transport does for the module; ci is the transport's id of the
 * connection (passed through). */
struct sig_ops {
    /* send one message in the transport's framing: 0 / -1 */
    int (*send)(void *arg, uint32_t ci, const struct coap_msg *m);
    void (*close)(void *arg, uint32_t ci, const char *why, uint64_t now);
    /* close once the queued output is out (Release) */
    void (*release)(void *arg, uint32_t ci, uint64_t now);
    /* arm (due != UINT64_MAX) or cancel the connection's deadline timer */
    void (*arm)(void *arg, uint32_t ci, uint64_t due);
    /* "conn 1a2b (192.0.2.1:5683)" for logs */
    void (*describe)(void *arg, uint32_t ci, char *buf, size_t len);
};

struct sig_ctx {
    const struct sig_ops *ops;
    void *arg;
    uint32_t our_mms;         /* the Max-Message-Size we announce */
    uint32_t timeout_ms;      /* no CSM / incomplete message this long -> Abort */
    uint32_t ka_ms;           /* idle this long -> Ping; 0 = off */
    uint32_t pong_timeout_ms; /* Ping unanswered this long -> close */
    struct sig_counters *c;
};

/* A new connection: the state, then our CSM at once (RFC 8323 §5.3). */
void sig_conn_open(const struct sig_ctx *x, struct sig_conn *s, uint32_t ci, uint64_t now);
/* Bytes arrived (any): the connection is alive. */
void sig_on_rx(struct sig_conn *s, uint64_t now);
/* Abort with a diagnostic (and Bad-CSM-Option), then close. */
void sig_abort(const struct sig_ctx *x, uint32_t ci, const char *why, uint16_t bad_opt,
               uint64_t now);
/* We are stopping (SIGTERM): send Release (RFC 8323 §5.5), keep the
 * connection open for the answers still due on it. */
void sig_release(const struct sig_ctx *x, uint32_t ci);
/* Recompute the connection's one deadline (ops->arm). */
void sig_rearm(const struct sig_ctx *x, struct sig_conn *s, uint32_t ci);
/* The deadline fired. */
void sig_on_timer(const struct sig_ctx *x, struct sig_conn *s, uint32_t ci, uint64_t now);
/* A signalling message (code 7.xx) from the peer. */
void sig_on_message(const struct sig_ctx *x, struct sig_conn *s, uint32_t ci,
                    const struct coap_msg *m, uint64_t now);

#endif
