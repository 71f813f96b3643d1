/*
 * fuzz_coap_msg_tcp.c - libFuzzer target for RFC 8323 framing
 * (common/coap_msg_tcp.c): a TCP byte stream cut into messages with
 * coap_msg_tcp_frame_len (fed in the pieces a socket could deliver), and
 * one WebSocket frame body. Signalling messages (7.xx: CSM, Ping, Pong,
 * Release, Abort) travel the same parser and are checked the same way.
 * Invariants: a frame length is never beyond what was needed, a shorter
 * prefix never claims a different length, a parsed message serialises to
 * exactly its bytes (the Len/extended-length encoding is canonical) and
 * parses again to the same view.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_check.h"

static void roundtrip_tcp(const uint8_t *p, size_t n)
{
    static uint8_t out[1 << 17]; /* a whole frame of the fuzzer's max_len */
    struct coap_msg m, again;

    if (coap_msg_parse_tcp(p, n, &m) != 0)
        return;
    FUZZ_CHECK(m.tkl <= COAP_MSG_MAX_TOKEN && m.payload_len <= n);
    ssize_t w = coap_msg_serialize_tcp(&m, out, sizeof(out));
    FUZZ_CHECK(w >= 0 && (size_t)w == n && memcmp(out, p, n) == 0);
    FUZZ_CHECK(coap_msg_tcp_frame_len(out, (size_t)w) == w);
    FUZZ_CHECK(coap_msg_parse_tcp(out, (size_t)w, &again) == 0);
    fuzz_check_same_msg(&m, &again, 0);
    FUZZ_CHECK(coap_msg_serialize_tcp(&m, out, n - 1) < 0);
}

static void roundtrip_ws(const uint8_t *p, size_t n)
{
    static uint8_t out[1 << 17];
    struct coap_msg m, again;

    if (coap_msg_parse_ws(p, n, &m) != 0)
        return;
    ssize_t w = coap_msg_serialize_ws(&m, out, sizeof(out));
    FUZZ_CHECK(w >= 0 && (size_t)w == n && memcmp(out, p, n) == 0);
    FUZZ_CHECK(coap_msg_parse_ws(out, (size_t)w, &again) == 0);
    fuzz_check_same_msg(&m, &again, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;

    roundtrip_ws(data, size);
    /* the stream: message after message, as relay-tcp's reader cuts it */
    while (off < size) {
        const uint8_t *p = data + off;
        size_t avail = size - off;
        ssize_t flen = coap_msg_tcp_frame_len(p, avail);

        if (flen < 0)
            break;
        /* every prefix either needs more bytes or knows the same length */
        for (size_t k = 0; k < avail && k < 8; k++) {
            ssize_t f2 = coap_msg_tcp_frame_len(p, k);
            FUZZ_CHECK(f2 == 0 || f2 == flen || (f2 < 0 && flen < 0));
        }
        if (flen == 0 || (size_t)flen > avail)
            break;
        roundtrip_tcp(p, (size_t)flen);
        off += (size_t)flen;
    }
    return 0;
}
