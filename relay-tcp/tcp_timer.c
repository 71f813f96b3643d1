/*
 * tcp_timer.c - implementation of tcp_timer.h: an intrusive binary min-heap.
 * Owns the heap array; the timers belong to their owners.
 */
#include "tcp_timer.h"

#include <stdlib.h>

static void rt_th_swap(struct rt_timerheap *th, uint32_t a, uint32_t b)
{
    struct rt_timer *t = th->h[a];
    th->h[a] = th->h[b];
    th->h[b] = t;
    th->h[a]->hidx = a;
    th->h[b]->hidx = b;
}

static void rt_th_up(struct rt_timerheap *th, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (th->h[p]->due <= th->h[i]->due)
            break;
        rt_th_swap(th, p, i);
        i = p;
    }
}

static void rt_th_down(struct rt_timerheap *th, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < th->n && th->h[l]->due < th->h[m]->due)
            m = l;
        if (r < th->n && th->h[r]->due < th->h[m]->due)
            m = r;
        if (m == i)
            return;
        rt_th_swap(th, i, m);
        i = m;
    }
}

int rt_th_init(struct rt_timerheap *th, uint32_t cap)
{
    th->h = calloc(cap ? cap : 1, sizeof(*th->h));
    th->n = 0;
    th->cap = cap;
    return th->h ? 0 : -1;
}

void rt_th_free(struct rt_timerheap *th)
{
    free(th->h);
    th->h = NULL;
    th->n = th->cap = 0;
}

void rt_th_timer_init(struct rt_timer *t, uint8_t kind, uint32_t owner)
{
    t->due = 0;
    t->hidx = RT_TH_NOT_ARMED;
    t->kind = kind;
    t->owner = owner;
}

int rt_th_arm(struct rt_timerheap *th, struct rt_timer *t, uint64_t due)
{
    if (rt_th_armed(t)) {
        uint64_t old = t->due;
        t->due = due;
        if (due < old)
            rt_th_up(th, t->hidx);
        else
            rt_th_down(th, t->hidx);
        return 0;
    }
    if (th->n >= th->cap)
        return -1;
    t->due = due;
    t->hidx = th->n;
    th->h[th->n++] = t;
    rt_th_up(th, t->hidx);
    return 0;
}

void rt_th_cancel(struct rt_timerheap *th, struct rt_timer *t)
{
    if (!rt_th_armed(t))
        return;
    uint32_t i = t->hidx;
    th->n--;
    if (i != th->n) {
        th->h[i] = th->h[th->n];
        th->h[i]->hidx = i;
        /* the moved timer may belong above or below its new place */
        rt_th_up(th, i);
        rt_th_down(th, th->h[i]->hidx);
    }
    t->hidx = RT_TH_NOT_ARMED;
}

struct rt_timer *rt_th_peek(const struct rt_timerheap *th)
{
    return th->n ? th->h[0] : NULL;
}

struct rt_timer *rt_th_pop_due(struct rt_timerheap *th, uint64_t now)
{
    if (th->n == 0 || th->h[0]->due > now)
        return NULL;
    struct rt_timer *t = th->h[0];
    rt_th_cancel(th, t);
    return t;
}
