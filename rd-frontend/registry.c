/*
 * registry.c - the in-memory registrations (every row of the store, loaded
 * at start and kept in step with it by rd_request.c).
 * Owns every struct rd_reg: a list in id order (lookups and paging walk it,
 * new ids are always larger so appending keeps the order), three chained
 * hash indexes: by id, by (ep, d) and by proxy host name; the ep and base
 * orders (reg_order.c: exact and prefix ep and base filters);
 * the lookup index (attr_index.c, kept in step on every insert, change and
 * removal); and a binary min-heap of the next expiry event of each
 * registration (its expiry, or the end of its grace period), so the tick
 * touches only what is due instead of walking 100,000 registrations four
 * times a second. Talks to attr_index.c (and through it lookup.c's
 * lookup_index_keys).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"

#define REG_INITIAL_BUCKETS 1024

static uint64_t fnv(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static size_t h_id(const struct registry *g, int64_t id)
{
    return (size_t)(((uint64_t)id * 11400714819323198485ull) >> 20) & (g->nbuckets - 1);
}

static size_t h_epd(const struct registry *g, const char *ep, const char *d)
{
    /* the 0xff separator cannot occur in a valid name */
    return (size_t)fnv(d, fnv("\xff", fnv(ep, 14695981039346656037ull))) & (g->nbuckets - 1);
}

static size_t h_host(const struct registry *g, const char *host)
{
    return (size_t)fnv(host, 14695981039346656037ull) & (g->nbuckets - 1);
}

static int alloc_buckets(struct registry *g, size_t n)
{
    g->b_id = calloc(n, sizeof(*g->b_id));
    g->b_epd = calloc(n, sizeof(*g->b_epd));
    g->b_host = calloc(n, sizeof(*g->b_host));
    g->nbuckets = n;
    if (g->b_id == NULL || g->b_epd == NULL || g->b_host == NULL) {
        free(g->b_id);
        free(g->b_epd);
        free(g->b_host);
        g->b_id = g->b_epd = g->b_host = NULL;
        return -1;
    }
    return 0;
}

int registry_init(struct registry *g)
{
    memset(g, 0, sizeof(*g));
    if (aidx_init(&g->idx) < 0)
        return -1;
    if (alloc_buckets(g, REG_INITIAL_BUCKETS) < 0) {
        aidx_free(&g->idx);
        return -1;
    }
    return 0;
}

/* ---- expiry heap ---- */

static uint64_t reg_due(const struct registry *g, const struct rd_reg *r)
{
    return r->expired ? r->expires_at + g->grace_ms : r->expires_at;
}

static void heap_set(struct registry *g, size_t i, struct rd_reg *r)
{
    g->heap[i] = r;
    r->hidx = (uint32_t)i;
}

static void heap_fix(struct registry *g, size_t i)
{
    struct rd_reg *r = g->heap[i];
    size_t n = g->count;

    while (i > 0 && g->heap[(i - 1) / 2]->due > r->due) {
        heap_set(g, i, g->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && g->heap[c + 1]->due < g->heap[c]->due)
            c++;
        if (g->heap[c]->due >= r->due)
            break;
        heap_set(g, i, g->heap[c]);
        i = c;
    }
    heap_set(g, i, r);
}

/* Put r at heap position n (= the count before it is added). */
static int heap_push(struct registry *g, struct rd_reg *r, size_t n)
{
    if (n + 1 > g->heap_cap) {
        size_t nc = g->heap_cap ? g->heap_cap * 2 : REG_INITIAL_BUCKETS;
        struct rd_reg **nh = realloc(g->heap, nc * sizeof(*nh));
        if (nh == NULL)
            return -1;
        g->heap = nh;
        g->heap_cap = nc;
    }
    r->due = reg_due(g, r);
    heap_set(g, n, r);
    return 0;
}

/* Remove r; the heap then holds count - 1 entries. */
static void heap_remove(struct registry *g, struct rd_reg *r)
{
    size_t i = r->hidx, last = g->count - 1;

    if (i != last) {
        heap_set(g, i, g->heap[last]);
        g->count--; /* heap_fix works on the shrunken heap */
        heap_fix(g, i);
        g->count++;
    }
}

