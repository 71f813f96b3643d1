/*
 * reach_ws.c - reach's up side on a WebSocket (reach_ws.h says what it
 * owns and how the forwarder's UDP message layer is mapped onto it).
 */
#include "reach_ws.h"

#include <errno.h>
#include <string.h>

#include "coap_msg.h"
#include "log.h"
#include "timeutil.h"

#define RW_TIMEOUT_MS 10000u
#define RW_SEND_MS 5000u
#define RW_BACKOFF_MIN_MS 1000u
#define RW_BACKOFF_MAX_MS 30000u
#define RW_PENDING_MAX_MS 300000u /* a request unanswered this long is forgotten */
#define RW_MAX_MSG 65536u

void reach_ws_init(struct reach_ws *w, const struct cn_uri *rd, const struct ws_tls_opts *tls,
                   struct fwd *f)
{
    memset(w, 0, sizeof(*w));
    w->rd = rd;
    w->tls = tls;
    w->fwd = f;
    w->conn.fd = -1;
    w->next_mid = (uint16_t)cn_random32();
    f->up_send = reach_ws_up_send;
    f->up_ctx = w;
}

static void rw_drop(struct reach_ws *w, const char *why, uint64_t now)
{
    if (w->conn.fd >= 0) {
        ws_send_close(&w->conn, WS_CLOSE_NORMAL, why, 1000);
        ws_conn_close(&w->conn);
    }
    ws_rx_free(&w->rx);
    memset(w->pend, 0, sizeof(w->pend)); /* their clients get 5.04 from the forwarder */
    if (w->backoff_ms < RW_BACKOFF_MIN_MS)
        w->backoff_ms = RW_BACKOFF_MIN_MS;
    w->next_connect = now + w->backoff_ms;
    log_warnx("connection to rdrelay lost (%s); reconnecting in %u ms", why,
              (unsigned)w->backoff_ms);
    w->backoff_ms = w->backoff_ms * 2 > RW_BACKOFF_MAX_MS ? RW_BACKOFF_MAX_MS : w->backoff_ms * 2;
}

static int rw_signal(struct reach_ws *w, uint8_t code, const uint8_t *tok, uint8_t tkl)
{
    struct coap_msg m;
    uint8_t mms[4];

    coap_msg_signal(&m, code, tok, tkl, RW_MAX_MSG, false, mms);
    return ws_send_coap(&w->conn, &m, RW_SEND_MS);
}

static void rw_connect(struct reach_ws *w, uint64_t now)
{
    char err[256];

    ws_rx_init(&w->rx, RW_MAX_MSG);
    if (ws_client_open(w->rd->host, w->rd->port, WS_COAP_PATH, w->tls, &w->conn, &w->rx,
                       RW_TIMEOUT_MS, err, sizeof(err)) < 0) {
        log_warnx("rdrelay: %s", err);
        rw_drop(w, "connect failed", now);
        return;
    }
    if (rw_signal(w, COAP_SIG_CSM, NULL, 0) < 0) {
        rw_drop(w, "could not send our CSM", now);
        return;
    }
    log_info("connected to rdrelay over %s", w->tls->on ? "TLS WebSocket" : "WebSocket");
    w->backoff_ms = 0;
}

void reach_ws_tick(struct reach_ws *w, uint64_t now)
{
    if (w->conn.fd < 0 && now >= w->next_connect)
        rw_connect(w, now);
    for (unsigned i = 0; i < RW_PENDING; i++)
        if (w->pend[i].used && now - w->pend[i].since > RW_PENDING_MAX_MS)
            w->pend[i].used = false;
}

static struct rw_pending *rw_find(struct reach_ws *w, const uint8_t *tok, uint8_t tkl)
{
    for (unsigned i = 0; i < RW_PENDING; i++)
        if (w->pend[i].used && w->pend[i].tkl == tkl && memcmp(w->pend[i].token, tok, tkl) == 0)
            return &w->pend[i];
    return NULL;
}

