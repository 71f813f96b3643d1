/*
 * test_config.c - unit tests for common/config.c: embedded defaults, file
 * parsing (comments, quotes, errors with file:line), flags overriding the
 * file in both --name VALUE and --name=VALUE forms, unknown flags left over,
 * derived paths and extra_options.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char *write_tmp(const char *text)
{
    static char path[64];
    int fd;

    strcpy(path, "/tmp/rr-test-config-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_defaults(void **state)
{
    struct rr_config c;
    char err[128];

    (void)state;
    config_defaults(&c);
    assert_string_equal(c.state_dir, "state");
    assert_string_equal(c.db_path, "");
    assert_string_equal(c.proxy_domain, "proxy.localhost");
    assert_string_equal(c.rd_names, "");
    assert_string_equal(c.udp_listen, "0.0.0.0:5683,[::]:5683");
    assert_string_equal(c.tcp_listen, "0.0.0.0:5683,[::]:5683");
    assert_string_equal(c.log_level, "info");
    assert_int_equal(c.default_lt, 90000);
    assert_int_equal(c.expiry_grace, 3600);
    assert_int_equal(c.max_payload, 8192);
    assert_int_equal(c.empty_ack_delay_ms, 100);
    assert_int_equal(c.nat_keepalive, 25);
    assert_int_equal(c.hop_limit, 16);
    assert_int_equal(c.upstream_timeout_ms, 45000);
    assert_int_equal(c.max_exchanges, 4096);
    assert_int_equal(c.dedup_entries, 16384);
    assert_int_equal(c.dedup_per_peer, 256);
    assert_int_equal(c.heartbeat_ms, 1000);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    /* a relative state_dir stays relative */
    assert_string_equal(c.db_path, "state/rdrelay.sqlite");
    assert_string_equal(c.ctl_endpoint, "ipc://state/ctl.sock");
    assert_string_equal(c.pub_endpoint, "ipc://state/routes.sock");
    assert_string_equal(c.port_handoff_socket, "state/ws-handoff.sock");
    assert_int_equal(c.n_extra_options, 0);
}

/* port_handoff_socket is a unix socket path: longer than sun_path holds
 * is a configuration error, not a failure at run time */
static void test_handoff_socket_len(void **state)
{
    struct rr_config c;
    char err[128];

    (void)state;
    config_defaults(&c);
    memset(c.port_handoff_socket, 'a', 120);
    c.port_handoff_socket[120] = '\0';
    assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "port_handoff_socket"));
    config_defaults(&c);
    snprintf(c.port_handoff_socket, sizeof(c.port_handoff_socket), "/run/rdrelay/h.sock");
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_string_equal(c.port_handoff_socket, "/run/rdrelay/h.sock");
}

