/*
 * frontend.h - rdrelay-frontend's process state and the internal API between
 * its modules (relayd style: one header for the process, one file per role).
 *
 * Owns: struct frontend, the one struct holding every piece of process state
 * (configuration, SQLite store, in-memory registry, observers, pending simple
 * registrations, Block1 reassembly, response cache, relays seen, the outbox
 * of ZeroMQ messages waiting for the current batch to be committed).
 *
 * Modules and what they talk to:
 *   main.c       args, signals, the zmq_poll loop, timers, batch commit+flush
 *   ctl.c        ROUTER dispatcher (flat switch on message type), relays
 *                bookkeeping, CTL_REQUEST "status" / "list", response cache
 *   rd_request.c one CoAP request -> one response (URI routing, the RFC 9176
 *                registration interface, simple registration, proxy names)
 *   rd_params.c  Uri-Query parsing and validation
 *   lookup.c     endpoint / resource lookup, discovery, filters, paging
 *   observe.c    Observe on lookups, RD_NOTIFY
 *   block.c      Block2 slicing, Block1 reassembly, response serialisation
 *   registry.c   in-memory registrations, their hash indexes, expiry heap
 *   attr_index.c the lookup index: (attribute, value) -> registrations
 *   store.c      SQLite (the only file with SQL)
 *   ports.c      port-based hosting: which port is free, assigned, quarantined
 *   port_reg.c   a registration's hosting port through its life (store, log)
 *   routes_pub.c Clone-pattern server side (ROUTE_UPDATE, HEARTBEAT, snapshots)
 *   digest.c     the route-set digest rdrelayctl status compares with the relays
 *   ownership.c  who may re-register, update or delete a live registration
 *   secrets.c    per-name shared secrets (name_secrets file, ?sec=)
 *   limits.c     registry limits: payload, links, total, per source; counters
 *   metrics.c    the Prometheus listener (metrics_listen "frontend") and page
 *   ctl_cmd.c    rdrelayctl's commands (JSON through libjansson), drain
 */
#ifndef RDRELAY_FRONTEND_H
#define RDRELAY_FRONTEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "coap_msg.h"
#include "config.h"
#include "cpeer.h"
#include "linkformat.h"
#include "proto_msg.h" /* includes proto.h */
#include "ratelog.h"
#include "srccount.h"
#include "strbuf.h"

#define RD_BASE_MAX 256
#define RD_MAX_ATTRS 32
#define RD_ATTR_NAME_MAX 64
#define RD_ATTR_VALUE_MAX 256
#define RD_CACHE_SIZE 1024
#define RD_MAX_RELAYS 16
#define RD_MAX_COUNTERS RR_STATUS_MAX /* what a relay reports (relay-udp: 66) */
#define RD_MAX_BLOCK1 64
#define RD_IDENT_MAX 256
#define RD_DEFAULT_BLOCK_SZX 6   /* 1024 bytes */
#define RD_MAX_PENDING 256       /* simple registrations in flight (limits.c) */
#define RD_PENDING_PER_SOURCE 16 /* ... from one IPv4 address / IPv6 /64 */
/* Observe registrations on lookups (per source: max_lookup_observe_per_client) */
#define RD_MAX_OBSERVERS 4096

enum rd_proxy_mode { RD_PROXY_NONE = 0, RD_PROXY_YES = 1, RD_PROXY_ONDEMAND = 2 };

/* Lookup index (attr_index.c): one entry per (name, value) carried by some
 * registration; every registration lists its memberships. */
struct aidx_ent;
struct aidx_ids {
    void **v; /* v[id] */
    uint32_t n, cap;
    uint32_t *free; /* ids to reuse */
    uint32_t nfree, capfree;
};
struct aidx_mem {
    uint32_t eid;  /* the entry: aidx.ents[eid] (8 B a membership, not 16) */
    uint32_t slot; /* position in its posting list */
};
struct aidx {
    struct aidx_ent **buckets;
    size_t nbuckets, nent;
    struct aidx_ent *head; /* skip list head, (name, value) order */
    /* entries by id (memberships name them by a 32-bit id) and indexed
     * registrations by id (posting lists hold 32-bit ids, not pointers);
     * ids of dropped ones are reused */
    struct aidx_ids ents, regs;
    uint64_t rng;
    uint32_t stamp; /* bumped per aidx_add: marks entries already joined */
    /* keys (hashes) joined or left since aidx_touch_reset: which Observe
     * lookups a batch of changes can affect (observe.c) */
    uint64_t *touched;
    size_t ntouched;
    bool touched_all; /* too many to list, or a change no key shows */
    bool touched_sorted;
    /* bulk build (loading at start): new entries wait in pend, out of the
     * skip list, until aidx_bulk_end sorts and links them in one pass */
    bool bulk;
    struct aidx_ent **pend;
    size_t npend, cappend;
};

/* The orders of reg_order.c: registrations by ep, by base. */
enum { RD_ORD_EP, RD_ORD_BASE, RD_NORD };

