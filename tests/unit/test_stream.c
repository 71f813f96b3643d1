/*
 * test_stream.c - unit tests of the stream half of the relay core
 * (relay-core/stream*.c, shared by relay-tcp and relay-ws) against the fake
 * transport of tests/fixtures/fake_stream.c in WebSocket framing (this
 * file records every message written per connection):
 * our CSM goes first with our Max-Message-Size; a first message other than
 * a CSM aborts and closes; a request for a route held on another of our
 * connections goes over it under a relay token without Uri-Host and with
 * Hop-Limit, and the registrant's answer comes back under the client's
 * token; a registrant's connection that closes while a request is pending
 * -> 5.02 at once; after it closed, a new request -> 5.02 naming the
 * transport ("its WebSocket closed"); an unknown name -> 5.05. No sockets:
 * the core runs without ZeroMQ peers (static routes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_stream.h"

#define MAXC 8
#define MAXMSG 8

struct fake {
    struct fake_stream fs;
    uint8_t out[MAXC][MAXMSG][512];
    size_t out_len[MAXC][MAXMSG];
    int nout[MAXC];
    int closed[MAXC];
    char why[MAXC][96];
};

/* Every message written is kept (the last MAXMSG per connection). */
static void f_write(struct fake_stream *fs, uint32_t ci, const uint8_t *buf, size_t len)
{
    struct fake *f = fs->user;
    assert_true(ci < MAXC && len <= sizeof(f->out[0][0]));
    int k = f->nout[ci]++ % MAXMSG;
    memcpy(f->out[ci][k], buf, len);
    f->out_len[ci][k] = len;
}

static void f_closed(struct fake_stream *fs, uint32_t ci, const char *why)
{
    struct fake *f = fs->user;
    f->closed[ci]++;
    snprintf(f->why[ci], sizeof(f->why[ci]), "%s", why);
}

/* The last message written on ci, parsed. */
static void last(struct fake *f, uint32_t ci, struct coap_msg *m)
{
    assert_true(f->nout[ci] > 0);
    int k = (f->nout[ci] - 1) % MAXMSG;
    assert_int_equal(coap_msg_parse_ws(f->out[ci][k], f->out_len[ci][k], m), 0);
}

/* Deliver m (serialised in WebSocket framing) as if it came on ci. */
static void feed(struct fake *f, uint32_t ci, const struct coap_msg *m)
{
    uint8_t buf[512];
    ssize_t n = coap_msg_serialize_ws(m, buf, sizeof(buf));
    assert_true(n > 0);
    st_msg_on_message(&f->fs.s, ci, buf, (size_t)n, 1000);
}

static void feed_csm(struct fake *f, uint32_t ci)
{
    struct coap_msg m;
    coap_msg_init(&m);
    m.code = COAP_SIG_CSM;
    feed(f, ci, &m);
}

static void feed_get(struct fake *f, uint32_t ci, const char *host, uint8_t tok)
{
    struct coap_msg m;
    coap_msg_init(&m);
    m.code = COAP_GET;
    m.tkl = 2;
    m.token[0] = tok;
    m.token[1] = 0x22;
    if (host)
        coap_msg_add_opt(&m, COAP_OPT_URI_HOST, host, (uint16_t)strlen(host));
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "hello", 5);
    feed(f, ci, &m);
}

static uint32_t open_from(struct fake *f, const char *addr, uint16_t port)
{
    uint32_t ci = fake_stream_open(&f->fs, addr, port, 1000);
    assert_true(ci < MAXC);
    return ci;
}

static uint32_t open_conn(struct fake *f, uint16_t port)
{
    return open_from(f, "192.0.2.7", port);
}

static void add_route(struct fake *f, const char *host, uint64_t conn_id)
{
    assert_int_equal(fake_stream_route(&f->fs, host, conn_id), 0);
}

static uint32_t per_source = 64;            /* max_conns_per_source of the next setup */
static uint32_t inflight_per_source = 1024; /* max_inflight_per_source of it */
static uint32_t inflight_per_ep = 256;      /* max_inflight_per_endpoint of it */
static uint32_t observe_per_client = 64;    /* max_observe_per_client of it */

