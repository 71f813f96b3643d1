/*
 * rdrelayctl.c - the operators' tool: asks rd-frontend for its status (and
 * the relays' counters it collected) or the list of registrations, over the
 * control part of the inter-process protocol (CTL_REQUEST -> CTL_RESPONSE,
 * common/proto.h).
 *
 * Owns: one ZeroMQ DEALER with a random routing id ("ctl-" + 16 hex digits),
 * connected to ctl_endpoint for one request; the answer's JSON, printed as
 * is (--json) or rendered for people (nested "key: value" lines, arrays of
 * records as tables).
 * Talks to: rd-frontend's ROUTER (ctl_endpoint from the shared config, so
 * --config FILE / $RDRELAY_CONFIG / --state-dir DIR find the same socket the
 * processes use). Waits at most --timeout-ms (default 3000) for the answer.
 *
 * Exit status: 0 answered ok; 1 no answer, or rd-frontend refused the
 * command; 2 usage or configuration error.
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
#include <zmq.h>

#include "config.h"
#include "log.h"
#include "proto_msg.h"
#include "timeutil.h"
#include "wire.h"

#define CTL_DEFAULT_TIMEOUT_MS 3000
#define JSON_MAX_DEPTH 32
#define TABLE_MAX_COLS 32

/* ---------------------------------------------------------------- JSON */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

/* A parsed JSON value; members and elements are a linked list of children. */
struct jval {
    enum jtype t;
    char *text;         /* J_STR: unescaped; J_NUM/J_BOOL/J_NULL: the literal */
    char *key;          /* member name inside an object, else NULL */
    struct jval *child; /* first member/element */
    struct jval *next;  /* next sibling */
};

struct jparser {
    const char *p, *end;
    bool err;
};

static void jfree(struct jval *v)
{
    while (v) {
        struct jval *next = v->next;
        jfree(v->child);
        free(v->text);
        free(v->key);
        free(v);
        v = next;
    }
}

static void jskip_ws(struct jparser *jp)
{
    while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r'))
        jp->p++;
}

static void put_utf8(char **o, unsigned cp)
{
    if (cp < 0x80) {
        *(*o)++ = (char)cp;
    } else if (cp < 0x800) {
        *(*o)++ = (char)(0xc0 | (cp >> 6));
        *(*o)++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *(*o)++ = (char)(0xe0 | (cp >> 12));
        *(*o)++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *(*o)++ = (char)(0x80 | (cp & 0x3f));
    }
}

/* Parse a string at jp->p (on the opening quote); returns a heap copy. */
static char *jparse_string(struct jparser *jp)
{
    /* the unescaped text is never longer than the escaped one */
    char *out = malloc((size_t)(jp->end - jp->p) + 1), *o = out;

    if (!out) {
        jp->err = true;
        return NULL;
    }
    jp->p++;
    while (jp->p < jp->end && *jp->p != '"') {
        char c = *jp->p++;
        if (c != '\\') {
            *o++ = c;
            continue;
        }
        if (jp->p >= jp->end)
            break;
        c = *jp->p++;
        switch (c) {
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            unsigned cp = 0;
            if (jp->end - jp->p < 4) {
                jp->err = true;
                break;
            }
            for (int i = 0; i < 4; i++) {
                char h = *jp->p++;
                cp <<= 4;
                if (h >= '0' && h <= '9')
                    cp |= (unsigned)(h - '0');
                else if (h >= 'a' && h <= 'f')
                    cp |= (unsigned)(h - 'a' + 10);
                else if (h >= 'A' && h <= 'F')
                    cp |= (unsigned)(h - 'A' + 10);
                else
                    jp->err = true;
            }
            /* surrogates would need pairing; a display tool shows '?' */
            put_utf8(&o, (cp >= 0xd800 && cp <= 0xdfff) ? '?' : cp);
            break;
        }
        default:
            *o++ = c;
            break; /* \" \\ \/ */
        }
    }
    if (jp->p >= jp->end)
        jp->err = true;
    else
        jp->p++; /* closing quote */
    *o = '\0';
    return out;
}

static struct jval *jparse_value(struct jparser *jp, int depth);

