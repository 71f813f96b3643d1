/*
 * limits.c - the registry's limits (issue 19): registration payload size
 * (max_payload), links per registration (max_links), registrations in all
 * (max_registrations) and per source (max_regs_per_source: one IPv4
 * address or one IPv6 /64, addr_source_key). 0 switches a limit off.
 * Owns: struct rd_limits (registrations per source in the shared count
 * table common/srccount.h, growing with the sources; refusal counters; the
 * rate limit of the log lines). Talks to the log and, through the status
 * JSON, to rdrelayctl.
 * A limit only ever refuses the new request: nothing already registered is
 * evicted, replaced or shortened to make room, so no user's registrations
 * can push out another's. Responses (docs/security.md):
 *   payload, links   4.13 (payload: with Size1 = max_payload)
 *   all full         5.03 with Max-Age (room comes back as others expire)
 *   source full      4.29 with Max-Age (RFC 8516; the source's own
 *                    registrations must expire or be deleted first)
 *   Block1 slots     5.03 with Max-Age when all RD_MAX_BLOCK1 reassembly
 *                    slots hold live transfers (an idle one is reused)
 *   simple pending   5.03 with Max-Age (RD_MAX_PENDING, RD_PENDING_PER_SOURCE)
 *   lookup observers the lookup is answered, without Observe (RFC 7641 §4.1)
 *                    (RD_MAX_OBSERVERS, max_lookup_observe_per_client)
 * Re-registering an existing (ep, d) from the same source, and updates,
 * add nothing and are never refused by the count limits.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "addr.h"
#include "coap_msg.h"
#include "frontend.h"
#include "log.h"

#define LIM_RETRY_S 60      /* Max-Age of 5.03 / 4.29: try again in a minute */
#define LIM_MIN_SOURCES 128 /* the count table's first size; it doubles as sources come */
/* A Block1 body fed within this long is someone's live transfer (a client
 * retransmits for up to 93 s, but sends its next block within a few RTTs
 * of the 2.31): never reused for another client's body. */
#define LIM_BLOCK1_LIVE_MS 10000

static const char *const lim_names[RD_LIM_N] = {
    [RD_LIM_PAYLOAD] = "payload_too_large", [RD_LIM_LINKS] = "too_many_links",
    [RD_LIM_TOTAL] = "registrations_full",  [RD_LIM_SOURCE] = "source_full",
    [RD_LIM_TAKEOVER] = "takeover_refused", [RD_LIM_SECRET] = "secret_refused",
    [RD_LIM_BLOCK1] = "block1_busy",        [RD_LIM_PENDING] = "simple_pending_full",
    [RD_LIM_OBSERVE] = "observers_full",
};

void lim_free(struct rd_limits *l)
{
    srccount_free(&l->src);
    memset(l, 0, sizeof(*l));
}

void lim_track(struct frontend *fe, const struct rd_reg *r, int delta)
{
    struct rd_limits *l = &fe->lim;

    struct rr_addr remote = cpeer_addr(&r->peer.remote);

    if (delta < 0) {
        srccount_dec_addr(&l->src, &remote);
        return;
    }
    /* the table is made with the first registration and doubles as
     * sources come (at most one a registration) */
    if ((l->src.t == NULL && srccount_init(&l->src, LIM_MIN_SOURCES, UINT32_MAX) < 0) ||
        srccount_inc_addr(&l->src, &remote, 0) < 0)
        log_warnx("limits: no room for another source (out of memory); its registrations are "
                  "not counted per source");
}

uint32_t lim_source_count(const struct frontend *fe, const struct rr_peer *peer)
{
    return srccount_get_addr(&fe->lim.src, &peer->remote);
}

void lim_hit(struct frontend *fe, enum rd_limit_kind k, const struct rr_peer *peer, const char *fmt,
             ...)
{
    char ps[RR_ADDRSTRLEN + RR_RELAY_NAME_MAX + 2], msg[256];
    uint64_t held;
    va_list ap;

    fe->lim.hits[k]++;
    if (!ratelog_allow(&fe->lim.rl[k], fe->now, &held))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    rd_peer_str(peer, ps, sizeof(ps));
    log_warnx("limit %s: %s from %s (%" PRIu64 " more not logged in the last %us)", lim_names[k],
              msg, ps, held, RATELOG_INTERVAL_MS / 1000);
}

int lim_payload(struct frontend *fe, const struct rr_peer *peer, size_t len, struct rd_reply *reply)
{
    if (len <= fe->cfg.max_payload)
        return 0;
    rd_reply_error(reply, COAP_TOO_LARGE, "payload larger than %u bytes", fe->cfg.max_payload);
    reply->size1 = fe->cfg.max_payload;
    lim_hit(fe, RD_LIM_PAYLOAD, peer, "%zu bytes", len);
    return -1;
}

