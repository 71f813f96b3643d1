/*
 * rdrelayctl.c - the operators' tool (issue 20). Asks rd-frontend over the
 * control part of the inter-process protocol (CTL_REQUEST -> CTL_RESPONSE,
 * common/proto.h; rd-frontend/ctl_cmd.c answers) for: status (rd-frontend
 * and every relay it heard from), list / search, show, delete, drain /
 * undrain, config. Two commands need no rd-frontend: keygen (a ZeroMQ CURVE
 * key pair) and config --local (what this tool's own settings resolve to).
 *
 * Owns: one ZeroMQ DEALER with a random routing id ("ctl-" + 16 hex digits),
 * connected to ctl_endpoint for one request; the answer's JSON (libjansson),
 * printed as JSON (--json) or rendered for people (nested "key: value"
 * lines, arrays of records as tables).
 * Talks to: rd-frontend's ROUTER (ctl_endpoint from the shared config, so
 * --config FILE / $RDRELAY_CONFIG / --state-dir DIR find the same socket the
 * processes use). Waits at most --timeout-ms (default 3000) for the answer.
 *
 * Exit status: 0 answered ok; 1 no answer, or rd-frontend refused the
 * command (unknown command, no such registration or relay); 2 usage or
 * configuration error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <inttypes.h>
#include <jansson.h>
#include <zmq.h>

#include "config.h"
#include "curve.h"
#include "log.h"
#include "proto_msg.h"
#include "timeutil.h"
#include "wire.h"

#define CTL_DEFAULT_TIMEOUT_MS 3000
#define TABLE_MAX_COLS 32

/* ---------------------------------------------------------------- rendering */

/* JSON (libjansson) rendered for people: objects as "key: value" lines,
 * nested blocks indented, arrays of flat objects as tables. */

static bool jscalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

/* A scalar as text (into buf when it has to be formatted). */
static const char *jtext(const json_t *v, char *buf, size_t len)
{
    if (!v)
        return "";
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_string_value(v);
    case JSON_INTEGER:
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL:
        snprintf(buf, len, "%g", json_real_value(v));
        return buf;
    case JSON_TRUE:
        return "yes";
    case JSON_FALSE:
        return "no";
    case JSON_NULL:
        return "-";
    case JSON_OBJECT:
        return "{...}";
    default:
        return "[...]";
    }
}

static bool jempty(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0);
}

/* An array of objects whose members are all scalars renders as a table. */
static bool jtable_like(const json_t *arr)
{
    size_t i;
    json_t *e, *m;
    const char *k;

    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return false;
    json_array_foreach(arr, i, e)
    {
        if (!json_is_object(e))
            return false;
        json_object_foreach(e, k, m) if (!jscalar(m)) return false;
    }
    return true;
}

static void render_table(FILE *out, const json_t *arr, int indent)
{
    const char *cols[TABLE_MAX_COLS], *k;
    size_t width[TABLE_MAX_COLS], i;
    unsigned ncols = 0;
    json_t *e, *m;
    char buf[64];

    /* columns: every key, in the order first seen */
    json_array_foreach(arr, i, e)
    {
        json_object_foreach(e, k, m)
        {
            unsigned c;
            for (c = 0; c < ncols; c++)
                if (strcmp(cols[c], k) == 0)
                    break;
            if (c == ncols && ncols < TABLE_MAX_COLS) {
                cols[ncols] = k;
                width[ncols++] = strlen(k);
            }
        }
    }
    json_array_foreach(arr, i, e)
    {
        for (unsigned c = 0; c < ncols; c++) {
            size_t w = strlen(jtext(json_object_get(e, cols[c]), buf, sizeof(buf)));
            if (w > width[c])
                width[c] = w;
        }
    }
    fprintf(out, "%*s", indent, "");
    for (unsigned c = 0; c < ncols; c++)
        fprintf(out, "%-*s%s", c + 1 < ncols ? (int)width[c] : 0, cols[c],
                c + 1 < ncols ? "  " : "\n");
    json_array_foreach(arr, i, e)
    {
        fprintf(out, "%*s", indent, "");
        for (unsigned c = 0; c < ncols; c++)
            fprintf(out, "%-*s%s", c + 1 < ncols ? (int)width[c] : 0,
                    jtext(json_object_get(e, cols[c]), buf, sizeof(buf)),
                    c + 1 < ncols ? "  " : "\n");
    }
}