/* Parse the members (object) or elements (array) after the opening bracket. */
static void jparse_children(struct jparser *jp, struct jval *v, int depth)
{
    struct jval **tail = &v->child;
    char close = v->t == J_OBJ ? '}' : ']';

    jp->p++;
    jskip_ws(jp);
    if (jp->p < jp->end && *jp->p == close) {
        jp->p++;
        return;
    }
    while (!jp->err) {
        char *key = NULL;
        struct jval *c;

        jskip_ws(jp);
        if (v->t == J_OBJ) {
            if (jp->p >= jp->end || *jp->p != '"') {
                jp->err = true;
                return;
            }
            key = jparse_string(jp);
            jskip_ws(jp);
            if (jp->err || jp->p >= jp->end || *jp->p != ':') {
                free(key);
                jp->err = true;
                return;
            }
            jp->p++;
        }
        c = jparse_value(jp, depth + 1);
        if (!c) {
            free(key);
            jp->err = true;
            return;
        }
        c->key = key;
        *tail = c;
        tail = &c->next;
        jskip_ws(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            continue;
        }
        if (jp->p < jp->end && *jp->p == close) {
            jp->p++;
            return;
        }
        jp->err = true;
    }
}

static struct jval *jparse_value(struct jparser *jp, int depth)
{
    struct jval *v;
    const char *start;

    jskip_ws(jp);
    if (jp->err || jp->p >= jp->end || depth > JSON_MAX_DEPTH)
        return NULL;
    v = calloc(1, sizeof(*v));
    if (!v) {
        jp->err = true;
        return NULL;
    }
    switch (*jp->p) {
    case '{':
    case '[':
        v->t = *jp->p == '{' ? J_OBJ : J_ARR;
        jparse_children(jp, v, depth);
        break;
    case '"':
        v->t = J_STR;
        v->text = jparse_string(jp);
        break;
    default:
        /* number, true, false, null: keep the literal */
        start = jp->p;
        while (jp->p < jp->end && strchr("+-.0123456789eEtruefalsn", *jp->p))
            jp->p++;
        if (jp->p == start) {
            jp->err = true;
            break;
        }
        v->text = strndup(start, (size_t)(jp->p - start));
        if (!v->text)
            jp->err = true;
        else if (strcmp(v->text, "true") == 0 || strcmp(v->text, "false") == 0)
            v->t = J_BOOL;
        else if (strcmp(v->text, "null") == 0)
            v->t = J_NULL;
        else if (strchr("+-0123456789", v->text[0]))
            v->t = J_NUM;
        else
            jp->err = true;
        break;
    }
    if (jp->err) {
        jfree(v);
        return NULL;
    }
    return v;
}

/* Parse a whole document; NULL if it is not JSON. */
static struct jval *jparse(const char *text, size_t len)
{
    struct jparser jp = {text, text + len, false};
    struct jval *v = jparse_value(&jp, 0);

    jskip_ws(&jp);
    if (v && jp.p != jp.end) {
        jfree(v);
        v = NULL;
    }
    return v;
}

/* ---------------------------------------------------------------- rendering */

static bool jscalar(const struct jval *v)
{
    return v->t != J_OBJ && v->t != J_ARR;
}

static const char *jtext(const struct jval *v)
{
    if (!v)
        return "";
    if (v->t == J_OBJ)
        return "{...}";
    if (v->t == J_ARR)
        return "[...]";
    return v->text ? v->text : "";
}

/* An array of objects whose members are all scalars renders as a table. */
static bool jtable_like(const struct jval *arr)
{
    if (!arr->child)
        return false;
    for (const struct jval *e = arr->child; e; e = e->next) {
        if (e->t != J_OBJ)
            return false;
        for (const struct jval *m = e->child; m; m = m->next)
            if (!jscalar(m))
                return false;
    }
    return true;
}

static const struct jval *jmember(const struct jval *obj, const char *key)
{
    for (const struct jval *m = obj->child; m; m = m->next)
        if (m->key && strcmp(m->key, key) == 0)
            return m;
    return NULL;
}

static void render_table(FILE *out, const struct jval *arr, int indent)
{
    const char *cols[TABLE_MAX_COLS];
    size_t width[TABLE_MAX_COLS];
    unsigned ncols = 0;

    /* columns: every key, in the order first seen */
    for (const struct jval *e = arr->child; e; e = e->next) {
        for (const struct jval *m = e->child; m; m = m->next) {
            unsigned c;
            for (c = 0; c < ncols; c++)
                if (strcmp(cols[c], m->key) == 0)
                    break;
            if (c == ncols && ncols < TABLE_MAX_COLS) {
                cols[ncols] = m->key;
                width[ncols++] = strlen(m->key);
            }
        }
    }
    for (const struct jval *e = arr->child; e; e = e->next) {
        for (unsigned c = 0; c < ncols; c++) {
            size_t w = strlen(jtext(jmember(e, cols[c])));
            if (w > width[c])
                width[c] = w;
        }
    }
    fprintf(out, "%*s", indent, "");
    for (unsigned c = 0; c < ncols; c++)
        fprintf(out, "%-*s%s", c + 1 < ncols ? (int)width[c] : 0, cols[c],
                c + 1 < ncols ? "  " : "\n");
    for (const struct jval *e = arr->child; e; e = e->next) {
        fprintf(out, "%*s", indent, "");
        for (unsigned c = 0; c < ncols; c++)
            fprintf(out, "%-*s%s", c + 1 < ncols ? (int)width[c] : 0, jtext(jmember(e, cols[c])),
                    c + 1 < ncols ? "  " : "\n");
    }
}

