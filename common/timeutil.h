/*
 * timeutil.h - clocks. Monotonic milliseconds for timers, wall-clock
 * milliseconds for anything stored or shown (expiry is absolute, BRIEF).
 */
#ifndef RDRELAY_TIMEUTIL_H
#define RDRELAY_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline uint64_t now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