/* One registration (RFC 9176 registration resource /reg/<id>). */
struct rd_reg {
    int64_t id; /* /reg/<id>, SQLite AUTOINCREMENT: never reused */
    /* ep (as sent), d ("" = no sector), base (the effective base URI) and
     * host (proxy host name, "" when not proxied): never NULL, packed in
     * one exactly-sized allocation (names) and set only by reg_set_names.
     * Fixed arrays cost 576 B per registration; the packed block ~60 B. */
    const char *ep, *d, *base, *host;
    char *names;
    bool base_explicit;     /* given by base=, not derived from the peer */
    uint32_t lt;            /* seconds */
    uint64_t expires_at;    /* unix ms, absolute (survives restarts) */
    struct lf_param *attrs; /* extra registration attributes (et included) */
    unsigned nattrs;
    char *links; /* the registered link-format document, validated */
    size_t links_len;
    /* Links are kept only as the registered text and parsed when a lookup
     * needs them (reg_doc): a parsed copy cost ~1.2 KB per registration of
     * 10 links, the text ~450 B; the index answers most filters without it. */
    uint32_t nlinks;
    uint8_t proxy; /* enum rd_proxy_mode */
    /* where the last registration/update came from, compact (cpeer.h:
     * 72 B, a struct rr_peer is 320 B); cpeer_unpack where one is needed */
    struct rr_cpeer peer;
    uint32_t ka;                /* keepalive s, RR_KA_DEFAULT = relay default */
    uint16_t port;              /* port-based hosting port (ports.c), 0 = none */
    bool expired;               /* lifetime over: out of lookups, route gone */
    bool unreachable;           /* from REACHABILITY (memory only) */
    uint64_t unreachable_since; /* unix ms */
    uint64_t reachable_since;   /* unix ms: path (re)made or reachable again (memory only:
                                   after a restart of rd-frontend, its start) */
    bool warned_proxy_on;       /* "proxy=on is deprecated" logged once */
    /* registry links */
    struct rd_reg *prev, *next; /* id order */
    struct rd_reg *h_id, *h_epd, *h_host;
    struct {
        struct rd_reg *l, *r;
    } ord[RD_NORD];       /* places in the ep and base orders (reg_order.c) */
    struct aidx_mem *aim; /* lookup index memberships */
    uint32_t aid1;        /* its id in the lookup index + 1, 0 = not indexed */
    uint32_t naim, capaim;
    uint32_t hidx;  /* position in the expiry heap */
    uint8_t census; /* the class it is counted under (metrics.c), 0 = not counted */
    uint64_t due;   /* next expiry event: expires_at, or the end of grace */
};

struct registry {
    struct rd_reg *first, *last;
    size_t count;
    size_t nbuckets;
    struct rd_reg **b_id, **b_epd, **b_host;
    struct rd_reg *ord[RD_NORD]; /* treap roots (reg_order.c) */
    struct aidx idx;             /* attribute index for lookups */
    struct rd_reg **heap;        /* expiry heap, earliest due first */
    size_t heap_cap;             /* heap holds count entries */
    uint64_t grace_ms;           /* expiry_grace: when an expired one is removed */
    /* registrations by class (transport, proxied, live; metrics.c), kept
     * as they change so a scrape never walks 100,000 of them */
    size_t census[16];
};

/* Parsed Uri-Query of a registration interface request. */
struct rd_attr {
    char name[RD_ATTR_NAME_MAX];
    char value[RD_ATTR_VALUE_MAX];
    bool has_value;
};

struct rd_params {
    bool has_ep, has_d, has_lt, has_base, has_proxy, has_ka;
    char ep[RR_EP_MAX], d[RR_EP_MAX];
    uint32_t lt;
    char base[RD_BASE_MAX];
    uint8_t proxy; /* enum rd_proxy_mode */
    bool proxy_on; /* "proxy=on" was sent (deprecated spelling) */
    uint32_t ka;
    bool has_sec;                       /* sec=: the name's shared secret (secrets.c); */
    char sec[RD_ATTR_VALUE_MAX];        /* never stored, logged or shown */
    struct rd_attr attrs[RD_MAX_ATTRS]; /* everything else */
    unsigned nattrs;
};

/* A lookup query: filters (ANDed) plus paging. */
struct rd_query {
    struct rd_attr f[RD_MAX_ATTRS];
    unsigned nf;
    bool has_page, has_count;
    uint32_t page, count;
};

/* A response being built by rd_request.c (serialised by block.c). */
struct rd_reply {
    uint8_t code;
    int content_format; /* -1 = none */
    int64_t location;   /* > 0: Location-Path reg/<location> */
    bool has_observe;
    uint32_t observe;
    bool has_block1;
    uint32_t block1;
    uint32_t size1; /* > 0: Size1 option (with 4.13) */
    bool has_max_age;
    uint32_t max_age; /* Max-Age option: when to try again (5.03, 4.29) */
    struct strbuf body;
};

struct rd_cache_ent {
    uint8_t ident[RD_IDENT_MAX];
    size_t idlen;
    uint64_t req_id;
    uint8_t *resp;
    size_t resp_len;
};

/* An observer's place in the observer index (observe.c): one chain node
 * per key of its first exact filter (struct plan has at most 3 sources). */
#define RD_OBS_WATCH 3
#define RD_OBS_BUCKETS 1024
struct rd_obs_node {
    uint64_t h; /* aidx_key_hash of (name, value) */
    struct rd_observer *o;
    struct rd_obs_node *next;
};

struct rd_observer {
    /* observer index: a change that touches none of these keys cannot
     * change the answer; nwatch 0 = any change may (no exact filter) */
    struct rd_obs_node watch[RD_OBS_WATCH];
    uint8_t nwatch;
    struct rd_observer *unext; /* fe->obs_unkeyed chain when nwatch == 0 */
    uint32_t mark;             /* fe->obs_mark: already re-run in this flush */
    struct rr_peer peer;
    uint8_t token[COAP_MSG_MAX_TOKEN];
    uint8_t tkl;
    bool res; /* resource lookup (else endpoint lookup) */
    struct rd_query q;
    unsigned szx; /* block size for the first block */
    uint64_t last_hash;
    struct rd_observer *next;
};

