/*
 * test_relay_msglayer.c - relay-udp's message layer against a real loopback
 * socket, without rd-frontend: CoAP ping -> RST; Proxy-Uri -> 5.05; an
 * unknown proxy name -> 5.05 with its diagnostic, piggybacked for CON and
 * NON for NON; a duplicate CON gets the same answer byte for byte and is not
 * processed twice; an unknown critical option to the RD -> 4.02; a CON that
 * does not parse -> RST; an RD request whose rd-frontend never answers gets
 * an empty ACK after EMPTY_ACK_DELAY and a 5.03 separate response after
 * 60 s. Finally a fuzz run of random and mutated datagrams (under ASan in
 * the test build) must leave every pool consistent. The send queues
 * (udp_io.c): a hosting port socket's datagram waits for udp_flush like a
 * listen socket's and leaves from its port; more sockets with datagrams
 * waiting than there are queues, and more datagrams on one socket than a
 * batch, lose nothing and keep their order; closing a port sends what
 * waits on it first.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fwd_rules.h"
#include "relay.h"
#include "timeutil.h"

struct fx {
    struct relay *r;
    int cli;              /* the "client": answers land here */
    struct rr_addr peer;  /* its address */
    struct rr_addr local; /* the relay's */
    uint64_t now;
};

/* nports > 0: a hosting port range of that many ports (opened by
 * open_ports) */
static int setup_ports(void **state, uint16_t nports)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[128];
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);

    f->r = calloc(1, sizeof(*f->r));
    config_defaults(&f->r->cfg);
    snprintf(f->r->cfg.udp_listen, sizeof(f->r->cfg.udp_listen), "127.0.0.1:0");
    config_finish(&f->r->cfg, err, sizeof(err));
    f->r->cfg.max_exchanges = 64;
    if (nports) {
        f->r->cfg.port_lo = 40000;
        f->r->cfg.port_hi = (uint16_t)(40000 + nports - 1);
    }
    assert_int_equal(ru_core_init(f->r), 0);
    assert_int_equal(exch_init(f->r), 0);
    assert_int_equal(ka_init(f->r), 0);
    assert_int_equal(udp_open_all(f->r), 0);
    f->local = f->r->socks[0].bound;
    f->cli = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(f->cli >= 0);
    assert_int_equal(bind(f->cli, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(f->cli, (struct sockaddr *)&sin, &sl), 0);
    addr_from_sockaddr(&f->peer, (struct sockaddr *)&sin, sl);
    f->now = now_mono_ms();
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_ports(state, 0);
}

#define F_NPORTS (RU_TXQ + 8) /* more hosting sockets than send queues */

static int setup_many_ports(void **state)
{
    return setup_ports(state, F_NPORTS);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    close(f->cli);
    udp_close_all(f->r);
    ka_free(f->r);
    exch_free(f->r);
    rc_free(&f->r->core);
    free(f->r);
    free(f);
    return 0;
}

/* Hand buf to the relay as if the client sent it; return what the client
 * got back (0 = nothing). */
static size_t xchg(struct fx *f, const uint8_t *buf, size_t len, uint8_t *out, size_t cap)
{
    uint8_t copy[2048];
    memcpy(copy, buf, len);
    msg_on_datagram(f->r, 0, &f->peer, &f->local, copy, len, f->now);
    udp_flush(f->r);
    ssize_t n = recv(f->cli, out, cap, MSG_DONTWAIT);
    return n > 0 ? (size_t)n : 0;
}

/* Advance the virtual clock, firing timers and flushing; returns the first
 * datagram the client got, if any. */
static size_t advance(struct fx *f, uint64_t ms, uint8_t *out, size_t cap)
{
    uint64_t end = f->now + ms;
    size_t got = 0;
    while (f->now < end) {
        f->now += 10;
        struct rr_timer *t;
        while ((t = th_pop_due(&f->r->core.timers, f->now)) != NULL)
            rc_on_timer(&f->r->core, t, f->now);
        udp_flush(f->r);
        if (!got) {
            ssize_t n = recv(f->cli, out, cap, MSG_DONTWAIT);
            if (n > 0)
                return (size_t)n;
        }
    }
    return got;
}

