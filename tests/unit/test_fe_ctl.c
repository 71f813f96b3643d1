/*
 * test_fe_ctl.c - rd-frontend's control dispatcher (ctl.c) fed with bodies
 * from the proto_msg encoders, as relays send them: HELLO records the
 * relay's protocol version (1 for an older relay's HELLO without the
 * field), a HELLO from a restarted relay drops its old reachability
 * verdicts (it re-announces them), RELAY_STATUS fills the counters shown
 * by "status", and a truncated body changes nothing; rdrelayctl's commands
 * (ctl_cmd.c): list TEXT, show by path and host, drain / undrain of a known
 * relay only, config, refusals for the unknown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "frontend.h"

#include <jansson.h>

static struct frontend *fe_new(void)
{
    struct frontend *fe = calloc(1, sizeof(*fe));
    struct rr_config cfg;

    config_defaults(&cfg);
    assert_int_equal(frontend_init(fe, &cfg, ":memory:"), 0);
    return fe;
}

static void fe_done(struct frontend *fe)
{
    frontend_free(fe);
    free(fe);
}

static struct rd_reg *add_reg(struct frontend *fe, int64_t id, const char *relay)
{
    struct rd_reg *r = reg_new();

    assert_non_null(r);
    r->id = id;
    {
        char name_[RD_BASE_MAX];
        snprintf(name_, sizeof(name_), "e%lld", (long long)id);
        assert_int_equal(reg_set_names(r, name_, NULL, NULL, NULL), 0);
    }
    {
        char name_[RD_BASE_MAX];
        snprintf(name_, sizeof(name_), "e%lld.proxy.example.net", (long long)id);
        assert_int_equal(reg_set_names(r, NULL, NULL, NULL, name_), 0);
    }
    r->expires_at = fe->now + 60000;
    r->peer.relay = (uint16_t)proto_relay_intern(relay);
    assert_int_equal(registry_insert(&fe->reg, r), 0);
    return r;
}

static void hello(struct frontend *fe, const char *relay, uint32_t pid)
{
    struct rr_msg_hello m = {.transport = RR_TRANSPORT_UDP, .pid = pid};
    uint8_t body[64];
    struct wire_w w;

    snprintf(m.relay, sizeof(m.relay), "%s", relay);
    wire_w_init(&w, body, sizeof(body));
    assert_int_equal(proto_enc_hello(&w, &m), 0);
    ctl_dispatch(fe, (const uint8_t *)relay, strlen(relay), RR_MSG_HELLO, body, w.len);
}

static void reach(struct frontend *fe, const char *host, bool reachable)
{
    struct rr_msg_reachability m = {.reachable = reachable, .since_ms = 1700000000000ull};
    uint8_t body[256];
    struct wire_w w;

    snprintf(m.host, sizeof(m.host), "%s", host);
    wire_w_init(&w, body, sizeof(body));
    assert_int_equal(proto_enc_reachability(&w, &m), 0);
    ctl_dispatch(fe, (const uint8_t *)"udp", 3, RR_MSG_REACHABILITY, body, w.len);
}

static void test_hello_version(void **state)
{
    struct frontend *fe = fe_new();
    uint8_t old[64];
    struct wire_w w;

    (void)state;
    hello(fe, "udp", 100);
    assert_int_equal(fe->nrelays, 1);
    assert_int_equal(fe->relays[0].version, RR_PROTO_VERSION);
    assert_int_equal(fe->relays[0].pid, 100);
    /* an older relay: no version field */
    wire_w_init(&w, old, sizeof(old));
    wire_put_str(&w, "tcp");
    wire_put_u8(&w, RR_TRANSPORT_TCP);
    wire_put_u32(&w, 7);
    ctl_dispatch(fe, (const uint8_t *)"tcp", 3, RR_MSG_HELLO, old, w.len);
    assert_int_equal(fe->nrelays, 2);
    assert_int_equal(fe->relays[1].version, 1);
    /* truncated: dropped, nothing recorded */
    ctl_dispatch(fe, (const uint8_t *)"ws", 2, RR_MSG_HELLO, old, 3);
    assert_int_equal(fe->nrelays, 2);
    fe_done(fe);
}

