/*
 * client.c - a small blocking CoAP client for the steps of rdrelay-connect
 * that happen outside a forwarding loop: `list` (an endpoint lookup) and
 * serve's fetch of the local server's /.well-known/core before it registers.
 * Owns one temporary UDP socket (or WebSocket connection, for a coap+ws://
 * RD) per call. Talks to one peer.
 * CON with RFC 7252 retransmission (ACK_TIMEOUT 2 s, doubling), empty ACK
 * followed by a separate response, Block2 followed until the body is whole,
 * a 4.01 with an Echo (RFC 9175 §2.4, rdrelay's amplification limit)
 * answered by repeating the request with that Echo.
 */
#include "connect.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "coap_msg.h"
#include "log.h"
#include "timeutil.h"
#include "ws_client.h"

#define CLIENT_ACK_TIMEOUT_MS 2000
#define CLIENT_MAX_BLOCKS 4096

struct client_xfer {
    int fd;
    struct ws_rx rx_ws; /* over a WebSocket */
    struct ws_conn wsc; /* its connection (fd is wsc.fd) */
    const struct cn_request *req;
    uint16_t mid;
    uint8_t token[4];
    uint64_t deadline;
    uint8_t echo[40]; /* Echo to repeat (echo_len 0: none) */
    uint8_t echo_len;
    uint8_t tx[CN_DGRAM_MAX];
    size_t txlen;
    uint8_t rx[CN_DGRAM_MAX];
};

/* Build the request for block number blk (Block2 asked for when blk > 0). */
static int client_build(struct client_xfer *x, uint32_t blk, unsigned szx)
{
    struct coap_msg m;
    char storage[1024];
    uint8_t cfbuf[4], blkbuf[4];
    ssize_t n;

    coap_msg_init(&m);
    m.type = COAP_T_CON;
    m.code = x->req->method;
    m.msgid = ++x->mid;
    m.tkl = sizeof(x->token);
    memcpy(m.token, x->token, sizeof(x->token));
    if (cn_add_path_query(&m, x->req->path, x->req->query, storage, sizeof(storage)) < 0)
        return -1;
    if (x->echo_len && coap_msg_add_opt(&m, COAP_OPT_ECHO, x->echo, x->echo_len) < 0)
        return -1;
    if (x->req->content_format >= 0 &&
        coap_msg_add_opt_uint(&m, COAP_OPT_CONTENT_FORMAT, (uint32_t)x->req->content_format,
                              cfbuf) < 0)
        return -1;
    if (blk > 0 &&
        coap_msg_add_opt_uint(&m, COAP_OPT_BLOCK2, coap_block_encode(blk, false, szx), blkbuf) < 0)
        return -1;
    m.payload = x->req->payload;
    m.payload_len = x->req->payload_len;
    n = coap_msg_serialize_udp(&m, x->tx, sizeof(x->tx));
    if (n < 0)
        return -1;
    x->txlen = (size_t)n;
    return 0;
}

/* Send the built request and wait for its response (piggybacked or
 * separate). 0 with *resp parsed from x->rx, -1 on timeout. */
static int client_exchange(struct client_xfer *x, struct coap_msg *resp)
{
    unsigned rto = CLIENT_ACK_TIMEOUT_MS + cn_random32() % (CLIENT_ACK_TIMEOUT_MS / 2);
    uint64_t next_tx = 0;
    bool acked = false;

    for (;;) {
        uint64_t now = now_mono_ms();
        struct pollfd pfd = {.fd = x->fd, .events = POLLIN};
        struct rr_addr from;
        ssize_t n;
        int wait;

        if (now >= x->deadline)
            return -1;
        if (!acked && now >= next_tx) {
            cn_sendto(x->fd, x->tx, x->txlen, x->req->to);
            next_tx = now + rto;
            rto *= 2;
        }
        wait = (int)((acked ? x->deadline : (next_tx < x->deadline ? next_tx : x->deadline)) - now);
        if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
            return -1;
        while ((n = cn_recvfrom(x->fd, x->rx, sizeof(x->rx), &from)) >= 0) {
            if (!addr_equal(&from, x->req->to) || coap_msg_parse_udp(x->rx, (size_t)n, resp) < 0)
                continue;
            if (resp->type == COAP_T_ACK && resp->msgid == x->mid && resp->code == COAP_EMPTY) {
                acked = true; /* separate response follows */
                continue;
            }
            if (resp->type == COAP_T_RST && resp->msgid == x->mid)
                return -1;
            if (resp->code == COAP_EMPTY || COAP_CODE_CLASS(resp->code) < 2 ||
                resp->tkl != sizeof(x->token) || memcmp(resp->token, x->token, resp->tkl) != 0)
                continue;
            if (resp->type == COAP_T_ACK && resp->msgid != x->mid)
                continue;
            if (resp->type == COAP_T_CON) {
                uint8_t ack[4] = {0x60, 0, (uint8_t)(resp->msgid >> 8), (uint8_t)resp->msgid};
                cn_sendto(x->fd, ack, sizeof(ack), x->req->to);
            }
            return 0;
        }
    }
}

/* Over a WebSocket: the built datagram loses its message layer and goes
 * out as one frame; the answer with our token comes back (signals handled).
 * resp points into x->rx_ws until the next call. */
