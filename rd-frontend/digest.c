/*
 * digest.c - rd-frontend's side of the route-set digest (common/
 * route_digest.h): the routes it publishes (a host name, live: exactly
 * what a snapshot carries), for rdrelayctl status to compare with each
 * relay's. O(registrations) per call: status requests only. Owns nothing.
 */
#include "frontend.h"
#include "route_digest.h"

uint64_t fe_route_digest(const struct frontend *fe)
{
    struct rr_route rt;
    uint64_t sum = 0;

    for (const struct rd_reg *r = fe->reg.first; r; r = r->next) {
        if (!r->host[0] || !lookup_reg_live(fe, r))
            continue;
        routes_from_reg(r, &rt);
        sum += route_digest_one(&rt);
    }
    return sum & ROUTE_DIGEST_MASK;
}