static int setup(void **state)
{
    struct fake *f = calloc(1, sizeof(*f));
    char err[128], dir[] = "/tmp/test_stream.XXXXXX";
    const struct st_limits lim = {.max_conns = MAXC,
                                  .max_message = 4096,
                                  .max_inflight = 16,
                                  .timeout_ms = 10000,
                                  .pong_timeout_ms = 10000};

    assert_non_null(f);
    assert_non_null(mkdtemp(dir));
    f->fs.on_write = f_write;
    f->fs.on_closed = f_closed;
    f->fs.user = f;
    fake_stream_config(&f->fs, dir);
    f->fs.s.cfg.max_conns_per_source = per_source;
    f->fs.s.cfg.max_inflight_per_source = inflight_per_source;
    f->fs.s.cfg.max_inflight_per_endpoint = inflight_per_ep;
    f->fs.s.cfg.max_observe_per_client = observe_per_client;
    assert_int_equal(fake_stream_start(&f->fs, true, &lim, err, sizeof(err)), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fake *f = *state;
    char path[RR_CFG_STR + 16];
    snprintf(path, sizeof(path), "%s", f->fs.s.cfg.state_dir);
    fake_stream_free(&f->fs);
    rmdir(path);
    free(f);
    return 0;
}

static void test_csm_first(void **state)
{
    struct fake *f = *state;
    struct coap_msg m;

    uint32_t c = open_conn(f, 40000);
    assert_int_equal(f->nout[c], 1);
    last(f, c, &m);
    assert_int_equal(m.code, COAP_SIG_CSM);
    const struct coap_msg_opt *mms = coap_msg_find(&m, SIG_OPT_MAX_MESSAGE_SIZE);
    assert_non_null(mms);
    assert_int_equal(coap_opt_value_uint(mms), 4096);
    /* a request before the peer's CSM: Abort, then closed */
    feed_get(f, c, NULL, 0x11);
    last(f, c, &m);
    assert_int_equal(m.code, COAP_SIG_ABORT);
    assert_int_equal(f->closed[c], 1);
    assert_int_equal(f->fs.s.nconns, 0);
}

static void test_proxy_over_connection(void **state)
{
    struct fake *f = *state;
    struct coap_msg m, a;

    uint32_t c = open_conn(f, 40001), r = open_conn(f, 40002);
    feed_csm(f, c);
    feed_csm(f, r);
    add_route(f, "bob.proxy.localhost", f->fs.s.conns[r].id);

    feed_get(f, c, "bob.proxy.localhost", 0x11);
    assert_int_equal(f->nout[r], 2); /* CSM, then the request */
    last(f, r, &m);
    assert_int_equal(m.code, COAP_GET);
    assert_null(coap_msg_find(&m, COAP_OPT_URI_HOST));
    assert_non_null(coap_msg_find(&m, COAP_OPT_HOP_LIMIT));
    assert_int_equal(m.tkl, FWD_TOKEN_LEN);

    coap_msg_init(&a);
    a.code = COAP_CONTENT;
    a.tkl = m.tkl;
    memcpy(a.token, m.token, m.tkl);
    a.payload = (const uint8_t *)"hi";
    a.payload_len = 2;
    feed(f, r, &a);
    last(f, c, &m);
    assert_int_equal(m.code, COAP_CONTENT);
    assert_int_equal(m.tkl, 2);
    assert_int_equal(m.token[0], 0x11);
    assert_memory_equal(m.payload, "hi", 2);

    /* pending when the registrant's connection closes: 5.02 at once */
    feed_get(f, c, "bob.proxy.localhost", 0x12);
    int before = f->nout[c];
    st_conn_close(&f->fs.s, r, "gone", 1000);
    assert_int_equal(f->closed[r], 1);
    assert_int_equal(f->nout[c], before + 1);
    last(f, c, &m);
    assert_int_equal(m.code, COAP_BAD_GATEWAY);
    assert_int_equal(m.token[0], 0x12);

    /* after it closed: 5.02 naming the transport */
    feed_get(f, c, "bob.proxy.localhost", 0x13);
    last(f, c, &m);
    assert_int_equal(m.code, COAP_BAD_GATEWAY);
    assert_non_null(memmem(m.payload, m.payload_len, "its WebSocket closed", 20));

    /* an unknown name */
    feed_get(f, c, "nobody.proxy.localhost", 0x14);
    last(f, c, &m);
    assert_int_equal(m.code, COAP_PROXYING_NOT_SUPPORTED);
}

static int setup_2_per_source(void **state)
{
    per_source = 2;
    int rc = setup(state);
    per_source = 64;
    return rc;
}

/* max_conns_per_source 2: a third connection from one IPv4 source gets
 * Abort 7.05 with a diagnostic and is closed (counted); another source is
 * served; a source's own closed connection makes room again. */
static void test_conns_per_source(void **state)
{
    struct fake *f = *state;
    struct coap_msg m;

    uint32_t a = open_from(f, "192.0.2.7", 40001);
    uint32_t b = open_from(f, "192.0.2.7", 40002);
    last(f, a, &m);
    assert_int_equal(m.code, COAP_SIG_CSM);
    last(f, b, &m);
    assert_int_equal(m.code, COAP_SIG_CSM);
    uint32_t c = open_from(f, "192.0.2.7", 40003);
    last(f, c, &m);
    assert_int_equal(m.code, COAP_SIG_ABORT);
    assert_non_null(memmem(m.payload, m.payload_len, "too many connections", 20));
    assert_int_equal(f->closed[c], 1);
    assert_int_equal(f->fs.s.c.conn_src_refused, 1);
    assert_int_equal(f->fs.s.nconns, 2);
    /* the others are untouched; another source is served */
    assert_int_equal(f->closed[a] + f->closed[b], 0);
    uint32_t d = open_from(f, "192.0.2.8", 40004);
    last(f, d, &m);
    assert_int_equal(m.code, COAP_SIG_CSM);
    /* the refused one did not count: one close makes room for one */
    st_conn_close(&f->fs.s, a, "test", 1000);
    uint32_t e = open_from(f, "192.0.2.7", 40005);
    last(f, e, &m);
    assert_int_equal(m.code, COAP_SIG_CSM);
    uint32_t g = open_from(f, "192.0.2.7", 40006);
    last(f, g, &m);
    assert_int_equal(m.code, COAP_SIG_ABORT);
    assert_int_equal(f->fs.s.c.conn_src_refused, 2);
}

static int setup_2_inflight(void **state)
{
    inflight_per_source = 2;
    int rc = setup(state);
    inflight_per_source = 1024;
    return rc;
}

/* The registrant's answer to the n-th message written to it on r. */
static void answer_nth(struct fake *f, uint32_t r, int n)
{
    struct coap_msg m, a;
    assert_true(n < f->nout[r] && f->nout[r] - n <= MAXMSG);
    assert_int_equal(coap_msg_parse_ws(f->out[r][n % MAXMSG], f->out_len[r][n % MAXMSG], &m), 0);
    coap_msg_init(&a);
    a.code = COAP_CONTENT;
    a.tkl = m.tkl;
    memcpy(a.token, m.token, m.tkl);
    feed(f, r, &a);
}

/* max_inflight_per_source 2: a source's third request while two wait
 * upstream gets 5.03 with a diagnostic and is not forwarded (counted);
 * another source is forwarded meanwhile; an answer makes room again. */
static void test_inflight_per_source(void **state)
{
    struct fake *f = *state;
    struct coap_msg m;

    uint32_t c = open_from(f, "192.0.2.7", 40001), d = open_from(f, "192.0.2.8", 40002);
    uint32_t r = open_from(f, "192.0.2.9", 40003);
    feed_csm(f, c);
    feed_csm(f, d);
    feed_csm(f, r);
    add_route(f, "bob.proxy.localhost", f->fs.s.conns[r].id);

    feed_get(f, c, "bob.proxy.localhost", 0x21);
    feed_get(f, c, "bob.proxy.localhost", 0x22);
    assert_int_equal(f->nout[r], 3); /* CSM, then the two requests */
    feed_get(f, c, "bob.proxy.localhost", 0x23);
    assert_int_equal(f->nout[r], 3);
    last(f, c, &m);
    assert_int_equal(m.code, COAP_SERVICE_UNAVAILABLE);
    assert_int_equal(m.token[0], 0x23);
    assert_non_null(memmem(m.payload, m.payload_len, "too many requests in flight", 27));
    assert_int_equal(f->fs.s.core.lim.hit_inflight_source, 1);
    /* another source is served */
    feed_get(f, d, "bob.proxy.localhost", 0x31);
    assert_int_equal(f->nout[r], 4);
    /* the answer to d's request frees d's count only; one of c's frees c's */
    answer_nth(f, r, 3);
    last(f, d, &m);
    assert_int_equal(m.code, COAP_CONTENT);
    feed_get(f, c, "bob.proxy.localhost", 0x24);
    assert_int_equal(f->nout[r], 4);
    assert_int_equal(f->fs.s.core.lim.hit_inflight_source, 2);
    answer_nth(f, r, 2); /* c's 0x22 */
    last(f, c, &m);
    assert_int_equal(m.code, COAP_CONTENT);
    assert_int_equal(m.token[0], 0x22);
    feed_get(f, c, "bob.proxy.localhost", 0x25);
    assert_int_equal(f->nout[r], 5);
    assert_int_equal(f->fs.s.core.lim.hit_inflight_source, 2);
}

static int setup_2_per_endpoint(void **state)
{
    inflight_per_ep = 2;
    int rc = setup(state);
    inflight_per_ep = 256;
    return rc;
}

/* max_inflight_per_endpoint 2: a third request to bob while two wait gets
 * 5.03 with Max-Age 1 and is not forwarded (counted), from any source;
 * carol is served meanwhile; an answer from bob makes room again. */
static void test_inflight_per_endpoint(void **state)
{
    struct fake *f = *state;
    struct coap_msg m;

    uint32_t c = open_from(f, "192.0.2.7", 40001), d = open_from(f, "192.0.2.8", 40002);
    uint32_t b = open_from(f, "192.0.2.9", 40003), k = open_from(f, "192.0.2.10", 40004);
    feed_csm(f, c);
    feed_csm(f, d);
    feed_csm(f, b);
    feed_csm(f, k);
    add_route(f, "bob.proxy.localhost", f->fs.s.conns[b].id);
    add_route(f, "carol.proxy.localhost", f->fs.s.conns[k].id);

    feed_get(f, c, "bob.proxy.localhost", 0x41);
    feed_get(f, d, "bob.proxy.localhost", 0x42);
    assert_int_equal(f->nout[b], 3);
    feed_get(f, d, "bob.proxy.localhost", 0x43);
    assert_int_equal(f->nout[b], 3);
    last(f, d, &m);
    assert_int_equal(m.code, COAP_SERVICE_UNAVAILABLE);
    const struct coap_msg_opt *ma = coap_msg_find(&m, COAP_OPT_MAX_AGE);
    assert_non_null(ma);
    assert_int_equal(coap_opt_value_uint(ma), 1);
    assert_non_null(memmem(m.payload, m.payload_len, "in flight to this endpoint", 26));
    assert_int_equal(f->fs.s.core.lim.hit_inflight_endpoint, 1);
    feed_get(f, c, "carol.proxy.localhost", 0x44);
    assert_int_equal(f->nout[k], 2);
    answer_nth(f, b, 1); /* c's 0x41 */
    last(f, c, &m);
    assert_int_equal(m.code, COAP_CONTENT);
    feed_get(f, d, "bob.proxy.localhost", 0x45);
    assert_int_equal(f->nout[b], 4);
    assert_int_equal(f->fs.s.core.lim.hit_inflight_endpoint, 1);
}

static int setup_1_observe(void **state)
{
    observe_per_client = 1;
    int rc = setup(state);
    observe_per_client = 64;
    return rc;
}

/* GET /obs with Observe 0 for host under token tok, from ci. */
static void feed_observe(struct fake *f, uint32_t ci, const char *host, uint8_t tok)
{
    struct coap_msg m;
    uint8_t v[4];
    coap_msg_init(&m);
    m.code = COAP_GET;
    m.tkl = 1;
    m.token[0] = tok;
    coap_msg_add_opt(&m, COAP_OPT_URI_HOST, host, (uint16_t)strlen(host));
    coap_msg_add_opt_uint(&m, COAP_OPT_OBSERVE, 0, v);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "obs", 3);
    feed(f, ci, &m);
}