static void test_set_values(void **state)
{
    struct rr_config c;
    char err[128];

    (void)state;
    config_defaults(&c);
    assert_int_equal(config_set(&c, "hop_limit", "3", err, sizeof(err)), 0);
    assert_int_equal(c.hop_limit, 3);
    assert_int_equal(config_set(&c, "hop_limit", "-1", err, sizeof(err)), -1);
    assert_int_equal(config_set(&c, "hop_limit", "4294967296", err, sizeof(err)), -1);
    assert_int_equal(config_set(&c, "hop_limit", "12x", err, sizeof(err)), -1);
    assert_int_equal(config_set(&c, "hop_limit", "", err, sizeof(err)), -1);
    assert_int_equal(config_set(&c, "log_level", "loud", err, sizeof(err)), -1);
    assert_int_equal(config_set(&c, "udp_listen", "nonsense", err, sizeof(err)), -1);
    assert_int_equal(config_set(&c, "no_such", "1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no_such"));
    char longv[400];
    memset(longv, 'a', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    assert_int_equal(config_set(&c, "proxy_domain", longv, err, sizeof(err)), -1);
    assert_string_equal(c.proxy_domain, "proxy.localhost");
}

static void test_file(void **state)
{
    struct rr_config c;
    char err[256];
    const char *path = write_tmp("# a comment\n"
                                 "\n"
                                 "proxy_domain = Proxy.Example.NET   # trailing comment\n"
                                 "  state_dir=/var/lib/rdrelay\n"
                                 "rd_names = \"rd.example.net # not a comment\"\n"
                                 "extra_options = 65001, 65003\n"
                                 "hop_limit = 8\n");

    (void)state;
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), 0);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_string_equal(c.proxy_domain, "proxy.example.net");
    assert_string_equal(c.rd_names, "rd.example.net # not a comment");
    assert_string_equal(c.db_path, "/var/lib/rdrelay/rdrelay.sqlite");
    assert_string_equal(c.pub_endpoint, "ipc:///var/lib/rdrelay/routes.sock");
    assert_int_equal(c.hop_limit, 8);
    assert_int_equal(c.n_extra_options, 2);
    assert_int_equal(c.extra_option_nums[1], 65003);
    unlink(path);

    path = write_tmp("hop_limit = 8\nbogus line\n");
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ":2:"));
    unlink(path);
    path = write_tmp("hop_limit = 8\n\nunknown_thing = 1\n");
    assert_int_equal(config_load_file(&c, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ":3:"));
    unlink(path);
    assert_int_equal(config_load_file(&c, "/nonexistent/rr.conf", err, sizeof(err)), -1);
}

static void test_extra_options_bad(void **state)
{
    struct rr_config c;
    char err[128];

    (void)state;
    config_defaults(&c);
    strcpy(c.extra_options, "65001,abc");
    assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
    strcpy(c.extra_options, "70000");
    assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
    strcpy(c.extra_options, "");
    c.state_dir[0] = '\0';
    assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
}

static void test_takeover(void **state)
{
    struct rr_config c;
    char err[128];

    (void)state;
    config_defaults(&c);
    assert_string_equal(c.takeover, "same-address");
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_int_equal(c.takeover_mode, RR_TAKEOVER_SAME_ADDRESS);
    assert_int_equal(c.max_links, 512);
    assert_int_equal(c.max_registrations, 200000);
    assert_int_equal(c.max_regs_per_source, 1000);
    assert_string_equal(c.name_secrets, "");
    assert_int_equal(config_set(&c, "takeover", "deny", err, sizeof(err)), 0);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_int_equal(c.takeover_mode, RR_TAKEOVER_DENY);
    assert_int_equal(config_set(&c, "takeover", "allow", err, sizeof(err)), 0);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_int_equal(c.takeover_mode, RR_TAKEOVER_ALLOW);
    assert_int_equal(config_set(&c, "takeover", "sometimes", err, sizeof(err)), 0);
    assert_int_equal(config_finish(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "takeover"));
}

static void test_args(void **state)
{
    struct rr_config c;
    const char *path = write_tmp("hop_limit = 8\nproxy_domain = file.example\nnat_keepalive=7\n");
    char cfgflag[80];
    char *argv[16];
    int argc = 0;

    (void)state;
    snprintf(cfgflag, sizeof(cfgflag), "--config=%s", path);
    argv[argc++] = "prog";
    argv[argc++] = "--hop-limit";
    argv[argc++] = "5";
    argv[argc++] = "-v";
    argv[argc++] = cfgflag;
    argv[argc++] = "--state-dir=/tmp/rrstate";
    argv[argc++] = "--unknown";
    argv[argc++] = "val";
    argv[argc++] = "--udp-listen";
    argv[argc++] = "127.0.0.1:15683";
    argv[argc++] = "--";
    argv[argc++] = "--hop-limit";
    argv[argc] = NULL;
    assert_int_equal(config_from_args(&c, &argc, argv), 0);
    assert_int_equal(c.hop_limit, 5);                    /* flag beats file */
    assert_string_equal(c.proxy_domain, "file.example"); /* file beats default */
    assert_int_equal(c.nat_keepalive, 7);
    assert_string_equal(c.udp_listen, "127.0.0.1:15683");
    assert_string_equal(c.ctl_endpoint, "ipc:///tmp/rrstate/ctl.sock");
    assert_int_equal(argc, 6);
    assert_string_equal(argv[0], "prog");
    assert_string_equal(argv[1], "-v");
    assert_string_equal(argv[2], "--unknown");
    assert_string_equal(argv[3], "val");
    assert_string_equal(argv[4], "--");
    assert_string_equal(argv[5], "--hop-limit");
    assert_null(argv[6]);
    unlink(path);
}