struct rd_reg *registry_next_due(const struct registry *g)
{
    return g->count ? g->heap[0] : NULL;
}

int registry_changed(struct registry *g, struct rd_reg *r)
{
    registry_census(g, r, -1);
    registry_census(g, r, +1);
    r->due = reg_due(g, r);
    heap_fix(g, r->hidx);
    /* the ep, base and origin keys are no memberships, so leaving them is
     * not recorded: a change of the links (relative ones gone) or of
     * anything an ep or base lookup shows must still count for them */
    rd_order_touch(&g->idx, r);
    return aidx_update(&g->idx, r);
}

void registry_free(struct registry *g)
{
    struct rd_reg *r, *next;

    for (r = g->first; r; r = next) {
        next = r->next;
        reg_free(r);
    }
    free(g->b_id);
    free(g->b_epd);
    free(g->b_host);
    free(g->heap);
    aidx_free(&g->idx);
    memset(g, 0, sizeof(*g));
}

static void index_one(struct registry *g, struct rd_reg *r)
{
    size_t b = h_id(g, r->id);

    r->h_id = g->b_id[b];
    g->b_id[b] = r;
    b = h_epd(g, r->ep, r->d);
    r->h_epd = g->b_epd[b];
    g->b_epd[b] = r;
    r->h_host = NULL;
    if (r->host[0]) {
        b = h_host(g, r->host);
        r->h_host = g->b_host[b];
        g->b_host[b] = r;
    }
}

static void unlink_chain(struct rd_reg **head, struct rd_reg *r, size_t off)
{
    /* off: offset of the chain pointer inside struct rd_reg */
    for (struct rd_reg **pp = head; *pp; pp = (struct rd_reg **)((char *)*pp + off)) {
        if (*pp == r) {
            *pp = *(struct rd_reg **)((char *)r + off);
            return;
        }
    }
}

void registry_unindex(struct registry *g, struct rd_reg *r)
{
    unlink_chain(&g->b_id[h_id(g, r->id)], r, offsetof(struct rd_reg, h_id));
    unlink_chain(&g->b_epd[h_epd(g, r->ep, r->d)], r, offsetof(struct rd_reg, h_epd));
    if (r->host[0])
        unlink_chain(&g->b_host[h_host(g, r->host)], r, offsetof(struct rd_reg, h_host));
    rd_order_del(g, r);
}

void registry_reindex(struct registry *g, struct rd_reg *r)
{
    index_one(g, r);
    rd_order_add(g, r);
}

/* Double the buckets when the load passes 1: keeps lookups by key O(1). */
static int grow(struct registry *g)
{
    struct registry ng = *g;

    if (alloc_buckets(&ng, g->nbuckets * 2) < 0)
        return -1;
    for (struct rd_reg *r = g->first; r; r = r->next)
        index_one(&ng, r);
    free(g->b_id);
    free(g->b_epd);
    free(g->b_host);
    g->b_id = ng.b_id;
    g->b_epd = ng.b_epd;
    g->b_host = ng.b_host;
    g->nbuckets = ng.nbuckets;
    return 0;
}

int registry_insert(struct registry *g, struct rd_reg *r)
{
    if (g->count + 1 > g->nbuckets && grow(g) < 0)
        return -1;
    if (aidx_add(&g->idx, r) < 0)
        return -1;
    if (heap_push(g, r, g->count) < 0) {
        aidx_del(&g->idx, r);
        return -1;
    }
    /* keep id order: almost always an append */
    struct rd_reg *after = g->last;
    while (after && after->id > r->id)
        after = after->prev;
    r->prev = after;
    r->next = after ? after->next : g->first;
    if (r->next)
        r->next->prev = r;
    else
        g->last = r;
    if (after)
        after->next = r;
    else
        g->first = r;
    registry_reindex(g, r);
    g->count++;
    heap_fix(g, r->hidx);
    registry_census(g, r, +1);
    return 0;
}

