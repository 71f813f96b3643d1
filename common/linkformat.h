/*
 * linkformat.h - RFC 6690 CoRE Link Format parser and serializer.
 * Owns the memory of a parsed document (one arena per document, lf_free).
 * Accepts what real registrants send: quoted and unquoted values, value-less
 * parameters (";obs"), repeated parameters, whitespace/newlines between links,
 * and is strict about structure (a link must start with '<' and close '>',
 * parameters must be ';'-separated, quotes must close) so malformed input
 * gets 4.00 rather than a guess.
 */
#ifndef RDRELAY_LINKFORMAT_H
#define RDRELAY_LINKFORMAT_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

struct lf_param {
    char *name;  /* lower-case as sent (names are case-insensitive tokens) */
    char *value; /* unquoted, unescaped; "" when !has_value */
    bool has_value;
};

struct lf_link {
    char *target; /* the URI-reference between < > */
    struct lf_param *params;
    unsigned nparams;
};

struct lf_doc {
    struct lf_link *links;
    unsigned nlinks;
    void *arena; /* owns every string and array above */
};

/* Parse len bytes (need not be NUL-terminated). An empty payload is a valid
 * document with no links. 0 ok; -1 malformed, with a short reason in err. */
int lf_parse(const char *text, size_t len, struct lf_doc *doc, char *err, size_t errlen);
void lf_free(struct lf_doc *doc);

/* First value of a parameter, or NULL. */
const char *lf_link_param(const struct lf_link *l, const char *name);

/* Append "<target>" and its params (values quoted when they need it, and
 * always for anchor/rt/if/title/base/ep/d/et). No separator is added. */
void lf_append_link(struct strbuf *sb, const char *target, const struct lf_param *params,
                    unsigned nparams);
/* Append ";name" or ";name=value"/";name=\"value\"" choosing quoting. */
void lf_append_param(struct strbuf *sb, const char *name, const char *value, bool has_value);

#endif
