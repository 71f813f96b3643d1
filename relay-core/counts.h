/*
 * counts.h - the relay's live counts (issue 19 limits): connections per
 * source on the stream relays (stream_conn.c), exchanges in flight per
 * source (dxpool.c) and per endpoint name (uxpool.c), observations per
 * client source (dxpool.c). Each is a common/srccount.h table (struct
 * srccount, in struct rc_limits and struct st_relay), sized at start for
 * every slot that can hold a count, so it never grows, never refuses a
 * newcomer for room and allocates nothing after init.
 * The rc_count_* calls are the exchange pools' names for srccount's by-tag
 * calls: a pool slot keeps the tag it counted under and releases by it.
 * (Kept while the pools are being reworked; they can call srccount_*_tag
 * directly and these go.)
 */
#ifndef RDRELAY_RC_COUNTS_H
#define RDRELAY_RC_COUNTS_H

#include "srccount.h"

static inline uint64_t rc_count_hash(const struct srccount *c, const void *key, size_t keylen)
{
    return srccount_tag(c, key, keylen);
}

static inline int rc_count_inc_h(struct srccount *c, uint64_t tag, uint32_t max)
{
    return srccount_inc_tag(c, tag, max);
}

static inline void rc_count_dec_h(struct srccount *c, uint64_t tag)
{
    srccount_dec_tag(c, tag);
}

#endif
