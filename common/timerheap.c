/*
 * timerheap.c - implementation of timerheap.h: an intrusive binary min-heap.
 * Owns the heap array; the timers belong to their owners.
 */
#include "timerheap.h"

#include <stdlib.h>

static void th_swap(struct timerheap *th, uint32_t a, uint32_t b)
{
    struct rr_timer *t = th->h[a];
    th->h[a] = th->h[b];
    th->h[b] = t;
    th->h[a]->hidx = a;
    th->h[b]->hidx = b;
}

static void th_up(struct timerheap *th, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (th->h[p]->due <= th->h[i]->due)
            break;
        th_swap(th, p, i);
        i = p;
    }
}

static void th_down(struct timerheap *th, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < th->n && th->h[l]->due < th->h[m]->due)
            m = l;
        if (r < th->n && th->h[r]->due < th->h[m]->due)
            m = r;
        if (m == i)
            return;
        th_swap(th, i, m);
        i = m;
    }
}

int th_init(struct timerheap *th, uint32_t cap)
{
    th->h = calloc(cap ? cap : 1, sizeof(*th->h));
    th->n = 0;
    th->cap = cap;
    return th->h ? 0 : -1;
}

void th_free(struct timerheap *th)
{
    free(th->h);
    th->h = NULL;
    th->n = th->cap = 0;
}

void th_timer_init(struct rr_timer *t, uint8_t kind, uint32_t owner)
{
    t->due = 0;
    t->hidx = TH_NOT_ARMED;
    t->kind = kind;
    t->owner = owner;
}

int th_arm(struct timerheap *th, struct rr_timer *t, uint64_t due)
{
    if (th_armed(t)) {
        uint64_t old = t->due;
        t->due = due;
        if (due < old)
            th_up(th, t->hidx);
        else
            th_down(th, t->hidx);
        return 0;
    }
    if (th->n >= th->cap)
        return -1;
    t->due = due;
    t->hidx = th->n;
    th->h[th->n++] = t;
    th_up(th, t->hidx);
    return 0;
}

void th_cancel(struct timerheap *th, struct rr_timer *t)
{
    if (!th_armed(t))
        return;
    uint32_t i = t->hidx;
    th->n--;
    if (i != th->n) {
        th->h[i] = th->h[th->n];
        th->h[i]->hidx = i;
        /* the moved timer may belong above or below its new place */
        th_up(th, i);
        th_down(th, th->h[i]->hidx);
    }
    t->hidx = TH_NOT_ARMED;
}

struct rr_timer *th_peek(const struct timerheap *th)
{
    return th->n ? th->h[0] : NULL;
}

struct rr_timer *th_pop_due(struct timerheap *th, uint64_t now)
{
    if (th->n == 0 || th->h[0]->due > now)
        return NULL;
    struct rr_timer *t = th->h[0];
    th_cancel(th, t);
    return t;
}
