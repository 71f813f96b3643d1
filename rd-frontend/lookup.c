/*
 * lookup.c - RFC 9176 §6 endpoint and resource lookup, and the filtered
 * /.well-known/core discovery document.
 * Owns nothing: reads the registry, writes link-format into a strbuf.
 * Matching rules: every filter must match (AND). A filter matches a link if
 * the link or its registration has the attribute with that value, and an
 * endpoint if the registration or any of its links does (RFC 9176 §6.2).
 * Values match exactly or by prefix with a trailing '*'; rt, if and rel are
 * space-separated lists and match if any item does. href matches the
 * registration resource (path form /reg/N or /reg/N/, or a full URI whose
 * path is that) and, on links, the resolved target. page/count select
 * results count at a time. Resource lookup resolves the target, and the
 * anchor if the link has one, against the registration's base (RFC 9176
 * §6.1: a link registered without an anchor comes back without one; a
 * target or anchor registered as a full URI comes back unmodified). An
 * anchor filter matches the resolved anchor, so only links that have one.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"

bool lookup_value_match(const char *pattern, const char *value)
{
    size_t pl = strlen(pattern);

    if (pl > 0 && pattern[pl - 1] == '*')
        return strncmp(pattern, value, pl - 1) == 0;
    return strcmp(pattern, value) == 0;
}

static bool is_list_attr(const char *name)
{
    return strcmp(name, "rt") == 0 || strcmp(name, "if") == 0 || strcmp(name, "rel") == 0;
}

/* Match one attribute value against a filter (list-valued attributes item by item). */
static bool attr_match(const struct rd_attr *f, const char *name, const char *value, bool has_value)
{
    if (!f->has_value)
        return true; /* "?obs": presence is enough */
    if (!has_value)
        return f->value[0] == '\0';
    if (lookup_value_match(f->value, value))
        return true;
    if (is_list_attr(name) && strchr(value, ' ')) {
        char item[RD_ATTR_VALUE_MAX];
        const char *p = value;
        while (*p) {
            size_t n = strcspn(p, " ");
            if (n > 0 && n < sizeof(item)) {
                memcpy(item, p, n);
                item[n] = '\0';
                if (lookup_value_match(f->value, item))
                    return true;
            }
            p += n;
            while (*p == ' ')
                p++;
        }
    }
    return false;
}

static bool has_scheme(const char *s)
{
    if (!isalpha((unsigned char)*s))
        return false;
    for (s++; *s; s++) {
        if (*s == ':')
            return true;
        if (!isalnum((unsigned char)*s) && *s != '+' && *s != '-' && *s != '.')
            return false;
    }
    return false;
}

/* Length of "scheme://authority" at the start of uri (0 if it has none). */
static size_t origin_len(const char *uri)
{
    const char *p = strstr(uri, "://");

    if (p == NULL || !has_scheme(uri))
        return 0;
    p += 3;
    return (size_t)(p - uri) + strcspn(p, "/?#");
}

void lookup_resolve(const char *base, const char *ref, char *out, size_t outlen)
{
    size_t ol = origin_len(base);
    const char *bpath = base + ol;

    if (has_scheme(ref)) {
        snprintf(out, outlen, "%s", ref);
    } else if (ref[0] == '/' && ref[1] == '/') {
        const char *colon = strchr(base, ':');
        snprintf(out, outlen, "%.*s%s", colon ? (int)(colon - base + 1) : 0, base, ref);
    } else if (ref[0] == '/') {
        snprintf(out, outlen, "%.*s%s", (int)ol, base, ref);
    } else if (ref[0] == '\0') {
        snprintf(out, outlen, "%.*s", (int)strcspn(base, "#"), base);
    } else if (ref[0] == '?' || ref[0] == '#') {
        size_t keep = ol + strcspn(bpath, ref[0] == '?' ? "?#" : "#");
        snprintf(out, outlen, "%.*s%s", (int)keep, base, ref);
    } else {
        /* merge: the base path up to its last '/', or "/" when it has none */
        size_t plen = strcspn(bpath, "?#");
        const char *slash = NULL;
        for (size_t i = 0; i < plen; i++)
            if (bpath[i] == '/')
                slash = bpath + i;
        if (slash == NULL)
            snprintf(out, outlen, "%.*s/%s", (int)ol, base, ref);
        else
            snprintf(out, outlen, "%.*s%s", (int)(slash - base + 1), base, ref);
    }
}

bool lookup_reg_live(const struct frontend *fe, const struct rd_reg *r)
{
    return !r->expired && fe->now < r->expires_at;
}

/* href filter against the registration resource (/reg/N, /reg/N/, or a URI). */
static bool href_reg_match(const struct rd_reg *r, const char *pattern)
{
    char p1[32], p2[32];
    struct rd_attr f;
    const char *path = pattern;

    if (has_scheme(pattern)) {
        size_t ol = origin_len(pattern);
        if (ol == 0)
            return false;
        path = pattern + ol;
    }
    snprintf(p1, sizeof(p1), "/reg/%" PRId64, r->id);
    snprintf(p2, sizeof(p2), "/reg/%" PRId64 "/", r->id);
    f.has_value = true;
    snprintf(f.value, sizeof(f.value), "%s", path);
    return attr_match(&f, "href", p1, true) || attr_match(&f, "href", p2, true);
}

