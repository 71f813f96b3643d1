/*
 * route_digest.h - one number that says whether two holders of the route
 * table agree (the chaos test, rdrelayctl status): rd-frontend computes it
 * over the routes it publishes, each relay over the table it holds. The
 * sum of a hash of each route's wire encoding (proto_put_route, every
 * field), so order does not matter and a route added or removed moves it;
 * 53 bits, so that it survives JSON tools that read numbers as doubles.
 * Owns nothing.
 */
#ifndef RDRELAY_ROUTE_DIGEST_H
#define RDRELAY_ROUTE_DIGEST_H

#include <stdint.h>

#include "proto.h"
#include "route_table.h"

#define ROUTE_DIGEST_MASK ((UINT64_C(1) << 53) - 1)

/* The contribution of one route (add them up, then mask). */
uint64_t route_digest_one(const struct rr_route *rt);
/* The digest of a whole table (0 for NULL or empty). */
uint64_t route_digest_table(const struct route_table *t);

#endif
