/*
 * test_metrics.c - the Prometheus writer, the RELAY_STATUS name table and
 * the metrics_listen parser (common/metrics.c), and the HTTP answers of
 * common/http_min.c: every family is written once (promtool refuses a
 * family split in two), names the table does not know are kept, times in
 * ms become seconds, GET /metrics renders, anything else is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http_min.h"
#include "metrics.h"

static void test_listen_for(void **state)
{
    struct rr_addr a;
    char s[RR_ADDRSTRLEN];

    (void)state;
    assert_int_equal(mx_listen_for("frontend=127.0.0.1:9560, udp=[::1]:9561", "udp", &a), 1);
    assert_string_equal(addr_to_str(&a, s, sizeof(s)), "[::1]:9561");
    assert_int_equal(mx_listen_for("frontend=127.0.0.1:9560,udp=[::1]:9561", "frontend", &a), 1);
    assert_int_equal(addr_port(&a), 9560);
    assert_int_equal(mx_listen_for("frontend=127.0.0.1:9560", "tcp", &a), 0);
    assert_int_equal(mx_listen_for("", "udp", &a), 0);
    assert_int_equal(mx_listen_for("udp", "udp", &a), -1);
    assert_int_equal(mx_listen_for("udp=127.0.0.1", "udp", &a), -1);   /* no port */
    assert_int_equal(mx_listen_for("udp=localhost:1", "udp", &a), -1); /* numeric only */
    assert_true(mx_listen_ok(RR_METRICS_LISTEN_DEFAULT));
    assert_false(mx_listen_ok("=127.0.0.1:1"));
}

static void test_config_refuses_bad_list(void **state)
{
    struct rr_config cfg;
    char err[200];

    (void)state;
    config_defaults(&cfg);
    assert_string_equal(cfg.metrics_listen, RR_METRICS_LISTEN_DEFAULT);
    assert_int_equal(config_set(&cfg, "metrics_listen", "udp=127.0.0.1:1", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "metrics_listen", "udp:127.0.0.1:1", err, sizeof(err)), -1);
    assert_int_equal(config_set(&cfg, "metrics_listen", "", err, sizeof(err)), 0);
}

/* Every "# TYPE name" appears at most once, and every sample line follows
 * its own family's head. */
static void assert_families_whole(const char *text)
{
    char seen[64][128];
    unsigned nseen = 0;
    char cur[128] = "";
    const char *p = text;

    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[512];
        snprintf(line, sizeof(line), "%.*s", (int)len, p);
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[128];
            sscanf(line + 7, "%127s", name);
            for (unsigned i = 0; i < nseen; i++)
                assert_string_not_equal(seen[i], name);
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", name);
            snprintf(cur, sizeof(cur), "%s", name);
        } else if (line[0] && line[0] != '#') {
            assert_int_equal(strncmp(line, cur, strlen(cur)), 0);
            char c = line[strlen(cur)];
            assert_true(c == '{' || c == ' ');
        }
        p += len + (nl ? 1 : 0);
    }
}

static void test_render_relay(void **state)
{
    /* a UDP and a TCP relay's names, and one nobody knows yet */
    const struct mx_kv kv[] = {
        {"routes", 3},
        {"resyncs", 2},
        {"resyncs_gap", 1},
        {"resyncs_epoch", 1},
        {"proxy_5_02", 4},
        {"proxy_5_04", 5},
        {"rx", 10},
        {"tx", 11},
        {"bad_frames", 1},
        {"start_ms", 1700000000123ull},
        {"no_slot", 1},
        {"refused", 2},
        {"connections", 7},
        {"brand_new", 42},
        {"last_resync_reason", 1},
    };
    struct strbuf sb;

    (void)state;
    sb_init(&sb);
    mx_render_relay(&sb, "transport=\"udp\",relay=\"udp\"", kv, sizeof(kv) / sizeof(kv[0]));
    assert_false(sb.oom);
    assert_families_whole(sb.buf);
    assert_non_null(strstr(sb.buf, "rdrelay_routes{transport=\"udp\",relay=\"udp\"} 3\n"));
    assert_non_null(strstr(sb.buf, "rdrelay_route_resyncs_total{transport=\"udp\",relay=\"udp\","
                                   "reason=\"epoch\"} 1\n"));
    assert_non_null(strstr(sb.buf, "rdrelay_proxy_errors_total{transport=\"udp\",relay=\"udp\","
                                   "code=\"5.04\"} 5\n"));
    assert_non_null(
        strstr(sb.buf, "rdrelay_start_time_seconds{transport=\"udp\",relay=\"udp\"} 1700000000\n"));
    assert_non_null(strstr(sb.buf, "limit=\"connections\"} 2\n"));
    assert_non_null(strstr(sb.buf, "rdrelay_relay_value{transport=\"udp\",relay=\"udp\","
                                   "name=\"brand_new\"} 42\n"));
    /* the sum and the reason code are for rdrelayctl only */
    assert_null(strstr(sb.buf, "name=\"resyncs\""));
    assert_null(strstr(sb.buf, "last_resync_reason"));
    assert_non_null(strstr(sb.buf, "# HELP rdrelay_route_resyncs_total Route table resyncs"));
    sb_free(&sb);
}