/* A request with an optional Uri-Host, one Uri-Path and extra raw option
 * bytes (already delta-encoded after Uri-Path, i.e. from 11). */
static size_t mkreq(uint8_t *b, uint8_t type, uint16_t mid, const char *host, const char *path,
                    const uint8_t *extra, size_t extralen)
{
    size_t n = 0;
    b[n++] = (uint8_t)(0x40 | (type << 4) | 2);
    b[n++] = COAP_GET;
    b[n++] = (uint8_t)(mid >> 8);
    b[n++] = (uint8_t)mid;
    b[n++] = 0xbe;
    b[n++] = 0xef;
    unsigned last = 0;
    if (host) {
        size_t l = strlen(host);
        assert_true(l >= 13 && l < 269);
        b[n++] = (uint8_t)(3 << 4 | 13);
        b[n++] = (uint8_t)(l - 13);
        memcpy(b + n, host, l);
        n += l;
        last = 3;
    }
    size_t pl = strlen(path);
    assert_true(pl < 13);
    b[n++] = (uint8_t)((11 - last) << 4 | pl);
    memcpy(b + n, path, pl);
    n += pl;
    if (extralen)
        memcpy(b + n, extra, extralen);
    return n + extralen;
}

static void test_ping(void **state)
{
    struct fx *f = *state;
    uint8_t ping[4] = {0x40, 0, 0x12, 0x34}, out[64];
    size_t n = xchg(f, ping, 4, out, sizeof(out));
    assert_int_equal(n, 4);
    assert_int_equal(out[0], 0x70); /* RST */
    assert_int_equal(out[2], 0x12);
    assert_int_equal(out[3], 0x34);
}

static void test_unknown_name_and_dup(void **state)
{
    struct fx *f = *state;
    uint8_t req[300], a1[512], a2[512];
    size_t rl = mkreq(req, COAP_T_CON, 0x0101, "nobody.proxy.localhost", "x", NULL, 0);

    size_t n1 = xchg(f, req, rl, a1, sizeof(a1));
    assert_true(n1 > 6);
    assert_int_equal(a1[0], 0x62); /* ACK, tkl 2 */
    assert_int_equal(a1[1], COAP_PROXYING_NOT_SUPPORTED);
    assert_int_equal(a1[2] << 8 | a1[3], 0x0101);
    assert_int_equal(a1[4], 0xbe);
    assert_int_equal(a1[6], 0xff);
    assert_memory_equal(a1 + 7, "no registration with that name", n1 - 7);
    uint64_t dups = f->r->c.dup_requests;
    size_t n2 = xchg(f, req, rl, a2, sizeof(a2));
    assert_int_equal(n2, n1);
    assert_memory_equal(a1, a2, n1);
    assert_int_equal(f->r->c.dup_requests, dups + 1);

    /* NON: a NON answer with a message id of ours */
    rl = mkreq(req, COAP_T_NON, 0x0102, "nobody.proxy.localhost", "x", NULL, 0);
    n1 = xchg(f, req, rl, a1, sizeof(a1));
    assert_true(n1 > 6);
    assert_int_equal(a1[0], 0x52); /* NON, tkl 2 */
    assert_int_equal(a1[1], COAP_PROXYING_NOT_SUPPORTED);
}

