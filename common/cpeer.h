/*
 * cpeer.h - struct rr_peer in the compact form long-lived records keep
 * (rd-frontend's registrations hold 100,000 of them): each address in
 * sockaddr_in6-sized storage instead of a sockaddr_storage, and the relay
 * name interned as a small index instead of a char array. 72 B instead of
 * struct rr_peer's 320 B. Convert at the edges: messages and everything
 * that compares or prints a peer keep using struct rr_peer / rr_addr.
 */
#ifndef RDRELAY_CPEER_H
#define RDRELAY_CPEER_H

#include <netinet/in.h>
#include <stdint.h>

#include "proto.h"

struct rr_caddr {
    union {
        struct sockaddr sa; /* sa_family AF_UNSPEC (0) when unset */
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } u;
};

struct rr_cpeer {
    struct rr_caddr remote, local;
    uint64_t conn_id;
    uint16_t relay; /* proto_relay_intern; 0 = "" */
    uint8_t transport;
};

/* The index naming relay name (cut to RR_RELAY_NAME_MAX - 1 bytes), made on
 * first use and kept for the life of the process (relays are few: the
 * configured ones); 0 for "". -1 when out of memory or out of indexes. */
int proto_relay_intern(const char *name);
/* The name of an index proto_relay_intern gave; "" for any other. */
const char *proto_relay_name(uint16_t idx);

/* Pack p into c; 0, or -1 when its relay name cannot be interned (c unchanged). */
int cpeer_pack(struct rr_cpeer *c, const struct rr_peer *p);
void cpeer_unpack(const struct rr_cpeer *c, struct rr_peer *p);
/* One address of a compact peer as a struct rr_addr. */
struct rr_addr cpeer_addr(const struct rr_caddr *a);
void caddr_set(struct rr_caddr *c, const struct rr_addr *a);

#endif
