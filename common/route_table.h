/*
 * route_table.h - a relay's copy of the routes (host name -> rr_route).
 * Owns its entries (a slot array per table, grown only while building,
 * and one allocation per route: put and del, never per request). Open
 * addressing keyed by the lower-case host name; a slot points at its route.
 * Relays build a new table aside during a resync and swap it in whole.
 */
#ifndef RDRELAY_ROUTE_TABLE_H
#define RDRELAY_ROUTE_TABLE_H

#include <stddef.h>

#include "proto.h"

struct route_table;

struct route_table *route_table_new(size_t initial_capacity);
void route_table_free(struct route_table *t);
/* Insert or replace by rt->host (which must already be lower-case). 0 / -1 (oom). */
int route_table_put(struct route_table *t, const struct rr_route *rt);
/* Remove; 0 if removed, -1 if absent. */
int route_table_del(struct route_table *t, const char *host);
/* NULL if absent. The pointer is valid until host's del or the table's free
 * (a put replacing it copies into the same route). */
const struct rr_route *route_table_get(const struct route_table *t, const char *host);
size_t route_table_count(const struct route_table *t);
/* Visit every route (order unspecified); stop early if fn returns non-zero. */
void route_table_foreach(const struct route_table *t,
                         int (*fn)(const struct rr_route *rt, void *arg), void *arg);

#endif
