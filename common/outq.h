/*
 * outq.h - a bounded per-connection output queue: the bytes (or, for
 * relay-ws, the length-prefixed frames) a peer has not taken yet. Used by
 * relay-tcp and relay-ws. Owns its buffer, which exists only while the
 * queue is not empty, so an idle connection costs no output memory (an
 * emptied buffer goes back to the relay's struct outq_spare, if any).
 */
#ifndef RDRELAY_OUTQ_H
#define RDRELAY_OUTQ_H

#include <stddef.h>
#include <stdint.h>

/* Buffers of emptied queues kept for the next queue that needs one, so a
 * relay that queues every message (relay-ws) does not malloc per message;
 * one per relay, optional. */
#define OUTQ_SPARE_N 32
#define OUTQ_SPARE_CAP 65536 /* larger buffers are freed */
struct outq_spare {
    uint8_t *buf[OUTQ_SPARE_N];
    uint32_t cap[OUTQ_SPARE_N];
    unsigned n;
};

struct outq {
    uint8_t *buf;
    uint32_t off, len, cap;
    struct outq_spare *spare; /* NULL: buffers are freed when empty */
};

/* Room for n more bytes at the end (to be filled by the caller), or NULL:
 * errno EMSGSIZE when the queue would hold more than max bytes, ENOMEM. */
uint8_t *outq_reserve(struct outq *q, size_t n, size_t max);
/* Append n bytes; 0 / -1 as outq_reserve. */
int outq_push(struct outq *q, const void *p, size_t n, size_t max);
static inline const uint8_t *outq_data(const struct outq *q)
{
    return q->buf + q->off;
}
/* n bytes went out; the buffer is freed when the queue is empty. */
void outq_consume(struct outq *q, size_t n);
void outq_free(struct outq *q);
void outq_spare_free(struct outq_spare *s);

#endif
