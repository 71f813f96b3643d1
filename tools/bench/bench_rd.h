/*
 * bench_rd.h - the RD benchmarks' data (bench_rd_data.c): registration
 * number i, and the lookup scenario table.
 */
#ifndef RDRELAY_BENCH_RD_H
#define RDRELAY_BENCH_RD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* POST /rd for registration i with `links` links, as a CoAP/UDP datagram
 * (token = i, 4 bytes). Its length, or -1 if it does not fit. */
ssize_t bench_rd_registration(uint32_t i, unsigned links, uint16_t mid, uint8_t *buf, size_t cap);
/* The same with the attribute v=<gen> (gen > 0): a re-registration that
 * changes what lookups of it show (--observers). */
ssize_t bench_rd_registration_gen(uint32_t i, unsigned links, uint16_t mid, uint32_t gen,
                                  uint8_t *buf, size_t cap);
/* Scenario k for n preloaded registrations (mid_id: /reg/<id> of number
 * n/2): its label and path with query. 0, or -1 past the end of the table. */
int bench_rd_lookup(unsigned k, unsigned long n, int64_t mid_id, char *label, size_t ll, char *path,
                    size_t pl);

#endif
