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
 * The lookup index (attr_index.c) is built from lookup_index_keys below,
 * which lists everything the matcher may compare; lookup_run takes the
 * candidates of the most selective filter from it and the matcher decides.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "log.h"

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

size_t lookup_origin_len(const char *uri)
{
    const char *p = strstr(uri, "://");

    if (p == NULL || !has_scheme(uri))
        return 0;
    p += 3;
    return (size_t)(p - uri) + strcspn(p, "/?#");
}

void lookup_resolve(const char *base, const char *ref, char *out, size_t outlen)
{
    size_t ol = lookup_origin_len(base);
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
        size_t ol = lookup_origin_len(pattern);
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

/* A filter against a time shown as RFC 3339 (expires, ...-since). */
static bool time_match(const struct rd_attr *f, uint64_t unix_ms)
{
    char ts[40];

    rd_rfc3339(unix_ms, ts, sizeof(ts));
    return attr_match(f, f->name, ts, true);
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
    if (strcmp(n, "host") == 0 && r->proxy)
        return attr_match(f, n, r->host, true);
    if (strcmp(n, "transport") == 0 && r->proxy)
        return attr_match(f, n, proto_transport_name(r->peer.transport), true);
    if (strcmp(n, "relay") == 0 && r->proxy)
        return attr_match(f, n, proto_relay_name(r->peer.relay), true);
    if (strcmp(n, "expires") == 0)
        return time_match(f, r->expires_at);
    if (strcmp(n, "unreachable-since") == 0 && r->proxy && r->unreachable)
        return time_match(f, r->unreachable_since);
    if (strcmp(n, "reachable-since") == 0 && r->proxy && !r->unreachable && r->reachable_since)
        return time_match(f, r->reachable_since);
    if (strcmp(n, "port") == 0 && r->port && r->host[0]) {
        char port[8];
        snprintf(port, sizeof(port), "%u", r->port);
        return attr_match(f, n, port, true);
    }
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
    struct lf_doc doc;
    bool parsed = false, ok = true;

    /* the links are parsed only if a filter is not met by the registration */
    for (unsigned i = 0; ok && i < q->nf; i++) {
        ok = reg_attr_match(fe, r, &q->f[i], true);
        if (!ok && !parsed && r->nlinks > 0) {
            reg_doc(r, &doc);
            parsed = true;
        }
        for (unsigned j = 0; !ok && parsed && j < doc.nlinks; j++)
            ok = link_attr_match(r, &doc.links[j], &q->f[i]);
    }
    if (parsed)
        lf_free(&doc);
    return ok;
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
    /* the path back (the status page shows it), then the end of the lifetime */
    if (r->proxy && !r->unreachable && r->reachable_since) {
        rd_rfc3339(r->reachable_since, since, sizeof(since));
        sb_printf(out, ";reachable-since=\"%s\"", since);
    }
    if (r->proxy)
        sb_printf(out, ";host=\"%s\";transport=\"%s\";relay=\"%s\"", r->host,
                  proto_transport_name(r->peer.transport), proto_relay_name(r->peer.relay));
    rd_rfc3339(r->expires_at, since, sizeof(since));
    sb_printf(out, ";expires=\"%s\"", since);
    /* port-based hosting: coap://<any relay address>:<port>/ reaches it */
    if (r->port && r->host[0])
        sb_printf(out, ";port=\"%u\"", r->port);
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
    if (q->nf == 0 && q->has_count && *idx + r->nlinks <= (uint64_t)q->page * q->count) {
        *idx += r->nlinks; /* every link matches, none is on the page */
        return;
    }
    if (r->nlinks == 0)
        return;
    struct lf_doc doc;
    if (reg_doc(r, &doc) < 0)
        log_warnx("lookup: /reg/%" PRId64 "/: out of memory parsing its links", r->id);
    for (unsigned j = 0; j < doc.nlinks; j++) {
        if (!link_matches(fe, r, &doc.links[j], q))
            continue;
        if (in_page(q, *idx)) {
            if (out->len)
                sb_putc(out, ',');
            append_res_link(r, &doc.links[j], out);
        }
        (*idx)++;
    }
    lf_free(&doc);
}

/* ---- the lookup index: which keys a registration is found under ---- */

/* value, and for a list attribute (rt, if, rel) each of its items */
static void index_value(const char *name, const char *value,
                        void (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    char item[RD_ATTR_VALUE_MAX];

    fn(arg, name, value);
    if (!is_list_attr(name) || strchr(value, ' ') == NULL)
        return;
    for (const char *p = value; *p;) {
        size_t n = strcspn(p, " ");
        if (n > 0 && n < sizeof(item)) { /* attr_match skips longer items too */
            memcpy(item, p, n);
            item[n] = '\0';
            fn(arg, name, item);
        }
        p += n;
        while (*p == ' ')
            p++;
    }
}

/* A reference that resolves against the base without keeping the base's
 * origin: a full URI, or a network-path reference (//host/...). */
static bool ref_leaves_origin(const char *ref)
{
    return has_scheme(ref) || (ref[0] == '/' && ref[1] == '/');
}

void lookup_index_keys(const struct rd_reg *r,
                       void (*fn)(void *arg, const char *name, const char *value), void *arg)
{
    char uri[512], origin[RD_BASE_MAX];
    size_t ol = lookup_origin_len(r->base);
    bool relative = false;

    /* what reg_attr_match compares (href's /reg/N forms, rt=core.rd-ep,
     * proxy, reachable and port are computed: the planner does not use the
     * index for them) */
    fn(arg, "ep", r->ep);
    if (r->d[0])
        fn(arg, "d", r->d);
    fn(arg, "base", r->base);
    for (unsigned i = 0; i < r->nattrs; i++)
        index_value(r->attrs[i].name, r->attrs[i].value, fn, arg);
    /*
     * What link_attr_match compares: link parameters as they are; href and
     * anchor resolved. A relative reference resolves to the base's origin
     * followed by something, so one key, LOOKUP_ORIGIN_KEY = that origin,
     * stands for all of them (ten links, one key: the index stays small);
     * full URIs (and an origin-less base) are indexed as they resolve.
     * ("anchor", "") marks a registration with an anchor, for ?anchor.
     */
    struct lf_doc doc;
    reg_doc(r, &doc); /* -1 (oom): indexed without its links; aidx_add fails on the next oom */
    for (unsigned j = 0; j < doc.nlinks; j++) {
        const struct lf_link *l = &doc.links[j];
        const char *a = lf_link_param(l, "anchor");
        if (ol == 0 || ref_leaves_origin(l->target)) {
            lookup_resolve(r->base, l->target, uri, sizeof(uri));
            fn(arg, "href", uri);
        } else {
            relative = true;
        }
        if (a != NULL) {
            fn(arg, "anchor", "");
            if (ol == 0 || ref_leaves_origin(a)) {
                lookup_resolve(r->base, a, uri, sizeof(uri));
                fn(arg, "anchor", uri);
            } else {
                relative = true;
            }
        }
        for (unsigned i = 0; i < l->nparams; i++)
            if (strcmp(l->params[i].name, "anchor") != 0 && strcmp(l->params[i].name, "href") != 0)
                index_value(l->params[i].name, l->params[i].value, fn, arg);
    }
    lf_free(&doc);
    if (relative) {
        snprintf(origin, sizeof(origin), "%.*s", (int)ol, r->base);
        fn(arg, LOOKUP_ORIGIN_KEY, origin);
    }
}

/* ---- the planner: the fewest candidates any one filter allows ---- */

#define PLAN_ALL SIZE_MAX
#define PLAN_MAX_RANGE 4096

/* The registration id an href filter names in path form (/reg/N, /reg/N/,
 * or a URI with that path), or -1. */
static int64_t href_reg_id(const char *pattern)
{
    const char *p = pattern;
    int64_t id = 0;

    if (has_scheme(pattern)) {
        size_t ol = lookup_origin_len(pattern);
        if (ol == 0)
            return -1;
        p += ol;
    }
    if (strncmp(p, "/reg/", 5) != 0 || !isdigit((unsigned char)p[5]))
        return -1;
    for (p += 5; isdigit((unsigned char)*p); p++) {
        if (id > INT64_MAX / 10 - 10)
            return -1;
        id = id * 10 + (*p - '0');
    }
    return (*p == '\0' || (p[0] == '/' && p[1] == '\0')) ? id : -1;
}

/* A prefix href filter that may match /reg/N paths selects every
 * registration (href_reg_match), so the index cannot narrow it. */
static bool href_prefix_hits_regs(const char *stem, size_t n)
{
    const char *p = stem;

    if (has_scheme(stem)) {
        size_t ol = lookup_origin_len(stem);
        if (ol == 0)
            return false;
        if (ol >= n)
            return true; /* "coap://rd*": any origin, then /reg/N */
        p += ol;
        n -= ol;
    }
    return n <= 5 ? strncmp(p, "/reg/", n) == 0 : strncmp(p, "/reg/", 5) == 0;
}

/* Where a filter's candidates are: exact keys, key ranges, one id. */
enum { SRC_EXACT, SRC_RANGE, SRC_ID };
struct src {
    uint8_t kind;
    const char *name;
    char val[RD_ATTR_VALUE_MAX];
    size_t len; /* SRC_RANGE: stem length */
    int64_t id;
};
struct plan {
    struct src s[3];
    unsigned ns;
    size_t est;
};

static void plan_add(struct plan *p, uint8_t kind, const char *name, const char *v, size_t len)
{
    struct src *s = &p->s[p->ns++];

    s->kind = kind;
    s->name = name;
    s->len = len < sizeof(s->val) ? len : sizeof(s->val) - 1;
    memcpy(s->val, v, s->len);
    s->val[s->len] = '\0';
}

/* href or anchor: resolved URIs. Full-URI references are indexed as they
 * are; relative ones under the base's origin. */
static void plan_uri(struct plan *p, const char *name, const char *v, size_t len, bool prefix)
{
    size_t ol = lookup_origin_len(v); /* 0 without scheme:// */

    plan_add(p, prefix ? SRC_RANGE : SRC_EXACT, name, v, len);
    if (!prefix) {
        /* relative references resolve to "<origin>...", so v's origin */
        if (ol > 0)
            plan_add(p, SRC_EXACT, LOOKUP_ORIGIN_KEY, v, ol);
    } else if (ol > 0 && ol < len) {
        plan_add(p, SRC_EXACT, LOOKUP_ORIGIN_KEY, v, ol); /* the whole origin is given */
    } else {
        plan_add(p, SRC_RANGE, LOOKUP_ORIGIN_KEY, v, len); /* origins starting so */
    }
}

/* Fill p with where filter f's candidates are; false when it cannot narrow
 * the registrations (every one may match). */
static bool plan_filter(bool res, const struct rd_attr *f, struct plan *p)
{
    const char *n = f->name;
    size_t vl = strlen(f->value);
    bool prefix = !f->has_value || (vl > 0 && f->value[vl - 1] == '*');
    size_t len = !f->has_value ? 0 : prefix ? vl - 1 : vl;

    p->ns = 0;
    if (strcmp(n, "proxy") == 0 || strcmp(n, "reachable") == 0 || strcmp(n, "host") == 0 ||
        strcmp(n, "transport") == 0 || strcmp(n, "relay") == 0 || strcmp(n, "expires") == 0 ||
        strcmp(n, "reachable-since") == 0 || strcmp(n, "unreachable-since") == 0 ||
        strcmp(n, "port") == 0)
        return false; /* computed, not in the index */
    if (!res && strcmp(n, "rt") == 0 &&
        (!f->has_value || lookup_value_match(f->value, "core.rd-ep")))
        return false;
    if (strcmp(n, "href") == 0) {
        if (!f->has_value || (prefix && href_prefix_hits_regs(f->value, len)))
            return false;
        if (!prefix && href_reg_id(f->value) > 0) {
            plan_add(p, SRC_ID, n, "", 0);
            p->s[0].id = href_reg_id(f->value);
        }
        plan_uri(p, "href", f->value, len, prefix);
        return true;
    }
    if (strcmp(n, "anchor") == 0 && f->has_value) {
        plan_uri(p, "anchor", f->value, len, prefix);
        return true;
    }
    plan_add(p, prefix ? SRC_RANGE : SRC_EXACT, n, f->value, len);
    return true;
}

/* ep, base and the origin key are not index entries: reg_order.c walks
 * the registrations in ep or base order instead (the origin of a relative
 * link is a prefix of its registration's base, so a base range is a
 * superset of an origin's, and the matcher decides). */
struct owalk {
    const struct src *s;
    int (*fn)(void *arg, const struct rd_reg *r);
    void *arg;
};

static int owalk_one(void *arg, const struct rd_reg *r)
{
    const struct owalk *w = arg;

    if (w->s->kind == SRC_EXACT && w->s->name[0] == ' ' && lookup_origin_len(r->base) != w->s->len)
        return 0; /* an exact origin: only bases with just that origin */
    return w->fn(w->arg, r);
}

/* 1 when fn stopped the walk */
static int order_walk(const struct frontend *fe, const struct src *s,
                      int (*fn)(void *arg, const struct rd_reg *r), void *arg)
{
    struct owalk w = {.s = s, .fn = fn, .arg = arg};
    int k = strcmp(s->name, "ep") == 0 ? RD_ORD_EP : RD_ORD_BASE;
    bool exact = s->kind == SRC_EXACT && s->name[0] != ' ';

    return rd_order_walk(&fe->reg, k, s->val, s->len, exact, owalk_one, &w);
}

struct ocount {
    size_t n, limit;
};

static int ocount_one(void *arg, const struct rd_reg *r)
{
    struct ocount *c = arg;
    (void)r;
    return ++c->n > c->limit;
}

/* How many registrations the plan lets through at most, counting no
 * further than limit (PLAN_ALL beyond it). */
static size_t plan_estimate(const struct frontend *fe, const struct plan *p, size_t limit)
{
    size_t est = 0;

    for (unsigned i = 0; i < p->ns; i++) {
        const struct src *s = &p->s[i];
        if (s->kind == SRC_ID) {
            est++;
        } else if (aidx_order_key(s->name)) {
            struct ocount c = {.n = est, .limit = limit};
            order_walk(fe, s, ocount_one, &c); /* stops past the limit */
            est = c.n;
        } else if (s->kind == SRC_EXACT) {
            est += aidx_ent_count(aidx_find(&fe->reg.idx, s->name, s->val));
        } else {
            size_t nent = 0;
            for (const struct aidx_ent *e = aidx_first_ge(&fe->reg.idx, s->name, s->val);
                 aidx_ent_in_range(e, s->name, s->val, s->len); e = aidx_ent_next(e)) {
                est += aidx_ent_count(e);
                /* a range of thousands of values is broad: not worth counting */
                if (est > limit || ++nent > PLAN_MAX_RANGE)
                    return PLAN_ALL;
            }
        }
        if (est > limit)
            return PLAN_ALL;
    }
    return est;
}

struct cands {
    const struct rd_reg **v;
    size_t n, cap;
};

static int cands_push(struct cands *c, const struct rd_reg *r)
{
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        const struct rd_reg **nv = realloc(c->v, nc * sizeof(*nv));
        if (nv == NULL)
            return -1;
        c->v = nv;
        c->cap = nc;
    }
    c->v[c->n++] = r;
    return 0;
}

static int cands_push_ent(const struct aidx *x, struct cands *c, const struct aidx_ent *e)
{
    for (size_t i = 0; i < aidx_ent_count(e); i++)
        if (cands_push(c, aidx_ent_reg(x, e, i)) < 0)
            return -1;
    return 0;
}

static int cands_push_one(void *arg, const struct rd_reg *r)
{
    return cands_push(arg, r) < 0 ? -1 : 0;
}

static int plan_collect(const struct frontend *fe, const struct plan *p, struct cands *c)
{
    for (unsigned i = 0; i < p->ns; i++) {
        const struct src *s = &p->s[i];
        if (s->kind == SRC_ID) {
            const struct rd_reg *r = registry_by_id(&fe->reg, s->id);
            if (r && cands_push(c, r) < 0)
                return -1;
        } else if (aidx_order_key(s->name)) {
            if (order_walk(fe, s, cands_push_one, c)) /* stopped: out of memory */
                return -1;
        } else if (s->kind == SRC_EXACT) {
            const struct aidx_ent *e = aidx_find(&fe->reg.idx, s->name, s->val);
            if (e && cands_push_ent(&fe->reg.idx, c, e) < 0)
                return -1;
        } else {
            for (const struct aidx_ent *e = aidx_first_ge(&fe->reg.idx, s->name, s->val);
                 aidx_ent_in_range(e, s->name, s->val, s->len); e = aidx_ent_next(e))
                if (cands_push_ent(&fe->reg.idx, c, e) < 0)
                    return -1;
        }
    }
    return 0;
}

static int cmp_reg_id(const void *a, const void *b)
{
    const struct rd_reg *x = *(const struct rd_reg *const *)a,
                        *y = *(const struct rd_reg *const *)b;

    return x->id < y->id ? -1 : x->id > y->id;
}

/* Whether the page window is full: nothing after it can be shown. */
static bool page_done(const struct rd_query *q, uint64_t idx)
{
    return q->has_count && idx >= (uint64_t)q->page * q->count + q->count;
}

/*
 * Every filter must match, so the candidates of the most selective one are
 * enough: take them from the index, in id order (the order of a full walk),
 * and let the matcher check every filter. When no filter narrows the
 * registrations to a small part of them, walk them all in id order; with
 * page/count, both stop as soon as the page is full.
 */
void lookup_run(struct frontend *fe, bool res, const struct rd_query *q, struct strbuf *out)
{
    struct plan best = {.est = PLAN_ALL}, p;
    struct cands c = {0};
    uint64_t idx = 0;
    /* above this many candidates a walk that stops at the page is cheaper */
    size_t limit = q->has_count ? fe->reg.count / 8 : fe->reg.count / 2;

    /* exact filters first (O(1) each): a prefix range is then counted
     * only as far as the best exact one */
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < q->nf; i++) {
            if (!plan_filter(res, &q->f[i], &p))
                continue;
            bool ranged = false;
            for (unsigned k = 0; k < p.ns; k++)
                ranged |= p.s[k].kind == SRC_RANGE;
            if (ranged != (pass == 1))
                continue;
            p.est = plan_estimate(fe, &p, best.est < limit ? best.est : limit);
            if (p.est < best.est && p.est <= limit)
                best = p;
        }
    }
    if (best.est == PLAN_ALL || plan_collect(fe, &best, &c) < 0) {
        for (const struct rd_reg *r = fe->reg.first; r && !page_done(q, idx); r = r->next)
            emit_reg(fe, r, res, q, &idx, out);
        free(c.v);
        return;
    }
    if (c.n > 1)
        qsort(c.v, c.n, sizeof(*c.v), cmp_reg_id);
    for (size_t i = 0; i < c.n && !page_done(q, idx); i++)
        if (i == 0 || c.v[i] != c.v[i - 1]) /* a registration may be in two sources */
            emit_reg(fe, c.v[i], res, q, &idx, out);
    free(c.v);
}

