/*
 * test_handoff.c - unit tests of relay-core/handoff.c (one hosting port
 * number for coap+tcp and coap+ws, issue 18): the first-bytes verdict
 * (an upgrade's "GET " against a CSM, whose code byte 0xE1 is never 'E',
 * and the prefixes that need more bytes); then, with a sender and a
 * receiver on one relay core and real loopback connections: a WebSocket
 * upgrade is handed over the unix socket with its bytes still unread and
 * the same connection (local and peer address); a CSM goes to the relay's
 * own accept, unread too; bytes that trickle in ("G", then "ET /") are
 * waited for; a silent peer is closed at its deadline (counted); with no
 * receiver the client gets HTTP 503 and a close (counted); one source
 * holds at most its share of the waiting slots; the receiver's
 * socket is 0600 and a stale one is replaced.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "handoff.h"

#define T_KIND 9

struct fx {
    struct relay_core core;
    struct rr_config cfg;
    struct rc_handoff tx, rx;
    char dir[64], path[128];
    int lfd; /* the "hosting port" listener */
    int to_stream_fd, adopted_fd;
    int to_stream_n, adopted_n;
};

static const struct relay_transport fake_transport = {.transport = RR_TRANSPORT_TCP};

static void on_to_stream(void *arg, int fd, uint64_t now)
{
    struct fx *f = arg;
    (void)now;
    f->to_stream_n++;
    f->to_stream_fd = fd;
}

static void on_adopt(void *arg, int fd, uint64_t now)
{
    struct fx *f = arg;
    (void)now;
    f->adopted_n++;
    f->adopted_fd = fd;
}

/* Run the core's registry until nothing is ready for a while. */
static void pump(struct fx *f, int rounds)
{
    struct epoll_event ev[16];
    for (int r = 0; r < rounds; r++) {
        int n = epoll_wait(f->core.epfd, ev, 16, 50);
        for (int i = 0; i < n; i++) {
            struct rc_handler *h = ev[i].data.ptr;
            h->fn(h, ev[i].events, 0);
        }
        if (n <= 0 && r > 2)
            return;
    }
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[128];
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    config_defaults(&f->cfg);
    assert_int_equal(config_finish(&f->cfg, err, sizeof(err)), 0);
    assert_int_equal(rc_init(&f->core, &f->cfg, "tcp", &fake_transport, f), 0);
    assert_int_equal(th_init(&f->core.timers, 8), 0);
    snprintf(f->dir, sizeof(f->dir), "/tmp/rr-handoff.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/ws-handoff.sock", f->dir);
    rc_handoff_reset(&f->tx);
    rc_handoff_reset(&f->rx);
    f->to_stream_fd = f->adopted_fd = -1;
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->lfd >= 0);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, 8), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rc_handoff_close(&f->tx);
    rc_handoff_close(&f->rx);
    if (f->to_stream_fd >= 0)
        close(f->to_stream_fd);
    if (f->adopted_fd >= 0)
        close(f->adopted_fd);
    close(f->lfd);
    unlink(f->path);
    rmdir(f->dir);
    rc_free(&f->core);
    th_free(&f->core.timers);
    free(f);
    return 0;
}

/* A client connected to the listener, and the server side (non-blocking). */
static int connect_pair(struct fx *f, int *server)
{
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    *server = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(*server >= 0);
    return c;
}

static void send_str(int fd, const char *s, size_t n)
{
    assert_int_equal(send(fd, s, n, 0), (ssize_t)n);
}

/* Until the server side has bytes to read (bounded). */
static void wait_in(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
}

/* What is waiting on fd (without consuming it). */
static ssize_t peek(int fd, char *buf, size_t n)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    poll(&p, 1, 1000);
    return recv(fd, buf, n, MSG_PEEK | MSG_DONTWAIT);
}

static void start_tx(struct fx *f)
{
    assert_int_equal(
        rc_handoff_tx_init(&f->tx, &f->core, f->path, 1000, 2, T_KIND, on_to_stream, f), 0);
}