void registry_remove(struct registry *g, struct rd_reg *r)
{
    registry_unindex(g, r);
    aidx_del(&g->idx, r);
    heap_remove(g, r);
    if (r->prev)
        r->prev->next = r->next;
    else
        g->first = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        g->last = r->prev;
    r->prev = r->next = NULL;
    g->count--;
    registry_census(g, r, -1);
}

int registry_replace(struct registry *g, struct rd_reg *old, struct rd_reg *nr)
{
    if (aidx_add(&g->idx, nr) < 0)
        return -1;
    aidx_del(&g->idx, old);
    nr->due = reg_due(g, nr);
    heap_set(g, old->hidx, nr);
    heap_fix(g, nr->hidx);
    registry_unindex(g, old);
    nr->prev = old->prev;
    nr->next = old->next;
    if (nr->prev)
        nr->prev->next = nr;
    else
        g->first = nr;
    if (nr->next)
        nr->next->prev = nr;
    else
        g->last = nr;
    old->prev = old->next = NULL;
    registry_reindex(g, nr);
    registry_census(g, old, -1);
    registry_census(g, nr, +1);
    return 0;
}

struct rd_reg *registry_by_id(const struct registry *g, int64_t id)
{
    for (struct rd_reg *r = g->b_id[h_id(g, id)]; r; r = r->h_id)
        if (r->id == id)
            return r;
    return NULL;
}

struct rd_reg *registry_by_epd(const struct registry *g, const char *ep, const char *d)
{
    for (struct rd_reg *r = g->b_epd[h_epd(g, ep, d)]; r; r = r->h_epd)
        if (strcmp(r->ep, ep) == 0 && strcmp(r->d, d) == 0)
            return r;
    return NULL;
}

struct rd_reg *registry_by_ep(const struct registry *g, const char *ep)
{
    return (struct rd_reg *)rd_order_first(g, RD_ORD_EP, ep);
}

struct rd_reg *registry_by_host(const struct registry *g, const char *host)
{
    if (host[0] == '\0')
        return NULL;
    for (struct rd_reg *r = g->b_host[h_host(g, host)]; r; r = r->h_host)
        if (strcmp(r->host, host) == 0)
            return r;
    return NULL;
}

struct rd_reg *reg_new(void)
{
    struct rd_reg *r = calloc(1, sizeof(*r));

    if (r) {
        r->ka = RR_KA_DEFAULT;
        r->ep = r->d = r->base = r->host = "";
    }
    return r;
}

int reg_set_names(struct rd_reg *r, const char *ep, const char *d, const char *base,
                  const char *host)
{
    const char *v[4] = {ep ? ep : r->ep, d ? d : r->d, base ? base : r->base,
                        host ? host : r->host};
    const size_t max[4] = {RR_EP_MAX - 1, RR_EP_MAX - 1, RD_BASE_MAX - 1, RR_HOST_MAX - 1};
    const char **dst[4] = {&r->ep, &r->d, &r->base, &r->host};
    size_t len[4], total = 0;
    char *mem, *p;

    for (int i = 0; i < 4; i++) {
        len[i] = strnlen(v[i], max[i]);
        total += len[i] + 1;
    }
    mem = malloc(total);
    if (mem == NULL)
        return -1;
    p = mem;
    for (int i = 0; i < 4; i++) {
        memcpy(p, v[i], len[i]); /* v may point into the old block: freed below */
        p[len[i]] = '\0';
        *dst[i] = p;
        p += len[i] + 1;
    }
    free(r->names);
    r->names = mem;
    return 0;
}

void reg_clear_attrs(struct rd_reg *r)
{
    for (unsigned i = 0; i < r->nattrs; i++) {
        free(r->attrs[i].name);
        free(r->attrs[i].value);
    }
    free(r->attrs);
    r->attrs = NULL;
    r->nattrs = 0;
}

void reg_free(struct rd_reg *r)
{
    if (r == NULL)
        return;
    reg_clear_attrs(r);
    free(r->links);
    free(r->names);
    free(r->aim);
    free(r);
}

