/*
 * ws_client.c - CoAP over WebSockets, client side (ws_client.h says why the
 * RFC 6455 client framing is ours and what it does). The codec part never
 * does I/O; the I/O part works on the caller's socket, blocking or not,
 * always bounded by poll timeouts.
 */
#include "ws_client.h"

#include <ctype.h>
#include <errno.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "coap_msg.h"
#include "timeutil.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_RESP_MAX 4096 /* a handshake response longer than this is refused */

/* ---- handshake ---- */

int ws_accept_key(const char *key, char *out, size_t outlen)
{
    char cat[128];
    unsigned char md[20];
    int n = snprintf(cat, sizeof(cat), "%s%s", key, WS_GUID);

    if (n < 0 || (size_t)n >= sizeof(cat) || outlen < 29)
        return -1;
    lws_SHA1((const unsigned char *)cat, (size_t)n, md);
    return lws_b64_encode_string((const char *)md, 20, out, (int)outlen) == 28 ? 0 : -1;
}

int ws_handshake_request(char *out, size_t cap, const char *host, uint16_t port, const char *path,
                         const char *key)
{
    bool v6 = strchr(host, ':') != NULL;
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s%s%s:%u\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: " WS_COAP_PROTOCOL "\r\n"
                     "\r\n",
                     path, v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)port, key);

    return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* The value of header name in resp (case-insensitive name), trimmed, into
 * out. 0 / -1 when absent. */
static int header_value(const char *resp, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = memchr(resp, '\n', len), *end = resp + len;

    while (p != NULL && p + 1 < end) {
        const char *line = p + 1, *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            eol = end;
        if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if ((size_t)(ve - v) >= outlen)
                return -1;
            memcpy(out, v, (size_t)(ve - v));
            out[ve - v] = '\0';
            return 0;
        }
        p = eol;
    }
    return -1;
}

/* Does a comma-separated header value contain token (case-insensitive)? */
static bool has_token(const char *v, const char *token)
{
    size_t tl = strlen(token);

    while (*v != '\0') {
        while (*v == ' ' || *v == ',')
            v++;
        if (strncasecmp(v, token, tl) == 0 && (v[tl] == '\0' || v[tl] == ',' || v[tl] == ' '))
            return true;
        while (*v != '\0' && *v != ',')
            v++;
    }
    return false;
}

