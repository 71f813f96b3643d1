/*
 * reg_order.c - the registrations in ep order and in base order, for the
 * lookup filters on ep and base (exact and prefix) and for the origin key
 * of relative links (the origin is a prefix of the base).
 * Owns nothing: two treaps threaded through struct rd_reg (rd_reg.ord,
 * two child pointers per order), rooted in struct registry. Why not the
 * attribute index: nearly every ep and base is carried by one registration
 * only, and an index entry of its own (entry, strings, a one-element
 * posting list, membership, hash slot) cost ~140 B each; a treap node in
 * the registration costs 16 B and still gives exact finds and prefix
 * ranges in O(log n) (a base shared by many registrations is one
 * contiguous range). The priority is a hash of the node's address, so no
 * field is stored for it. Every change that adds, removes or moves a
 * registration in an order also records its ep, base and origin keys as
 * touched (attr_index.c), which Observe relies on.
 */
#include <string.h>

#include "frontend.h"

static const char *key(const struct rd_reg *r, int k)
{
    return k == RD_ORD_EP ? r->ep : r->base;
}

static uint64_t prio(const struct rd_reg *r, int k)
{
    uint64_t x = (uint64_t)(uintptr_t)r ^ ((uint64_t)k * 0x9e3779b97f4a7c15ull);

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* (key, id, address): a total order even for two registrations of one id
 * (registry_replace) or test registrations without one */
static int cmp(const struct rd_reg *a, const struct rd_reg *b, int k)
{
    int c = strcmp(key(a, k), key(b, k));

    if (c)
        return c;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return (uintptr_t)a < (uintptr_t)b ? -1 : (uintptr_t)a > (uintptr_t)b;
}

#define L(t) ((t)->ord[k].l)
#define R(t) ((t)->ord[k].r)

static struct rd_reg *insert(struct rd_reg *t, struct rd_reg *n, int k)
{
    struct rd_reg *c;

    if (t == NULL)
        return n;
    if (cmp(n, t, k) < 0) {
        L(t) = insert(L(t), n, k);
        if (prio(L(t), k) > prio(t, k)) { /* rotate right */
            c = L(t);
            L(t) = R(c);
            R(c) = t;
            return c;
        }
    } else {
        R(t) = insert(R(t), n, k);
        if (prio(R(t), k) > prio(t, k)) { /* rotate left */
            c = R(t);
            R(t) = L(c);
            L(c) = t;
            return c;
        }
    }
    return t;
}

static struct rd_reg *merge(struct rd_reg *a, struct rd_reg *b, int k)
{
    if (a == NULL)
        return b;
    if (b == NULL)
        return a;
    if (prio(a, k) > prio(b, k)) {
        R(a) = merge(R(a), b, k);
        return a;
    }
    L(b) = merge(a, L(b), k);
    return b;
}

static struct rd_reg *remove_node(struct rd_reg *t, struct rd_reg *n, int k)
{
    if (t == NULL)
        return NULL; /* not in the order */
    if (t == n) {
        struct rd_reg *m = merge(L(t), R(t), k);
        L(t) = R(t) = NULL;
        return m;
    }
    if (cmp(n, t, k) < 0)
        L(t) = remove_node(L(t), n, k);
    else
        R(t) = remove_node(R(t), n, k);
    return t;
}

void rd_order_touch(struct aidx *x, const struct rd_reg *r)
{
    size_t ol = lookup_origin_len(r->base);
    char origin[RD_BASE_MAX];

    aidx_touch_key(x, "ep", r->ep);
    aidx_touch_key(x, "base", r->base);
    if (ol > 0 && ol < sizeof(origin)) {
        memcpy(origin, r->base, ol);
        origin[ol] = '\0';
        aidx_touch_key(x, LOOKUP_ORIGIN_KEY, origin);
    }
}

void rd_order_add(struct registry *g, struct rd_reg *r)
{
    for (int k = 0; k < RD_NORD; k++) {
        L(r) = R(r) = NULL;
        g->ord[k] = insert(g->ord[k], r, k);
    }
    rd_order_touch(&g->idx, r);
}

void rd_order_del(struct registry *g, struct rd_reg *r)
{
    for (int k = 0; k < RD_NORD; k++)
        g->ord[k] = remove_node(g->ord[k], r, k);
    rd_order_touch(&g->idx, r);
}

struct walk {
    int k;
    const char *stem;
    size_t len;
    bool exact;
    int (*fn)(void *arg, const struct rd_reg *r);
    void *arg;
};

/* In order; 1 when fn stopped the walk. */
static int walk(const struct walk *w, const struct rd_reg *t)
{
    int k = w->k;

    while (t != NULL) {
        int c = w->exact ? strcmp(key(t, k), w->stem) : strncmp(key(t, k), w->stem, w->len);
        if (c >= 0 && walk(w, L(t))) /* the range may reach left */
            return 1;
        if (c == 0 && w->fn(w->arg, t))
            return 1;
        if (c > 0)
            return 0; /* everything right of t is past the range */
        t = R(t);     /* the tail call, as a loop */
    }
    return 0;
}

int rd_order_walk(const struct registry *g, int k, const char *stem, size_t len, bool exact,
                  int (*fn)(void *arg, const struct rd_reg *r), void *arg)
{
    struct walk w = {.k = k, .stem = stem, .len = len, .exact = exact, .fn = fn, .arg = arg};

    return walk(&w, g->ord[k]);
}

static int first_one(void *arg, const struct rd_reg *r)
{
    *(const struct rd_reg **)arg = r;
    return 1;
}

const struct rd_reg *rd_order_first(const struct registry *g, int k, const char *value)
{
    const struct rd_reg *r = NULL;

    rd_order_walk(g, k, value, 0, true, first_one, &r);
    return r;
}