static void render(FILE *out, const json_t *v, int indent);

/* One member of an object: "key: value", or "key:" and the block. dash:
 * the first member of an array element ("- " in the indent, YAML style). */
static void render_member(FILE *out, const char *key, const json_t *m, int indent, bool dash)
{
    char buf[64];

    if (dash)
        fprintf(out, "%*s- ", indent - 2, "");
    else
        fprintf(out, "%*s", indent, "");
    if (jscalar(m)) {
        const char *t = jtext(m, buf, sizeof(buf));
        /* a multi-line value (links) goes on lines of its own */
        fprintf(out, strchr(t, '\n') ? "%s: |\n%s\n" : "%s: %s\n", key, t);
    } else if (jempty(m)) {
        fprintf(out, "%s: (none)\n", key);
    } else if (jtable_like(m)) {
        fprintf(out, "%s:\n", key);
        render_table(out, m, indent + 2);
    } else {
        fprintf(out, "%s:\n", key);
        render(out, m, indent + 2);
    }
}

static void render(FILE *out, const json_t *v, int indent)
{
    char buf[64];
    const char *k;
    json_t *m;
    size_t i;

    if (jscalar(v)) {
        fprintf(out, "%*s%s\n", indent, "", jtext(v, buf, sizeof(buf)));
    } else if (jtable_like(v)) {
        render_table(out, v, indent);
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, m) render_member(out, k, m, indent, false);
    } else {
        json_array_foreach(v, i, m)
        {
            if (jscalar(m) || jempty(m)) {
                fprintf(out, "%*s- %s\n", indent, "",
                        jempty(m) ? "(none)" : jtext(m, buf, sizeof(buf)));
            } else if (json_is_object(m)) {
                bool first = true;
                json_t *c;
                json_object_foreach(m, k, c)
                {
                    render_member(out, k, c, indent + 2, first);
                    first = false;
                }
            } else {
                fprintf(out, "%*s-\n", indent, "");
                render(out, m, indent + 2);
            }
        }
    }
}

/* ---------------------------------------------------------------- the request */

struct ctl {
    struct rr_config cfg;
    const char *command;
    const char *argument;
    bool json, local;
    int timeout_ms;
    void *zctx, *sock;
    char ident[32];
    uint8_t body[RR_PROTO_MAX_BODY];
    size_t bodylen;
    uint8_t ok;
    char *text; /* the answer's text, heap */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rdrelayctl [--config FILE | --state-dir DIR | --ctl-endpoint EP ...]\n"
            "                  [--json] [--timeout-ms MS] COMMAND [ARGUMENT]\n"
            "\n"
            "Asks rdrelay-frontend over its control socket (ctl_endpoint) and prints\n"
            "the answer: as JSON with --json, otherwise as readable lines and tables.\n"
            "\n"
            "commands:\n"
            "  status          rd-frontend (up since, epoch, sequence, registrations,\n"
            "                  counters) and every relay it heard from (up since, epoch,\n"
            "                  sequence, routes, connections, last resync and why,\n"
            "                  draining, all counters)\n"
            "  list [TEXT]     the registrations; with TEXT only those whose ep, d, host\n"
            "                  or path contains it (search TEXT is the same)\n"
            "  show WHICH      one registration in full (WHICH: /reg/N, N, host or ep)\n"
            "  delete WHICH    remove it, as DELETE /reg/N by the endpoint would\n"
            "  drain RELAY     no new registrations through RELAY (they get 5.03);\n"
            "                  paths it holds keep working (undrain RELAY ends it)\n"
            "  config          rd-frontend's effective configuration\n"
            "                  (--local: this tool's own, no rd-frontend needed)\n"
            "  keygen          a ZeroMQ CURVE key pair (Z85: public, secret)\n"
            "\n"
            "options:\n"
            "  --json            print the answer as JSON (for scripts)\n"
            "  --local           config: this tool's settings, not rd-frontend's\n"
            "  --timeout-ms MS   wait this long for the answer (default %d)\n"
            "  --help, --version\n"
            "\n"
            "settings (shared with every rdrelay process; only ctl_endpoint, or\n"
            "state_dir from which it is derived, matter here):\n",
            CTL_DEFAULT_TIMEOUT_MS);
    config_print_help(out);
    fprintf(out, "\nexit status: 0 ok; 1 no answer from rd-frontend, or the command was\n"
                 "refused (unknown command, no such registration or relay); 2 usage or\n"
                 "configuration error\n");
}

