/*
 * test_addr.c - unit tests for common/addr.c: v4-mapped normalisation,
 * parse/print of every accepted form, equality and hashing, sources (an
 * IPv4 address, an IPv6 /64).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"

static void roundtrip(const char *in, const char *want)
{
    struct rr_addr a;
    char buf[RR_ADDRSTRLEN];

    assert_int_equal(addr_parse(&a, in, 5683), 0);
    assert_string_equal(addr_to_str(&a, buf, sizeof(buf)), want);
}

static void test_parse_forms(void **state)
{
    (void)state;
    roundtrip("192.0.2.1:5683", "192.0.2.1:5683");
    roundtrip("192.0.2.1", "192.0.2.1:5683");
    roundtrip("[2001:db8::1]:61616", "[2001:db8::1]:61616");
    roundtrip("[2001:db8::1]", "[2001:db8::1]:5683");
    roundtrip("2001:db8::1", "[2001:db8::1]:5683");
    roundtrip("[::]:0", "[::]:0");
    roundtrip("0.0.0.0:65535", "0.0.0.0:65535");
    roundtrip("[fe80::1%1]:5683", "[fe80::1%lo]:5683");
}

static void test_parse_bad(void **state)
{
    static const char *bad[] = {"",
                                "192.0.2.1:",
                                "192.0.2.1:65536",
                                "192.0.2.1:-1",
                                "192.0.2.256",
                                "[2001:db8::1",
                                "[2001:db8::1]x",
                                "[2001:db8::1]:5683x",
                                "host.example:5683",
                                "[192.0.2.1]:1",
                                "1.2.3.4:5:6",
                                "[fe80::1%]:1"};
    struct rr_addr a;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(addr_parse(&a, bad[i], 5683), -1);
        assert_int_equal(a.ss.ss_family, AF_UNSPEC);
    }
}

static void test_v4_mapped(void **state)
{
    struct sockaddr_in6 s6;
    struct rr_addr a, b;
    char buf[RR_ADDRSTRLEN];

    (void)state;
    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    s6.sin6_port = htons(1234);
    inet_pton(AF_INET6, "::ffff:192.0.2.7", &s6.sin6_addr);
    addr_from_sockaddr(&a, (struct sockaddr *)&s6, sizeof(s6));
    assert_int_equal(a.ss.ss_family, AF_INET);
    assert_int_equal(a.len, sizeof(struct sockaddr_in));
    assert_string_equal(addr_to_str(&a, buf, sizeof(buf)), "192.0.2.7:1234");
    assert_int_equal(addr_parse(&b, "192.0.2.7:1234", 0), 0);
    assert_true(addr_equal(&a, &b));
    assert_int_equal(addr_hash(&a), addr_hash(&b));
    /* parse of a mapped literal normalises too */
    assert_int_equal(addr_parse(&b, "[::ffff:192.0.2.7]:1234", 0), 0);
    assert_int_equal(b.ss.ss_family, AF_INET);
    assert_true(addr_equal(&a, &b));
}

static void test_equality(void **state)
{
    struct rr_addr a, b, c, u1, u2;

    (void)state;
    addr_parse(&a, "[2001:db8::1]:5683", 0);
    addr_parse(&b, "[2001:db8::1]:5684", 0);
    addr_parse(&c, "192.0.2.1:5683", 0);
    assert_false(addr_equal(&a, &b));
    assert_true(addr_equal_host(&a, &b));
    assert_false(addr_equal_host(&a, &c));
    assert_int_equal(addr_port(&b), 5684);
    addr_set_port(&b, 5683);
    assert_true(addr_equal(&a, &b));
    addr_parse(&a, "[fe80::1%1]:1", 0);
    addr_parse(&b, "[fe80::1%2]:1", 0);
    assert_false(addr_equal(&a, &b));
    memset(&u1, 0, sizeof(u1));
    memset(&u2, 0, sizeof(u2));
    assert_true(addr_equal(&u1, &u2));
    assert_false(addr_equal(&u1, &c));
}

static void test_same_source(void **state)
{
    struct rr_addr a, b, unset, unset2;
    (void)state;
    memset(&unset, 0, sizeof(unset));
    memset(&unset2, 0, sizeof(unset2));
    assert_int_equal(addr_parse(&a, "192.0.2.1:1", 0), 0);
    assert_int_equal(addr_parse(&b, "[::ffff:192.0.2.1]:2", 0), 0);
    assert_true(addr_same_source(&a, &b)); /* any port, v4-mapped or not */
    assert_int_equal(addr_parse(&b, "192.0.2.2:1", 0), 0);
    assert_false(addr_same_source(&a, &b));
    assert_false(addr_same_source(&a, &unset));
    assert_true(addr_same_source(&unset, &unset2));
    assert_int_equal(addr_parse(&a, "[2001:db8:0:1::1]:1", 0), 0);
    assert_int_equal(addr_parse(&b, "[2001:db8:0:1:aaaa::2]:9", 0), 0);
    assert_true(addr_same_source(&a, &b)); /* one /64 */
    assert_int_equal(addr_parse(&b, "[2001:db8:0:2::1]:1", 0), 0);
    assert_false(addr_same_source(&a, &b));
}

static void test_host_str_and_list(void **state)
{
    struct rr_addr a, list[4];
    char buf[RR_ADDRSTRLEN];

    (void)state;
    addr_parse(&a, "[2001:db8::1]:5683", 0);
    assert_string_equal(addr_host_str(&a, buf, sizeof(buf)), "2001:db8::1");
    assert_int_equal(addr_parse_list("0.0.0.0:5683, [::]:5683", 5683, list, 4), 2);
    assert_int_equal(list[1].ss.ss_family, AF_INET6);
    assert_int_equal(addr_parse_list("", 5683, list, 4), 0);
    assert_int_equal(addr_parse_list("1.2.3.4,bogus", 5683, list, 4), -1);
    assert_int_equal(addr_parse_list("1.1.1.1,2.2.2.2,3.3.3.3", 5683, list, 2), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_forms),       cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_v4_mapped),         cmocka_unit_test(test_equality),
        cmocka_unit_test(test_host_str_and_list), cmocka_unit_test(test_same_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
