/*
 * test_ws_client.c - unit tests for common/ws_client.c: the accept key
 * (RFC 6455 §1.3's example), handshake request and response checks, masked
 * client frames of every length form, the decoder (unmasked server frames
 * split at every byte, fragmented messages with a Ping in between, Close,
 * and the protocol errors: masked, text, oversized, reserved bits, bad
 * fragment order), the TCP <-> WebSocket CoAP framing, and a whole
 * handshake + CSM exchange, a message echoed, a Ping answered with a Pong
 * (ws_conn_next) and a Close, against a tiny WebSocket peer in a thread on
 * a socketpair.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coap_msg.h"
#include "ws_client.h"

static void test_accept_key(void **state)
{
    char out[32];

    (void)state;
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out, sizeof(out)), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(ws_accept_key("x", out, 10), -1);
}

static void test_handshake_request(void **state)
{
    char buf[512];

    (void)state;
    assert_true(ws_handshake_request(buf, sizeof(buf), "::1", 8683, WS_COAP_PATH, "k") > 0);
    assert_non_null(strstr(buf, "GET /.well-known/coap HTTP/1.1\r\n"));
    assert_non_null(strstr(buf, "Host: [::1]:8683\r\n"));
    assert_non_null(strstr(buf, "Sec-WebSocket-Protocol: coap\r\n"));
    assert_non_null(strstr(buf, "Sec-WebSocket-Version: 13\r\n"));
    assert_int_equal(ws_handshake_request(buf, 20, "::1", 8683, WS_COAP_PATH, "k"), -1);
}

static const char KEY[] = "dGhlIHNhbXBsZSBub25jZQ==";

static int check(const char *resp)
{
    char err[128];
    return ws_handshake_check(resp, strlen(resp), KEY, err, sizeof(err));
}

static void test_handshake_check(void **state)
{
    (void)state;
    assert_int_equal(check("HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n"
                           "Connection: keep-alive, Upgrade\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                           "Sec-WebSocket-Protocol: coap\r\n\r\n"),
                     0);
    /* refused, wrong accept, no subprotocol, no upgrade */
    assert_int_equal(check("HTTP/1.1 404 Not Found\r\n\r\n"), -1);
    assert_int_equal(check("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n"
                           "Sec-WebSocket-Protocol: coap\r\n\r\n"),
                     -1);
    assert_int_equal(check("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
                     -1);
    assert_int_equal(check("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                           "Sec-WebSocket-Protocol: coap\r\n\r\n"),
                     -1);
    assert_int_equal(check("garbage"), -1);
}

/* Encode a client frame and check header and masking byte by byte. */
static void encode_len(size_t len, size_t hlen)
{
    uint8_t *p = malloc(len + 1), *f = malloc(len + 20);
    ssize_t n;

    assert_non_null(p);
    assert_non_null(f);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)i;
    n = ws_frame_encode(f, len + 20, WS_OP_BINARY, p, len, 0x01020304u);
    assert_int_equal(n, (ssize_t)(hlen + 4 + len));
    assert_int_equal(f[0], 0x82);
    assert_int_equal(f[1] & 0x80, 0x80); /* masked */
    if (hlen == 2)
        assert_int_equal(f[1] & 0x7f, len);
    else if (hlen == 4)
        assert_int_equal((f[1] & 0x7f) == 126 && ((size_t)f[2] << 8 | f[3]) == len, 1);
    else
        assert_int_equal(f[1] & 0x7f, 127);
    assert_memory_equal(f + hlen, "\x01\x02\x03\x04", 4);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(f[hlen + 4 + i] ^ (i % 4 + 1), (uint8_t)i);
    assert_int_equal(ws_frame_encode(f, hlen + 3 + len, WS_OP_BINARY, p, len, 1), -1);
    free(p);
    free(f);
}

static void test_frame_encode(void **state)
{
    (void)state;
    encode_len(0, 2);
    encode_len(125, 2);
    encode_len(126, 4);
    encode_len(65535, 4);
    encode_len(65536, 10);
}

/* relay-ws's output queue: unmasked frames built with ws_frame_header,
 * walked with ws_frame_size, and what the client decoder makes of them. */
