/*
 * ratelog.h - rate-limited log lines: a peer that hits a limit a thousand
 * times a second must not turn the log into a second flood. One struct
 * ratelog per kind of event; the caller logs only when ratelog_allow says
 * so, and says how many were held back since the last line.
 * Owns nothing but the two counters inside the caller's struct.
 */
#ifndef RDRELAY_RATELOG_H
#define RDRELAY_RATELOG_H

#include <stdbool.h>
#include <stdint.h>

#define RATELOG_INTERVAL_MS 10000 /* at most one line per kind per 10 s */

struct ratelog {
    uint64_t last_ms;    /* when the last line was allowed (0 = never) */
    uint64_t suppressed; /* events since then that were not logged */
};

/* true: log now, *held = events held back since the last line (then reset). */
static inline bool ratelog_allow(struct ratelog *rl, uint64_t now_ms, uint64_t *held)
{
    if (rl->last_ms != 0 && now_ms < rl->last_ms + RATELOG_INTERVAL_MS) {
        rl->suppressed++;
        return false;
    }
    *held = rl->suppressed;
    rl->suppressed = 0;
    rl->last_ms = now_ms ? now_ms : 1;
    return true;
}

#endif
