/*
 * test_ws_xff.c - unit tests for relay-ws/xff.c: which X-Forwarded-For
 * entry names the client (the last), IPv4 and IPv6 literals, mapped
 * addresses normalised, and what is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ws_relay.h"

static const char *client(const char *xff, char *buf, size_t len)
{
    struct rr_addr a;
    if (ws_xff_client(xff, &a) < 0)
        return "refused";
    return addr_host_str(&a, buf, len);
}

static void test_last_entry(void **state)
{
    char b[RR_ADDRSTRLEN];
    (void)state;
    assert_string_equal(client("203.0.113.7", b, sizeof(b)), "203.0.113.7");
    assert_string_equal(client("198.51.100.9, 203.0.113.7", b, sizeof(b)), "203.0.113.7");
    assert_string_equal(client("198.51.100.9,203.0.113.7 ", b, sizeof(b)), "203.0.113.7");
    assert_string_equal(client("192.0.2.1, 2001:db8::5", b, sizeof(b)), "2001:db8::5");
    assert_string_equal(client("::ffff:192.0.2.44", b, sizeof(b)), "192.0.2.44");
}

static void test_refused(void **state)
{
    char b[RR_ADDRSTRLEN];
    (void)state;
    assert_string_equal(client("", b, sizeof(b)), "refused");
    assert_string_equal(client("203.0.113.7, ", b, sizeof(b)), "refused");
    assert_string_equal(client("example.org", b, sizeof(b)), "refused");
    assert_string_equal(client("[2001:db8::5]:443", b, sizeof(b)), "refused");
    assert_string_equal(client("unknown", b, sizeof(b)), "refused");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_entry),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