/* A simple registration waiting for the endpoint's /.well-known/core. */
struct rd_pending {
    uint64_t ep_req_id; /* our id in EP_REQUEST */
    uint8_t ident[RD_IDENT_MAX];
    size_t idlen;
    uint64_t req_id; /* the relay's RD_REQUEST id */
    struct rr_peer peer;
    uint8_t token[COAP_MSG_MAX_TOKEN];
    uint8_t tkl;
    struct rd_params params;
    uint64_t deadline; /* monotonic-ish: fe->now based */
    struct rd_pending *next;
};

struct rd_block1 {
    bool used;
    char key[512]; /* relay, remote, conn, path and query */
    uint32_t next_num;
    unsigned szx;
    struct strbuf buf;
    uint64_t last; /* fe->now of the last block */
};

struct rd_relay {
    char name[RR_RELAY_NAME_MAX];
    uint8_t transport;
    uint32_t pid;
    uint8_t version;              /* protocol version from HELLO */
    uint64_t hello_at, status_at; /* unix ms, 0 = never */
    unsigned ncounters;
    char cname[RD_MAX_COUNTERS][48];
    uint64_t cval[RD_MAX_COUNTERS];
    bool draining; /* rdrelayctl drain: no new registrations through it (persisted) */
};

/* A snapshot being sent to one relay, a chunk per loop turn (routes_pub.c). */
struct rd_snap {
    bool active;
    uint8_t ident[RD_IDENT_MAX]; /* the relay's routing id */
    size_t idlen;
    uint64_t snap_id;
    uint64_t seq;         /* fe->seq when it (re)started: SNAPSHOT_END's seq */
    int64_t last_id;      /* registrations up to this id have been sent */
    uint32_t sent;        /* SNAPSHOT_ROUTEs sent: SNAPSHOT_END's count */
    bool routes_done;     /* only SNAPSHOT_END is left */
    uint64_t progress_at; /* fe->now when the relay last took a message */
};

/* Outgoing ZeroMQ messages of the current batch, sent after the commit. */
struct rd_out {
    bool pub; /* PUB socket, else ROUTER to ident */
    uint8_t ident[RD_IDENT_MAX];
    size_t idlen;
    uint16_t type;
    uint8_t *body;
    size_t len;
    struct rd_out *next;
};

/* Port-based hosting (ports.c): one slot per port of the range. */
struct rd_port_slot {
    uint8_t state;      /* free, assigned, quarantined */
    uint64_t until;     /* quarantined until (unix ms) */
    struct rr_addr src; /* assigned: the registrant's address (per-source limit) */
};
struct rd_ports {
    uint16_t lo;
    uint32_t n; /* ports in the range; 0 = port hosting off */
    struct rd_port_slot *slot;
    struct srccount src; /* ports per source (IPv4 address or IPv6 /64), room for n */
    uint16_t *fifo;      /* ring of the ports not assigned, next to give out first */
    uint32_t head, count;
    uint64_t quarantine_ms;
    uint32_t per_source;
};
enum rd_port_why { RD_PORT_OK = 0, RD_PORT_OFF, RD_PORT_EXHAUSTED, RD_PORT_SOURCE_LIMIT };

/* Per-name secrets (secrets.c): the name_secrets file, in file order. */
struct rd_secret {
    char *pattern; /* "ep" or "ep.d", fnmatch(3) wildcards, case-insensitive */
    char *secret;
};
struct rd_secrets {
    struct rd_secret *v;
    size_t n;
};

/* Registry limits (limits.c): what was refused, and why. */
enum rd_limit_kind {
    RD_LIM_PAYLOAD,  /* payload over max_payload: 4.13 + Size1 */
    RD_LIM_LINKS,    /* more than max_links links: 4.13 */
    RD_LIM_TOTAL,    /* max_registrations reached: 5.03 + Max-Age */
    RD_LIM_SOURCE,   /* max_regs_per_source reached: 4.29 + Max-Age */
    RD_LIM_TAKEOVER, /* a live name or path of another source: 4.03 */
    RD_LIM_SECRET,   /* a name with a secret, without it: 4.01 */
    RD_LIM_BLOCK1,   /* every Block1 reassembly slot busy: 5.03 + Max-Age */
    RD_LIM_PENDING,  /* simple registrations in flight, in all or per source: 5.03 */
    RD_LIM_OBSERVE,  /* lookup observers, in all or per source: served, not observed */
    RD_LIM_N
};
struct rd_limits {
    struct srccount src; /* registrations per source (addr_source_key), growing */
    uint64_t hits[RD_LIM_N];
    struct ratelog rl[RD_LIM_N];
};