/* Parse what config_from_args left: options of our own and the command. */
static int parse_args(struct ctl *c, int argc, char **argv)
{
    c->timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--json") == 0) {
            c->json = true;
        } else if (strcmp(a, "--local") == 0) {
            c->local = true;
        } else if (strcmp(a, "--timeout-ms") == 0 || strncmp(a, "--timeout-ms=", 13) == 0) {
            const char *v = a[12] == '=' ? a + 13 : (i + 1 < argc ? argv[++i] : NULL);
            char *endp;
            long ms = v ? strtol(v, &endp, 10) : -1;
            if (!v || *endp || ms < 1 || ms > 600000) {
                fprintf(stderr, "rdrelayctl: --timeout-ms needs 1..600000\n");
                return -1;
            }
            c->timeout_ms = (int)ms;
        } else if (strncmp(a, "--", 2) == 0) {
            fprintf(stderr, "rdrelayctl: unknown option %s (see --help)\n", a);
            return -1;
        } else if (!c->command) {
            c->command = a;
        } else if (!c->argument) {
            c->argument = a;
        } else {
            fprintf(stderr, "rdrelayctl: too many arguments (see --help)\n");
            return -1;
        }
    }
    if (!c->command) {
        fprintf(stderr, "rdrelayctl: no command (status, list, show, ...; see --help)\n");
        return -1;
    }
    return 0;
}

/* Connect, send CTL_REQUEST, wait (bounded) for CTL_RESPONSE. */
static int ask(struct ctl *c)
{
    uint8_t rnd[8], req[1024];
    struct wire_w w;
    struct wire_r r;
    uint64_t deadline;
    int ret = -1;

    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
        /* fall back to time and pid: the id only has to differ from others */
        uint64_t x = now_mono_ms() ^ ((uint64_t)getpid() << 32);
        memcpy(rnd, &x, sizeof(rnd));
    }
    snprintf(c->ident, sizeof(c->ident), "ctl-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);

    c->zctx = zmq_ctx_new();
    if (!c->zctx) {
        log_warn("zmq_ctx_new");
        goto done;
    }
    /* LINGER 0: never hang at exit on an unsent request; a connecting
     * DEALER queues it meanwhile (not immediate) */
    c->sock = proto_dealer_connect(c->zctx, c->ident, c->cfg.ctl_endpoint, 16, false);
    if (!c->sock) {
        log_warnx("cannot use ctl_endpoint %s", c->cfg.ctl_endpoint);
        goto done;
    }

    struct rr_msg_ctl_request q;
    int n1 = snprintf(q.command, sizeof(q.command), "%s", c->command);
    int n2 = snprintf(q.argument, sizeof(q.argument), "%s", c->argument ? c->argument : "");
    wire_w_init(&w, req, sizeof(req));
    if (n1 < 0 || (size_t)n1 >= sizeof(q.command) || n2 < 0 || (size_t)n2 >= sizeof(q.argument) ||
        proto_enc_ctl_request(&w, &q) < 0) {
        log_warnx("command or argument too long");
        goto done;
    }
    /* A connecting DEALER queues the message (ZMQ_IMMEDIATE is off). */
    if (proto_send(c->sock, NULL, 0, RR_MSG_CTL_REQUEST, req, w.len) < 0) {
        log_warn("send CTL_REQUEST to %s", c->cfg.ctl_endpoint);
        goto done;
    }

    deadline = now_mono_ms() + (uint64_t)c->timeout_ms;
    for (;;) {
        uint64_t now = now_mono_ms();
        zmq_pollitem_t item = {c->sock, 0, ZMQ_POLLIN, 0};
        uint16_t type;
        struct rr_msg_ctl_response a;

        if (now >= deadline) {
            log_warnx("no answer from rd-frontend at %s within %d ms (is rdrelay-frontend "
                      "running with the same state_dir/ctl_endpoint?)",
                      c->cfg.ctl_endpoint, c->timeout_ms);
            goto done;
        }
        if (zmq_poll(&item, 1, (long)(deadline - now)) < 0) {
            if (errno == EINTR)
                continue;
            log_warn("zmq_poll");
            goto done;
        }
        if (!(item.revents & ZMQ_POLLIN))
            continue;
        if (proto_recv(c->sock, false, NULL, NULL, &type, c->body, sizeof(c->body), &c->bodylen) <
            0)
            continue; /* EAGAIN, or malformed (already logged) */
        if (type != RR_MSG_CTL_RESPONSE) {
            log_debug("ignoring %s", proto_msg_name(type));
            continue;
        }
        wire_r_init(&r, c->body, c->bodylen);
        if (proto_dec_ctl_response(&r, &a) < 0) {
            log_warnx("malformed CTL_RESPONSE (%zu bytes)", c->bodylen);
            continue;
        }
        c->ok = a.ok;
        c->text = strndup((const char *)a.text.p, a.text.len);
        if (!c->text) {
            log_warn("strndup");
            goto done;
        }
        ret = 0;
        goto done;
    }
done:
    if (c->sock)
        zmq_close(c->sock);
    if (c->zctx)
        zmq_ctx_term(c->zctx);
    c->sock = c->zctx = NULL;
    return ret;
}

