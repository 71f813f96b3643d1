/*
 * addr.h - socket address helpers shared by every process.
 * Owns nothing; pure functions. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d)
 * are always normalised to AF_INET before an address is stored or compared
 * (BRIEF §1.2).
 */
#ifndef RDRELAY_ADDR_H
#define RDRELAY_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RR_ADDRSTRLEN 64 /* "[ipv6%scope]:port" fits */

struct rr_addr {
    struct sockaddr_storage ss; /* AF_INET or AF_INET6 (never v4-mapped), or AF_UNSPEC */
    socklen_t len;
};

/* Copy sa into a, normalising a v4-mapped address to AF_INET. */
void addr_from_sockaddr(struct rr_addr *a, const struct sockaddr *sa, socklen_t len);
/* Normalise a in place. */
void addr_normalise(struct rr_addr *a);
/* Equal family, address, port (and scope for link-local v6). */
bool addr_equal(const struct rr_addr *a, const struct rr_addr *b);
/* Equal family and address only. */
bool addr_equal_host(const struct rr_addr *a, const struct rr_addr *b);
uint32_t addr_hash(const struct rr_addr *a);
/* The "source" a per-source limit counts: an IPv4 address, or the /64 of an
 * IPv6 address (one site or host usually owns a whole /64). key: a family
 * tag and 4 or 8 address bytes, zero padded; all-zero when a is unset. */
#define ADDR_SOURCE_KEY_LEN 9
void addr_source_key(const struct rr_addr *a, uint8_t key[ADDR_SOURCE_KEY_LEN]);
/* a and b are the same source (equal addr_source_key; two unset: true). */
bool addr_same_source(const struct rr_addr *a, const struct rr_addr *b);
uint16_t addr_port(const struct rr_addr *a);
void addr_set_port(struct rr_addr *a, uint16_t port);
/* "192.0.2.1:5683" or "[2001:db8::1]:5683"; returns buf. */
const char *addr_to_str(const struct rr_addr *a, char *buf, size_t len);
/* Host part only, without brackets: "2001:db8::1". */
const char *addr_host_str(const struct rr_addr *a, char *buf, size_t len);
/* Parse "host:port", "[v6]:port", "v4", "[v6]" (numeric only); default_port if
 * none given. 0 / -1. */
int addr_parse(struct rr_addr *a, const char *str, uint16_t default_port);
/* Split a comma list of listen addresses and parse each; returns count or -1. */
int addr_parse_list(const char *list, uint16_t default_port, struct rr_addr *out, int max);

#endif
