/*
 * timerheap.h - an intrusive binary min-heap of timers, shared by the relays
 * (relay-udp, relay-tcp).
 * Owns only the heap array (sized once at start: no allocation per request).
 * Every timer lives inside the object it belongs to (an exchange, ...) and
 * carries its own heap index, so cancel and re-arm are O(log n).
 * Talks to nothing; pure data structure (unit-tested in test_relay_timer.c).
 */
#ifndef RDRELAY_TIMERHEAP_H
#define RDRELAY_TIMERHEAP_H

#include <stdbool.h>
#include <stdint.h>

#define TH_NOT_ARMED UINT32_MAX

struct rr_timer {
    uint64_t due;   /* monotonic ms */
    uint32_t hidx;  /* position in the heap, TH_NOT_ARMED when idle */
    uint8_t kind;   /* what fired (owner's enum) */
    uint32_t owner; /* owner's index (exchange slot, ...) */
};

struct timerheap {
    struct rr_timer **h;
    uint32_t n, cap;
};

/* 0 / -1 (oom). */
int th_init(struct timerheap *th, uint32_t cap);
void th_free(struct timerheap *th);
void th_timer_init(struct rr_timer *t, uint8_t kind, uint32_t owner);
static inline bool th_armed(const struct rr_timer *t)
{
    return t->hidx != TH_NOT_ARMED;
}
/* Arm (or re-arm) t for due. 0 / -1 when the heap is full (cannot happen when
 * cap counts every timer object). */
int th_arm(struct timerheap *th, struct rr_timer *t, uint64_t due);
void th_cancel(struct timerheap *th, struct rr_timer *t);
/* The earliest timer, or NULL. */
struct rr_timer *th_peek(const struct timerheap *th);
/* Remove and return the earliest timer if due <= now, else NULL. */
struct rr_timer *th_pop_due(struct timerheap *th, uint64_t now);

#endif
