/*
 * fuzz_linkformat.c - libFuzzer target for the RFC 6690 link-format parser
 * and serialiser (common/linkformat.c): registration payloads and the
 * answers of simple registration's /.well-known/core.
 * Invariants: a parsed document serialised with lf_append_link parses
 * again to the same links (targets, parameter names, values, presence of
 * values) - what rd-frontend relies on when it stores and serves links.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_check.h"
#include "linkformat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lf_doc doc, again;
    struct strbuf sb;
    char err[128];

    if (lf_parse((const char *)data, size, &doc, err, sizeof(err)) != 0) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        return 0;
    }
    sb_init(&sb);
    for (unsigned i = 0; i < doc.nlinks; i++) {
        const struct lf_link *l = &doc.links[i];
        if (i)
            sb_putc(&sb, ',');
        lf_append_link(&sb, l->target, l->params, l->nparams);
        if (l->nparams)
            (void)lf_link_param(l, l->params[0].name);
    }
    FUZZ_CHECK(!sb.oom);
    if (lf_parse(sb.buf ? sb.buf : "", sb.len, &again, err, sizeof(err)) != 0) {
        fprintf(stderr, "reparse failed (%s): %.*s\n", err, (int)sb.len, sb.buf);
        abort();
    }
    FUZZ_CHECK(again.nlinks == doc.nlinks);
    for (unsigned i = 0; i < doc.nlinks; i++) {
        const struct lf_link *a = &doc.links[i], *b = &again.links[i];
        FUZZ_CHECK(strcmp(a->target, b->target) == 0);
        FUZZ_CHECK(a->nparams == b->nparams);
        for (unsigned k = 0; k < a->nparams; k++) {
            FUZZ_CHECK(strcmp(a->params[k].name, b->params[k].name) == 0);
            FUZZ_CHECK(a->params[k].has_value == b->params[k].has_value);
            FUZZ_CHECK(strcmp(a->params[k].value, b->params[k].value) == 0);
        }
    }
    lf_free(&again);
    lf_free(&doc);
    sb_free(&sb);
    return 0;
}