static void test_forward_proxy_and_options(void **state)
{
    struct fx *f = *state;
    uint8_t req[300], out[512];
    /* Proxy-Uri (35): delta 24 from Uri-Path -> 13 + 11 */
    const uint8_t proxy_uri[] = {0xd5, 24 - 13, 'c', 'o', 'a', 'p', ':'};
    size_t rl = mkreq(req, COAP_T_CON, 0x0201, NULL, "x", proxy_uri, sizeof(proxy_uri));
    size_t n = xchg(f, req, rl, out, sizeof(out));
    assert_true(n >= 6);
    assert_int_equal(out[1], COAP_PROXYING_NOT_SUPPORTED);

    /* option 65001 (critical, unknown) to the RD: delta 64990 */
    const uint8_t crit[] = {0xe1, (64990 - 269) >> 8, (64990 - 269) & 0xff, 0x78};
    rl = mkreq(req, COAP_T_CON, 0x0202, NULL, "rd", crit, sizeof(crit));
    n = xchg(f, req, rl, out, sizeof(out));
    assert_true(n >= 6);
    assert_int_equal(out[0] >> 4 & 3, COAP_T_ACK);
    assert_int_equal(out[1], COAP_BAD_OPTION);

    /* unknown unsafe option in a proxied request: no route -> 5.05 comes
     * first (the name is checked before the options) */
    const uint8_t unsafe[] = {0xe1, (64991 - 269) >> 8, (64991 - 269) & 0xff, 0x78};
    rl = mkreq(req, COAP_T_CON, 0x0203, "nobody.proxy.localhost", "x", unsafe, sizeof(unsafe));
    n = xchg(f, req, rl, out, sizeof(out));
    assert_int_equal(out[1], COAP_PROXYING_NOT_SUPPORTED);
}

static void test_malformed(void **state)
{
    struct fx *f = *state;
    uint8_t bad[] = {0x49, 0x01, 0x33, 0x44, 1, 2, 3}, out[64];
    size_t n = xchg(f, bad, sizeof(bad), out, sizeof(out));
    assert_int_equal(n, 4);
    assert_int_equal(out[0], 0x70);
    assert_int_equal(out[2], 0x33);
    /* a NON that does not parse: silence */
    bad[0] = 0x59;
    assert_int_equal(xchg(f, bad, sizeof(bad), out, sizeof(out)), 0);
    /* too short, wrong version: silence */
    uint8_t tiny[2] = {0x40, 1};
    assert_int_equal(xchg(f, tiny, 2, out, sizeof(out)), 0);
    uint8_t v2[4] = {0x80, 1, 0, 1};
    assert_int_equal(xchg(f, v2, 4, out, sizeof(out)), 0);
}

static void test_rd_unanswered(void **state)
{
    struct fx *f = *state;
    uint8_t req[300], out[512];
    size_t rl = mkreq(req, COAP_T_CON, 0x0301, NULL, "rd", NULL, 0);

    /* no rd-frontend: nothing at once */
    assert_int_equal(xchg(f, req, rl, out, sizeof(out)), 0);
    /* the empty ACK after EMPTY_ACK_DELAY */
    size_t n = advance(f, f->r->cfg.empty_ack_delay_ms + 50, out, sizeof(out));
    assert_int_equal(n, 4);
    assert_int_equal(out[0], 0x60);
    assert_int_equal(out[2] << 8 | out[3], 0x0301);
    /* a retransmission of the request: the empty ACK again, no new work */
    uint64_t before = f->r->core.c.rd_requests;
    n = xchg(f, req, rl, out, sizeof(out));
    assert_int_equal(n, 4);
    assert_int_equal(out[0], 0x60);
    assert_int_equal(f->r->core.c.rd_requests, before);
    /* re-sent to rd-frontend every second, then 5.03 as a CON */
    n = advance(f, RC_RD_GIVEUP_MS + 1000, out, sizeof(out));
    /* the client is not verified (amplify.h): the code without the
     * diagnostic that would make the answer more than 3x the request */
    assert_true(n >= 4 && n <= 3 * rl);
    assert_int_equal(out[0] >> 4 & 3, COAP_T_CON);
    assert_int_equal(out[1], COAP_SERVICE_UNAVAILABLE);
    assert_true(f->r->core.c.rd_resends >= 50);
    /* ACK it: the exchange ends */
    uint8_t ack[4] = {0x60, 0, out[2], out[3]};
    xchg(f, ack, 4, out, sizeof(out));
    assert_int_equal(advance(f, 10000, out, sizeof(out)), 0);
}