int reg_set_links(struct rd_reg *r, const char *text, size_t len, char *err, size_t errlen)
{
    struct lf_doc doc;
    unsigned nlinks;
    char *copy;

    /* parsed to validate and count, then dropped: only the text is kept */
    memset(&doc, 0, sizeof(doc));
    if (lf_parse(text, len, &doc, err, errlen) < 0)
        return -1;
    nlinks = doc.nlinks;
    lf_free(&doc);
    copy = malloc(len + 1);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (len > 0) /* an empty registration payload may come as a NULL pointer */
        memcpy(copy, text, len);
    copy[len] = '\0';
    free(r->links);
    r->links = copy;
    r->links_len = len;
    r->nlinks = nlinks;
    return 0;
}

int reg_doc(const struct rd_reg *r, struct lf_doc *doc)
{
    char err[64];

    memset(doc, 0, sizeof(*doc));
    if (r->links == NULL || r->links_len == 0)
        return 0;
    if (lf_parse(r->links, r->links_len, doc, err, sizeof(err)) < 0) {
        memset(doc, 0, sizeof(*doc));
        return -1;
    }
    return 0;
}

int reg_add_attr(struct rd_reg *r, const char *name, const char *value, bool has_value)
{
    struct lf_param *na = realloc(r->attrs, (r->nattrs + 1) * sizeof(*na));
    char *n = strdup(name), *v = strdup(value ? value : "");

    if (na != NULL)
        r->attrs = na;
    if (na == NULL || n == NULL || v == NULL) {
        free(n);
        free(v);
        return -1;
    }
    r->attrs[r->nattrs].name = n;
    r->attrs[r->nattrs].value = v;
    r->attrs[r->nattrs].has_value = has_value;
    r->nattrs++;
    return 0;
}

/* Drop every value of attribute name (order of the others kept). */
static void drop_attr(struct rd_reg *r, const char *name)
{
    unsigned j = 0;

    for (unsigned i = 0; i < r->nattrs; i++) {
        if (strcmp(r->attrs[i].name, name) == 0) {
            free(r->attrs[i].name);
            free(r->attrs[i].value);
        } else {
            r->attrs[j++] = r->attrs[i];
        }
    }
    r->nattrs = j;
}

int reg_set_attr(struct rd_reg *r, const char *name, const char *value, bool has_value)
{
    drop_attr(r, name);
    return reg_add_attr(r, name, value, has_value);
}

int reg_apply_attrs(struct rd_reg *r, const struct rd_attr *a, unsigned n)
{
    /* every name given replaces all its old values, so drop them first */
    for (unsigned i = 0; i < n; i++)
        drop_attr(r, a[i].name);
    for (unsigned i = 0; i < n; i++)
        if (reg_add_attr(r, a[i].name, a[i].value, a[i].has_value) < 0)
            return -1;
    return 0;
}

void reg_attrs_to_text(const struct rd_reg *r, struct strbuf *sb)
{
    for (unsigned i = 0; i < r->nattrs; i++)
        lf_append_param(sb, r->attrs[i].name, r->attrs[i].value, r->attrs[i].has_value);
}

int reg_attrs_from_text(struct rd_reg *r, const char *text)
{
    struct strbuf sb;
    struct lf_doc doc;
    char err[64];
    int ret = -1;

    reg_clear_attrs(r);
    if (text[0] == '\0')
        return 0;
    /* stored as link-format parameters: parse them as the params of "<>" */
    sb_init(&sb);
    memset(&doc, 0, sizeof(doc));
    sb_puts(&sb, "<>");
    sb_puts(&sb, text);
    if (sb.oom || lf_parse(sb.buf, sb.len, &doc, err, sizeof(err)) < 0 || doc.nlinks != 1)
        goto out;
    for (unsigned i = 0; i < doc.links[0].nparams; i++) {
        const struct lf_param *p = &doc.links[0].params[i];
        if (reg_add_attr(r, p->name, p->value, p->has_value) < 0)
            goto out;
    }
    ret = 0;
out:
    lf_free(&doc);
    sb_free(&sb);
    return ret;
}
