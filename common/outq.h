/*
 * outq.h - a bounded per-connection output queue: the bytes (or, for
 * relay-ws, the length-prefixed frames) a peer has not taken yet. Used by
 * relay-tcp and relay-ws. Owns its buffer, which exists only while the
 * queue is not empty, so an idle connection costs no output memory.
 */
#ifndef RDRELAY_OUTQ_H
#define RDRELAY_OUTQ_H

#include <stddef.h>
#include <stdint.h>

struct outq {
    uint8_t *buf;
    uint32_t off, len, cap;
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

#endif