struct frontend {
    struct rr_config cfg;
    struct rd_ports ports;
    uint64_t now; /* wall clock, unix ms; set by main per batch (tests set it) */
    struct store *store;
    struct registry reg;
    /* routes_pub */
    uint64_t epoch, seq;
    uint64_t pub_eagain, router_eagain, router_unroutable;
    uint64_t next_heartbeat;
    struct rd_snap snaps[RD_MAX_RELAYS];
    uint64_t snaps_merged, snap_hwm_pauses, snaps_aborted;
    /* ctl */
    struct rd_cache_ent cache[RD_CACHE_SIZE];
    unsigned cache_next;
    struct rd_relay relays[RD_MAX_RELAYS];
    unsigned nrelays;
    /* observe */
    struct rd_observer *observers;
    size_t nobservers;
    uint32_t obs_seq;
    /* observers by the keys of their filters, and those without any, so a
     * flush looks only at the observers a batch's touched keys name */
    struct rd_obs_node *obs_index[RD_OBS_BUCKETS];
    struct rd_observer *obs_unkeyed;
    uint32_t obs_mark;
    bool dirty; /* lookups may have changed: re-evaluate observers */
    /* simple registration */
    struct rd_pending *pending;
    uint64_t next_ep_req_id;
    /* block1 */
    struct rd_block1 block1[RD_MAX_BLOCK1];
    /* discovery document (/.well-known/core), parsed once */
    struct lf_doc wkc;
    /* sockets (NULL in unit tests: the outbox is inspected instead) */
    void *zctx, *router, *pub;
    struct rd_out *out_head, *out_tail;
    size_t nout;
    /* set by main.c around a read-only request: its answer is sent at once,
     * not after the batch's COMMIT (it changes nothing that must be durable) */
    bool send_now;
    uint64_t requests, registrations_made;
    struct rd_limits lim;
    struct rd_secrets secrets;
    /* metrics (metrics.c): RD requests by method, answers by code */
    struct fe_metrics *mx;
    uint64_t start_wall_ms;
    uint64_t mx_req[8], mx_resp[256], mx_cache_hits, mx_reach[2];
};

/* --- metrics.c --- */
/* Count r in (+1) or out of (-1) its class; registry.c calls it on every
 * insert, remove, replace and registry_changed. */
void registry_census(struct registry *g, struct rd_reg *r, int sign);
/* Listen on metrics_listen's "frontend" entry if any; a failure is logged
 * and rd-frontend runs without metrics. 0 / -1. */
int fe_metrics_open(struct frontend *fe);
void fe_metrics_close(struct frontend *fe);
/* The listener's fds for this turn's zmq_poll (items, at most max). */
int fe_metrics_pollitems(struct frontend *fe, zmq_pollitem_t *items, int max);
/* After zmq_poll: serve what is ready (the n items from pollitems). */
void fe_metrics_after_poll(struct frontend *fe, const zmq_pollitem_t *items, int n, uint64_t now);

/* --- committer.c: a batch's COMMIT in a thread of its own --- */
struct committer {
    struct store *store;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int efd; /* readable when a commit is done */
    int rc;  /* of the last commit, under mu */
    bool want, stop, on;
};
/* 0, or -1 (no thread: the caller commits in the loop). */
int committer_start(struct committer *c, struct store *s);
/* Run store_commit in the thread; the caller leaves the store alone until done. */
void committer_kick(struct committer *c);
/* *done: the commit finished (then returns its result 0/-1); 0 if not yet. */
int committer_done(struct committer *c, bool *done);
void committer_stop(struct committer *c);
/* pthread_create with every signal blocked in the new thread. 0 / errno. */
int fe_thread_start(pthread_t *th, void *(*fn)(void *), void *arg);

/* --- frontend core (rd_request.c) --- */
int frontend_init(struct frontend *fe, const struct rr_config *cfg, const char *db_path);
void frontend_free(struct frontend *fe);
/* Result of handling one request. */
enum { RD_DONE = 0, RD_PENDING = 1 };
/* Handle one RD_REQUEST body-level request. ident: the relay's routing id
 * (for a later answer to a pending simple registration). Fills out with the
 * serialised response (RD_DONE) or starts a simple registration (RD_PENDING).
 * Returns RD_DONE/RD_PENDING, -1 only if the request could not be parsed at
 * all (out then holds nothing). */
int rd_handle_request(struct frontend *fe, const uint8_t *ident, size_t idlen, uint64_t req_id,
                      const struct rr_peer *peer, const uint8_t *coap, size_t coap_len,
                      struct strbuf *out);
/* EP_RESPONSE for a simple registration. */
void rd_on_ep_response(struct frontend *fe, uint64_t ep_req_id, uint8_t status, const uint8_t *coap,
                       size_t len);
/* Timers: expiry, grace, pending timeouts, Block1 garbage. */
void rd_tick(struct frontend *fe);
/* Remove a registration everywhere (store, route, registry), as DELETE does. */
void rd_delete_reg(struct frontend *fe, struct rd_reg *r, const char *why);
/* REACHABILITY from a relay. */
void rd_on_reachability(struct frontend *fe, const char *host, bool reachable, uint64_t since);
/* Default base URI for a peer: coap://<addr_to_str> (coap+tcp:// etc.). */
void rd_peer_base(const struct rr_peer *peer, char *out, size_t outlen);
/* "2024-01-02T03:04:05Z" */
void rd_rfc3339(uint64_t unix_ms, char *out, size_t outlen);
/* Past its grace period (or NULL): its name and path are free. */
bool rd_reg_gone(const struct frontend *fe, const struct rd_reg *r);
/* "udp:192.0.2.1:5683" for logs. */
void rd_peer_str(const struct rr_peer *p, char *out, size_t len);

/* --- name ownership (ownership.c) --- */
/* May a request from peer re-register (ep, d) over r (NULL: none), or
 * update or delete r? p holds its parameters (sec=). A name with a secret
 * needs it (and then nothing else: the secret is the proof of ownership);
 * otherwise a live r obeys the takeover setting. 0, or -1 with reply
 * filled (4.01 / 4.03), counted and logged. */
int own_authorise(struct frontend *fe, const struct rd_reg *r, const char *ep, const char *d,
                  const struct rr_peer *peer, const struct rd_params *p, struct rd_reply *reply);
