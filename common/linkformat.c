/*
 * linkformat.c - RFC 6690 CoRE Link Format parser and serializer
 * (linkformat.h). Owns the arena of every parsed document (freed whole by
 * lf_free). Talks to strbuf for output. Sees network input: every read is
 * bounds-checked against len, input need not be NUL-terminated, and every
 * structural error returns -1 with a short reason instead of a guess.
 */
#include "linkformat.h"

#include <ctype.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- arena: a list of chunks, bump allocation, freed in one go ---- */

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

#define ARENA_MIN_CHUNK 4096

static void *arena_alloc(void **arena, size_t n)
{
    struct arena_chunk *c = *arena;
    size_t need = (n + 15) & ~(size_t)15;

    if (!c || c->cap - c->used < need) {
        size_t cap = need > ARENA_MIN_CHUNK ? need : ARENA_MIN_CHUNK;
        struct arena_chunk *nc = malloc(sizeof(*nc) + cap);
        if (!nc)
            return NULL;
        nc->next = c;
        nc->used = 0;
        nc->cap = cap;
        *arena = c = nc;
    }
    c->used += need;
    return c->data + c->used - need;
}

static void arena_free(void *arena)
{
    struct arena_chunk *c = arena;

    while (c) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
}

/* Ensure room for one more element in *arr (geometric growth in the arena). */
static int arena_grow(void **arena, void **arr, unsigned n, unsigned *cap, size_t elem)
{
    void *p;
    unsigned ncap;

    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 4;
    p = arena_alloc(arena, (size_t)ncap * elem);
    if (!p)
        return -1;
    if (n)
        memcpy(p, *arr, (size_t)n * elem);
    *arr = p;
    *cap = ncap;
    return 0;
}

/* ---- parser ---- */

struct lf_parser {
    const char *s;
    size_t len, pos;
    void *arena;
    char *err;
    size_t errlen;
};

static int fail(struct lf_parser *p, const char *why)
{
    snprintf(p->err, p->errlen, "%s at offset %zu", why, p->pos);
    return -1;
}

static int peek(const struct lf_parser *p)
{
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static void skip_ws(struct lf_parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\r' || p->s[p->pos] == '\n'))
        p->pos++;
}

/* parmname (RFC 5988 / 8288 token characters), plus '*' for ext-name-star. */
static bool is_name_char(int c)
{
    return c > 0 && c < 0x7f && (isalnum(c) || strchr("!#$&+-.^_`|~*", c));
}

/* RFC 6690 ptokenchar. */
static bool is_ptoken_char(int c)
{
    return c > 0 && c < 0x7f && (isalnum(c) || strchr("!#$%&'()*+-./:<=>?@[]^_`{|}~", c));
}

static char *copy_str(struct lf_parser *p, const char *src, size_t n)
{
    char *d = arena_alloc(&p->arena, n + 1);

    if (!d)
        return NULL;
    memcpy(d, src, n);
    d[n] = '\0';
    return d;
}

static int parse_target(struct lf_parser *p, char **out)
{
    size_t start;

    if (peek(p) != '<')
        return fail(p, "expected '<'");
    start = ++p->pos;
    while (p->pos < p->len && p->s[p->pos] != '>') {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '"')
            return fail(p, "bad character in link target");
        p->pos++;
    }
    if (p->pos >= p->len)
        return fail(p, "unterminated link target");
    *out = copy_str(p, p->s + start, p->pos - start);
    p->pos++;
    return *out ? 0 : fail(p, "out of memory");
}

/* quoted-string with backslash escapes; the opening quote is at pos. */
static int parse_quoted(struct lf_parser *p, char **out)
{
    size_t start = ++p->pos, n = 0;
    char *d;

    /* Every escape shortens the value, so the raw span bounds the result. */
    while (p->pos < p->len && p->s[p->pos] != '"') {
        unsigned char c = (unsigned char)p->s[p->pos];
        /* an escaped control character is one too: "\<NUL>" would cut the
         * value short and "\<LF>" put raw control bytes into what we serve
         * (found by tests/fuzz/fuzz_linkformat.c) */
        if (c == '\\' && p->pos + 1 < p->len)
            c = (unsigned char)p->s[p->pos + 1];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(p, "control character in quoted string");
        p->pos += (p->s[p->pos] == '\\') ? 2 : 1;
    }
    if (p->pos >= p->len)
        return fail(p, "unterminated quoted string");
    d = arena_alloc(&p->arena, p->pos - start + 1);
    if (!d)
        return fail(p, "out of memory");
    for (size_t i = start; i < p->pos; i++) {
        if (p->s[i] == '\\')
            i++;
        d[n++] = p->s[i];
    }
    d[n] = '\0';
    p->pos++; /* closing quote */
    *out = d;
    return 0;
}

