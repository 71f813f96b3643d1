/*
 * wire.h - field-by-field encoding for inter-process payloads.
 * Owns nothing. Big-endian integers; byte strings and text as u16 length +
 * bytes; addresses as u8 family (0 none, 4, 6) + 4|16 address bytes + u16
 * port + u32 scope (v6 only). A reader that runs past the end sets ->err and
 * returns zeros, so decoders check once at the end. Processes upgrade
 * independently: a decoder ignores trailing bytes it does not know.
 */
#ifndef RDRELAY_WIRE_H
#define RDRELAY_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct wire_w {
    uint8_t *buf;
    size_t cap, len;
    bool err; /* set when a write did not fit */
};

struct wire_r {
    const uint8_t *buf;
    size_t len, off;
    bool err; /* set when a read ran past the end or a value was malformed */
};

void wire_w_init(struct wire_w *w, uint8_t *buf, size_t cap);
void wire_put_u8(struct wire_w *w, uint8_t v);
void wire_put_u16(struct wire_w *w, uint16_t v);
void wire_put_u32(struct wire_w *w, uint32_t v);
void wire_put_u64(struct wire_w *w, uint64_t v);
void wire_put_bytes(struct wire_w *w, const void *p, size_t n); /* u16 length + bytes */
void wire_put_str(struct wire_w *w, const char *s);             /* same, from a C string */
void wire_put_addr(struct wire_w *w, const struct rr_addr *a);

void wire_r_init(struct wire_r *r, const void *buf, size_t len);
uint8_t wire_get_u8(struct wire_r *r);
uint16_t wire_get_u16(struct wire_r *r);
uint32_t wire_get_u32(struct wire_r *r);
uint64_t wire_get_u64(struct wire_r *r);
/* Points *p into the buffer (no copy); returns the length. */
size_t wire_get_bytes(struct wire_r *r, const uint8_t **p);
/* Copies into a NUL-terminated buffer; sets err if it does not fit. */
void wire_get_str(struct wire_r *r, char *out, size_t outlen);
void wire_get_addr(struct wire_r *r, struct rr_addr *a);

#endif
