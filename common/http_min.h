/*
 * http_min.h - the smallest HTTP/1.1 server that Prometheus can scrape:
 * GET /metrics (and HEAD) answered with a body the embedder renders, then
 * the connection closes. For the metrics_listen address of every process.
 * Owns: the listening socket and up to HM_MAX_CONNS connections, each with
 * its request and answer buffers. Non-blocking throughout and driven by the
 * embedder's event loop (no thread): the embedder watches the fds this
 * module hands it through the watch callback (relay core: its epoll fd
 * registry; rd-frontend: its zmq_poll set) and calls hm_ready when one is
 * ready, hm_tick now and then (a client silent for HM_IDLE_MS is dropped).
 * Not on a hot path: it allocates per scrape, never per CoAP request.
 */
#ifndef RDRELAY_HTTP_MIN_H
#define RDRELAY_HTTP_MIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "strbuf.h"

#define HM_MAX_CONNS 8
#define HM_REQ_MAX 2048
#define HM_IDLE_MS 5000

enum hm_events { HM_IN = 1, HM_OUT = 2 };
enum hm_op { HM_ADD = 0, HM_MOD = 1, HM_DEL = 2 };

/* Watch fd for events (HM_IN/HM_OUT) or stop watching it. slot 0 is the
 * listener, 1..HM_MAX_CONNS the connections: the embedder keeps one handle
 * per slot and passes the slot back to hm_ready. */
typedef void (*hm_watch_fn)(void *arg, int slot, int fd, enum hm_op op, unsigned events);
/* Render the body of GET /metrics. */
typedef void (*hm_render_fn)(void *arg, struct strbuf *body);

struct hm_conn {
    int fd; /* -1 = free */
    char req[HM_REQ_MAX];
    size_t rlen;
    struct strbuf out;
    size_t off;
    uint64_t since;
};

struct hm_server {
    int lfd;
    hm_watch_fn watch;
    hm_render_fn render;
    void *arg;
    struct hm_conn c[HM_MAX_CONNS];
    uint64_t scrapes, refused;
    bool paused; /* out of fds: the listener is not watched until hm_tick */
};

/* Listen on a (TCP, loopback or any address). 0, or -1 (logged; the
 * server is then closed and every call on it does nothing). */
int hm_open(struct hm_server *s, const struct rr_addr *a, hm_watch_fn watch, hm_render_fn render,
            void *arg);
void hm_close(struct hm_server *s);
bool hm_is_open(const struct hm_server *s);
/* slot's fd is ready (HM_IN / HM_OUT, or both on an error). */
void hm_ready(struct hm_server *s, int slot, unsigned events, uint64_t now_ms);
/* Drop connections silent for HM_IDLE_MS; watch the listener again after
 * running out of file descriptors. Cheap when there is nothing to do. */
void hm_tick(struct hm_server *s, uint64_t now_ms);

/* The answer to one complete request head (exposed for unit tests):
 * fills out with status line, headers and body. */
void hm_answer(struct hm_server *s, const char *req, size_t len, struct strbuf *out);

#endif
