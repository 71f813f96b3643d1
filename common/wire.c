/*
 * wire.c - field-by-field encoding of inter-process payloads (wire.h).
 * Owns nothing; never allocates. Talks to nothing.
 * Writers and readers latch an error flag instead of returning codes per
 * field, so an encoder/decoder is a flat list of calls checked once.
 */
#include "wire.h"

#include <netinet/in.h>
#include <string.h>

void wire_w_init(struct wire_w *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->err = false;
}

/* Reserve n bytes; NULL (and err) if they do not fit. */
static uint8_t *w_room(struct wire_w *w, size_t n)
{
    uint8_t *p;

    if (w->err || n > w->cap - w->len) {
        w->err = true;
        return NULL;
    }
    p = w->buf + w->len;
    w->len += n;
    return p;
}

static void put_be(struct wire_w *w, uint64_t v, unsigned n)
{
    uint8_t *p = w_room(w, n);

    if (!p)
        return;
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

void wire_put_u8(struct wire_w *w, uint8_t v)
{
    put_be(w, v, 1);
}

void wire_put_u16(struct wire_w *w, uint16_t v)
{
    put_be(w, v, 2);
}

void wire_put_u32(struct wire_w *w, uint32_t v)
{
    put_be(w, v, 4);
}

void wire_put_u64(struct wire_w *w, uint64_t v)
{
    put_be(w, v, 8);
}

void wire_put_bytes(struct wire_w *w, const void *p, size_t n)
{
    uint8_t *dst;

    if (n > 0xffff) {
        w->err = true;
        return;
    }
    wire_put_u16(w, (uint16_t)n);
    dst = w_room(w, n);
    if (dst && n)
        memcpy(dst, p, n);
}

void wire_put_str(struct wire_w *w, const char *s)
{
    wire_put_bytes(w, s, s ? strlen(s) : 0);
}

void wire_put_addr(struct wire_w *w, const struct rr_addr *a)
{
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
    uint8_t *p;

    switch (a->ss.ss_family) {
    case AF_INET:
        wire_put_u8(w, 4);
        if ((p = w_room(w, 4)))
            memcpy(p, &s4->sin_addr, 4);
        wire_put_u16(w, ntohs(s4->sin_port));
        break;
    case AF_INET6:
        wire_put_u8(w, 6);
        if ((p = w_room(w, 16)))
            memcpy(p, &s6->sin6_addr, 16);
        wire_put_u16(w, ntohs(s6->sin6_port));
        wire_put_u32(w, s6->sin6_scope_id);
        break;
    default:
        wire_put_u8(w, 0);
        break;
    }
}

void wire_r_init(struct wire_r *r, const void *buf, size_t len)
{
    r->buf = buf;
    r->len = len;
    r->off = 0;
    r->err = false;
}

/* Consume n bytes; NULL (and err) past the end. */
static const uint8_t *r_take(struct wire_r *r, size_t n)
{
    const uint8_t *p;

    if (r->err || n > r->len - r->off) {
        r->err = true;
        return NULL;
    }
    p = r->buf + r->off;
    r->off += n;
    return p;
}

static uint64_t get_be(struct wire_r *r, unsigned n)
{
    const uint8_t *p = r_take(r, n);
    uint64_t v = 0;

    if (!p)
        return 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

uint8_t wire_get_u8(struct wire_r *r)
{
    return (uint8_t)get_be(r, 1);
}

uint16_t wire_get_u16(struct wire_r *r)
{
    return (uint16_t)get_be(r, 2);
}

uint32_t wire_get_u32(struct wire_r *r)
{
    return (uint32_t)get_be(r, 4);
}

uint64_t wire_get_u64(struct wire_r *r)
{
    return get_be(r, 8);
}

size_t wire_get_bytes(struct wire_r *r, const uint8_t **p)
{
    size_t n = wire_get_u16(r);
    const uint8_t *q = r_take(r, n);

    *p = q;
    return q ? n : 0;
}

void wire_get_str(struct wire_r *r, char *out, size_t outlen)
{
    const uint8_t *p;
    size_t n = wire_get_bytes(r, &p);

    if (outlen)
        out[0] = '\0';
    if (r->err)
        return;
    /* An embedded NUL would silently shorten the string: refuse it. */
    if (n >= outlen || (n && memchr(p, '\0', n))) {
        r->err = true;
        return;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

void wire_get_addr(struct wire_r *r, struct rr_addr *a)
{
    uint8_t fam = wire_get_u8(r);
    const uint8_t *p;

    memset(a, 0, sizeof(*a));
    if (fam == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
        if ((p = r_take(r, 4)))
            memcpy(&s4->sin_addr, p, 4);
        s4->sin_port = htons(wire_get_u16(r));
        s4->sin_family = AF_INET;
        a->len = sizeof(*s4);
    } else if (fam == 6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
        if ((p = r_take(r, 16)))
            memcpy(&s6->sin6_addr, p, 16);
        s6->sin6_port = htons(wire_get_u16(r));
        s6->sin6_scope_id = wire_get_u32(r);
        s6->sin6_family = AF_INET6;
        a->len = sizeof(*s6);
        addr_normalise(a);
    } else if (fam != 0) {
        r->err = true;
    }
    if (r->err)
        memset(a, 0, sizeof(*a));
}