static void test_codes_methods(void **state)
{
    uint64_t codes[256] = {0}, methods[8] = {0};
    struct strbuf sb;

    (void)state;
    codes[0x45] = 3; /* 2.05 */
    codes[0xa5] = 1; /* 5.05 */
    methods[1] = 9;
    sb_init(&sb);
    mx_head(&sb, "x_total", MX_COUNTER, "x.");
    mx_codes(&sb, "x_total", "k=\"v\"", codes);
    mx_head(&sb, "y_total", MX_COUNTER, "y.");
    mx_methods(&sb, "y_total", NULL, methods);
    assert_families_whole(sb.buf);
    assert_non_null(strstr(sb.buf, "x_total{k=\"v\",code=\"2.05\",class=\"2\"} 3\n"));
    assert_non_null(strstr(sb.buf, "x_total{k=\"v\",code=\"5.05\",class=\"5\"} 1\n"));
    assert_null(strstr(sb.buf, "code=\"2.01\""));
    assert_non_null(strstr(sb.buf, "y_total{method=\"GET\"} 9\n"));
    assert_non_null(strstr(sb.buf, "y_total{method=\"iPATCH\"} 0\n"));
    sb_free(&sb);
}

static void render_fixed(void *arg, struct strbuf *body)
{
    (void)arg;
    sb_puts(body, "a_total 1\n");
}

static void answer(struct hm_server *s, const char *req, struct strbuf *out)
{
    sb_reset(out);
    hm_answer(s, req, strlen(req), out);
}

static void test_http_answers(void **state)
{
    struct hm_server s = {.lfd = -1, .render = render_fixed};
    struct strbuf out;

    (void)state;
    sb_init(&out);
    answer(&s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &out);
    assert_int_equal(strncmp(out.buf, "HTTP/1.1 200 OK\r\n", 17), 0);
    assert_non_null(strstr(out.buf, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(out.buf, "Content-Length: 10\r\n"));
    assert_non_null(strstr(out.buf, "\r\n\r\na_total 1\n"));
    answer(&s, "GET /metrics?x=1 HTTP/1.0\r\n\r\n", &out);
    assert_int_equal(strncmp(out.buf, "HTTP/1.1 200 OK\r\n", 17), 0);
    answer(&s, "HEAD /metrics HTTP/1.1\r\n\r\n", &out);
    assert_non_null(strstr(out.buf, "Content-Length: 10\r\n"));
    assert_null(strstr(out.buf, "a_total"));
    answer(&s, "GET / HTTP/1.1\r\n\r\n", &out);
    assert_int_equal(strncmp(out.buf, "HTTP/1.1 404 ", 13), 0);
    answer(&s, "POST /metrics HTTP/1.1\r\n\r\n", &out);
    assert_int_equal(strncmp(out.buf, "HTTP/1.1 405 ", 13), 0);
    answer(&s, "garbage\r\n\r\n", &out);
    assert_int_equal(strncmp(out.buf, "HTTP/1.1 400 ", 13), 0);
    assert_int_equal(s.scrapes, 3);
    sb_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_for),   cmocka_unit_test(test_config_refuses_bad_list),
        cmocka_unit_test(test_render_relay), cmocka_unit_test(test_codes_methods),
        cmocka_unit_test(test_http_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
