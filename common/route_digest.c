/*
 * route_digest.c - the route-set digest (route_digest.h): FNV-1a 64 of
 * each route's wire encoding, summed. Called at status time (every 5 s on
 * a relay, per rdrelayctl status on rd-frontend), never on the forwarding
 * path. Owns nothing.
 */
#include "route_digest.h"

#include "wire.h"

uint64_t route_digest_one(const struct rr_route *rt)
{
    uint8_t buf[1024];
    struct wire_w w;
    uint64_t h = UINT64_C(14695981039346656037);

    wire_w_init(&w, buf, sizeof(buf));
    proto_put_route(&w, rt);
    for (size_t i = 0; i < w.len; i++)
        h = (h ^ buf[i]) * UINT64_C(1099511628211);
    return h;
}

static int add_one(const struct rr_route *rt, void *arg)
{
    *(uint64_t *)arg += route_digest_one(rt);
    return 0;
}

uint64_t route_digest_table(const struct route_table *t)
{
    uint64_t sum = 0;

    if (t)
        route_table_foreach(t, add_one, &sum);
    return sum & ROUTE_DIGEST_MASK;
}
