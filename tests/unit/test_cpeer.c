/*
 * test_cpeer.c - unit tests for common/cpeer.c: a peer packed and unpacked
 * comes back equal (IPv4, IPv6 with scope, unset addresses), relay names
 * intern to one stable index each (cut like the fixed array), "" is 0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "cpeer.h"

static void test_roundtrip(void **state)
{
    struct rr_peer p, q;
    struct rr_cpeer c;
    char a[RR_ADDRSTRLEN];
    (void)state;

    memset(&p, 0, sizeof(p));
    p.transport = RR_TRANSPORT_TCP;
    snprintf(p.relay, sizeof(p.relay), "tcp-b");
    assert_int_equal(addr_parse(&p.remote, "[2001:db8::7]:61616", 0), 0);
    assert_int_equal(addr_parse(&p.local, "192.0.2.10:5683", 0), 0);
    p.conn_id = 0x123456789abcull;
    assert_int_equal(cpeer_pack(&c, &p), 0);
    assert_true(sizeof(c) <= 72);
    cpeer_unpack(&c, &q);
    assert_int_equal(q.transport, RR_TRANSPORT_TCP);
    assert_string_equal(q.relay, "tcp-b");
    assert_true(addr_equal(&q.remote, &p.remote));
    assert_true(addr_equal(&q.local, &p.local));
    assert_int_equal(q.remote.len, p.remote.len);
    assert_string_equal(addr_to_str(&q.remote, a, sizeof(a)), "[2001:db8::7]:61616");
    assert_int_equal(q.conn_id, p.conn_id);

    /* a link-local address keeps its scope; an unset one stays unset */
    memset(&p, 0, sizeof(p));
    assert_int_equal(addr_parse(&p.remote, "[fe80::1%1]:5683", 0), 0);
    assert_int_equal(cpeer_pack(&c, &p), 0);
    assert_int_equal(c.relay, 0);
    cpeer_unpack(&c, &q);
    assert_true(addr_equal(&q.remote, &p.remote));
    assert_int_equal(q.local.len, 0);
    assert_int_equal(q.local.ss.ss_family, AF_UNSPEC);
    assert_string_equal(q.relay, "");
}

static void test_intern(void **state)
{
    char longname[100];
    int a, b;
    (void)state;

    assert_int_equal(proto_relay_intern(""), 0);
    a = proto_relay_intern("udp");
    b = proto_relay_intern("tcp");
    assert_true(a > 0 && b > 0 && a != b);
    assert_int_equal(proto_relay_intern("udp"), a);
    assert_string_equal(proto_relay_name((uint16_t)a), "udp");
    assert_string_equal(proto_relay_name((uint16_t)b), "tcp");
    assert_string_equal(proto_relay_name(0), "");
    assert_string_equal(proto_relay_name(60000), "");
    /* many names: the table grows and every index stays valid */
    for (int i = 0; i < 300; i++) {
        char n[16];
        snprintf(n, sizeof(n), "r%d", i);
        int k = proto_relay_intern(n);
        assert_true(k > 0);
        assert_string_equal(proto_relay_name((uint16_t)k), n);
    }
    assert_string_equal(proto_relay_name((uint16_t)a), "udp");
    /* cut to the fixed array's length, as rr_peer.relay is */
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    a = proto_relay_intern(longname);
    assert_int_equal(strlen(proto_relay_name((uint16_t)a)), RR_RELAY_NAME_MAX - 1);
    longname[RR_RELAY_NAME_MAX + 3] = '\0'; /* another name, the same once cut */
    assert_int_equal(proto_relay_intern(longname), a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_intern),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