static void print_answer(const struct ctl *c)
{
    json_error_t err;
    json_t *doc;

    doc = json_loads(c->text, JSON_DECODE_ANY, &err);
    if (!doc) {
        printf("%s\n", c->text); /* not JSON: show it as it is */
        return;
    }
    if (c->json) {
        char *t = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        printf("%s\n", t ? t : c->text);
        free(t);
    } else if (jempty(doc)) {
        printf("(none)\n"); /* e.g. "list" with no registrations */
    } else {
        render(stdout, doc, 0);
    }
    json_decref(doc);
}

/* Print a JSON object made here (keygen, config --local). */
static void print_local(const struct ctl *c, json_t *o)
{
    char *t = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    if (c->json) {
        printf("%s\n", t ? t : "{}");
    } else {
        const char *k;
        json_t *v;
        char buf[64];
        json_object_foreach(o, k, v) printf("%s = %s\n", k, jtext(v, buf, sizeof(buf)));
    }
    free(t);
    json_decref(o);
}

/* keygen: a CURVE key pair (Z85) for the tcp:// endpoints. */
static int keygen(const struct ctl *c)
{
    char pub[41], sec[41];

    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "rdrelayctl: zmq_curve_keypair: %s (libzmq without CURVE?)\n",
                zmq_strerror(errno));
        return 1;
    }
    json_t *o = json_object();
    json_object_set_new(o, "public", json_string(pub));
    json_object_set_new(o, "secret", json_string(sec));
    print_local(c, o);
    return 0;
}

static void cfg_item(void *arg, const char *name, const char *value, bool is_default)
{
    (void)is_default;
    json_object_set_new(arg, name, json_string(value));
}

int main(int argc, char **argv)
{
    struct ctl *c;
    int ret = 2;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("rdrelayctl %s\n", RDRELAY_VERSION);
            return 0;
        }
    }
    log_init("rdrelayctl", LOG_LVL_WARN);
    c = calloc(1, sizeof(*c));
    if (!c) {
        perror("rdrelayctl: calloc");
        return 1;
    }
    if (config_from_args(&c->cfg, &argc, argv) < 0)
        goto out; /* already printed */
    {
        enum log_level lvl;
        /* only debug is worth following here; info would be noise */
        if (log_level_parse(c->cfg.log_level, &lvl) == 0 && lvl == LOG_LVL_DEBUG)
            log_set_level(lvl);
    }
    if (parse_args(c, argc, argv) < 0)
        goto out;
    if (strcmp(c->command, "keygen") == 0) {
        ret = keygen(c);
        goto out;
    }
    if (strcmp(c->command, "config") == 0 && c->local) {
        json_t *o = json_object();
        config_foreach(&c->cfg, cfg_item, o);
        print_local(c, o);
        ret = 0;
        goto out;
    }
    ret = 1;
    curve_init(&c->cfg); /* a tcp:// ctl_endpoint: our CURVE pair */
    if (ask(c) < 0)
        goto out;
    if (!c->ok) {
        fprintf(stderr, "rdrelayctl: %s: %s\n", c->command, c->text);
        goto out;
    }
    print_answer(c);
    ret = 0;
out:
    free(c->text);
    free(c);
    return ret;
}