static int parse_value(struct lf_parser *p, char **out)
{
    size_t start = p->pos;

    if (peek(p) == '"')
        return parse_quoted(p, out);
    while (p->pos < p->len && is_ptoken_char((unsigned char)p->s[p->pos]))
        p->pos++;
    if (p->pos == start)
        return fail(p, "empty or bad parameter value");
    *out = copy_str(p, p->s + start, p->pos - start);
    return *out ? 0 : fail(p, "out of memory");
}

static int parse_param(struct lf_parser *p, struct lf_param *prm)
{
    size_t start = p->pos;

    while (p->pos < p->len && is_name_char((unsigned char)p->s[p->pos]))
        p->pos++;
    if (p->pos == start)
        return fail(p, "expected parameter name");
    prm->name = copy_str(p, p->s + start, p->pos - start);
    if (!prm->name)
        return fail(p, "out of memory");
    for (char *c = prm->name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    prm->has_value = false;
    prm->value = "";
    if (peek(p) != '=')
        return 0;
    p->pos++;
    prm->has_value = true;
    return parse_value(p, &prm->value);
}

static int parse_link(struct lf_parser *p, struct lf_link *l)
{
    unsigned cap = 0;

    memset(l, 0, sizeof(*l));
    if (parse_target(p, &l->target) < 0)
        return -1;
    for (;;) {
        skip_ws(p);
        if (peek(p) != ';')
            return 0;
        p->pos++;
        skip_ws(p);
        if (arena_grow(&p->arena, (void **)&l->params, l->nparams, &cap, sizeof(*l->params)) < 0)
            return fail(p, "out of memory");
        if (parse_param(p, &l->params[l->nparams]) < 0)
            return -1;
        l->nparams++;
    }
}

static int parse_doc(struct lf_parser *p, struct lf_doc *doc)
{
    unsigned cap = 0;

    skip_ws(p);
    if (p->pos >= p->len)
        return 0; /* empty document */
    for (;;) {
        if (arena_grow(&p->arena, (void **)&doc->links, doc->nlinks, &cap, sizeof(*doc->links)) < 0)
            return fail(p, "out of memory");
        if (parse_link(p, &doc->links[doc->nlinks]) < 0)
            return -1;
        doc->nlinks++;
        skip_ws(p);
        if (p->pos >= p->len)
            return 0;
        if (peek(p) != ',')
            return fail(p, "expected ',' or ';'");
        p->pos++;
        skip_ws(p);
    }
}

int lf_parse(const char *text, size_t len, struct lf_doc *doc, char *err, size_t errlen)
{
    struct lf_parser p = {text, len, 0, NULL, err, errlen};
    int rc;

    doc->links = NULL;
    doc->nlinks = 0;
    doc->arena = NULL;
    if (errlen)
        err[0] = '\0';
    rc = parse_doc(&p, doc);
    if (rc < 0) {
        arena_free(p.arena);
        doc->links = NULL;
        doc->nlinks = 0;
        return -1;
    }
    doc->arena = p.arena;
    return 0;
}

void lf_free(struct lf_doc *doc)
{
    arena_free(doc->arena);
    doc->arena = NULL;
    doc->links = NULL;
    doc->nlinks = 0;
}

const char *lf_link_param(const struct lf_link *l, const char *name)
{
    for (unsigned i = 0; i < l->nparams; i++)
        if (strcasecmp(l->params[i].name, name) == 0)
            return l->params[i].value;
    return NULL;
}

/* ---- serializer ---- */

static bool always_quoted(const char *name)
{
    static const char *const names[] = {"anchor", "rt", "if", "title", "base", "ep", "d", "et"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

static bool needs_quotes(const char *v)
{
    if (*v == '\0')
        return true;
    for (; *v; v++)
        if (!is_ptoken_char((unsigned char)*v))
            return true;
    return false;
}

void lf_append_param(struct strbuf *sb, const char *name, const char *value, bool has_value)
{
    sb_putc(sb, ';');
    sb_puts(sb, name);
    if (!has_value)
        return;
    sb_putc(sb, '=');
    if (!always_quoted(name) && !needs_quotes(value)) {
        sb_puts(sb, value);
        return;
    }
    sb_putc(sb, '"');
    for (; *value; value++) {
        if (*value == '"' || *value == '\\')
            sb_putc(sb, '\\');
        sb_putc(sb, *value);
    }
    sb_putc(sb, '"');
}

void lf_append_link(struct strbuf *sb, const char *target, const struct lf_param *params,
                    unsigned nparams)
{
    sb_putc(sb, '<');
    sb_puts(sb, target);
    sb_putc(sb, '>');
    for (unsigned i = 0; i < nparams; i++)
        lf_append_param(sb, params[i].name, params[i].value, params[i].has_value);
}
