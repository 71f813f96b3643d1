/*
 * fuzz_lookup.c - libFuzzer target for rd-frontend's lookup filters
 * (rd-frontend/lookup.c) over a few real-looking registrations: the input's
 * lines are the Uri-Query of an endpoint lookup, a resource lookup and a
 * filtered /.well-known/core.
 * Invariants: the indexed lookup gives exactly the answer of the plain scan
 * over every registration (lookup_run_scan, the reference), and the answer
 * is valid link-format.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_fe.h"
#include "fuzz_util.h"

static void compare(struct frontend *fe, bool res, const struct rd_query *q)
{
    struct strbuf a, b;
    struct lf_doc doc;
    char err[128];

    sb_init(&a);
    sb_init(&b);
    lookup_run(fe, res, q, &a);
    lookup_run_scan(fe, res, q, &b);
    FUZZ_CHECK(a.len == b.len && (a.len == 0 || memcmp(a.buf, b.buf, a.len) == 0));
    if (lf_parse(a.buf ? a.buf : "", a.len, &doc, err, sizeof(err)) != 0) {
        fprintf(stderr, "lookup answer is no link-format (%s): %.*s\n", err, (int)a.len, a.buf);
        abort();
    }
    lf_free(&doc);
    sb_free(&a);
    sb_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct frontend *fe;
    struct coap_msg m;
    struct rd_query q;
    struct strbuf sb;
    char err[160], a[128], b[128], out[512];

    if (!fe) {
        fe = fuzz_fe_new();
        fuzz_fe_populate(fe);
        FUZZ_CHECK(fe->reg.count == 4);
    }
    fuzz_query_msg(&m, COAP_GET, data, size);
    if (rd_query_parse(&m, &q, err, sizeof(err)) == 0) {
        compare(fe, false, &q);
        compare(fe, true, &q);
        sb_init(&sb);
        lookup_discovery(fe, &q, &sb);
        sb_free(&sb);
        (void)lookup_may_change(fe, true, &q);
    }
    /* the two string helpers, on the first two lines */
    const uint8_t *nl = memchr(data, '\n', size);
    size_t la = nl ? (size_t)(nl - data) : size;
    size_t lb = nl ? size - la - 1 : 0;
    snprintf(a, sizeof(a), "%.*s", (int)(la < 127 ? la : 127), (const char *)data);
    snprintf(b, sizeof(b), "%.*s", (int)(lb < 127 ? lb : 127), nl ? (const char *)nl + 1 : "");
    (void)lookup_value_match(a, b);
    lookup_resolve(a, b, out, sizeof(out));
    FUZZ_CHECK(memchr(out, '\0', sizeof(out)) != NULL);
    lookup_resolve(a, b, out, 8);
    FUZZ_CHECK(memchr(out, '\0', 8) != NULL);
    return 0;
}