static int client_exchange_ws(struct client_xfer *x, struct coap_msg *resp)
{
    struct coap_msg m;

    if (coap_msg_parse_udp(x->tx, x->txlen, &m) < 0 || ws_send_coap(&x->wsc, &m, 5000) < 0)
        return -1;
    for (;;) {
        struct ws_event ev;
        uint64_t now = now_mono_ms();
        struct pollfd pfd = {.fd = x->fd, .events = POLLIN};

        ws_conn_next(&x->wsc, &x->rx_ws, &ev, 5000);
        switch (ev.kind) {
        case WS_EV_MESSAGE:
            if (coap_msg_parse_ws(ev.data, ev.len, resp) < 0)
                return -1;
            if (resp->code == COAP_SIG_PING) {
                resp->code = COAP_SIG_PONG;
                resp->nopts = 0;
                ws_send_coap(&x->wsc, resp, 5000);
            } else if (resp->code == COAP_SIG_ABORT || resp->code == COAP_SIG_RELEASE) {
                return -1;
            } else if (COAP_CODE_CLASS(resp->code) >= 2 && COAP_CODE_CLASS(resp->code) != 7 &&
                       resp->tkl == sizeof(x->token) &&
                       memcmp(resp->token, x->token, resp->tkl) == 0) {
                return 0;
            }
            continue;
        default: /* Pings: answered by ws_conn_next */
            continue;
        case WS_EV_CLOSE:
        case WS_EV_ERROR:
            return -1;
        case WS_EV_NONE:
            break;
        }
        if (now >= x->deadline)
            return -1;
        if (poll(&pfd, 1, (int)(x->deadline - now)) < 0 && errno != EINTR)
            return -1;
        if (pfd.revents) {
            ssize_t n = ws_rx_read(&x->wsc, &x->rx_ws);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                return -1;
        }
    }
}

/* Open the WebSocket and send our CSM. 0 / -1 (err set). */
static int client_open_ws(struct client_xfer *x, char *err, size_t errlen)
{
    struct coap_msg csm;
    uint8_t mms[4];

    ws_rx_init(&x->rx_ws, CN_DGRAM_MAX);
    if (ws_client_open(x->req->ws->host, x->req->ws->port, WS_COAP_PATH, x->req->tls, &x->wsc,
                       &x->rx_ws, x->req->timeout_ms, err, errlen) < 0) {
        x->fd = -1;
        return -1;
    }
    x->fd = x->wsc.fd;
    coap_msg_signal(&csm, COAP_SIG_CSM, NULL, 0, CN_DGRAM_MAX, false, mms);
    if (ws_send_coap(&x->wsc, &csm, 5000) < 0) {
        snprintf(err, errlen, "could not send our CSM");
        return -1;
    }
    return 0;
}

int cn_request_blocking(const struct cn_request *req, uint8_t *code, struct strbuf *body, char *err,
                        size_t errlen)
{
    struct client_xfer *x;
    struct coap_msg resp;
    uint32_t blk = 0;
    unsigned szx = 6;
    int rc = -1;

    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    x->req = req;
    x->deadline = now_mono_ms() + req->timeout_ms;
    if (req->ws != NULL) {
        if (client_open_ws(x, err, errlen) < 0)
            goto done;
    } else if ((x->fd = cn_udp_socket(req->to, NULL)) < 0) {
        snprintf(err, errlen, "cannot open a UDP socket");
        goto done;
    }
    x->mid = (uint16_t)cn_random32();
    {
        uint32_t t = cn_random32();
        memcpy(x->token, &t, sizeof(x->token));
    }
    for (int i = 0; i < CLIENT_MAX_BLOCKS; i++) {
        const struct coap_msg_opt *b2;
        uint32_t num;
        bool more;
        unsigned rszx;

        if (client_build(x, blk, szx) < 0) {
            snprintf(err, errlen, "request does not fit in a datagram");
            goto done;
        }
        if ((req->ws ? client_exchange_ws(x, &resp) : client_exchange(x, &resp)) < 0) {
            snprintf(err, errlen, "no answer within %u ms", req->timeout_ms);
            goto done;
        }
        if (x->echo_len == 0 &&
            (x->echo_len = (uint8_t)cn_echo_challenge(&resp, x->echo, sizeof(x->echo))) > 0)
            continue; /* verify our address, then the same block again */
        *code = resp.code;
        if (blk == 0)
            sb_reset(body);
        sb_append(body, resp.payload, resp.payload_len);
        b2 = coap_msg_find(&resp, COAP_OPT_BLOCK2);
        if (b2 == NULL || COAP_CODE_CLASS(resp.code) != 2) {
            rc = 0;
            goto done;
        }
        coap_block_decode(coap_opt_value_uint(b2), &num, &more, &rszx);
        if (!more) {
            rc = 0;
            goto done;
        }
        /* ask for the next block in the size the server chose */
        szx = rszx;
        blk = num + 1;
    }
    snprintf(err, errlen, "too many blocks");
done:
    if (x->fd >= 0 && req->ws != NULL) {
        ws_send_close(&x->wsc, WS_CLOSE_NORMAL, "done", 1000);
        ws_conn_close(&x->wsc);
    } else if (x->fd >= 0) {
        close(x->fd);
    }
    ws_rx_free(&x->rx_ws);
    free(x);
    return rc;
}