/* Whether peer is the owner under takeover mode (enum rr_takeover). */
bool own_same_owner(uint8_t mode, const struct rr_peer *owner, const struct rr_peer *peer);

/* --- per-name secrets (secrets.c) --- */
/* Load the name_secrets file ("" = none). 0, or -1 logged. */
int secrets_load(struct rd_secrets *s, const char *path);
void secrets_free(struct rd_secrets *s);
/* The secret of (ep, d) (first matching line), or NULL. */
const char *secrets_find(const struct rd_secrets *s, const char *ep, const char *d);
/* Compare in time independent of where they differ. */
bool secrets_equal(const char *a, const char *b);

/* --- registry limits (limits.c) --- */
void lim_free(struct rd_limits *l);
/* Count r under its source (delta +1 when it joins the registry, -1 when it
 * leaves or before its peer changes). */
void lim_track(struct frontend *fe, const struct rd_reg *r, int delta);
/* Registrations counted under peer's source. */
uint32_t lim_source_count(const struct frontend *fe, const struct rr_peer *peer);
/* 0, or -1 with 4.13 + Size1 in reply (payload of len bytes). */
int lim_payload(struct frontend *fe, const struct rr_peer *peer, size_t len,
                struct rd_reply *reply);
/* 0, or -1 with 4.13 in reply (a document of nlinks links). */
int lim_links(struct frontend *fe, const struct rr_peer *peer, unsigned nlinks,
              struct rd_reply *reply);
/* A registration from peer that would be new (old NULL) or move old to
 * peer's source: 0, or -1 with 5.03 / 4.29 and Max-Age in reply. */
int lim_new_registration(struct frontend *fe, const struct rd_reg *old, const struct rr_peer *peer,
                         struct rd_reply *reply);
/* A new Block1 body needs a slot; the least recently used one is used
 * (busy) and was last fed at last_ms. 0: take it (free, or idle long
 * enough that its client gave up), or -1 with 5.03 + Max-Age in reply. */
int lim_block1_busy(struct frontend *fe, const struct rr_peer *peer, bool used, uint64_t last_ms,
                    struct rd_reply *reply);
/* A new simple registration from peer (each makes rd-frontend send a GET
 * to the source, so spoofed ones must not pile up): 0, or -1 with 5.03 +
 * Max-Age in reply when RD_MAX_PENDING are in flight, or
 * RD_PENDING_PER_SOURCE from peer's source. */
int lim_pending(struct frontend *fe, const struct rr_peer *peer, struct rd_reply *reply);
/* A new lookup observer from peer: true if it may be added (fewer than
 * RD_MAX_OBSERVERS in all and max_lookup_observe_per_client from its source);
 * else counted and logged, and the lookup is answered without Observe. */
bool lim_observer(struct frontend *fe, const struct rr_peer *peer);
/* Count a refusal of this kind and log it (at most one line per kind per
 * RATELOG_INTERVAL_MS, saying how many were held back). */
void lim_hit(struct frontend *fe, enum rd_limit_kind k, const struct rr_peer *peer, const char *fmt,
             ...) __attribute__((format(printf, 4, 5)));