int ws_handshake_check(const char *resp, size_t len, const char *key, char *err, size_t errlen)
{
    char v[256], want[32];
    int status = 0;

    /* resp need not be NUL-terminated: no sscanf */
    if (len >= 12 && memcmp(resp, "HTTP/1.1 ", 9) == 0 && isdigit((unsigned char)resp[9]) &&
        isdigit((unsigned char)resp[10]) && isdigit((unsigned char)resp[11]))
        status = (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0');
    if (status == 0) {
        snprintf(err, errlen, "not an HTTP/1.1 response");
        return -1;
    }
    if (status != 101) {
        const char *eol = memchr(resp, '\r', len);
        snprintf(err, errlen, "handshake refused: %.*s", eol ? (int)(eol - resp) : 12, resp);
        return -1;
    }
    if (header_value(resp, len, "Upgrade", v, sizeof(v)) < 0 || !has_token(v, "websocket")) {
        snprintf(err, errlen, "no Upgrade: websocket in the response");
        return -1;
    }
    if (header_value(resp, len, "Connection", v, sizeof(v)) < 0 || !has_token(v, "upgrade")) {
        snprintf(err, errlen, "no Connection: upgrade in the response");
        return -1;
    }
    if (ws_accept_key(key, want, sizeof(want)) < 0 ||
        header_value(resp, len, "Sec-WebSocket-Accept", v, sizeof(v)) < 0 || strcmp(v, want)) {
        snprintf(err, errlen, "wrong or missing Sec-WebSocket-Accept");
        return -1;
    }
    if (header_value(resp, len, "Sec-WebSocket-Protocol", v, sizeof(v)) < 0 ||
        strcmp(v, WS_COAP_PROTOCOL) != 0) {
        snprintf(err, errlen, "the server did not select subprotocol \"coap\"");
        return -1;
    }
    return 0;
}

/* ---- frames ---- */

size_t ws_frame_header(uint8_t *out, unsigned opcode, size_t len, bool masked)
{
    size_t h = ws_frame_header_len(len);
    uint8_t m = masked ? 0x80 : 0;

    out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (h == 2) {
        out[1] = (uint8_t)(m | len);
    } else if (h == 4) {
        out[1] = m | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
    } else {
        out[1] = m | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    return h;
}

size_t ws_frame_size(const uint8_t *p)
{
    unsigned l7 = p[1] & 0x7f;
    uint64_t len = l7;
    size_t h = l7 < 126 ? 2 : l7 == 126 ? 4 : 10;

    if (l7 == 126) {
        len = (uint64_t)p[2] << 8 | p[3];
    } else if (l7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
    }
    return h + (p[1] & 0x80 ? 4 : 0) + (size_t)len;
}

/* The header of a masked client frame; returns its length (6, 8 or 14). */
static size_t put_header(uint8_t *out, unsigned opcode, size_t len, const uint8_t mk[4])
{
    size_t h = ws_frame_header(out, opcode, len, true);

    memcpy(out + h, mk, 4);
    return h + 4;
}

static void mask_bytes(const uint32_t mask, uint8_t mk[4])
{
    mk[0] = (uint8_t)(mask >> 24);
    mk[1] = (uint8_t)(mask >> 16);
    mk[2] = (uint8_t)(mask >> 8);
    mk[3] = (uint8_t)mask;
}

ssize_t ws_frame_encode(uint8_t *out, size_t cap, unsigned opcode, const uint8_t *payload,
                        size_t len, uint32_t mask)
{
    uint8_t mk[4];
    size_t h = ws_frame_header_len(len) + 4;

    if (cap < h || cap - h < len)
        return -1;
    mask_bytes(mask, mk);
    put_header(out, opcode, len, mk);
    for (size_t i = 0; i < len; i++)
        out[h + i] = payload[i] ^ mk[i & 3];
    return (ssize_t)(h + len);
}

void ws_rx_init(struct ws_rx *rx, size_t max_msg)
{
    memset(rx, 0, sizeof(*rx));
    rx->max_msg = max_msg;
}

void ws_rx_free(struct ws_rx *rx)
{
    free(rx->buf);
    free(rx->msg);
    ws_rx_init(rx, rx->max_msg);
}

int ws_rx_feed(struct ws_rx *rx, const uint8_t *data, size_t n)
{
    if (rx->off > 0) { /* drop what was decoded */
        memmove(rx->buf, rx->buf + rx->off, rx->len - rx->off);
        rx->len -= rx->off;
        rx->off = 0;
    }
    if (rx->len + n > rx->cap) {
        size_t cap = rx->cap ? rx->cap : 4096;
        uint8_t *p;
        while (cap < rx->len + n)
            cap *= 2;
        if (cap > rx->max_msg + 2 * WS_MAX_HEADER + 65536)
            cap = rx->len + n; /* no doubling past the limit */
        p = realloc(rx->buf, cap);
        if (p == NULL)
            return -1;
        rx->buf = p;
        rx->cap = cap;
    }
    memcpy(rx->buf + rx->len, data, n);
    rx->len += n;
    return 0;
}

static void ev_error(struct ws_event *ev, uint16_t code, const char *why)
{
    ev->kind = WS_EV_ERROR;
    ev->code = code;
    ev->data = (const uint8_t *)why;
    ev->len = strlen(why);
}

void ws_rx_next(struct ws_rx *rx, struct ws_event *ev)
{
    for (;;) {
        const uint8_t *p = rx->buf + rx->off;
        size_t avail = rx->len - rx->off, h = 2;
        uint64_t plen;
        unsigned op;
        bool fin;

        memset(ev, 0, sizeof(*ev));
        if (avail < 2)
            return;
        fin = (p[0] & 0x80) != 0;
        op = p[0] & 0x0f;
        if ((p[0] & 0x70) != 0)
            return ev_error(ev, WS_CLOSE_PROTOCOL, "reserved bits set");
        if ((p[1] & 0x80) != 0)
            return ev_error(ev, WS_CLOSE_PROTOCOL, "masked frame from the server");
        plen = p[1] & 0x7f;
        if (plen == 126) {
            if (avail < 4)
                return;
            plen = (uint64_t)p[2] << 8 | p[3];
            h = 4;
        } else if (plen == 127) {
            if (avail < 10)
                return;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = plen << 8 | p[2 + i];
            h = 10;
        }
        if (op >= 0x8 && (!fin || plen > 125))
            return ev_error(ev, WS_CLOSE_PROTOCOL, "bad control frame");
        if (op < 0x8 && plen + rx->msg_len > rx->max_msg)
            return ev_error(ev, WS_CLOSE_TOO_BIG, "message too large");
        if (avail - h < plen)
            return; /* the frame is not complete yet */
        rx->off += h + (size_t)plen;
        p += h;
        switch (op) {
        case WS_OP_PING:
        case WS_OP_PONG:
            ev->kind = op == WS_OP_PING ? WS_EV_PING : WS_EV_PONG;
            ev->data = p;
            ev->len = (size_t)plen;
            return;
        case WS_OP_CLOSE:
            ev->kind = WS_EV_CLOSE;
            if (plen >= 2) {
                ev->code = (uint16_t)(p[0] << 8 | p[1]);
                ev->data = p + 2;
                ev->len = (size_t)plen - 2;
            }
            return;
        case WS_OP_TEXT:
            return ev_error(ev, WS_CLOSE_UNSUPPORTED, "text frame (CoAP is binary)");
        case WS_OP_BINARY:
        case WS_OP_CONT:
            if ((op == WS_OP_CONT) != rx->in_frag)
                return ev_error(ev, WS_CLOSE_PROTOCOL, "bad fragment sequence");
            if (fin && !rx->in_frag) {
                ev->kind = WS_EV_MESSAGE;
                ev->data = p;
                ev->len = (size_t)plen;
                return;
            }
            if (rx->msg_len + plen > rx->msg_cap) {
                uint8_t *m = realloc(rx->msg, rx->msg_len + (size_t)plen);
                if (m == NULL)
                    return ev_error(ev, WS_CLOSE_TOO_BIG, "out of memory");
                rx->msg = m;
                rx->msg_cap = rx->msg_len + (size_t)plen;
            }
            if (plen > 0)
                memcpy(rx->msg + rx->msg_len, p, (size_t)plen);
            rx->msg_len += (size_t)plen;
            rx->in_frag = !fin;
            if (fin) {
                ev->kind = WS_EV_MESSAGE;
                ev->data = rx->msg;
                ev->len = rx->msg_len;
                rx->msg_len = 0;
                return;
            }
            break; /* more fragments: look at the next frame */
        default:
            return ev_error(ev, WS_CLOSE_PROTOCOL, "unknown opcode");
        }
    }
}

/* ---- RFC 8323 TCP framing <-> WebSocket framing ---- */

uint8_t *ws_coap_from_tcp(uint8_t *buf, size_t len, size_t *wlen)
{
    unsigned lnib, tkl;
    size_t ext;

    if (len < 2)
        return NULL;
    lnib = buf[0] >> 4;
    tkl = buf[0] & 0x0f;
    ext = lnib == 13 ? 1 : lnib == 14 ? 2 : lnib == 15 ? 4 : 0;
    if (len < 2 + ext + tkl || tkl > 8)
        return NULL;
    buf[ext] = (uint8_t)tkl; /* Len 0, the TKL stays */
    *wlen = len - ext;
    return buf + ext;
}

ssize_t ws_coap_to_tcp(const uint8_t *ws, size_t len, uint8_t *out, size_t cap)
{
    unsigned tkl;
    size_t rest, ext;
    uint8_t hdr[5];

    if (len < 2 || (ws[0] >> 4) != 0 || (ws[0] & 0x0f) > 8 || len < 2u + (ws[0] & 0x0f))
        return -1;
    tkl = ws[0] & 0x0f;
    rest = len - 2 - tkl; /* options and payload */
    if (rest < 13) {
        hdr[0] = (uint8_t)(rest << 4 | tkl);
        ext = 0;
    } else if (rest < 269) {
        hdr[0] = (uint8_t)(13 << 4 | tkl);
        hdr[1] = (uint8_t)(rest - 13);
        ext = 1;
    } else if (rest < 65805) {
        hdr[0] = (uint8_t)(14 << 4 | tkl);
        hdr[1] = (uint8_t)((rest - 269) >> 8);
        hdr[2] = (uint8_t)(rest - 269);
        ext = 2;
    } else {
        uint64_t v = rest - 65805;
        if (v > 0xffffffffu)
            return -1;
        hdr[0] = (uint8_t)(15 << 4 | tkl);
        for (int i = 0; i < 4; i++)
            hdr[1 + i] = (uint8_t)(v >> (24 - 8 * i));
        ext = 4;
    }
    if (cap < len + ext)
        return -1;
    memcpy(out, hdr, 1 + ext);
    memcpy(out + 1 + ext, ws + 1, len - 1);
    return (ssize_t)(len + ext);
}

/* ---- I/O ---- */

static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_mono_ms();
        struct pollfd pfd = {.fd = fd, .events = events};
        int r;
        if (now >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        r = poll(&pfd, 1, (int)(deadline - now));
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

static int write_all(struct ws_conn *c, const uint8_t *p, size_t len, uint64_t deadline)
{
    while (len > 0) {
        ssize_t n = ws_io_send(c, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -1;
            /* TLS may want to read before it can write */
            if (wait_fd(c->fd, c->ssl ? POLLOUT | POLLIN : POLLOUT, deadline) < 0)
                return -1;
            continue;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static uint32_t random_mask(void)
{
    uint32_t m;

    if (getrandom(&m, sizeof(m), GRND_NONBLOCK) != sizeof(m))
        m = (uint32_t)now_mono_ms() * 2654435761u;
    return m;
}

int ws_send(struct ws_conn *c, unsigned opcode, const uint8_t *payload, size_t len,
            unsigned timeout_ms)
{
    /* the frame is masked into one buffer and sent whenever it is full:
     * small frames (every signal, most messages) take one send */
    uint8_t buf[8192], mk[4];
    uint64_t deadline = now_mono_ms() + timeout_ms;
    size_t used, off = 0;

    mask_bytes(random_mask(), mk);
    used = put_header(buf, opcode, len, mk);
    for (;;) {
        size_t n = len - off < sizeof(buf) - used ? len - off : sizeof(buf) - used;
        for (size_t i = 0; i < n; i++)
            buf[used + i] = payload[off + i] ^ mk[(off + i) & 3];
        used += n;
        off += n;
        if (write_all(c, buf, used, deadline) < 0)
            return -1;
        if (off == len)
            return 0;
        used = 0;
    }
}

int ws_send_close(struct ws_conn *c, uint16_t code, const char *reason, unsigned timeout_ms)
{
    uint8_t p[125];
    size_t rl = strlen(reason) > sizeof(p) - 2 ? sizeof(p) - 2 : strlen(reason);

    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    memcpy(p + 2, reason, rl);
    return ws_send(c, WS_OP_CLOSE, p, 2 + rl, timeout_ms);
}

int ws_client_handshake(struct ws_conn *c, const char *host, uint16_t port, const char *path,
                        struct ws_rx *rx, unsigned timeout_ms, char *err, size_t errlen)
{
    uint8_t nonce[16];
    char key[32], req[1024], resp[WS_RESP_MAX];
    size_t have = 0;
    uint64_t deadline = now_mono_ms() + timeout_ms;
    int n;

    for (unsigned i = 0; i < sizeof(nonce); i += 4) {
        uint32_t r = random_mask();
        memcpy(nonce + i, &r, 4);
    }
    if (lws_b64_encode_string((const char *)nonce, sizeof(nonce), key, sizeof(key)) < 0 ||
        (n = ws_handshake_request(req, sizeof(req), host, port, path, key)) < 0) {
        snprintf(err, errlen, "handshake request does not fit");
        return -1;
    }
    if (write_all(c, (const uint8_t *)req, (size_t)n, deadline) < 0) {
        snprintf(err, errlen, "sending the handshake: %s", strerror(errno));
        return -1;
    }
    for (;;) {
        const char *end;
        ssize_t r;
        if (have >= sizeof(resp) - 1) {
            snprintf(err, errlen, "handshake response too long");
            return -1;
        }
        if (!ws_io_pending(c) && wait_fd(c->fd, POLLIN, deadline) < 0) {
            snprintf(err, errlen, "no handshake response: %s", strerror(errno));
            return -1;
        }
        r = ws_io_recv(c, resp + have, sizeof(resp) - 1 - have);
        if (r == 0) {
            snprintf(err, errlen, "connection closed during the handshake");
            return -1;
        }
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            snprintf(err, errlen, "reading the handshake: %s", strerror(errno));
            return -1;
        }
        have += (size_t)r;
        resp[have] = '\0';
        end = memmem(resp, have, "\r\n\r\n", 4);
        if (end != NULL) {
            size_t hl = (size_t)(end - resp) + 4;
            if (ws_handshake_check(resp, hl, key, err, errlen) < 0)
                return -1;
            if (have > hl && ws_rx_feed(rx, (const uint8_t *)resp + hl, have - hl) < 0) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            return 0;
        }
    }
}

void ws_conn_next(struct ws_conn *c, struct ws_rx *rx, struct ws_event *ev, unsigned timeout_ms)
{
    for (;;) {
        ws_rx_next(rx, ev);
        if (ev->kind == WS_EV_PING)
            ws_send(c, WS_OP_PONG, ev->data, ev->len, timeout_ms);
        else if (ev->kind != WS_EV_PONG)
            return;
    }
}

ssize_t ws_rx_read(struct ws_conn *c, struct ws_rx *rx)
{
    uint8_t buf[16384];
    ssize_t n, total = 0;

    do {
        n = ws_io_recv(c, buf, sizeof(buf));
        if (n <= 0)
            return total > 0 ? total : n;
        if (ws_rx_feed(rx, buf, (size_t)n) < 0) {
            errno = ENOMEM;
            return -1;
        }
        total += n;
    } while (ws_io_pending(c));
    return total;
}

int ws_client_open(const char *host, uint16_t port, const char *path, const struct ws_tls_opts *tls,
                   struct ws_conn *c, struct ws_rx *rx, unsigned timeout_ms, char *err,
                   size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char ps[8];
    uint64_t deadline = now_mono_ms() + timeout_ms;
    int fd = -1, one = 1, soerr = 0, r;
    socklen_t sl = sizeof(soerr);

    snprintf(ps, sizeof(ps), "%u", (unsigned)port);
    if ((r = getaddrinfo(host, ps, &hints, &res)) != 0) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(r));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || (connect(fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS) ||
        wait_fd(fd, POLLOUT, deadline) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
        snprintf(err, errlen, "connect to %s port %u: %s", host, (unsigned)port,
                 strerror(soerr ? soerr : errno));
        goto bad;
    }
    freeaddrinfo(res);
    res = NULL;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ws_conn_init(c, fd);
    r = (int)(deadline > now_mono_ms() ? deadline - now_mono_ms() : 1);
    if (tls != NULL && tls->on && ws_tls_start(c, host, tls, (unsigned)r, err, errlen) < 0)
        goto bad_conn;
    r = (int)(deadline > now_mono_ms() ? deadline - now_mono_ms() : 1);
    if (ws_client_handshake(c, host, port, path, rx, (unsigned)r, err, errlen) < 0)
        goto bad_conn;
    return 0;
bad_conn:
    ws_conn_close(c);
    return -1;
bad:
    if (res != NULL)
        freeaddrinfo(res);
    if (fd >= 0)
        close(fd);
    ws_conn_init(c, -1);
    return -1;
}

int ws_send_coap(struct ws_conn *c, const struct coap_msg *m, unsigned timeout_ms)
{
    uint8_t buf[65536 + 16];
    ssize_t n = coap_msg_serialize_ws(m, buf, sizeof(buf));

    return n < 0 ? -1 : ws_send(c, WS_OP_BINARY, buf, (size_t)n, timeout_ms);
}

int ws_uri_split(const char *uri, char *host, size_t hostlen, uint16_t *port, char *path,
                 size_t pathlen, char *query, size_t querylen, bool *tls)
{
    const char *p, *h, *he, *q;
    size_t n;
    bool secure = tls != NULL && strncasecmp(uri, "coaps+ws://", 11) == 0;

    if (!secure && strncasecmp(uri, "coap+ws://", 10) != 0)
        return -1;
    if (tls != NULL)
        *tls = secure;
    p = uri + (secure ? 11 : 10);
    if (*p == '[') {
        h = p + 1;
        he = strchr(h, ']');
        if (he == NULL)
            return -1;
        p = he + 1;
    } else {
        h = p;
        he = h + strcspn(h, ":/?");
        p = he;
    }
    n = (size_t)(he - h);
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = secure ? WS_COAPS_PORT : WS_COAP_PORT;
    if (*p == ':') {
        char *e;
        unsigned long v = strtoul(p + 1, &e, 10);
        if (e == p + 1 || v == 0 || v > 65535)
            return -1;
        *port = (uint16_t)v;
        p = e;
    }
    if (*p != '\0' && *p != '/' && *p != '?')
        return -1;
    q = strchr(p, '?');
    n = q ? (size_t)(q - p) : strlen(p);
    if (n >= pathlen)
        return -1;
    memcpy(path, p, n);
    path[n] = '\0';
    n = q ? strlen(q + 1) : 0;
    if (n >= querylen)
        return -1;
    memcpy(query, q ? q + 1 : "", n);
    query[n] = '\0';
    return 0;
}
