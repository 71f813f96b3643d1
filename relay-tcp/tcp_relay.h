/*
 * tcp_relay.h - the state of the rdrelay-tcp process (one struct rt_relay)
 * and the functions its files share. relay-tcp is a thin transport on the
 * stream half of the relay core (relay-core/stream.h: connections,
 * exchanges, RD path, proxying, XFWD, RFC 8323 signalling), which sits on
 * the relay core (relay-core/core.h: event loop, ctl, route table). Here is
 * only what TCP adds:
 *   main.c     command line, start and stop
 *   conn.c     listeners and connections: accept, non-blocking reads into
 *              whole RFC 8323 messages (the Length field), the bounded
 *              output queue, the socket side of a close
 *   tcp_rules.c the receive-side frame check (pure, unit-tested)
 *
 * Memory per connection (BRIEF §6: 10,000 concurrent registrants): one
 * struct st_conn (the stream layer's) and one struct tcp_conn (about 48
 * bytes), both in pools allocated once at start for max connections, plus
 * the kernel's socket buffers. Input is read into one relay-wide buffer;
 * only the bytes of an incomplete message are kept per connection (at most
 * our Max-Message-Size, freed when the message completes), and only output
 * the peer has not taken yet is queued per connection (at most
 * tcp_outq_max, then the slow reader is dropped).
 */
#ifndef RDRELAY_RT_TCP_RELAY_H
#define RDRELAY_RT_TCP_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "outq.h"
#include "stream.h"
#include "tcp_rules.h"

#define RT_NONE ST_NONE

/* The TCP side of a connection (same slot as its struct st_conn). */
struct tcp_conn {
    int fd;
    bool want_write;     /* EPOLLOUT registered */
    bool closing;        /* Release: close once out is empty */
    struct rc_handler h; /* in the core's fd registry */
    uint8_t *in;         /* bytes of an incomplete message */
    uint32_t in_len;
    struct outq out; /* output the kernel did not take yet */
};

struct rt_relay {
    struct st_relay s; /* the stream layer (and in it the relay core) */

    struct rc_listeners lis;

    struct tcp_conn *tc; /* s.nconns_max of them */
    uint8_t *rbuf;
    size_t rbuf_size;
};

/* conn.c */
extern const struct st_io rt_io;
/* Open the tcp_listen listeners, in the core's registry. 0 / -1. */
int rt_listen_all(struct rt_relay *r);
void rt_listen_close(struct rt_relay *r);
/* An accepted socket fd becomes a connection (in the core's registry, our
 * CSM sent): its index, or RT_NONE (fd closed). tests/fuzz/fuzz_tcp_conn.c
 * hands it one end of a loopback connection. */
uint32_t rt_conn_adopt(struct rt_relay *r, int fd, uint64_t now);
/* The TCP side of the pool (after st_init). 0 / -1. */
int rt_conns_init(struct rt_relay *r);
void rt_conns_free(struct rt_relay *r);

#endif