/* --- reply helpers (block.c) --- */
void rd_reply_init(struct rd_reply *r);
void rd_reply_free(struct rd_reply *r);
/* Error reply: code + text/plain diagnostic. */
void rd_reply_error(struct rd_reply *r, uint8_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Serialise r as the answer to req (token copied), applying Block2 slicing
 * according to req's Block2 option (or the default 1024 bytes). A Block2
 * request past the end turns the answer into 4.02. 0 / -1. */
int rd_reply_serialize(struct rd_reply *r, const struct coap_msg *req, unsigned default_szx,
                       struct strbuf *out);
/* Block1 reassembly for a POST. Returns 1 when the request is complete
 * (*payload and *len point at the whole body, valid until the next call), 0 when
 * reply holds a 2.31 Continue or an error to send as is. */
int rd_block1_feed(struct frontend *fe, const struct rr_peer *peer, const struct coap_msg *req,
                   struct rd_reply *reply, const uint8_t **payload, size_t *len);
void rd_block1_gc(struct frontend *fe);

/* --- parameters (rd_params.c) --- */
/* Parse a registration interface query. 0, or -1 with err (4.00 diagnostic). */
int rd_params_parse(const struct coap_msg *req, struct rd_params *p, char *err, size_t errlen);
/* Validate ep/d as names (length, forbidden characters). 0 / -1 with err. */
int rd_params_check_name(const char *what, const char *v, size_t len, char *err, size_t errlen);
/* RFC 1123 label: letters, digits, dashes, 1..63, no dash at either end. */
bool rd_is_dns_label(const char *s);
/* Parse a lookup query (filters + page/count). 0 / -1 with err. */
int rd_query_parse(const struct coap_msg *req, struct rd_query *q, char *err, size_t errlen);

/* --- lookups (lookup.c) --- */
/* /.well-known/core exactly as served (no commas inside a link). */
#define LOOKUP_WKC                                                                                 \
    "</rd>;rt=core.rd;ct=40,</rd-lookup/ep>;rt=core.rd-lookup-ep;ct=40;obs,"                       \
    "</rd-lookup/res>;rt=core.rd-lookup-res;ct=40;obs"
/* Endpoint (res=false) or resource lookup into out (link-format). */
void lookup_run(struct frontend *fe, bool res, const struct rd_query *q, struct strbuf *out);
/* The same answer by walking every registration (no index, no early stop):
 * the reference the index is tested against. */
void lookup_run_scan(struct frontend *fe, bool res, const struct rd_query *q, struct strbuf *out);
/* /.well-known/core, filtered. */
void lookup_discovery(struct frontend *fe, const struct rd_query *q, struct strbuf *out);
/* Filter value match: exact, or prefix with a trailing '*'. */
bool lookup_value_match(const char *pattern, const char *value);
/* Resolve a URI reference against a base (RFC 3986 §5.2, enough for Limited
 * Link Format). */
void lookup_resolve(const char *base, const char *ref, char *out, size_t outlen);
/* Whether the registration is visible in lookups now. */
bool lookup_reg_live(const struct frontend *fe, const struct rd_reg *r);
/* Whether the answer to q can differ after the changes touched since the
 * last aidx_touch_reset: false only when some filter's candidates all come
 * from exact keys that none of the changes touched. */
bool lookup_may_change(struct frontend *fe, bool res, const struct rd_query *q);
/* The keys (aidx_key_hash) of q's first filter whose candidates all come
 * from exact keys: q's answer can change only in a batch touching one of
 * them. Their number (at most max), 0 when q has no such filter. */
unsigned lookup_watch_keys(bool res, const struct rd_query *q, uint64_t *h, unsigned max);
/* Every (name, value) under which a lookup filter may find r (a superset of
 * what the matcher accepts; the lookup index is built from it). The name
 * LOOKUP_ORIGIN_KEY (no attribute can be called that) carries the origin
 * every relative href and anchor of r resolves under. */
#define LOOKUP_ORIGIN_KEY " origin"
/* Length of "scheme://authority" at the start of uri (0 if it has none). */
size_t lookup_origin_len(const char *uri);
void lookup_index_keys(const struct rd_reg *r,
                       void (*fn)(void *arg, const char *name, const char *value), void *arg);

/* --- observe (observe.c) --- */
/* GET on a lookup with an Observe option: register/deregister. Returns true
 * when the reply should carry an Observe option (registered). */
bool observe_request(struct frontend *fe, const struct rr_peer *peer, const struct coap_msg *req,
                     bool res, const struct rd_query *q, const struct strbuf *rep, uint32_t *seq);
void observe_gone(struct frontend *fe, const struct rr_peer *peer, const uint8_t *token,
                  size_t tkl);
/* Re-evaluate every observer if fe->dirty; send RD_NOTIFY where it changed. */
void observe_flush(struct frontend *fe);
void observe_free_all(struct frontend *fe);
uint64_t observe_hash(const void *p, size_t n);

/* --- registry (registry.c) --- */
int registry_init(struct registry *g);
void registry_free(struct registry *g);
/* Takes ownership; indexes by id, (ep,d) and host. 0 / -1 (oom). */
int registry_insert(struct registry *g, struct rd_reg *r);
/* Unlink (not freed). */
void registry_remove(struct registry *g, struct rd_reg *r);
/* nr takes old's place (same id and list position); old is unlinked, not
 * freed. 0 / -1 (oom: nothing changed). */
int registry_replace(struct registry *g, struct rd_reg *old, struct rd_reg *nr);
/* After changing anything of an indexed registration in place (attributes,
 * links, base, lifetime, expired): lookup index and expiry heap follow.
 * 0 / -1 (oom). */
int registry_changed(struct registry *g, struct rd_reg *r);
/* The registration whose expiry event (rd_reg.due) comes first, or NULL. */
struct rd_reg *registry_next_due(const struct registry *g);
/* Call before changing ep/d/base/host of an indexed registration, and
 * registry_reindex after. */
void registry_unindex(struct registry *g, struct rd_reg *r);
void registry_reindex(struct registry *g, struct rd_reg *r);
struct rd_reg *registry_by_id(const struct registry *g, int64_t id);
struct rd_reg *registry_by_epd(const struct registry *g, const char *ep, const char *d);
struct rd_reg *registry_by_host(const struct registry *g, const char *host);
/* The first registration (by id) with this ep, any d; NULL if none. */
struct rd_reg *registry_by_ep(const struct registry *g, const char *ep);

/* --- ep and base orders (reg_order.c) --- */
/* registry.c puts every registration in both orders (insert, replace,
 * registry_reindex) and takes it out (remove, registry_unindex) before its
 * ep or base changes; both also mark its ep, base and origin keys touched. */
void rd_order_add(struct registry *g, struct rd_reg *r);
void rd_order_del(struct registry *g, struct rd_reg *r);
/* Call fn, in (key, id) order, for every registration whose key in order k
 * equals stem (exact) or starts with its first len bytes; fn returns
 * non-zero to stop (then so does this, 1). */
int rd_order_walk(const struct registry *g, int k, const char *stem, size_t len, bool exact,
                  int (*fn)(void *arg, const struct rd_reg *r), void *arg);
/* Mark r's ep, base and origin keys touched (aidx_touch_key). */
void rd_order_touch(struct aidx *x, const struct rd_reg *r);
/* The first registration whose key in order k is value, or NULL. */
const struct rd_reg *rd_order_first(const struct registry *g, int k, const char *value);
struct rd_reg *reg_new(void);
void reg_free(struct rd_reg *r);
/* Replace the links (copies text, parses). 0 / -1 with err. */
int reg_set_links(struct rd_reg *r, const char *text, size_t len, char *err, size_t errlen);
/* Set any of ep, d, base and host (NULL keeps one; the values may point
 * into r's own names). Cut to RR_EP_MAX, RD_BASE_MAX, RR_HOST_MAX - 1 bytes
 * as the fixed arrays did. 0 / -1 (out of memory: r unchanged). */
int reg_set_names(struct rd_reg *r, const char *ep, const char *d, const char *base,
                  const char *host);
/* Parse r's stored links into doc (the caller lf_frees it). The text was
 * validated when stored, so -1 means out of memory (doc is then empty). */
int reg_doc(const struct rd_reg *r, struct lf_doc *doc);
/* Extra attributes may repeat (et=a;et=b): reg_add_attr appends one value,
 * reg_set_attr replaces every value of the name by one, reg_apply_attrs
 * replaces the values of each name given by all the values given (a
 * registration's or an update's query). 0 / -1 (oom). */
int reg_add_attr(struct rd_reg *r, const char *name, const char *value, bool has_value);
int reg_set_attr(struct rd_reg *r, const char *name, const char *value, bool has_value);
int reg_apply_attrs(struct rd_reg *r, const struct rd_attr *a, unsigned n);
void reg_clear_attrs(struct rd_reg *r);
/* Serialise/parse the extra attributes as link-format parameters ";a=b;c". */
void reg_attrs_to_text(const struct rd_reg *r, struct strbuf *sb);
int reg_attrs_from_text(struct rd_reg *r, const char *text);

/* --- lookup index (attr_index.c) --- */
int aidx_init(struct aidx *x);
void aidx_free(struct aidx *x);
/* Index every (name, value) of r (lookup_index_keys). 0 / -1 (oom; then r
 * is not indexed at all). */
int aidx_add(struct aidx *x, struct rd_reg *r);
void aidx_del(struct aidx *x, struct rd_reg *r);
/* Record every key of r as touched (a change the keys do not show). */
void aidx_touch_reg(struct aidx *x, const struct rd_reg *r);
/* Record one key as touched (reg_order.c: the keys not kept as entries). */
void aidx_touch_key(struct aidx *x, const char *name, const char *value);
/* Keys lookup_index_keys lists that reg_order.c finds instead of an entry:
 * ep, base and LOOKUP_ORIGIN_KEY (the origin is a prefix of the base). */
bool aidx_order_key(const char *name);
/* Whether (name, value) was touched since the last reset (or everything was). */
bool aidx_touched(struct aidx *x, const char *name, const char *value);
void aidx_touch_reset(struct aidx *x);
/* The key hash aidx_touched compares. */
uint64_t aidx_key_hash(const char *name, const char *value);
/* The touched hashes (sorted, may repeat), n of them; meaningless when
 * touched_all. */
const uint64_t *aidx_touched_list(struct aidx *x, size_t *n);
/* Re-index r after a change: the new keys join before the old ones leave,
 * so an entry r keeps is never freed and made again. 0 / -1 (oom: r keeps
 * its old keys). */
int aidx_update(struct aidx *x, struct rd_reg *r);
/* Loading many registrations: defer the skip list (prefix and presence
 * filters) to aidx_bulk_end, one sort and one linking pass instead of an
 * ordered insert per new key. Exact finds work in between, range walks
 * (aidx_first_ge) only after the end; any removal ends the bulk build. */
void aidx_bulk_begin(struct aidx *x);
void aidx_bulk_end(struct aidx *x);
const struct aidx_ent *aidx_find(const struct aidx *x, const char *name, const char *value);
/* Prefix ranges: the first entry >= (name, value), the next one, and
 * whether an entry is (name, stem...). */
const struct aidx_ent *aidx_first_ge(const struct aidx *x, const char *name, const char *value);
const struct aidx_ent *aidx_ent_next(const struct aidx_ent *e);
bool aidx_ent_in_range(const struct aidx_ent *e, const char *name, const char *stem, size_t len);
size_t aidx_ent_count(const struct aidx_ent *e); /* 0 for NULL */
/* The i-th registration of e's posting list (i < aidx_ent_count). */
struct rd_reg *aidx_ent_reg(const struct aidx *x, const struct aidx_ent *e, size_t i);

/* --- port-based hosting (ports.c) --- */
/* Range from cfg (port_lo..port_hi; none = off), everything free. 0 / -1. */
int ports_init(struct rd_ports *p, const struct rr_config *cfg);
void ports_free(struct rd_ports *p);
bool ports_on(const struct rd_ports *p);
/* Loading: a registration's port (-1: outside the range or taken twice,
 * the caller drops it from the registration), a quarantine row, then
 * ports_load_end to order what is not assigned. */
int ports_load_assigned(struct rd_ports *p, uint16_t port, const struct rr_addr *src);
void ports_load_quarantined(struct rd_ports *p, uint16_t port, uint64_t until);
void ports_load_end(struct rd_ports *p);
/* A port for a registration from src, or 0 and why not. */
uint16_t ports_assign(struct rd_ports *p, const struct rr_addr *src, uint64_t now,
                      enum rd_port_why *why);
/* The registration gave up port: quarantined until the time returned (to
 * persist), 0 if it was not assigned. */
uint64_t ports_release(struct rd_ports *p, uint16_t port, uint64_t now);
unsigned ports_held_by(const struct rd_ports *p, const struct rr_addr *src);
bool ports_same_source(const struct rr_addr *a, const struct rr_addr *b);
const char *ports_why_text(enum rd_port_why why);

/* --- a registration's hosting port (port_reg.c) --- */
/* After r's host changed or r was made: a proxied one without a port gets
 * one (if any is free; else logged), one no longer proxied gives it back. */
void port_reg_sync(struct frontend *fe, struct rd_reg *r);
/* r ends (or stops being proxied): its port goes to quarantine. */
void port_reg_release(struct frontend *fe, struct rd_reg *r);
/* Loading r: take its stored port; true if it had to be dropped (the row
 * is rewritten). Then port_reg_load_end (quarantine rows, order, and ports
 * for proxied registrations that have none, oldest first). */
bool port_reg_load(struct frontend *fe, struct rd_reg *r);
int port_reg_load_end(struct frontend *fe);

/* --- store (store.c) --- */
struct store;
int store_open(const char *path, struct store **out);
void store_close(struct store *s);
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);
bool store_in_tx(const struct store *s);
/* The open transaction has written something (its COMMIT will fsync). */
bool store_tx_writes(const struct store *s);
/* Insert a new row; sets r->id. 0 / -1. */
int store_insert(struct store *s, struct rd_reg *r);
/* Rewrite every column of row r->id. 0 / -1. */
int store_update(struct store *s, const struct rd_reg *r);
int store_delete(struct store *s, int64_t id);
/* Load every row; fn takes ownership of each registration. 0 / -1. */
int store_load(struct store *s, int (*fn)(struct rd_reg *r, void *arg), void *arg);
/* Hosting port quarantine rows: set (insert or replace), clear, load. 0 / -1. */
int store_port_quarantine(struct store *s, uint16_t port, uint64_t until);
int store_port_clear(struct store *s, uint16_t port);
int store_load_quarantine(struct store *s, void (*fn)(uint16_t port, uint64_t until, void *arg),
                          void *arg);