static void test_fuzz(void **state)
{
    struct fx *f = *state;
    uint8_t buf[600], out[2048];
    uint8_t seed[300];
    size_t sl = mkreq(seed, COAP_T_CON, 1, "bob.proxy.localhost", "x", NULL, 0);

    srandom(7);
    for (int k = 0; k < 100000; k++) {
        size_t len;
        if (k % 2) {
            len = (size_t)(random() % 64);
            for (size_t i = 0; i < len; i++)
                buf[i] = (uint8_t)random();
            if (len >= 1 && (random() % 2))
                buf[0] = (uint8_t)(0x40 | (buf[0] & 0x3f)); /* version 1 */
        } else {
            memcpy(buf, seed, sl);
            len = sl;
            for (int m = 0; m < 3; m++)
                buf[random() % len] = (uint8_t)random();
        }
        memcpy(out, buf, len);
        msg_on_datagram(f->r, 0, &f->peer, &f->local, out, len, f->now);
        if (k % 64 == 0) {
            udp_flush(f->r);
            while (recv(f->cli, out, sizeof(out), MSG_DONTWAIT) > 0)
                ;
            f->now += 1;
        }
    }
    /* let everything time out */
    for (int s = 0; s < 400; s++) {
        f->now += 1000;
        struct rr_timer *t;
        while ((t = th_pop_due(&f->r->core.timers, f->now)) != NULL)
            rc_on_timer(&f->r->core, t, f->now);
        udp_flush(f->r);
        while (recv(f->cli, out, sizeof(out), MSG_DONTWAIT) > 0)
            ;
    }
    assert_int_equal(f->r->core.ux.used, 0);
    /* answered exchanges leave their slot at once (the answer stays in
     * the duplicate memory) */
    assert_int_equal(f->r->core.dx.used, 0);
    for (uint32_t i = 0; i < f->r->ndx; i++)
        assert_true(f->r->dx[i].h.state == DX_FREE);
    assert_int_equal(f->r->core.timers.n, 0);
}

/* Open every port of the hosting range, moving the range (same size)
 * until no port of it is taken on this host; their sockets' slots. */
static void open_ports(struct fx *f, int *slots)
{
    struct relay *r = f->r;
    uint16_t n = (uint16_t)(r->cfg.port_hi - r->cfg.port_lo + 1);

    for (int attempt = 0; attempt < 50; attempt++) {
        uint16_t lo = (uint16_t)(30000 + (unsigned)random() % 30000);
        uint16_t k = 0;
        r->cfg.port_lo = lo;
        r->cfg.port_hi = (uint16_t)(lo + n - 1);
        while (k < n && udp_port_open(r, (uint16_t)(lo + k)) == 0)
            k++;
        if (k == n) {
            for (uint16_t i = 0; i < n; i++)
                slots[i] = RU_MAX_SOCKS + i; /* one udp_listen address */
            return;
        }
        while (k > 0)
            udp_port_close(r, (uint16_t)(lo + --k));
    }
    fail_msg("no free range of %u UDP ports", (unsigned)n);
}

/* The next datagram for the client (bounded wait): its length, the port it
 * came from in *from_port; 0 when none came. */
static size_t recv_wait(struct fx *f, uint8_t *out, size_t cap, uint16_t *from_port)
{
    struct pollfd p = {.fd = f->cli, .events = POLLIN};
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);

    if (poll(&p, 1, 2000) != 1)
        return 0;
    ssize_t n = recvfrom(f->cli, out, cap, MSG_DONTWAIT, (struct sockaddr *)&sin, &sl);
    if (n <= 0)
        return 0;
    *from_port = ntohs(sin.sin_port);
    return (size_t)n;
}

