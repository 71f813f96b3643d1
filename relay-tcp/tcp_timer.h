/*
 * tcp_timer.h - an intrusive binary min-heap of timers for relay-tcp (the
 * same design as relay-udp/timerheap.h, under rt_ names so both relays'
 * libraries can link into one test binary; a candidate for common/).
 * Owns only the heap array (sized once at start: no allocation per request).
 * Every timer lives inside the object it belongs to (an exchange, ...) and
 * carries its own heap index, so cancel and re-arm are O(log n).
 * Talks to nothing; pure data structure (relay-udp's test_relay_timer.c covers the
 * algorithm).
 */
#ifndef RDRELAY_RT_TIMER_H
#define RDRELAY_RT_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#define RT_TH_NOT_ARMED UINT32_MAX

struct rt_timer {
    uint64_t due;   /* monotonic ms */
    uint32_t hidx;  /* position in the heap, RT_TH_NOT_ARMED when idle */
    uint8_t kind;   /* what fired (owner's enum) */
    uint32_t owner; /* owner's index (exchange slot, ...) */
};

struct rt_timerheap {
    struct rt_timer **h;
    uint32_t n, cap;
};

/* 0 / -1 (oom). */
int rt_th_init(struct rt_timerheap *th, uint32_t cap);
void rt_th_free(struct rt_timerheap *th);
void rt_th_timer_init(struct rt_timer *t, uint8_t kind, uint32_t owner);
static inline bool rt_th_armed(const struct rt_timer *t)
{
    return t->hidx != RT_TH_NOT_ARMED;
}
/* Arm (or re-arm) t for due. 0 / -1 when the heap is full (cannot happen when
 * cap counts every timer object). */
int rt_th_arm(struct rt_timerheap *th, struct rt_timer *t, uint64_t due);
void rt_th_cancel(struct rt_timerheap *th, struct rt_timer *t);
/* The earliest timer, or NULL. */
struct rt_timer *rt_th_peek(const struct rt_timerheap *th);
/* Remove and return the earliest timer if due <= now, else NULL. */
struct rt_timer *rt_th_pop_due(struct rt_timerheap *th, uint64_t now);

#endif