void reach_ws_up_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct reach_ws *w = ctx;
    struct rw_pending *p;
    struct coap_msg m;

    if (coap_msg_parse_udp(buf, len, &m) < 0 || m.code == COAP_EMPTY ||
        COAP_CODE_CLASS(m.code) != 0)
        return; /* ACK, RST, ping: no message layer on a WebSocket */
    if (w->conn.fd < 0) {
        log_debug("not connected to rdrelay: request dropped");
        return;
    }
    p = rw_find(w, m.token, m.tkl);
    if (p != NULL && p->mid == m.msgid)
        return; /* the forwarder's retransmission: the connection is reliable */
    if (p == NULL) {
        for (unsigned i = 0; i < RW_PENDING && p == NULL; i++)
            if (!w->pend[i].used)
                p = &w->pend[i];
    }
    if (p == NULL) {
        log_warnx("too many requests waiting for rdrelay; dropped");
        return;
    }
    *p = (struct rw_pending){.used = true,
                             .con = m.type == COAP_T_CON,
                             .tkl = m.tkl,
                             .mid = m.msgid,
                             .since = now_mono_ms()};
    memcpy(p->token, m.token, m.tkl);
    if (ws_send_coap(&w->conn, &m, RW_SEND_MS) < 0)
        rw_drop(w, "send failed", now_mono_ms());
}

/* One CoAP message from rdrelay, back into the forwarder as a datagram. */
static void rw_message(struct reach_ws *w, const uint8_t *data, size_t len, uint64_t now)
{
    uint8_t dg[CN_DGRAM_MAX];
    struct coap_msg m;
    struct rw_pending *p;
    ssize_t n;

    if (coap_msg_parse_ws(data, len, &m) < 0) {
        rw_signal(w, COAP_SIG_ABORT, NULL, 0);
        rw_drop(w, "malformed message", now);
        return;
    }
    switch (m.code) {
    case COAP_SIG_PING:
        rw_signal(w, COAP_SIG_PONG, m.token, m.tkl);
        return;
    case COAP_SIG_RELEASE:
    case COAP_SIG_ABORT:
        rw_drop(w, m.code == COAP_SIG_ABORT ? "rdrelay sent Abort" : "rdrelay sent Release", now);
        return;
    default:
        break;
    }
    if (COAP_CODE_CLASS(m.code) < 2 || COAP_CODE_CLASS(m.code) == 7)
        return; /* CSM, Pong, a request (nobody serves here), empty */
    p = rw_find(w, m.token, m.tkl);
    if (p != NULL && p->con) {
        m.type = COAP_T_ACK; /* the answer to that CON: piggybacked */
        m.msgid = p->mid;
    } else {
        m.type = COAP_T_NON; /* a NON's answer, a notification */
        m.msgid = w->next_mid++;
    }
    if (p != NULL)
        p->used = false;
    n = coap_msg_serialize_udp(&m, dg, sizeof(dg));
    if (n < 0) {
        log_warnx("an answer from rdrelay does not fit in a datagram; dropped");
        return;
    }
    fwd_on_up(w->fwd, dg, (size_t)n, now);
}

void reach_ws_read(struct reach_ws *w, uint64_t now)
{
    char why[160];
    ssize_t n = ws_rx_read(&w->conn, &w->rx);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        rw_drop(w, n == 0 ? "closed by rdrelay" : strerror(errno), now);
        return;
    }
    while (w->conn.fd >= 0) {
        struct ws_event ev;
        ws_conn_next(&w->conn, &w->rx, &ev, RW_SEND_MS);
        switch (ev.kind) {
        case WS_EV_NONE:
            return;
        case WS_EV_MESSAGE:
            rw_message(w, ev.data, ev.len, now);
            break;
        default: /* Pings: answered by ws_conn_next */
            break;
        case WS_EV_CLOSE:
            snprintf(why, sizeof(why), "rdrelay closed the WebSocket: %u", ev.code);
            rw_drop(w, why, now);
            return;
        case WS_EV_ERROR:
            snprintf(why, sizeof(why), "WebSocket: %.*s", (int)ev.len, (const char *)ev.data);
            ws_send_close(&w->conn, ev.code, why, 1000);
            ws_conn_close(&w->conn);
            rw_drop(w, why, now);
            return;
        }
    }
}

void reach_ws_close(struct reach_ws *w)
{
    if (w->conn.fd >= 0) {
        ws_send_close(&w->conn, WS_CLOSE_NORMAL, "stopping", 1000);
        ws_conn_close(&w->conn);
    }
    ws_rx_free(&w->rx);
}
