/*
 * test_ws_rules.c - unit tests for relay-ws/ws_rules.c: the upgrade verdict
 * (404 for another path, 400 for another upgrade or no coap subprotocol,
 * accepted with coap anywhere in the list) and the whole-message check
 * (empty, Length nibble not 0); relay-ws/ws_join.c: fragments joined in
 * order, a whole frame passed without a copy, text 1003, over the limit
 * 1009 (also when only announced, or announced near SIZE_MAX), a bad
 * joined message 1002.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ws_relay.h"

static unsigned verdict(const char *up, const char *uri, const char *prot)
{
    const char *text = "unset";
    unsigned st = ws_upgrade_check(up, uri, prot, &text);
    if (st == 0)
        assert_null(text);
    else
        assert_true(text && *text);
    return st;
}

static void test_upgrade(void **state)
{
    (void)state;
    assert_int_equal(verdict("websocket", "/.well-known/coap", "coap"), 0);
    assert_int_equal(verdict("WebSocket", "/.well-known/coap", "chat, coap"), 0);
    assert_int_equal(verdict("websocket", "/.well-known/coap", "\tcoap\t"), 0);
    assert_int_equal(verdict("websocket", "/.well-known/coap", "coaps, coap2"), 400);
    assert_int_equal(verdict("websocket", "/.well-known/coap", NULL), 400);
    assert_int_equal(verdict("websocket", "/", "coap"), 404);
    assert_int_equal(verdict("websocket", "/.well-known/coap/", "coap"), 404);
    assert_int_equal(verdict("websocket", NULL, "coap"), 404);
    assert_int_equal(verdict("h2c", "/.well-known/coap", "coap"), 400);
    assert_int_equal(verdict(NULL, "/.well-known/coap", "coap"), 400);
}

static void test_message(void **state)
{
    static const uint8_t get[] = {0x00, 0x01}, tcp_len[] = {0x10, 0x01, 0x00};
    (void)state;
    assert_null(ws_msg_check(get, sizeof(get)));
    assert_non_null(ws_msg_check(get, 0));
    assert_non_null(ws_msg_check(tcp_len, sizeof(tcp_len)));
}

/* Feed one piece; the verdict, *msg / *n set. */
static enum ws_join_verdict feed(struct ws_join *j, const void *in, size_t len, size_t rest,
                                 bool binary, bool final, const uint8_t **msg, size_t *n,
                                 uint16_t *code)
{
    char why[WS_REASON_MAX] = "";
    const struct ws_piece pc = {
        .in = in, .len = len, .rest = rest, .binary = binary, .final = final};
    enum ws_join_verdict v = ws_join_feed(j, &pc, 64, msg, n, code, why, sizeof(why));
    if (v != WS_JOIN_MORE && v != WS_JOIN_MSG)
        assert_true(why[0]);
    return v;
}

