/*
 * fuzz_ws_join.c - libFuzzer target for relay-ws's joining of WebSocket
 * input into CoAP messages (relay-ws/ws_join.c, what relay-ws/conn.c's
 * receive callback calls for every piece libwebsockets hands it).
 * Input: records [flags, rest, length, bytes]: flags bit 0 a text frame,
 * bit 1 the message's final frame, bit 2 "rest * 16 bytes of this frame
 * still to come", bit 3 "SIZE_MAX - rest still to come" (a header's
 * announced length near the top of size_t); the bytes are the piece.
 * A close verdict ends the connection: what was kept is dropped and the
 * next record starts a new one. Max-Message-Size 1024 (JMAX).
 * Invariants (against a plain model of what was fed since the last
 * message): text frames close with 1003 at once; a message whose size so
 * far plus the piece plus what the frame still announces exceeds the
 * limit closes with 1009 before anything is kept, so never more than the
 * limit is held; a complete message is exactly the bytes fed since the
 * last one (the piece itself, not a copy, when it came whole), and passes
 * ws_msg_check, else 1002; an incomplete one is kept byte for byte.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "ws_relay.h"

#define JMAX 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t model[JMAX];
    static uint8_t piece[256];
    struct ws_join j = {0};
    size_t mlen = 0, off = 0;

    while (off + 3 <= size) {
        uint8_t fl = data[off];
        size_t rest = data[off + 1];
        size_t len = data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        memcpy(piece, data + off, len); /* a copy: reads past it are caught */
        off += len;
        if (fl & 8)
            rest = SIZE_MAX - rest;
        else if (fl & 4)
            rest *= 16;
        else
            rest = 0;
        const struct ws_piece pc = {
            .in = piece, .len = len, .rest = rest, .binary = !(fl & 1), .final = fl & 2};
        const uint8_t *msg = NULL;
        size_t n = 0;
        uint16_t code = 0;
        char why[WS_REASON_MAX] = "";
        size_t kept = j.len;
        FUZZ_CHECK(kept == mlen);

        enum ws_join_verdict v = ws_join_feed(&j, &pc, JMAX, &msg, &n, &code, why, sizeof(why));
        bool whole = pc.final && rest == 0;
        /* the model, without overflow: rest can be near SIZE_MAX */
        bool big = rest > JMAX || mlen + len + rest > JMAX;
        if (!pc.binary) {
            FUZZ_CHECK(v == WS_JOIN_TEXT && code == 1003 && why[0]);
        } else if (big) {
            FUZZ_CHECK(v == WS_JOIN_TOO_BIG && code == 1009 && why[0]);
            FUZZ_CHECK(j.len == kept); /* nothing taken */
        } else if (!whole) {
            FUZZ_CHECK(v == WS_JOIN_MORE);
            memcpy(model + mlen, piece, len);
            mlen += len;
            FUZZ_CHECK(j.len == mlen && j.len <= JMAX);
            FUZZ_CHECK(mlen == 0 || memcmp(j.buf, model, mlen) == 0);
            continue;
        } else {
            memcpy(model + mlen, piece, len);
            mlen += len;
            bool ok = mlen >= 1 && (model[0] >> 4) == 0;
            if (ok) {
                FUZZ_CHECK(v == WS_JOIN_MSG && n == mlen && n <= JMAX);
                FUZZ_CHECK(memcmp(msg, model, n) == 0);
                if (kept == 0)
                    FUZZ_CHECK(msg == piece); /* the usual case: no copy */
                ws_join_next(&j);
                FUZZ_CHECK(j.len == 0 && j.cap <= WS_JOIN_KEEP && (j.cap == 0) == (j.buf == NULL));
                mlen = 0;
                continue;
            }
            FUZZ_CHECK(v == WS_JOIN_BAD && code == 1002 && why[0]);
        }
        /* a close verdict: the connection goes, a new one starts */
        FUZZ_CHECK(msg == NULL && n == 0);
        ws_join_free(&j);
        mlen = 0;
    }
    ws_join_free(&j);
    return 0;
}
