/*
 * fuzz_ws_client.c - libFuzzer target for the WebSocket client's parsers
 * (common/ws_client.c), which see whatever the server (or anything posing
 * as one) sends: the handshake response check, and the frame decoder fed
 * the input in the pieces a socket could deliver (the first byte says how
 * large). Invariants: no event is larger than the message limit or the
 * input, control payloads are at most 125 bytes, a decoder that reported an
 * error is not asked again; every WebSocket CoAP message that converts to
 * the TCP framing converts back to exactly its bytes.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_check.h"
#include "ws_client.h"

#define FZ_MAX_MSG 4096

static void coap_roundtrip(const uint8_t *p, size_t n)
{
    static uint8_t tcp[FZ_MAX_MSG + 16];
    size_t wl;
    ssize_t tl = ws_coap_to_tcp(p, n, tcp, sizeof(tcp));
    const uint8_t *w;

    if (tl < 0)
        return;
    FUZZ_CHECK(coap_msg_tcp_frame_len(tcp, (size_t)tl) == tl);
    w = ws_coap_from_tcp(tcp, (size_t)tl, &wl);
    FUZZ_CHECK(w != NULL && wl == n && memcmp(w, p, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    struct ws_rx rx;
    size_t off = 1, step;
    int errors = 0;

    ws_handshake_check((const char *)data, size, "dGhlIHNhbXBsZSBub25jZQ==", err, sizeof(err));
    if (size < 1)
        return 0;
    step = (size_t)data[0] % 64 + 1;
    ws_rx_init(&rx, FZ_MAX_MSG);
    while (off < size && errors == 0) {
        size_t n = size - off < step ? size - off : step;
        struct ws_event ev;
        FUZZ_CHECK(ws_rx_feed(&rx, data + off, n) == 0);
        off += n;
        for (;;) {
            ws_rx_next(&rx, &ev);
            if (ev.kind == WS_EV_NONE)
                break;
            if (ev.kind == WS_EV_ERROR) { /* data is our reason text */
                FUZZ_CHECK(ev.code >= 1000);
                errors++;
                break;
            }
            FUZZ_CHECK(ev.len <= size);
            if (ev.kind == WS_EV_MESSAGE) {
                FUZZ_CHECK(ev.len <= FZ_MAX_MSG);
                coap_roundtrip(ev.data, ev.len);
            } else {
                FUZZ_CHECK(ev.len <= 125);
            }
        }
    }
    ws_rx_free(&rx);
    return 0;
}