/* Drained relays (rdrelayctl drain): set (on) or clear one, load all. 0 / -1. */
int store_drain(struct store *s, const char *relay, bool on);
int store_load_drains(struct store *s, void (*fn)(const char *relay, void *arg), void *arg);

/* --- routes (routes_pub.c) --- */
void routes_init(struct frontend *fe);
/* Publish the registration's route (or its removal). */
void routes_publish(struct frontend *fe, const struct rd_reg *r, bool deleted);
void routes_heartbeat(struct frontend *fe);
/* SNAPSHOT_REQ: start (or restart: one per relay at a time) a snapshot.
 * Without sockets (unit tests) it goes into the outbox at once. */
void routes_snapshot(struct frontend *fe, const uint8_t *ident, size_t idlen, uint64_t snap_id);
/* Send the next chunk of every running snapshot (after the commit). Returns
 * ms until it wants to run again (0: more to send, a few ms: a relay's
 * queue is full), -1 when no snapshot runs. */
int routes_snapshot_pump(struct frontend *fe);
/* Fill a route from a registration. */
void routes_from_reg(const struct rd_reg *r, struct rr_route *rt);
/* digest.c: the route-set digest of what we publish (route_digest.h). */
uint64_t fe_route_digest(const struct frontend *fe);

/* --- ctl and outbox (ctl.c) --- */
/* One message from the ROUTER. */
void ctl_dispatch(struct frontend *fe, const uint8_t *ident, size_t idlen, uint16_t type,
                  const uint8_t *body, size_t len);