static void test_args_env_and_errors(void **state)
{
    struct rr_config c;
    const char *path = write_tmp("heartbeat_ms = 250\n");
    char *argv1[] = {"prog", "--help", NULL};
    char *argv2[] = {"prog", "--hop-limit", NULL};
    char *argv3[] = {"prog", "--hop-limit", "x", NULL};
    char *argv4[] = {"prog", "--config", "/nonexistent/file", NULL};
    int argc;

    (void)state;
    setenv("RDRELAY_CONFIG", path, 1);
    argc = 2;
    assert_int_equal(config_from_args(&c, &argc, argv1), 0);
    assert_int_equal(c.heartbeat_ms, 250);
    assert_int_equal(argc, 2);
    assert_string_equal(argv1[1], "--help");
    unsetenv("RDRELAY_CONFIG");
    argc = 2;
    assert_int_equal(config_from_args(&c, &argc, argv2), -1);
    argc = 3;
    assert_int_equal(config_from_args(&c, &argc, argv3), -1);
    argc = 3;
    assert_int_equal(config_from_args(&c, &argc, argv4), -1);
    unlink(path);
}

static void rewrite(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    fclose(f);
}

/* SIGHUP (config_reload.c): the same file and flags again; reloadable
 * settings applied, others kept, a broken file changes nothing. */
static void test_reload(void **state)
{
    struct rr_config c;
    char *path = write_tmp("max_links = 10\nheartbeat_ms = 1000\ntakeover = allow\n");
    char cfgflag[80];
    char *argv[8];
    int argc = 0;

    (void)state;
    snprintf(cfgflag, sizeof(cfgflag), "--config=%s", path);
    argv[argc++] = "prog";
    argv[argc++] = cfgflag;
    argv[argc++] = "--max-regs-per-source";
    argv[argc++] = "5";
    argv[argc] = NULL;
    assert_int_equal(config_from_args(&c, &argc, argv), 0);
    assert_int_equal(c.max_links, 10);
    assert_int_equal(c.takeover_mode, RR_TAKEOVER_ALLOW);
    rewrite(path,
            "max_links = 20\nheartbeat_ms = 3000\ntakeover = deny\nmax_regs_per_source = 99\n");
    assert_int_equal(config_reload(&c), 2);
    assert_int_equal(c.max_links, 20);                   /* reloadable: applied */
    assert_int_equal(c.takeover_mode, RR_TAKEOVER_DENY); /* derived field follows */
    assert_int_equal(c.heartbeat_ms, 1000);              /* needs a restart: kept */
    assert_int_equal(c.max_regs_per_source, 5);          /* the flag still wins */
    rewrite(path, "max_links = 30\nno_such_setting = 1\n");
    assert_int_equal(config_reload(&c), -1);
    assert_int_equal(c.max_links, 20); /* a broken file changes nothing */
    assert_int_equal(c.takeover_mode, RR_TAKEOVER_DENY);
    unlink(path);
}

static void test_help(void **state)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    (void)state;
    config_print_help(f);
    fclose(f);
    assert_non_null(strstr(buf, "--proxy-domain"));
    assert_non_null(strstr(buf, "--empty-ack-delay-ms"));
    assert_non_null(strstr(buf, "--config"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_set_values),
        cmocka_unit_test(test_handoff_socket_len),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_extra_options_bad),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_args_env_and_errors),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_takeover),
        cmocka_unit_test(test_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
