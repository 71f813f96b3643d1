/*
 * attr_index.c - the in-memory lookup index: for every (attribute name,
 * value) that some registration carries, the registrations that carry it.
 * Owns the index entries (struct aidx_ent) and every registration's list of
 * memberships (rd_reg.aim). Entries are found two ways: a chained hash on
 * (name, value) for exact filters, and a skip list in (name, value) order
 * for prefix filters (value*) and presence filters (?name), which walk one
 * range of it. Which (name, value) pairs a registration contributes is
 * lookup.c's decision (lookup_index_keys: the same rules its matcher
 * uses), so the index only narrows the candidates and the matcher has the
 * last word. The keys of ep, base and the origin of relative links are
 * the exception: nearly every value is one registration's own, so
 * reg_order.c keeps those registrations in ep and base order instead of
 * an entry each (aidx_order_key). registry.c keeps it in step: aidx_add when a registration
 * enters or changes, aidx_del before it changes or leaves.
 * Posting lists are unordered (swap-remove, O(1) with the membership's
 * slot); the lookup sorts the few candidates it takes by id. Every key
 * joined or left is also recorded (hashes, up to AIDX_MAX_TOUCHED) until
 * observe.c resets it: which Observe lookups a batch can have changed.
 * At start the registrations are loaded in a bulk build (aidx_bulk_begin/
 * end): the hash is kept as usual, the skip list is linked once at the end
 * from the sorted new entries (an ordered insert per new key was the top
 * cost of a restart with 100,000 registrations).
 */
#include <stdlib.h>
#include <string.h>

#include "frontend.h"

#define AIDX_INITIAL_BUCKETS 4096
#define AIDX_MAX_LEVEL 16
#define AIDX_MAX_TOUCHED 16384 /* beyond: every observer is re-evaluated */

struct aidx_ent {
    struct aidx_ent *hnext; /* hash chain */
    uint64_t hash;
    uint32_t *regs; /* posting list (registration ids), unordered */
    uint32_t n, cap;
    uint32_t stamp;           /* aidx.stamp of the last aidx_add that joined it */
    uint32_t id;              /* aidx.ents[id] == this */
    const char *name, *value; /* inside this allocation, after next[] */
    uint8_t level;
    struct aidx_ent *next[]; /* skip list, level pointers */
};

/* ---- id pools: 32-bit ids for entries and registrations ---- */

/* Room for one more id (call before anything that cannot be undone). */
static int ids_reserve(struct aidx_ids *p)
{
    if (p->nfree > 0 || p->n < p->cap)
        return 0;
    uint32_t nc = p->cap ? p->cap * 2 : 4096;
    void **nv = realloc(p->v, nc * sizeof(*nv));
    if (nv == NULL)
        return -1;
    p->v = nv;
    p->cap = nc;
    return 0;
}

/* After ids_reserve: the id now naming ptr. */
static uint32_t ids_take(struct aidx_ids *p, void *ptr)
{
    uint32_t id = p->nfree > 0 ? p->free[--p->nfree] : p->n++;

    p->v[id] = ptr;
    return id;
}

static void ids_put(struct aidx_ids *p, uint32_t id)
{
    p->v[id] = NULL;
    if (p->nfree == p->capfree) {
        uint32_t nc = p->capfree ? p->capfree * 2 : 1024;
        uint32_t *nf = realloc(p->free, nc * sizeof(*nf));
        if (nf == NULL)
            return; /* the id is not reused: harmless */
        p->free = nf;
        p->capfree = nc;
    }
    p->free[p->nfree++] = id;
}

static struct aidx_ent *ent(const struct aidx *x, uint32_t id)
{
    return x->ents.v[id];
}

static struct rd_reg *reg_of(const struct aidx *x, uint32_t id)
{
    return x->regs.v[id];
}