/* The registration-level attributes as lookups show and match them. */
static bool reg_attr_match(const struct frontend *fe, const struct rd_reg *r,
                           const struct rd_attr *f, bool ep_lookup)
{
    const char *n = f->name;
    (void)fe;

    if (strcmp(n, "href") == 0)
        return f->has_value && href_reg_match(r, f->value);
    if (strcmp(n, "ep") == 0)
        return attr_match(f, n, r->ep, true);
    if (strcmp(n, "d") == 0)
        return r->d[0] && attr_match(f, n, r->d, true);
    if (strcmp(n, "base") == 0)
        return attr_match(f, n, r->base, true);
    if (strcmp(n, "rt") == 0 && ep_lookup && attr_match(f, n, "core.rd-ep", true))
        return true;
    if (strcmp(n, "proxy") == 0 && r->proxy)
        return attr_match(f, n, r->proxy == RD_PROXY_ONDEMAND ? "ondemand" : "yes", true);
    if (strcmp(n, "reachable") == 0 && r->proxy && r->unreachable)
        return attr_match(f, n, "no", true);
    for (unsigned i = 0; i < r->nattrs; i++)
        if (strcmp(r->attrs[i].name, n) == 0 &&
            attr_match(f, n, r->attrs[i].value, r->attrs[i].has_value))
            return true;
    return false;
}

/* Resolved target and anchor of a link (anchor "" when it has none). */
static void link_resolved(const struct rd_reg *r, const struct lf_link *l, char *target,
                          char *anchor, size_t len)
{
    const char *a = lf_link_param(l, "anchor");

    lookup_resolve(r->base, l->target, target, len);
    if (a != NULL)
        lookup_resolve(r->base, a, anchor, len);
    else
        anchor[0] = '\0';
}

static bool link_attr_match(const struct rd_reg *r, const struct lf_link *l,
                            const struct rd_attr *f)
{
    if (strcmp(f->name, "href") == 0 || strcmp(f->name, "anchor") == 0) {
        char target[512], anchor[512];
        bool is_href = f->name[0] == 'h';
        if (!is_href && lf_link_param(l, "anchor") == NULL)
            return false; /* no anchor registered, none shown, none to match */
        if (!f->has_value)
            return true;
        link_resolved(r, l, target, anchor, sizeof(target));
        return lookup_value_match(f->value, is_href ? target : anchor);
    }
    for (unsigned i = 0; i < l->nparams; i++)
        if (strcmp(l->params[i].name, f->name) == 0 &&
            attr_match(f, f->name, l->params[i].value, l->params[i].has_value))
            return true;
    return false;
}

static bool ep_matches(const struct frontend *fe, const struct rd_reg *r, const struct rd_query *q)
{
    for (unsigned i = 0; i < q->nf; i++) {
        bool ok = reg_attr_match(fe, r, &q->f[i], true);
        for (unsigned j = 0; !ok && j < r->doc.nlinks; j++)
            ok = link_attr_match(r, &r->doc.links[j], &q->f[i]);
        if (!ok)
            return false;
    }
    return true;
}

static bool link_matches(const struct frontend *fe, const struct rd_reg *r, const struct lf_link *l,
                         const struct rd_query *q)
{
    for (unsigned i = 0; i < q->nf; i++)
        if (!link_attr_match(r, l, &q->f[i]) && !reg_attr_match(fe, r, &q->f[i], false))
            return false;
    return true;
}

/* Paging window: true if result number idx is to be shown. */
static bool in_page(const struct rd_query *q, uint64_t idx)
{
    uint64_t first;

    if (!q->has_count)
        return true;
    first = (uint64_t)q->page * q->count;
    return idx >= first && idx < first + q->count;
}

static void append_ep_link(const struct rd_reg *r, struct strbuf *out)
{
    struct lf_param p[8 + RD_MAX_ATTRS];
    char target[32], since[40];
    unsigned n = 0;

    snprintf(target, sizeof(target), "/reg/%" PRId64, r->id);
    p[n++] = (struct lf_param){"ep", (char *)r->ep, true};
    if (r->d[0])
        p[n++] = (struct lf_param){"d", (char *)r->d, true};
    p[n++] = (struct lf_param){"base", (char *)r->base, true};
    p[n++] = (struct lf_param){"rt", "core.rd-ep", true};
    for (unsigned i = 0; i < r->nattrs && n < 4 + RD_MAX_ATTRS; i++)
        p[n++] = r->attrs[i];
    lf_append_link(out, target, p, n);
    /* written by hand so the values are always quoted, as the docs show them */
    if (r->proxy)
        sb_printf(out, ";proxy=\"%s\"", r->proxy == RD_PROXY_ONDEMAND ? "ondemand" : "yes");
    if (r->proxy && r->unreachable) {
        rd_rfc3339(r->unreachable_since, since, sizeof(since));
        sb_printf(out, ";reachable=\"no\";unreachable-since=\"%s\"", since);
    }
}