static void test_join(void **state)
{
    static const uint8_t get[] = {0x01, 0x01, 0x7a, 0xb4, 'c', 'o', 'r', 'e'};
    static const uint8_t big[40] = {0};
    struct ws_join j = {0};
    const uint8_t *msg;
    size_t n;
    uint16_t code = 0;
    (void)state;

    /* one whole frame: the piece itself */
    assert_int_equal(feed(&j, get, sizeof(get), 0, true, true, &msg, &n, &code), WS_JOIN_MSG);
    assert_ptr_equal(msg, get);
    assert_int_equal(n, sizeof(get));
    ws_join_next(&j);
    assert_null(j.buf); /* nothing was kept for it */
    /* three fragments, the middle one in two pieces */
    assert_int_equal(feed(&j, get, 2, 0, true, false, &msg, &n, &code), WS_JOIN_MORE);
    assert_int_equal(feed(&j, get + 2, 2, 2, true, false, &msg, &n, &code), WS_JOIN_MORE);
    assert_int_equal(feed(&j, get + 4, 2, 0, true, false, &msg, &n, &code), WS_JOIN_MORE);
    assert_int_equal(feed(&j, get + 6, 2, 0, true, true, &msg, &n, &code), WS_JOIN_MSG);
    assert_int_equal(n, sizeof(get));
    assert_memory_equal(msg, get, sizeof(get));
    ws_join_next(&j);
    assert_int_equal(j.len, 0);
    /* the buffer stays for the next message in pieces: no allocation */
    const uint8_t *kept = j.buf;
    uint32_t cap = j.cap;
    assert_non_null(kept);
    assert_true(cap >= sizeof(get) && cap <= WS_JOIN_KEEP);
    assert_int_equal(feed(&j, get, 3, 0, true, false, &msg, &n, &code), WS_JOIN_MORE);
    assert_int_equal(feed(&j, get + 3, 5, 0, true, true, &msg, &n, &code), WS_JOIN_MSG);
    assert_memory_equal(msg, get, sizeof(get));
    assert_ptr_equal(j.buf, kept);
    assert_int_equal(j.cap, cap);
    ws_join_next(&j);
    ws_join_free(&j);
    assert_null(j.buf);
    assert_int_equal(j.cap, 0);
    /* a message over WS_JOIN_KEEP in pieces: its buffer goes with it */
    static uint8_t large[3000];
    char why[WS_REASON_MAX];
    large[0] = 0x01;
    struct ws_piece pc = {.in = large, .len = 1000, .rest = 2000, .binary = true, .final = true};
    assert_int_equal(ws_join_feed(&j, &pc, 4096, &msg, &n, &code, why, sizeof(why)), WS_JOIN_MORE);
    assert_true(j.cap >= sizeof(large)); /* room for the whole frame at once */
    pc = (struct ws_piece){.in = large + 1000, .len = 2000, .binary = true, .final = true};
    assert_int_equal(ws_join_feed(&j, &pc, 4096, &msg, &n, &code, why, sizeof(why)), WS_JOIN_MSG);
    assert_int_equal(n, sizeof(large));
    ws_join_next(&j);
    assert_null(j.buf);
    /* text */
    assert_int_equal(feed(&j, "hi", 2, 0, false, true, &msg, &n, &code), WS_JOIN_TEXT);
    assert_int_equal(code, 1003);
    /* over 64: joined, announced, announced near SIZE_MAX (no wrap) */
    assert_int_equal(feed(&j, big, 40, 0, true, false, &msg, &n, &code), WS_JOIN_MORE);
    assert_int_equal(feed(&j, big, 25, 0, true, true, &msg, &n, &code), WS_JOIN_TOO_BIG);
    assert_int_equal(code, 1009);
    assert_int_equal(j.len, 40); /* nothing taken */
    ws_join_free(&j);
    assert_int_equal(feed(&j, big, 4, 61, true, true, &msg, &n, &code), WS_JOIN_TOO_BIG);
    assert_int_equal(feed(&j, big, 4, SIZE_MAX - 2, true, true, &msg, &n, &code), WS_JOIN_TOO_BIG);
    assert_int_equal(j.len, 0);
    /* a joined message with a Length nibble; an empty one */
    static const uint8_t tcp_len[] = {0x10, 0x01, 0x00};
    assert_int_equal(feed(&j, tcp_len, 1, 0, true, false, &msg, &n, &code), WS_JOIN_MORE);
    assert_int_equal(feed(&j, tcp_len + 1, 2, 0, true, true, &msg, &n, &code), WS_JOIN_BAD);
    assert_int_equal(code, 1002);
    ws_join_free(&j);
    assert_int_equal(feed(&j, NULL, 0, 0, true, false, &msg, &n, &code), WS_JOIN_MORE);
    assert_int_equal(feed(&j, NULL, 0, 0, true, true, &msg, &n, &code), WS_JOIN_BAD);
    ws_join_free(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_message),
        cmocka_unit_test(test_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
