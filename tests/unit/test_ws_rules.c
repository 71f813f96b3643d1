/*
 * test_ws_rules.c - unit tests for relay-ws/ws_rules.c: the upgrade verdict
 * (404 for another path, 400 for another upgrade or no coap subprotocol,
 * accepted with coap anywhere in the list) and the whole-message check
 * (empty, Length nibble not 0).
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
