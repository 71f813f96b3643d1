/*
 * outq.c - implementation of outq.h: one buffer that grows by doubling
 * (from 4 KiB) up to the caller's bound, compacted before it grows.
 */
#include "outq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint8_t *outq_reserve(struct outq *q, size_t n, size_t max)
{
    if ((size_t)q->len + n > max) {
        errno = EMSGSIZE;
        return NULL;
    }
    if ((size_t)q->off + q->len + n > q->cap) {
        if (q->off) {
            memmove(q->buf, q->buf + q->off, q->len);
            q->off = 0;
        }
        if ((size_t)q->len + n > q->cap) {
            size_t cap = q->cap ? q->cap : 4096;
            while (cap < (size_t)q->len + n)
                cap *= 2;
            uint8_t *p = realloc(q->buf, cap);
            if (!p) {
                errno = ENOMEM;
                return NULL;
            }
            q->buf = p;
            q->cap = (uint32_t)cap;
        }
    }
    uint8_t *at = q->buf + q->off + q->len;
    q->len += (uint32_t)n;
    return at;
}

int outq_push(struct outq *q, const void *p, size_t n, size_t max)
{
    uint8_t *at = outq_reserve(q, n, max);
    if (!at)
        return -1;
    memcpy(at, p, n);
    return 0;
}

void outq_consume(struct outq *q, size_t n)
{
    if (n >= q->len) {
        outq_free(q);
        return;
    }
    q->off += (uint32_t)n;
    q->len -= (uint32_t)n;
}

void outq_free(struct outq *q)
{
    free(q->buf);
    q->buf = NULL;
    q->off = q->len = q->cap = 0;
}
