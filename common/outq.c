/*
 * outq.c - implementation of outq.h: one buffer that grows by doubling
 * (from 4 KiB) up to the caller's bound, compacted before it grows; taken
 * from and given back to the relay's spares when there are some.
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
    if (!q->buf && q->spare && q->spare->n && q->spare->cap[q->spare->n - 1] >= n) {
        struct outq_spare *s = q->spare;
        s->n--;
        q->buf = s->buf[s->n];
        q->cap = s->cap[s->n];
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
    struct outq_spare *s = q->spare;
    if (q->buf && s && s->n < OUTQ_SPARE_N && q->cap <= OUTQ_SPARE_CAP) {
        s->buf[s->n] = q->buf;
        s->cap[s->n] = q->cap;
        s->n++;
        q->buf = NULL;
    }
    free(q->buf);
    q->buf = NULL;
    q->off = q->len = q->cap = 0;
}

void outq_spare_free(struct outq_spare *s)
{
    while (s->n)
        free(s->buf[--s->n]);
}