/* max_observe_per_client 1: a source's second observation goes upstream
 * without Observe (counted); another source still observes; a cancelled
 * observation makes room. */
static void test_observe_per_client(void **state)
{
    struct fake *f = *state;
    struct coap_msg m;

    uint32_t c = open_from(f, "192.0.2.7", 40001), d = open_from(f, "192.0.2.8", 40002);
    uint32_t b = open_from(f, "192.0.2.9", 40003);
    feed_csm(f, c);
    feed_csm(f, d);
    feed_csm(f, b);
    add_route(f, "bob.proxy.localhost", f->fs.s.conns[b].id);

    feed_observe(f, c, "bob.proxy.localhost", 0x51);
    assert_int_equal(f->nout[b], 2);
    last(f, b, &m);
    assert_non_null(coap_msg_find(&m, COAP_OPT_OBSERVE));
    feed_observe(f, c, "bob.proxy.localhost", 0x52);
    assert_int_equal(f->nout[b], 3);
    last(f, b, &m);
    assert_null(coap_msg_find(&m, COAP_OPT_OBSERVE));
    assert_int_equal(f->fs.s.core.lim.hit_observe, 1);
    feed_observe(f, d, "bob.proxy.localhost", 0x61);
    last(f, b, &m);
    assert_non_null(coap_msg_find(&m, COAP_OPT_OBSERVE));
    assert_int_equal(f->fs.s.core.lim.hit_observe, 1);
    /* c's client connection closes: its observation ends, c's source may
     * observe again on a new connection */
    st_conn_close(&f->fs.s, c, "test", 1000);
    uint32_t e = open_from(f, "192.0.2.7", 40004);
    feed_csm(f, e);
    feed_observe(f, e, "bob.proxy.localhost", 0x53);
    last(f, b, &m);
    assert_non_null(coap_msg_find(&m, COAP_OPT_OBSERVE));
    assert_int_equal(f->fs.s.core.lim.hit_observe, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_csm_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_proxy_over_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conns_per_source, setup_2_per_source, teardown),
        cmocka_unit_test_setup_teardown(test_inflight_per_source, setup_2_inflight, teardown),
        cmocka_unit_test_setup_teardown(test_inflight_per_endpoint, setup_2_per_endpoint, teardown),
        cmocka_unit_test_setup_teardown(test_observe_per_client, setup_1_observe, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