/* Queue a message (sent by ctl_flush after the batch is committed). */
void fe_queue(struct frontend *fe, bool pub, const uint8_t *ident, size_t idlen, uint16_t type,
              const uint8_t *body, size_t len);
/* Send (or, without sockets, drop) every queued message. */
void ctl_flush(struct frontend *fe);
/* The message only reads (RD_REQUEST with GET or FETCH, CTL_REQUEST): it can
 * be answered while a COMMIT is in flight, and need not wait for one. */
bool ctl_read_only(uint16_t type, const uint8_t *body, size_t len);
void fe_outbox_clear(struct frontend *fe);
/* Response cache. */
const struct rd_cache_ent *ctl_cache_find(const struct frontend *fe, const uint8_t *ident,
                                          size_t idlen, uint64_t req_id);
void ctl_cache_put(struct frontend *fe, const uint8_t *ident, size_t idlen, uint64_t req_id,
                   const uint8_t *resp, size_t len);
void ctl_cache_free(struct frontend *fe);
/* Send RD_RESPONSE (cached). */
void ctl_send_response(struct frontend *fe, const uint8_t *ident, size_t idlen, uint64_t req_id,
                       const uint8_t *resp, size_t len);
/* --- ctl_cmd.c: rdrelayctl's commands --- */
typedef struct json_t json_t;
/* "status" as a JSON object (the caller json_decref's it). */
json_t *ctl_status_json(struct frontend *fe);
/* limits.c: "sources" and "limits" (hits by kind) into status object o */
void lim_status_json(const struct frontend *fe, json_t *o);
/* Run CTL_REQUEST command with argument and queue the CTL_RESPONSE. */
void ctl_command(struct frontend *fe, const uint8_t *ident, size_t idlen, const char *cmd,
                 const char *arg);
/* The command changes the store (its answer must wait for the COMMIT). */
bool ctl_command_writes(const char *cmd);
/* The relays table entry for name, made when new (NULL: the table is full). */
struct rd_relay *ctl_relay_get(struct frontend *fe, const char *name);
/* At start: mark the relays drained in the store as draining. 0 / -1. */
int ctl_drains_load(struct frontend *fe);
/* A new registration through a drained relay: true and the 5.03 in out. */
bool ctl_drain_refuses(struct frontend *fe, const uint8_t *ident, size_t idlen, const uint8_t *coap,
                       size_t len, struct strbuf *out);

#endif
