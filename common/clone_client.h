/*
 * clone_client.h - the relay side of the route-distribution protocol
 * (ZeroMQ guide "Clone", hardened for independent restarts, BRIEF §3.2).
 * Owns: the SUB socket, the live route table and the one being built, and
 * the sync state machine:
 *
 *   RESYNC --(send SNAPSHOT_REQ)--> SNAPSHOTTING --(SNAPSHOT_END)--> LIVE
 *      ^                                 |  buffers ROUTE_UPDATEs         |
 *      +---- gap in seq, new epoch, heartbeat silence, snapshot timeout --+
 *
 * The relay subscribes first, then asks for a snapshot over its DEALER
 * socket (which the relay owns and passes in); updates that arrive while
 * snapshotting are queued and applied after SNAPSHOT_END if their seq is
 * newer. Resync retries forever with exponential backoff (100 ms .. 5 s).
 * The old table keeps serving until the new one is complete.
 * Heartbeat silence is 3 x the interval announced in the last HEARTBEAT
 * (10 s until one has been seen). A SNAPSHOT_END whose count does not match
 * the number of SNAPSHOT_ROUTEs received (one was lost to a high-water mark)
 * resyncs. The snapshot timeout is about progress, not size: 2 s without a
 * SNAPSHOT_ROUTE (each one extends it), and for the first one 2 s plus
 * 1 ms per 50 routes of the previous snapshot (rd-frontend paces a big
 * table across its loop turns).
 * The first clone_client_tick() after clone_client_new() sends the first
 * SNAPSHOT_REQ; every completed sync logs at info
 * "routes synced: epoch=%016llx seq=%llu count=%zu".
 */
#ifndef RDRELAY_CLONE_CLIENT_H
#define RDRELAY_CLONE_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"
#include "route_table.h"

struct clone_client;

/* Called after every change to the live table (swap or single update);
 * old is the previous route for that host (NULL if new) and new NULL on
 * delete; on a whole-table swap both are NULL and swapped is true. */
typedef void (*clone_change_fn)(void *arg, const struct rr_route *old_rt,
                                const struct rr_route *new_rt, bool swapped);

/* zctx: the ZeroMQ context; pub_endpoint: where rd-frontend publishes;
 * dealer: the relay's connected DEALER to ctl_endpoint (used to send
 * SNAPSHOT_REQ). Returns NULL on failure (logged). */
struct clone_client *clone_client_new(void *zctx, const char *pub_endpoint, void *dealer,
                                      clone_change_fn on_change, void *arg);
void clone_client_free(struct clone_client *c);
/* The SUB socket, for the relay's poll set. */
void *clone_client_sub_socket(struct clone_client *c);
/* Drain and apply everything readable on the SUB socket. */
void clone_client_on_sub_readable(struct clone_client *c, uint64_t now_ms);
/* Feed SNAPSHOT_ROUTE / SNAPSHOT_END bodies the relay received on its DEALER. */
void clone_client_on_snapshot_msg(struct clone_client *c, uint16_t type, const uint8_t *body,
                                  size_t len, uint64_t now_ms);
/* Timers: heartbeat silence, snapshot timeout, resync backoff. Call at least
 * every 100 ms; returns ms until it wants to be called again. */
int clone_client_tick(struct clone_client *c, uint64_t now_ms);

const struct route_table *clone_client_routes(const struct clone_client *c);
/* True while LIVE (in step with rd-frontend); false while (re)syncing, when
 * clone_client_routes() still returns the previous table. */
bool clone_client_synced(const struct clone_client *c);
uint64_t clone_client_epoch(const struct clone_client *c);
uint64_t clone_client_seq(const struct clone_client *c);
/* Counters for RELAY_STATUS: resyncs, gaps seen, updates applied. */
uint64_t clone_client_resyncs(const struct clone_client *c);
uint64_t clone_client_gaps(const struct clone_client *c);
uint64_t clone_client_updates(const struct clone_client *c);
/* Resyncs by reason (metrics, rdrelayctl status). */
enum clone_resync_reason {
    CLONE_RS_GAP = 0,  /* gap in the sequence, or a heartbeat ahead of it */
    CLONE_RS_EPOCH,    /* a new rd-frontend epoch */
    CLONE_RS_SILENCE,  /* heartbeat silence */
    CLONE_RS_SNAPSHOT, /* snapshot timed out, incomplete, or not sent */
    CLONE_RS_OTHER,    /* out of memory */
    CLONE_RS_N
};
/* "gap", "epoch", "silence", "snapshot", "other"; "none" for CLONE_RS_N. */
const char *clone_resync_reason_name(unsigned reason);
uint64_t clone_client_resyncs_by(const struct clone_client *c, unsigned reason);
/* Unix ms of the last resync (0: none yet), its reason (CLONE_RS_N when
 * none) and its log text. */
uint64_t clone_client_last_resync(const struct clone_client *c, unsigned *reason, const char **why);

#endif