static uint64_t key_hash(const char *name, const char *value)
{
    uint64_t h = 14695981039346656037ull;

    for (const char *s = name; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h = (h ^ 0x01) * 1099511628211ull; /* cannot occur in a name */
    for (const char *s = value; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int key_cmp(const struct aidx_ent *e, const char *name, const char *value)
{
    int c = strcmp(e->name, name);

    return c ? c : strcmp(e->value, value);
}

int aidx_init(struct aidx *x)
{
    memset(x, 0, sizeof(*x));
    x->buckets = calloc(AIDX_INITIAL_BUCKETS, sizeof(*x->buckets));
    x->head = calloc(1, sizeof(*x->head) + AIDX_MAX_LEVEL * sizeof(x->head->next[0]));
    if (x->buckets == NULL || x->head == NULL) {
        free(x->buckets);
        free(x->head);
        return -1;
    }
    x->head->level = AIDX_MAX_LEVEL;
    x->head->name = x->head->value = "";
    x->nbuckets = AIDX_INITIAL_BUCKETS;
    x->rng = 0x9e3779b97f4a7c15ull;
    return 0;
}

void aidx_free(struct aidx *x)
{
    struct aidx_ent *e, *next;

    if (x->head == NULL)
        return;
    for (e = x->head->next[0]; e; e = next) {
        next = e->next[0];
        free(e->regs);
        free(e);
    }
    for (size_t i = 0; i < x->npend; i++) {
        free(x->pend[i]->regs);
        free(x->pend[i]);
    }
    free(x->pend);
    free(x->ents.v);
    free(x->ents.free);
    free(x->regs.v);
    free(x->regs.free);
    free(x->head);
    free(x->buckets);
    free(x->touched);
    memset(x, 0, sizeof(*x));
}

static void touch(struct aidx *x, uint64_t h)
{
    if (x->touched_all)
        return;
    if (x->touched == NULL) {
        x->touched = malloc(AIDX_MAX_TOUCHED * sizeof(*x->touched));
        if (x->touched == NULL) {
            x->touched_all = true;
            return;
        }
    }
    if (x->ntouched == AIDX_MAX_TOUCHED) {
        x->touched_all = true;
        return;
    }
    x->touched[x->ntouched++] = h;
    x->touched_sorted = false;
}

void aidx_touch_reg(struct aidx *x, const struct rd_reg *r)
{
    for (uint32_t i = 0; i < r->naim; i++)
        touch(x, ent(x, r->aim[i].eid)->hash);
    rd_order_touch(x, r);
}

void aidx_touch_key(struct aidx *x, const char *name, const char *value)
{
    touch(x, key_hash(name, value));
}

bool aidx_order_key(const char *name)
{
    switch (name[0]) { /* most keys are decided by one byte */
    case 'e':
        return strcmp(name, "ep") == 0;
    case 'b':
        return strcmp(name, "base") == 0;
    case ' ':
        return strcmp(name, LOOKUP_ORIGIN_KEY) == 0;
    default:
        return false;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

bool aidx_touched(struct aidx *x, const char *name, const char *value)
{
    uint64_t h = key_hash(name, value);

    if (x->touched_all)
        return true;
    if (!x->touched_sorted && x->ntouched > 1) {
        qsort(x->touched, x->ntouched, sizeof(*x->touched), cmp_u64);
        x->touched_sorted = true;
    }
    /* a hash collision only costs a needless re-evaluation */
    return x->ntouched > 0 && bsearch(&h, x->touched, x->ntouched, sizeof(h), cmp_u64) != NULL;
}

uint64_t aidx_key_hash(const char *name, const char *value)
{
    return key_hash(name, value);
}

const uint64_t *aidx_touched_list(struct aidx *x, size_t *n)
{
    /* sorted now: aidx_touched would sort it under the caller's walk */
    if (!x->touched_sorted && x->ntouched > 1) {
        qsort(x->touched, x->ntouched, sizeof(*x->touched), cmp_u64);
        x->touched_sorted = true;
    }
    *n = x->ntouched;
    return x->touched;
}

void aidx_touch_reset(struct aidx *x)
{
    x->ntouched = 0;
    x->touched_all = false;
}

const struct aidx_ent *aidx_find(const struct aidx *x, const char *name, const char *value)
{
    uint64_t h = key_hash(name, value);

    for (const struct aidx_ent *e = x->buckets[h & (x->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && key_cmp(e, name, value) == 0)
            return e;
    return NULL;
}

/* Fill upd[] with the last entry before (name, value) on every level. */
static struct aidx_ent *skip_search(const struct aidx *x, const char *name, const char *value,
                                    struct aidx_ent **upd)
{
    struct aidx_ent *p = x->head;

    for (int l = AIDX_MAX_LEVEL - 1; l >= 0; l--) {
        while (p->next[l] && key_cmp(p->next[l], name, value) < 0)
            p = p->next[l];
        if (upd)
            upd[l] = p;
    }
    return p->next[0];
}

const struct aidx_ent *aidx_first_ge(const struct aidx *x, const char *name, const char *value)
{
    return skip_search(x, name, value, NULL);
}

const struct aidx_ent *aidx_ent_next(const struct aidx_ent *e)
{
    return e->next[0];
}

bool aidx_ent_in_range(const struct aidx_ent *e, const char *name, const char *stem, size_t len)
{
    return e && strcmp(e->name, name) == 0 && strncmp(e->value, stem, len) == 0;
}

size_t aidx_ent_count(const struct aidx_ent *e)
{
    return e ? e->n : 0;
}

struct rd_reg *aidx_ent_reg(const struct aidx *x, const struct aidx_ent *e, size_t i)
{
    return reg_of(x, e->regs[i]);
}

static unsigned random_level(struct aidx *x)
{
    unsigned l = 1;

    /* xorshift64; p = 1/4 per level */
    x->rng ^= x->rng << 13;
    x->rng ^= x->rng >> 7;
    x->rng ^= x->rng << 17;
    for (uint64_t r = x->rng; (r & 3) == 0 && l < AIDX_MAX_LEVEL; r >>= 2)
        l++;
    return l;
}

static int grow_buckets(struct aidx *x)
{
    size_t n = x->nbuckets * 2;
    struct aidx_ent **b = calloc(n, sizeof(*b));

    if (b == NULL)
        return -1;
    for (struct aidx_ent *e = x->head->next[0]; e; e = e->next[0]) {
        e->hnext = b[e->hash & (n - 1)];
        b[e->hash & (n - 1)] = e;
    }
    for (size_t i = 0; i < x->npend; i++) {
        struct aidx_ent *e = x->pend[i];
        e->hnext = b[e->hash & (n - 1)];
        b[e->hash & (n - 1)] = e;
    }
    free(x->buckets);
    x->buckets = b;
    x->nbuckets = n;
    return 0;
}

static struct aidx_ent *ent_get(struct aidx *x, const char *name, const char *value)
{
    struct aidx_ent *upd[AIDX_MAX_LEVEL], *e;
    uint64_t h = key_hash(name, value);
    struct aidx_ent **bp = &x->buckets[h & (x->nbuckets - 1)];
    size_t nl, vl;
    unsigned level;
    char *p;

    for (struct aidx_ent **pp = bp; (e = *pp) != NULL; pp = &e->hnext) {
        if (e->hash == h && key_cmp(e, name, value) == 0) {
            /* to the front of its chain: the keys many registrations share
             * (rt, if, ct values) are found without walking past the cold
             * unique ones (ep, base), a cache miss each */
            *pp = e->hnext;
            e->hnext = *bp;
            *bp = e;
            return e;
        }
    }
    nl = strlen(name) + 1;
    vl = strlen(value) + 1;
    if (x->nent + 1 > x->nbuckets && grow_buckets(x) < 0)
        return NULL;
    if (x->bulk && x->npend == x->cappend) {
        size_t nc = x->cappend ? x->cappend * 2 : 4096;
        struct aidx_ent **np = realloc(x->pend, nc * sizeof(*np));
        if (np == NULL)
            return NULL;
        x->pend = np;
        x->cappend = nc;
    }
    if (ids_reserve(&x->ents) < 0)
        return NULL;
    level = random_level(x);
    e = calloc(1, sizeof(*e) + level * sizeof(e->next[0]) + nl + vl);
    if (e == NULL)
        return NULL;
    e->id = ids_take(&x->ents, e);
    p = (char *)&e->next[level];
    memcpy(p, name, nl);
    memcpy(p + nl, value, vl);
    e->name = p;
    e->value = p + nl;
    e->level = (uint8_t)level;
    e->hash = h;
    e->hnext = x->buckets[e->hash & (x->nbuckets - 1)];
    x->buckets[e->hash & (x->nbuckets - 1)] = e;
    x->nent++;
    if (x->bulk) {
        x->pend[x->npend++] = e; /* linked by aidx_bulk_end */
        return e;
    }
    skip_search(x, name, value, upd);
    for (unsigned l = 0; l < level; l++) {
        e->next[l] = upd[l]->next[l];
        upd[l]->next[l] = e;
    }
    return e;
}

void aidx_bulk_begin(struct aidx *x)
{
    x->bulk = true;
}

static int cmp_ent(const void *a, const void *b)
{
    const struct aidx_ent *x = *(const struct aidx_ent *const *)a;
    const struct aidx_ent *y = *(const struct aidx_ent *const *)b;

    return key_cmp(x, y->name, y->value);
}

void aidx_bulk_end(struct aidx *x)
{
    struct aidx_ent *upd[AIDX_MAX_LEVEL];

    if (!x->bulk)
        return;
    x->bulk = false;
    if (x->npend > 1)
        qsort(x->pend, x->npend, sizeof(*x->pend), cmp_ent);
    if (x->head->next[0] == NULL) {
        /* the usual case: append in order, keeping the last entry per level */
        for (unsigned l = 0; l < AIDX_MAX_LEVEL; l++)
            upd[l] = x->head;
        for (size_t i = 0; i < x->npend; i++) {
            struct aidx_ent *e = x->pend[i];
            for (unsigned l = 0; l < e->level; l++) {
                e->next[l] = NULL;
                upd[l]->next[l] = e;
                upd[l] = e;
            }
        }
    } else {
        for (size_t i = 0; i < x->npend; i++) {
            struct aidx_ent *e = x->pend[i];
            skip_search(x, e->name, e->value, upd);
            for (unsigned l = 0; l < e->level; l++) {
                e->next[l] = upd[l]->next[l];
                upd[l]->next[l] = e;
            }
        }
    }
    free(x->pend);
    x->pend = NULL;
    x->npend = x->cappend = 0;
}

static void ent_drop(struct aidx *x, struct aidx_ent *e)
{
    struct aidx_ent *upd[AIDX_MAX_LEVEL];

    aidx_bulk_end(x); /* e may still wait in pend: link everything first */
    for (struct aidx_ent **pp = &x->buckets[e->hash & (x->nbuckets - 1)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == e) {
            *pp = e->hnext;
            break;
        }
    }
    skip_search(x, e->name, e->value, upd);
    for (unsigned l = 0; l < e->level; l++)
        if (upd[l]->next[l] == e)
            upd[l]->next[l] = e->next[l];
    x->nent--;
    ids_put(&x->ents, e->id);
    free(e->regs);
    free(e);
}

struct add_ctx {
    struct aidx *x;
    struct rd_reg *r;
    int err;
};

static void add_key(void *arg, const char *name, const char *value)
{
    struct add_ctx *c = arg;
    struct rd_reg *r = c->r;
    struct aidx_ent *e;

    if (c->err)
        return;
    if (aidx_order_key(name)) {
        /* found through reg_order.c: no entry, but the change counts */
        touch(c->x, key_hash(name, value));
        return;
    }
    e = ent_get(c->x, name, value);
    if (e == NULL) {
        c->err = -1;
        return;
    }
    if (e->stamp == c->x->stamp)
        return; /* the same pair twice in one registration: one posting */
    touch(c->x, e->hash);
    if (r->naim == r->capaim) {
        uint32_t nc = r->capaim ? r->capaim * 2 : 16;
        struct aidx_mem *nm = realloc(r->aim, nc * sizeof(*nm));
        if (nm == NULL) {
            c->err = -1;
            return;
        }
        r->aim = nm;
        r->capaim = nc;
    }
    if (e->n == e->cap) {
        uint32_t nc = e->cap ? e->cap * 2 : 2;
        uint32_t *nr = realloc(e->regs, nc * sizeof(*nr));
        if (nr == NULL) {
            c->err = -1;
            return;
        }
        e->regs = nr;
        e->cap = nc;
    }
    e->stamp = c->x->stamp;
    r->aim[r->naim].eid = e->id;
    r->aim[r->naim].slot = e->n;
    r->naim++;
    e->regs[e->n++] = r->aid1 - 1;
}

static void leave(struct aidx *x, const struct aidx_mem *m, uint32_t n);

int aidx_add(struct aidx *x, struct rd_reg *r)
{
    struct add_ctx c = {.x = x, .r = r};
    bool had_id = r->aid1 != 0; /* aidx_update: kept across the re-index */

    if (!had_id) {
        if (ids_reserve(&x->regs) < 0)
            return -1;
        r->aid1 = ids_take(&x->regs, r) + 1;
    }
    x->stamp++;
    lookup_index_keys(r, add_key, &c);
    if (c.err < 0) {
        leave(x, r->aim, r->naim); /* all or nothing */
        free(r->aim);
        r->aim = NULL;
        r->naim = r->capaim = 0;
        if (!had_id) {
            ids_put(&x->regs, r->aid1 - 1);
            r->aid1 = 0;
        }
        return -1;
    }
    if (r->capaim > r->naim && r->naim > 0) {
        /* exactly sized: doubling leaves ~6 unused slots of 8 B for 10 links */
        struct aidx_mem *nm = realloc(r->aim, r->naim * sizeof(*nm));
        if (nm != NULL) {
            r->aim = nm;
            r->capaim = r->naim;
        }
    }
    return 0;
}

/* Leave every entry of the membership list m (n of them) of one registration. */
static void leave(struct aidx *x, const struct aidx_mem *m, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        struct aidx_ent *e = ent(x, m[i].eid);
        uint32_t slot = m[i].slot;
        uint32_t moved_id = e->regs[--e->n];
        struct rd_reg *moved = reg_of(x, moved_id);

        touch(x, e->hash);
        if (slot != e->n) {
            /* the last posting takes this slot: tell its registration
             * (r itself may be in e twice during aidx_update: match the
             * membership by slot, not by entry alone) */
            e->regs[slot] = moved_id;
            for (uint32_t j = 0; j < moved->naim; j++) {
                if (moved->aim[j].eid == e->id && moved->aim[j].slot == e->n) {
                    moved->aim[j].slot = slot;
                    break;
                }
            }
        }
        if (e->n == 0)
            ent_drop(x, e);
    }
}

void aidx_del(struct aidx *x, struct rd_reg *r)
{
    leave(x, r->aim, r->naim);
    free(r->aim);
    r->aim = NULL;
    r->naim = r->capaim = 0;
    if (r->aid1 != 0) {
        ids_put(&x->regs, r->aid1 - 1);
        r->aid1 = 0;
    }
}

int aidx_update(struct aidx *x, struct rd_reg *r)
{
    struct aidx_mem *old = r->aim;
    uint32_t nold = r->naim, capold = r->capaim;

    r->aim = NULL;
    r->naim = r->capaim = 0;
    if (aidx_add(x, r) < 0) {
        r->aim = old; /* aidx_add undid itself */
        r->naim = nold;
        r->capaim = capold;
        return -1;
    }
    leave(x, old, nold);
    free(old);
    return 0;
}