static void test_server_frames(void **state)
{
    static const size_t lens[] = {0, 1, 125, 126, 65535, 65536};
    const size_t nl = sizeof(lens) / sizeof(lens[0]);
    size_t cap = 0, off = 0;
    (void)state;
    for (size_t k = 0; k < nl; k++)
        cap += 10 + lens[k];
    uint8_t *q = malloc(cap);
    assert_non_null(q);
    for (size_t k = 0; k < nl; k++) {
        size_t h = ws_frame_header(q + off, WS_OP_BINARY, lens[k], false);
        assert_int_equal(h, ws_frame_header_len(lens[k]));
        assert_int_equal(h, lens[k] < 126 ? 2 : lens[k] <= 0xffff ? 4 : 10);
        assert_int_equal(q[off], 0x82);
        assert_int_equal(q[off + 1] & 0x80, 0); /* a server frame is not masked */
        memset(q + off + h, (int)k + 1, lens[k]);
        assert_int_equal(ws_frame_size(q + off), h + lens[k]);
        off += h + lens[k];
    }
    /* the sizes walk the queue frame by frame to its end */
    size_t at = 0, n = 0;
    while (at < off) {
        at += ws_frame_size(q + at);
        n++;
    }
    assert_int_equal(at, off);
    assert_int_equal(n, nl);
    /* a masked frame's size counts its key */
    uint8_t m[20];
    assert_int_equal(ws_frame_encode(m, sizeof(m), WS_OP_BINARY, (const uint8_t *)"abc", 3, 7),
                     2 + 4 + 3);
    assert_int_equal(ws_frame_size(m), 2 + 4 + 3);
    /* the client decodes the whole queue, fed at once, as the messages */
    struct ws_rx rx;
    struct ws_event ev;
    ws_rx_init(&rx, 70000);
    assert_int_equal(ws_rx_feed(&rx, q, off), 0);
    for (size_t k = 0; k < nl; k++) {
        ws_rx_next(&rx, &ev);
        assert_int_equal(ev.kind, WS_EV_MESSAGE);
        assert_int_equal(ev.len, lens[k]);
        if (lens[k])
            assert_int_equal(ev.data[lens[k] - 1], (uint8_t)(k + 1));
    }
    ws_rx_next(&rx, &ev);
    assert_int_equal(ev.kind, WS_EV_NONE);
    ws_rx_free(&rx);
    free(q);
}

/* A server frame (unmasked) into out; returns its length. */
static size_t srv_frame(uint8_t *out, bool fin, unsigned op, const void *p, size_t len)
{
    size_t h = 2;

    out[0] = (uint8_t)((fin ? 0x80 : 0) | op);
    if (len < 126) {
        out[1] = (uint8_t)len;
    } else if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        h = 4;
    } else {
        out[1] = 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        h = 10;
    }
    memcpy(out + h, p, len);
    return h + len;
}

static void test_decode_split(void **state)
{
    uint8_t big[300], stream[1024];
    size_t n = 0;
    struct ws_rx rx;
    struct ws_event ev;
    int msgs = 0, pings = 0, closes = 0;

    (void)state;
    memset(big, 'b', sizeof(big));
    n += srv_frame(stream + n, true, WS_OP_BINARY, "\x00\x45", 2);
    n += srv_frame(stream + n, false, WS_OP_BINARY, big, 100);
    n += srv_frame(stream + n, true, WS_OP_PING, "hi", 2);
    n += srv_frame(stream + n, true, WS_OP_CONT, big + 100, 200);
    n += srv_frame(stream + n, true, WS_OP_CLOSE,
                   "\x03\xe8"
                   "bye",
                   5);
    /* byte by byte: every split point of every header form */
    ws_rx_init(&rx, 4096);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ws_rx_feed(&rx, stream + i, 1), 0);
        for (;;) {
            ws_rx_next(&rx, &ev);
            if (ev.kind == WS_EV_NONE)
                break;
            switch (ev.kind) {
            case WS_EV_MESSAGE:
                if (msgs++ == 0) {
                    assert_int_equal(ev.len, 2);
                    assert_memory_equal(ev.data, "\x00\x45", 2);
                } else {
                    assert_int_equal(ev.len, 300);
                    assert_memory_equal(ev.data, big, 300);
                }
                break;
            case WS_EV_PING:
                pings++;
                assert_int_equal(msgs, 1); /* between the fragments */
                assert_memory_equal(ev.data, "hi", 2);
                break;
            case WS_EV_CLOSE:
                closes++;
                assert_int_equal(ev.code, 1000);
                assert_memory_equal(ev.data, "bye", 3);
                break;
            default:
                fail();
            }
        }
    }
    assert_int_equal(msgs, 2);
    assert_int_equal(pings, 1);
    assert_int_equal(closes, 1);
    ws_rx_free(&rx);
}