static void render(FILE *out, const struct jval *v, int indent);

/* The start of a line: indent spaces, or for the first member of an array
 * element "- " in the last two of them (YAML style). */
static void lead(FILE *out, int indent, bool dash)
{
    if (dash)
        fprintf(out, "%*s- ", indent - 2, "");
    else
        fprintf(out, "%*s", indent, "");
}

/* One member of an object (key set) or one element of an array (key NULL). */
static void render_member(FILE *out, const struct jval *m, int indent, bool dash)
{
    if (!m->key) {
        /* array element: scalars as "- v", objects as a "- " block */
        if (jscalar(m)) {
            fprintf(out, "%*s- %s\n", indent, "", jtext(m));
        } else if (!m->child) {
            fprintf(out, "%*s- (none)\n", indent, "");
        } else if (m->t == J_OBJ) {
            bool first = true;
            for (const struct jval *c = m->child; c; c = c->next, first = false)
                render_member(out, c, indent + 2, first);
        } else {
            fprintf(out, "%*s-\n", indent, "");
            render(out, m, indent + 2);
        }
        return;
    }
    lead(out, indent, dash);
    if (jscalar(m)) {
        fprintf(out, "%s: %s\n", m->key, jtext(m));
    } else if (!m->child) {
        fprintf(out, "%s: (none)\n", m->key);
    } else if (m->t == J_ARR && jtable_like(m)) {
        fprintf(out, "%s:\n", m->key);
        render_table(out, m, indent + 2);
    } else {
        fprintf(out, "%s:\n", m->key);
        render(out, m, indent + 2);
    }
}

static void render(FILE *out, const struct jval *v, int indent)
{
    if (jscalar(v)) {
        fprintf(out, "%*s%s\n", indent, "", jtext(v));
        return;
    }
    if (v->t == J_ARR && jtable_like(v)) {
        render_table(out, v, indent);
        return;
    }
    for (const struct jval *m = v->child; m; m = m->next)
        render_member(out, m, indent, false);
}

/* ---------------------------------------------------------------- the request */

struct ctl {
    struct rr_config cfg;
    const char *command;
    const char *argument;
    bool json;
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
            "  status   rd-frontend's counters, registrations, and every relay it heard\n"
            "           from (name, pid, last status, counters)\n"
            "  list     the registrations (path, ep, d, base, lifetime, proxy host, hosting port)\n"
            "  (other command words are passed on; rd-frontend refuses unknown ones)\n"
            "\n"
            "options:\n"
            "  --json            print the JSON answer as it came\n"
            "  --timeout-ms MS   wait this long for the answer (default %d)\n"
            "  --help, --version\n"
            "\n"
            "settings (shared with every rdrelay process; only ctl_endpoint, or\n"
            "state_dir from which it is derived, matter here):\n",
            CTL_DEFAULT_TIMEOUT_MS);
    config_print_help(out);
    fprintf(out, "\nexit status: 0 ok, 1 no answer or command refused, 2 usage error\n");
}

/* Parse what config_from_args left: options of our own and the command. */
static int parse_args(struct ctl *c, int argc, char **argv)
{
    c->timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--json") == 0) {
            c->json = true;
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
        fprintf(stderr, "rdrelayctl: no command (status, list; see --help)\n");
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
    struct jval *doc;

    if (c->json) {
        printf("%s\n", c->text);
        return;
    }
    doc = jparse(c->text, strlen(c->text));
    if (!doc) {
        printf("%s\n", c->text); /* not JSON: show it as it is */
        return;
    }
    if (!jscalar(doc) && !doc->child)
        printf("(none)\n"); /* e.g. "list" with no registrations */
    else
        render(stdout, doc, 0);
    jfree(doc);
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
    ret = 1;
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