static void append_res_link(const struct rd_reg *r, const struct lf_link *l, struct strbuf *out)
{
    struct lf_param p[64];
    char target[512], anchor[512];
    unsigned n = 0;

    link_resolved(r, l, target, anchor, sizeof(target));
    for (unsigned i = 0; i < l->nparams && n < 64; i++)
        if (strcmp(l->params[i].name, "anchor") != 0)
            p[n++] = l->params[i];
    lf_append_link(out, target, p, n);
    if (anchor[0]) /* only a registered anchor, resolved */
        lf_append_param(out, "anchor", anchor, true);
}

/* One registration's contribution to a lookup result. */
static void emit_reg(struct frontend *fe, const struct rd_reg *r, bool res,
                     const struct rd_query *q, uint64_t *idx, struct strbuf *out)
{
    if (!lookup_reg_live(fe, r))
        return;
    if (!res) {
        if (!ep_matches(fe, r, q))
            return;
        if (in_page(q, *idx)) {
            if (out->len)
                sb_putc(out, ',');
            append_ep_link(r, out);
        }
        (*idx)++;
        return;
    }
    for (unsigned j = 0; j < r->doc.nlinks; j++) {
        if (!link_matches(fe, r, &r->doc.links[j], q))
            continue;
        if (in_page(q, *idx)) {
            if (out->len)
                sb_putc(out, ',');
            append_res_link(r, &r->doc.links[j], out);
        }
        (*idx)++;
    }
}

static int cmp_reg_id(const void *a, const void *b)
{
    const struct rd_reg *x = *(const struct rd_reg *const *)a,
                        *y = *(const struct rd_reg *const *)b;

    return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * An exact ep= filter (the usual lookup) is answered from the ep index
 * instead of walking every registration. This treats ep as the endpoint's
 * name only: a link that carries an "ep" attribute of its own does not
 * select other endpoints this way.
 */
static bool lookup_by_ep_index(struct frontend *fe, bool res, const struct rd_query *q,
                               struct strbuf *out)
{
    const char *ep = NULL;
    const struct rd_reg *stack[16], **cand = stack;
    size_t n = 0, cap = 16;
    uint64_t idx = 0;

    for (unsigned i = 0; i < q->nf; i++) {
        size_t l = strlen(q->f[i].value);
        if (strcmp(q->f[i].name, "ep") == 0 && q->f[i].has_value && l > 0 &&
            q->f[i].value[l - 1] != '*')
            ep = q->f[i].value;
    }
    if (ep == NULL)
        return false;
    for (const struct rd_reg *r = registry_by_ep(&fe->reg, ep); r; r = registry_ep_next(r)) {
        if (n == cap) {
            const struct rd_reg **nc = malloc(cap * 2 * sizeof(*nc));
            if (nc == NULL)
                break;
            memcpy(nc, cand, n * sizeof(*nc));
            if (cand != stack)
                free(cand);
            cand = nc;
            cap *= 2;
        }
        cand[n++] = r;
    }
    qsort(cand, n, sizeof(*cand), cmp_reg_id); /* results in id order, as a full walk gives */
    for (size_t i = 0; i < n; i++)
        emit_reg(fe, cand[i], res, q, &idx, out);
    if (cand != stack)
        free(cand);
    return true;
}

void lookup_run(struct frontend *fe, bool res, const struct rd_query *q, struct strbuf *out)
{
    uint64_t idx = 0;

    if (lookup_by_ep_index(fe, res, q, out))
        return;
    for (const struct rd_reg *r = fe->reg.first; r; r = r->next)
        emit_reg(fe, r, res, q, &idx, out);
}

void lookup_discovery(struct frontend *fe, const struct rd_query *q, struct strbuf *out)
{
    uint64_t idx = 0;

    for (unsigned j = 0; j < fe->wkc.nlinks; j++) {
        const struct lf_link *l = &fe->wkc.links[j];
        bool ok = true;
        for (unsigned i = 0; ok && i < q->nf; i++) {
            const struct rd_attr *f = &q->f[i];
            if (strcmp(f->name, "href") == 0) {
                ok = f->has_value && lookup_value_match(f->value, l->target);
                continue;
            }
            ok = false;
            for (unsigned k = 0; !ok && k < l->nparams; k++)
                ok = strcmp(l->params[k].name, f->name) == 0 &&
                     attr_match(f, f->name, l->params[k].value, l->params[k].has_value);
        }
        if (!ok)
            continue;
        if (in_page(q, idx)) {
            /* the links are sent exactly as written in LOOKUP_WKC */
            const char *t = LOOKUP_WKC;
            for (unsigned k = 0; k < j; k++)
                t = strchr(t, ',') + 1;
            if (out->len)
                sb_putc(out, ',');
            sb_append(out, t, strcspn(t, ","));
        }
        idx++;
    }
}