int lim_links(struct frontend *fe, const struct rr_peer *peer, unsigned nlinks,
              struct rd_reply *reply)
{
    if (fe->cfg.max_links == 0 || nlinks <= fe->cfg.max_links)
        return 0;
    rd_reply_error(reply, COAP_TOO_LARGE, "more than %u links", fe->cfg.max_links);
    lim_hit(fe, RD_LIM_LINKS, peer, "%u links", nlinks);
    return -1;
}

int lim_new_registration(struct frontend *fe, const struct rd_reg *old, const struct rr_peer *peer,
                         struct rd_reply *reply)
{
    if (old == NULL && fe->cfg.max_registrations != 0 &&
        fe->reg.count >= fe->cfg.max_registrations) {
        rd_reply_error(reply, COAP_SERVICE_UNAVAILABLE, "registry full (%u registrations)",
                       fe->cfg.max_registrations);
        reply->has_max_age = true;
        reply->max_age = LIM_RETRY_S;
        lim_hit(fe, RD_LIM_TOTAL, peer, "%zu registrations", fe->reg.count);
        return -1;
    }
    if (fe->cfg.max_regs_per_source == 0)
        return 0;
    struct rr_addr old_remote = old ? cpeer_addr(&old->peer.remote) : (struct rr_addr){0};
    if (old != NULL && addr_same_source(&old_remote, &peer->remote))
        return 0; /* stays under the same source */
    if (lim_source_count(fe, peer) >= fe->cfg.max_regs_per_source) {
        rd_reply_error(reply, COAP_TOO_MANY_REQUESTS,
                       "%u registrations from this source (IPv4 address or IPv6 /64)",
                       fe->cfg.max_regs_per_source);
        reply->has_max_age = true;
        reply->max_age = LIM_RETRY_S;
        lim_hit(fe, RD_LIM_SOURCE, peer, "%u registrations", lim_source_count(fe, peer));
        return -1;
    }
    return 0;
}

int lim_block1_busy(struct frontend *fe, const struct rr_peer *peer, bool used, uint64_t last_ms,
                    struct rd_reply *reply)
{
    if (!used || fe->now >= last_ms + LIM_BLOCK1_LIVE_MS)
        return 0;
    rd_reply_error(reply, COAP_SERVICE_UNAVAILABLE, "too many block-wise registrations at once");
    reply->has_max_age = true;
    reply->max_age = LIM_BLOCK1_LIVE_MS / 1000;
    lim_hit(fe, RD_LIM_BLOCK1, peer, "%d block-wise bodies in progress", RD_MAX_BLOCK1);
    return -1;
}

int lim_pending(struct frontend *fe, const struct rr_peer *peer, struct rd_reply *reply)
{
    unsigned all = 0, mine = 0;

    /* both bounded: the list never holds more than RD_MAX_PENDING */
    for (const struct rd_pending *pd = fe->pending; pd; pd = pd->next) {
        all++;
        mine += addr_same_source(&pd->peer.remote, &peer->remote);
    }
    if (all < RD_MAX_PENDING && mine < RD_PENDING_PER_SOURCE)
        return 0;
    rd_reply_error(reply, COAP_SERVICE_UNAVAILABLE, "too many simple registrations in progress");
    reply->has_max_age = true;
    reply->max_age = LIM_RETRY_S;
    lim_hit(fe, RD_LIM_PENDING, peer, "%u in progress, %u from this source", all, mine);
    return -1;
}

bool lim_observer(struct frontend *fe, const struct rr_peer *peer)
{
    unsigned mine = 0, max = fe->cfg.max_lookup_observe_per_client;

    if (fe->nobservers < RD_MAX_OBSERVERS) {
        if (max == 0)
            return true;
        /* bounded by RD_MAX_OBSERVERS, and only a new observer asks */
        for (const struct rd_observer *o = fe->observers; o; o = o->next)
            mine += addr_same_source(&o->peer.remote, &peer->remote);
        if (mine < max)
            return true;
    }
    lim_hit(fe, RD_LIM_OBSERVE, peer, "%zu observers, %u from this source", fe->nobservers, mine);
    return false;
}

void lim_status_json(const struct frontend *fe, json_t *o)
{
    json_t *l = json_object();

    json_object_set_new(o, "sources", json_integer((json_int_t)srccount_keys(&fe->lim.src)));
    for (int k = 0; k < RD_LIM_N; k++)
        json_object_set_new(l, lim_names[k], json_integer((json_int_t)fe->lim.hits[k]));
    json_object_set_new(o, "limits", l);
}