static void test_classify(void **state)
{
    (void)state;
    const uint8_t csm[] = {0x00, 0xe1}, g_csm[] = {'G', 0xe1, 0, 0};
    assert_int_equal(rc_handoff_classify((const uint8_t *)"GET ", 4), RC_SNIFF_WS);
    assert_int_equal(rc_handoff_classify((const uint8_t *)"G", 1), RC_SNIFF_MORE);
    assert_int_equal(rc_handoff_classify((const uint8_t *)"GE", 2), RC_SNIFF_MORE);
    assert_int_equal(rc_handoff_classify((const uint8_t *)"GET", 3), RC_SNIFF_MORE);
    assert_int_equal(rc_handoff_classify(csm, 2), RC_SNIFF_TCP);
    assert_int_equal(rc_handoff_classify(g_csm, 4), RC_SNIFF_TCP); /* Len 4, TKL 7, then a CSM */
    assert_int_equal(rc_handoff_classify((const uint8_t *)"POST", 4), RC_SNIFF_TCP);
    assert_int_equal(rc_handoff_classify((const uint8_t *)"GETX", 4), RC_SNIFF_TCP);
}

static void test_ws_handed_over(void **state)
{
    struct fx *f = *state;
    static const char req[] = "GET /.well-known/coap HTTP/1.1\r\n";
    struct stat st;
    char buf[64];
    int s, c;

    assert_int_equal(rc_handoff_rx_open(&f->rx, &f->core, f->path, on_adopt, f), 0);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    start_tx(f);
    c = connect_pair(f, &s);
    send_str(c, req, sizeof(req) - 1);
    wait_in(s);
    rc_handoff_sniff(&f->tx, s, 0);
    pump(f, 20);
    assert_int_equal(f->adopted_n, 1);
    assert_int_equal(f->to_stream_n, 0);
    assert_int_equal(f->tx.n.sniff_ws, 1);
    assert_int_equal(f->tx.n.handed, 1);
    assert_int_equal(f->rx.n.adopted, 1);
    /* the same connection, with the upgrade still unread */
    struct sockaddr_in cl, peer;
    socklen_t l1 = sizeof(cl), l2 = sizeof(peer);
    getsockname(c, (struct sockaddr *)&cl, &l1);
    getpeername(f->adopted_fd, (struct sockaddr *)&peer, &l2);
    assert_int_equal(cl.sin_port, peer.sin_port);
    assert_int_equal(peek(f->adopted_fd, buf, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    assert_memory_equal(buf, req, sizeof(req) - 1);
    assert_int_equal(f->tx.used, 0);
    close(c);
}

static void test_tcp_and_trickle(void **state)
{
    struct fx *f = *state;
    const char csm[] = {0x00, (char)0xe1};
    char buf[8];
    int s, c;

    assert_int_equal(rc_handoff_rx_open(&f->rx, &f->core, f->path, on_adopt, f), 0);
    start_tx(f);
    c = connect_pair(f, &s);
    send_str(c, csm, 2);
    wait_in(s);
    rc_handoff_sniff(&f->tx, s, 0);
    assert_int_equal(f->to_stream_n, 1);
    assert_int_equal(f->tx.n.sniff_tcp, 1);
    assert_int_equal(peek(f->to_stream_fd, buf, 2), 2); /* the CSM is still there */
    assert_memory_equal(buf, csm, 2);
    close(c);

    /* "G" alone: wait; "ET /" later: a WebSocket */
    c = connect_pair(f, &s);
    send_str(c, "G", 1);
    wait_in(s);
    rc_handoff_sniff(&f->tx, s, 0);
    pump(f, 5);
    assert_int_equal(f->tx.used, 1);
    assert_int_equal(f->adopted_n, 0);
    send_str(c, "ET / HTTP/1.1\r\n", 15);
    pump(f, 20);
    assert_int_equal(f->tx.used, 0);
    assert_int_equal(f->adopted_n, 1);
    close(c);
}

static void test_silent_closed(void **state)
{
    struct fx *f = *state;
    char b;
    int s, c;

    start_tx(f);
    c = connect_pair(f, &s);
    rc_handoff_sniff(&f->tx, s, 100);
    pump(f, 3);
    assert_int_equal(f->tx.used, 1);
    assert_true(th_armed(&f->tx.t));
    rc_handoff_on_timer(&f->tx, 100 + 999); /* not yet */
    assert_int_equal(f->tx.used, 1);
    rc_handoff_on_timer(&f->tx, 100 + 1000);
    assert_int_equal(f->tx.used, 0);
    assert_int_equal(f->tx.n.sniff_timeouts, 1);
    assert_false(th_armed(&f->tx.t));
    struct pollfd p = {.fd = c, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 1000), 1);
    assert_int_equal(recv(c, &b, 1, 0), 0); /* closed by us */
    assert_int_equal(f->to_stream_n + f->adopted_n, 0);
    close(c);
}

/* per_source 2 (start_tx): a third silent connection from 127.0.0.1 is
 * closed at once; one slot freed, one more may wait */
static void test_per_source(void **state)
{
    struct fx *f = *state;
    int s[4], c[4];
    char b;

    start_tx(f);
    for (int i = 0; i < 3; i++) {
        c[i] = connect_pair(f, &s[i]);
        rc_handoff_sniff(&f->tx, s[i], 0);
    }
    assert_int_equal(f->tx.used, 2);
    assert_int_equal(f->tx.n.sniff_refused, 1);
    assert_int_equal(recv(c[2], &b, 1, 0), 0); /* refused: closed */
    send_str(c[0], "POST", 4);
    pump(f, 10); /* coap+tcp (to_stream): its slot is free again */
    assert_int_equal(f->to_stream_n, 1);
    assert_int_equal(f->tx.used, 1);
    c[3] = connect_pair(f, &s[3]);
    rc_handoff_sniff(&f->tx, s[3], 0);
    assert_int_equal(f->tx.used, 2);
    assert_int_equal(f->tx.n.sniff_refused, 1);
    for (int i = 0; i < 4; i++)
        close(c[i]);
}

static void test_no_receiver_503(void **state)
{
    struct fx *f = *state;
    static const char req[] = "GET /.well-known/coap HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[512];
    size_t got = 0;
    int s, c;

    /* a stale socket (a receiver killed -9) is replaced by the next one */
    assert_int_equal(rc_handoff_rx_open(&f->rx, &f->core, f->path, on_adopt, f), 0);
    rc_handoff_close(&f->rx); /* the file stays, nobody listens */
    start_tx(f);
    c = connect_pair(f, &s);
    send_str(c, req, sizeof(req) - 1);
    wait_in(s);
    rc_handoff_sniff(&f->tx, s, 0);
    assert_int_equal(f->tx.n.failed_503, 1);
    assert_int_equal(f->tx.n.handed, 0);
    for (;;) {
        struct pollfd p = {.fd = c, .events = POLLIN};
        if (poll(&p, 1, 1000) != 1)
            break;
        ssize_t n = recv(c, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    assert_non_null(strstr(buf, "HTTP/1.1 503 "));
    char *body = strstr(buf, "\r\n\r\n"), *cl = strstr(buf, "Content-Length: ");
    assert_non_null(body);
    assert_non_null(cl);
    assert_int_equal(strlen(body + 4), strtoul(cl + 16, NULL, 10)); /* the whole body, exactly */
    assert_memory_equal(body + 4, "coap+ws", 7);
    close(c);

    rc_handoff_reset(&f->rx);
    assert_int_equal(rc_handoff_rx_open(&f->rx, &f->core, f->path, on_adopt, f), 0);
    c = connect_pair(f, &s);
    send_str(c, req, sizeof(req) - 1);
    wait_in(s);
    rc_handoff_sniff(&f->tx, s, 0);
    pump(f, 20);
    assert_int_equal(f->adopted_n, 1); /* a new receiver: handed over again */
    close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test_setup_teardown(test_ws_handed_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tcp_and_trickle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silent_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_receiver_503, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
