/*
 * ids.c - the identifiers the relay core hands out (core.h): token check
 * values, RD_REQUEST and XFWD_REQUEST ids, connection ids. Owns nothing but
 * the counters in struct relay_core; no I/O.
 */
#include "core.h"

uint32_t rc_new_check(struct relay_core *c)
{
    uint32_t x = ++c->next_check * 0x9e3779b1u;
    return x ^ (x >> 15);
}

uint64_t rc_rd_req_id(struct relay_core *c, uint32_t slot)
{
    return (uint64_t)(++c->rd_seq) << 32 | slot;
}

uint64_t rc_xfwd_req_id(uint32_t slot, uint32_t check)
{
    return (uint64_t)check << 32 | slot;
}

uint64_t rc_conn_id_new(struct relay_core *c)
{
    /* the counter wraps after 4 billion connections of one run; 0 is
     * skipped so an id is never 0 */
    if (++c->conn_seq == 0)
        c->conn_seq = 1;
    return (uint64_t)c->conn_epoch << 32 | c->conn_seq;
}

bool rc_conn_id_ours(const struct relay_core *c, uint64_t id)
{
    return (uint32_t)(id >> 32) == c->conn_epoch;
}