bool lookup_may_change(struct frontend *fe, bool res, const struct rd_query *q)
{
    struct plan p;

    if (fe->reg.idx.touched_all)
        return true;
    for (unsigned i = 0; i < q->nf; i++) {
        bool exact = plan_filter(res, &q->f[i], &p) && p.ns > 0, hit = false;
        for (unsigned k = 0; exact && k < p.ns; k++)
            exact = p.s[k].kind == SRC_EXACT;
        if (!exact)
            continue;
        /* every registration this filter lets through, before or after the
         * changes, carries one of these keys: untouched, nothing changed */
        for (unsigned k = 0; !hit && k < p.ns; k++)
            hit = aidx_touched(&fe->reg.idx, p.s[k].name, p.s[k].val);
        if (!hit)
            return false;
    }
    return true;
}

unsigned lookup_watch_keys(bool res, const struct rd_query *q, uint64_t *h, unsigned max)
{
    struct plan p;

    /* the same test as lookup_may_change: that stays the final word */
    for (unsigned i = 0; i < q->nf; i++) {
        bool exact = plan_filter(res, &q->f[i], &p) && p.ns > 0 && p.ns <= max;
        for (unsigned k = 0; exact && k < p.ns; k++)
            exact = p.s[k].kind == SRC_EXACT;
        if (!exact)
            continue;
        for (unsigned k = 0; k < p.ns; k++)
            h[k] = aidx_key_hash(p.s[k].name, p.s[k].val);
        return p.ns;
    }
    return 0;
}

void lookup_run_scan(struct frontend *fe, bool res, const struct rd_query *q, struct strbuf *out)
{
    uint64_t idx = 0;

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
