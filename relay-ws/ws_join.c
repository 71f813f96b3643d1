/*
 * ws_join.c - relay-ws's joining of WebSocket input into CoAP messages
 * (ws_relay.h, struct ws_join): what libwebsockets hands the coap
 * callback, one piece at a time (a frame may come in several pieces, a
 * message in several frames), becomes whole messages or a close verdict:
 *   - a text frame closes with 1003 (RFC 8323 §4: binary frames only);
 *   - more than our Max-Message-Size, counting what the current frame
 *     still announces, closes with 1009 before anything is kept, so at
 *     most max bytes of a fragmented message are ever held;
 *   - a whole message must pass ws_msg_check (not empty, Length nibble 0),
 *     else 1002.
 * No libwebsockets calls and no stream state, so tests/fuzz/fuzz_ws_join.c
 * drives it with arbitrary frame sequences; conn.c's receive callback
 * calls it and acts on the verdict.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_relay.h"

/* Room for at least need bytes (need <= max, checked by the caller):
 * doubling from 256, so a message in many pieces costs a few reallocs,
 * and never more than max. */
static int ws_join_grow(struct ws_join *j, size_t need, uint32_t max)
{
    size_t cap = j->cap ? (size_t)j->cap * 2 : 256;
    if (cap < need)
        cap = need;
    if (cap > max)
        cap = max;
    uint8_t *q = realloc(j->buf, cap);
    if (!q)
        return -1;
    j->buf = q;
    j->cap = (uint32_t)cap;
    return 0;
}

enum ws_join_verdict ws_join_feed(struct ws_join *j, const struct ws_piece *pc, uint32_t max,
                                  const uint8_t **msg, size_t *msg_len, uint16_t *code, char *why,
                                  size_t why_len)
{
    *msg = NULL;
    *msg_len = 0;
    if (!pc->binary) {
        *code = LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE;
        snprintf(why, why_len,
                 "text frame: CoAP over WebSockets is one message per binary frame (RFC 8323 "
                 "section 4)");
        return WS_JOIN_TEXT;
    }
    /* in overflow-safe order: each term alone may be anything */
    if (pc->len > max || pc->rest > max - pc->len || j->len > max - pc->len - pc->rest) {
        *code = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
        snprintf(why, why_len, "message larger than our Max-Message-Size %u", (unsigned)max);
        return WS_JOIN_TOO_BIG;
    }
    bool whole = pc->final && pc->rest == 0;
    const uint8_t *m = pc->in;
    size_t n = pc->len;
    if (!whole || j->len > 0) {
        if (n > 0) {
            if (j->len + n > j->cap && ws_join_grow(j, j->len + n + pc->rest, max) < 0) {
                *code = LWS_CLOSE_STATUS_UNEXPECTED_CONDITION;
                snprintf(why, why_len, "out of memory");
                return WS_JOIN_NOMEM;
            }
            memcpy(j->buf + j->len, pc->in, n);
            j->len += (uint32_t)n;
        }
        if (!whole)
            return WS_JOIN_MORE;
        m = j->buf;
        n = j->len;
    }
    const char *bad = ws_msg_check(m, n);
    if (bad) {
        *code = LWS_CLOSE_STATUS_PROTOCOL_ERR;
        snprintf(why, why_len, "%s", bad);
        return WS_JOIN_BAD;
    }
    *msg = m;
    *msg_len = n;
    return WS_JOIN_MSG;
}

void ws_join_next(struct ws_join *j)
{
    j->len = 0;
    if (j->cap > WS_JOIN_KEEP)
        ws_join_free(j);
}

void ws_join_free(struct ws_join *j)
{
    free(j->buf);
    j->buf = NULL;
    j->len = j->cap = 0;
}