static uint16_t decode_error(const uint8_t *f, size_t n, size_t max)
{
    struct ws_rx rx;
    struct ws_event ev;

    ws_rx_init(&rx, max);
    assert_int_equal(ws_rx_feed(&rx, f, n), 0);
    ws_rx_next(&rx, &ev);
    ws_rx_free(&rx);
    return ev.kind == WS_EV_ERROR ? ev.code : 0;
}

static void test_decode_errors(void **state)
{
    static uint8_t f[200000], zeros[70000];
    size_t n;

    (void)state;
    n = srv_frame(f, true, WS_OP_TEXT, "hello", 5);
    assert_int_equal(decode_error(f, n, 4096), WS_CLOSE_UNSUPPORTED);
    n = srv_frame(f, true, WS_OP_BINARY, "ab", 2);
    f[1] |= 0x80; /* masked */
    assert_int_equal(decode_error(f, n, 4096), WS_CLOSE_PROTOCOL);
    n = srv_frame(f, true, WS_OP_BINARY, "ab", 2);
    f[0] |= 0x40; /* RSV1 */
    assert_int_equal(decode_error(f, n, 4096), WS_CLOSE_PROTOCOL);
    n = srv_frame(f, true, WS_OP_CONT, "ab", 2); /* continuation without a start */
    assert_int_equal(decode_error(f, n, 4096), WS_CLOSE_PROTOCOL);
    n = srv_frame(f, false, WS_OP_PING, "ab", 2); /* fragmented control frame */
    assert_int_equal(decode_error(f, n, 4096), WS_CLOSE_PROTOCOL);
    /* too large: known from the header alone, before the payload arrives */
    n = srv_frame(f, true, WS_OP_BINARY, zeros, sizeof(zeros));
    assert_int_equal(decode_error(f, 10, 65536), WS_CLOSE_TOO_BIG);
    assert_int_equal(decode_error(f, n, 70000), 0); /* at the limit: fine */
}

static void test_coap_framing(void **state)
{
    uint8_t payload[400], tcp[512], back[512];
    struct coap_msg m, p;
    ssize_t tl, bl;
    size_t wl;
    uint8_t *w;

    (void)state;
    for (size_t plen = 0; plen < sizeof(payload); plen += 37) {
        coap_msg_init(&m);
        m.code = COAP_CONTENT;
        m.tkl = 3;
        memcpy(m.token, "tok", 3);
        coap_msg_add_opt(&m, COAP_OPT_CONTENT_FORMAT, NULL, 0);
        memset(payload, 'p', plen);
        m.payload = plen ? payload : NULL;
        m.payload_len = plen;
        tl = coap_msg_serialize_tcp(&m, tcp, sizeof(tcp));
        assert_true(tl > 0);
        w = ws_coap_from_tcp(tcp, (size_t)tl, &wl);
        assert_non_null(w);
        assert_int_equal(coap_msg_parse_ws(w, wl, &p), 0);
        assert_int_equal(p.code, COAP_CONTENT);
        assert_int_equal(p.payload_len, plen);
        bl = ws_coap_to_tcp(w, wl, back, sizeof(back));
        assert_int_equal(bl, tl);
        assert_int_equal(coap_msg_parse_tcp(back, (size_t)bl, &p), 0);
        assert_int_equal(p.tkl, 3);
        assert_memory_equal(p.token, "tok", 3);
    }
    /* coap_msg_signal: a CSM with and without BERT, a Ping with a token */
    {
        uint8_t mb[4], out[64];
        ssize_t n;
        coap_msg_signal(&m, COAP_SIG_CSM, NULL, 0, 65536, true, mb);
        n = coap_msg_serialize_ws(&m, out, sizeof(out));
        assert_true(n > 0);
        assert_int_equal(coap_msg_parse_ws(out, (size_t)n, &p), 0);
        assert_int_equal(p.code, COAP_SIG_CSM);
        assert_int_equal(coap_msg_opt_uint(&p, 2, 0), 65536);
        assert_non_null(coap_msg_find(&p, 4));
        coap_msg_signal(&m, COAP_SIG_CSM, NULL, 0, 1152, false, mb);
        assert_null(coap_msg_find(&m, 4));
        coap_msg_signal(&m, COAP_SIG_PING, (const uint8_t *)"tk", 2, 0, true, mb);
        assert_int_equal(m.nopts, 0);
        assert_int_equal(m.tkl, 2);
        assert_memory_equal(m.token, "tk", 2);
    }
    /* a Length nibble in a WebSocket message, a TKL over 8 */
    assert_int_equal(ws_coap_to_tcp((const uint8_t *)"\x10\x45x", 3, back, sizeof(back)), -1);
    assert_int_equal(ws_coap_to_tcp((const uint8_t *)"\x09\x45", 2, back, sizeof(back)), -1);
}