static void test_port_send_batched(void **state)
{
    struct fx *f = *state;
    struct relay *r = f->r;
    int slots[F_NPORTS];
    uint8_t out[64];
    uint16_t from = 0;

    open_ports(f, slots);
    /* one answer on a hosting port waits for the flush ... */
    assert_int_equal(udp_send(r, slots[3], &f->peer, NULL, "h3", 2), 0);
    assert_true(recv(f->cli, out, sizeof(out), MSG_DONTWAIT) < 0);
    uint64_t tx = r->c.tx;
    udp_flush(r);
    /* ... then leaves from that port */
    assert_int_equal(recv_wait(f, out, sizeof(out), &from), 2);
    assert_memory_equal(out, "h3", 2);
    assert_int_equal(from, r->cfg.port_lo + 3);
    assert_int_equal(r->c.tx, tx + 1);

    /* every hosting socket and the listen socket at once: more than there
     * are queues; all arrive, each from its own port */
    for (int i = 0; i < F_NPORTS; i++) {
        uint8_t b[2] = {'p', (uint8_t)i};
        assert_int_equal(udp_send(r, slots[i], &f->peer, NULL, b, 2), 0);
    }
    assert_int_equal(udp_send(r, 0, &f->peer, NULL, "L", 1), 0);
    udp_flush(r);
    uint8_t seen[F_NPORTS] = {0};
    bool listen_seen = false;
    for (int k = 0; k < F_NPORTS + 1; k++) {
        size_t n = recv_wait(f, out, sizeof(out), &from);
        if (n == 1 && out[0] == 'L') {
            assert_int_equal(from, addr_port(&f->local));
            listen_seen = true;
            continue;
        }
        assert_int_equal(n, 2);
        assert_true(out[0] == 'p' && out[1] < F_NPORTS);
        assert_int_equal(seen[out[1]]++, 0);
        assert_int_equal(from, r->cfg.port_lo + out[1]);
    }
    assert_true(listen_seen);
    assert_true(recv(f->cli, out, sizeof(out), MSG_DONTWAIT) < 0); /* nothing more */
    assert_int_equal(r->c.tx, tx + 1 + F_NPORTS + 1);
    assert_int_equal(r->c.tx_err, 0);

    /* more than one batch on one hosting socket: all, in order */
    for (int i = 0; i < 3 * 32 + 5; i++) {
        uint8_t b[2] = {'s', (uint8_t)i};
        assert_int_equal(udp_send(r, slots[7], &f->peer, NULL, b, 2), 0);
    }
    udp_flush(r);
    for (int i = 0; i < 3 * 32 + 5; i++) {
        assert_int_equal(recv_wait(f, out, sizeof(out), &from), 2);
        assert_int_equal(out[1], (uint8_t)i);
        assert_int_equal(from, r->cfg.port_lo + 7);
    }

    /* a port closing sends what waits on it first; its queue comes back */
    assert_int_equal(udp_send(r, slots[5], &f->peer, NULL, "c5", 2), 0);
    udp_port_close(r, (uint16_t)(r->cfg.port_lo + 5));
    assert_int_equal(recv_wait(f, out, sizeof(out), &from), 2);
    assert_memory_equal(out, "c5", 2);
    assert_int_equal(from, r->cfg.port_lo + 5);
    udp_flush(r);
    /* a closed socket takes nothing */
    assert_int_equal(udp_send(r, slots[5], &f->peer, NULL, "x", 1), -1);
    /* and every queue is still there: all the open ports again */
    for (int i = 0; i < F_NPORTS; i++)
        if (i != 5)
            assert_int_equal(udp_send(r, slots[i], &f->peer, NULL, "a", 1), 0);
    udp_flush(r);
    for (int i = 0; i < F_NPORTS - 1; i++)
        assert_int_equal(recv_wait(f, out, sizeof(out), &from), 1);
    for (int i = 0; i < F_NPORTS; i++)
        if (i != 5)
            udp_port_close(r, (uint16_t)(r->cfg.port_lo + i));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_name_and_dup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_proxy_and_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rd_unanswered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fuzz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_port_send_batched, setup_many_ports, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