static void test_restart_forgets_verdicts(void **state)
{
    struct frontend *fe = fe_new();
    struct rd_reg *a = add_reg(fe, 1, "udp"), *b = add_reg(fe, 2, "tcp");

    (void)state;
    hello(fe, "udp", 100);
    reach(fe, a->host, false);
    ctl_dispatch(fe, (const uint8_t *)"tcp", 3, RR_MSG_REACHABILITY, NULL, 0); /* malformed */
    b->unreachable = true;
    assert_true(a->unreachable);
    hello(fe, "udp", 100); /* the same run says hello again: verdicts stay */
    assert_true(a->unreachable);
    hello(fe, "udp", 101); /* restarted: its verdicts are gone, tcp's stay */
    assert_false(a->unreachable);
    assert_true(b->unreachable);
    reach(fe, a->host, false); /* re-announced */
    assert_true(a->unreachable);
    fe_done(fe);
}

static void test_relay_status(void **state)
{
    struct frontend *fe = fe_new();
    static struct rr_msg_relay_status m = {.relay = "udp", .n = 2};
    uint8_t body[1024];
    struct wire_w w;
    char *text;
    json_t *j;

    (void)state;
    snprintf(m.c[0].name, sizeof(m.c[0].name), "routes");
    m.c[0].value = 100000;
    snprintf(m.c[1].name, sizeof(m.c[1].name), "synced");
    m.c[1].value = 1;
    wire_w_init(&w, body, sizeof(body));
    assert_int_equal(proto_enc_relay_status(&w, &m), 0);
    ctl_dispatch(fe, (const uint8_t *)"udp", 3, RR_MSG_RELAY_STATUS, body, w.len);
    assert_int_equal(fe->relays[0].ncounters, 2);
    j = ctl_status_json(fe);
    text = json_dumps(j, JSON_COMPACT);
    assert_non_null(strstr(text, "\"routes\":100000"));
    assert_non_null(strstr(text, "\"snapshots_active\":0"));
    free(text);
    json_decref(j);
    fe_done(fe);
}

/* Run an rdrelayctl command; the answer's text (static) and ok. */
static const char *command(struct frontend *fe, const char *cmd, const char *arg, bool *ok)
{
    static char text[8192];
    struct rr_msg_ctl_response m;
    struct wire_r r;

    fe_outbox_clear(fe);
    ctl_command(fe, (const uint8_t *)"ctl-1", 5, cmd, arg);
    assert_non_null(fe->out_head);
    assert_int_equal(fe->out_head->type, RR_MSG_CTL_RESPONSE);
    wire_r_init(&r, fe->out_head->body, fe->out_head->len);
    assert_int_equal(proto_dec_ctl_response(&r, &m), 0);
    snprintf(text, sizeof(text), "%.*s", (int)m.text.len, (const char *)m.text.p);
    *ok = m.ok;
    fe_outbox_clear(fe);
    return text;
}

static void test_commands(void **state)
{
    struct frontend *fe = fe_new();
    bool ok;
    const char *t;

    (void)state;
    add_reg(fe, 1, "udp");
    add_reg(fe, 2, "udp");
    hello(fe, "udp", 100);
    t = command(fe, "list", "e2", &ok);
    assert_true(ok);
    assert_non_null(strstr(t, "\"path\":\"/reg/2\""));
    assert_null(strstr(t, "/reg/1\""));
    t = command(fe, "show", "/reg/1", &ok);
    assert_true(ok);
    assert_non_null(strstr(t, "\"ep\":\"e1\""));
    t = command(fe, "show", "e2.proxy.example.net", &ok);
    assert_true(ok && strstr(t, "\"ep\":\"e2\""));
    t = command(fe, "show", "nope", &ok);
    assert_false(ok);
    assert_non_null(strstr(t, "no registration"));
    assert_false(ctl_command_writes("show"));
    assert_true(ctl_command_writes("delete"));
    t = command(fe, "drain", "tcp", &ok); /* never heard from */
    assert_false(ok);
    t = command(fe, "drain", "udp", &ok);
    assert_true(ok && strstr(t, "\"draining\":true"));
    assert_true(fe->relays[0].draining);
    t = command(fe, "undrain", "udp", &ok);
    assert_false(fe->relays[0].draining);
    t = command(fe, "config", "", &ok);
    assert_true(ok && strstr(t, "\"proxy_domain\":\"proxy.localhost\""));
    t = command(fe, "frobnicate", "", &ok);
    assert_false(ok);
    assert_non_null(strstr(t, "unknown command"));
    fe_done(fe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_version),
        cmocka_unit_test(test_restart_forgets_verdicts),
        cmocka_unit_test(test_relay_status),
        cmocka_unit_test(test_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