static void test_uri_split(void **state)
{
    char h[64], p[64], q[64];
    uint16_t port;

    (void)state;
    bool tls = true;

    assert_int_equal(ws_uri_split("coap+ws://[::1]:9000/a/b?x=1", h, 64, &port, p, 64, q, 64, &tls),
                     0);
    assert_false(tls);
    assert_string_equal(h, "::1");
    assert_int_equal(port, 9000);
    assert_string_equal(p, "/a/b");
    assert_string_equal(q, "x=1");
    assert_int_equal(ws_uri_split("coap+ws://127.0.0.1", h, 64, &port, p, 64, q, 64, NULL), 0);
    assert_int_equal(port, WS_COAP_PORT);
    assert_string_equal(p, "");
    assert_int_equal(ws_uri_split("coaps+ws://h/x", h, 64, &port, p, 64, q, 64, &tls), 0);
    assert_true(tls);
    assert_int_equal(port, WS_COAPS_PORT);
    /* coaps+ws:// only for callers that can do TLS */
    assert_int_equal(ws_uri_split("coaps+ws://h/x", h, 64, &port, p, 64, q, 64, NULL), -1);
    assert_int_equal(ws_uri_split("coap://127.0.0.1", h, 64, &port, p, 64, q, 64, NULL), -1);
    assert_int_equal(ws_uri_split("coap+ws://h:0/", h, 64, &port, p, 64, q, 64, NULL), -1);
    assert_int_equal(ws_uri_split("coap+ws://h:x/", h, 64, &port, p, 64, q, 64, NULL), -1);
}

/* ---- a tiny WebSocket peer: answers the handshake, sends a CSM in the
 * same segment as the 101, then echoes one message unmasked ---- */

static volatile bool peer_pong_ok;

static void *peer(void *arg)
{
    int fd = *(int *)arg;
    char req[2048], acc[32], resp[512], key[64];
    uint8_t buf[4096], out[4096];
    size_t have = 0;
    const char *k;

    while (have < sizeof(req) - 1) {
        ssize_t n = read(fd, req + have, sizeof(req) - 1 - have);
        if (n <= 0)
            return NULL;
        have += (size_t)n;
        req[have] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    k = strstr(req, "Sec-WebSocket-Key: ");
    if (k == NULL || sscanf(k + 19, "%63[^\r]", key) != 1 || ws_accept_key(key, acc, 32) < 0)
        return NULL;
    int rl = snprintf(resp, sizeof(resp),
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                      "Sec-WebSocket-Protocol: coap\r\n\r\n",
                      acc);
    memcpy(buf, resp, (size_t)rl);
    size_t n = (size_t)rl + srv_frame(buf + rl, true, WS_OP_BINARY, "\x00\xe1", 2); /* CSM */
    if (write(fd, buf, n) != (ssize_t)n)
        return NULL;
    /* read one masked client frame and echo its payload unmasked */
    have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r <= 0)
            return NULL;
        have += (size_t)r;
        if (have >= 2 && have >= 6 + (size_t)(buf[1] & 0x7f))
            break;
    }
    size_t len = buf[1] & 0x7f;
    for (size_t i = 0; i < len; i++)
        out[i] = buf[6 + i] ^ buf[2 + i % 4];
    n = srv_frame(buf, true, WS_OP_BINARY, out, len);
    if (write(fd, buf, n) != (ssize_t)n)
        return NULL;
    /* a WebSocket Ping: the client's Pong must carry its payload */
    n = srv_frame(buf, true, WS_OP_PING, "pp", 2);
    if (write(fd, buf, n) != (ssize_t)n)
        return NULL;
    have = 0;
    while (have < 8) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r <= 0)
            return NULL;
        have += (size_t)r;
    }
    peer_pong_ok = buf[0] == (0x80 | WS_OP_PONG) && buf[1] == (0x80 | 2) &&
                   (buf[6] ^ buf[2]) == 'p' && (buf[7] ^ buf[3]) == 'p';
    n = srv_frame(buf, true, WS_OP_CLOSE, "\x03\xe8", 2);
    if (write(fd, buf, n) != (ssize_t)n)
        return NULL;
    return NULL;
}

static void test_against_peer(void **state)
{
    int sv[2];
    struct ws_conn c;
    pthread_t th;
    struct ws_rx rx;
    struct ws_event ev;
    char err[128];
    uint8_t msg[] = {0x02, COAP_GET, 'h', 'i'};

    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(pthread_create(&th, NULL, peer, &sv[1]), 0);
    ws_rx_init(&rx, 65536);
    ws_conn_init(&c, sv[0]);
    assert_int_equal(
        ws_client_handshake(&c, "127.0.0.1", 8683, WS_COAP_PATH, &rx, 5000, err, sizeof(err)), 0);
    /* the CSM came with the 101: it is in rx already, or arrives next */
    ws_rx_next(&rx, &ev);
    while (ev.kind == WS_EV_NONE) {
        assert_true(ws_rx_read(&c, &rx) > 0 || errno == EAGAIN);
        ws_rx_next(&rx, &ev);
    }
    assert_int_equal(ev.kind, WS_EV_MESSAGE);
    assert_int_equal(ev.len, 2);
    assert_int_equal(ev.data[1], COAP_SIG_CSM);
    assert_int_equal(ws_send(&c, WS_OP_BINARY, msg, sizeof(msg), 5000), 0);
    do {
        ws_rx_next(&rx, &ev);
        if (ev.kind == WS_EV_NONE)
            assert_true(ws_rx_read(&c, &rx) > 0 || errno == EAGAIN);
    } while (ev.kind == WS_EV_NONE);
    assert_int_equal(ev.kind, WS_EV_MESSAGE);
    assert_int_equal(ev.len, sizeof(msg));
    assert_memory_equal(ev.data, msg, sizeof(msg));
    /* the peer's Ping is answered inside ws_conn_next, which then sees Close */
    do {
        ws_conn_next(&c, &rx, &ev, 5000);
        if (ev.kind == WS_EV_NONE)
            assert_true(ws_rx_read(&c, &rx) > 0 || errno == EAGAIN);
    } while (ev.kind == WS_EV_NONE);
    assert_int_equal(ev.kind, WS_EV_CLOSE);
    assert_int_equal(ev.code, 1000);
    pthread_join(th, NULL);
    assert_true(peer_pong_ok);
    ws_rx_free(&rx);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),      cmocka_unit_test(test_handshake_request),
        cmocka_unit_test(test_handshake_check), cmocka_unit_test(test_frame_encode),
        cmocka_unit_test(test_server_frames),   cmocka_unit_test(test_decode_split),
        cmocka_unit_test(test_decode_errors),   cmocka_unit_test(test_coap_framing),
        cmocka_unit_test(test_uri_split),       cmocka_unit_test(test_against_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
