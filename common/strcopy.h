/*
 * strcopy.h - str_copy: snprintf(dst, cap, "%s", src) without the printf
 * machinery, for the hot path (the route name copied into every proxied
 * exchange showed up as __vfprintf_internal in the relays' profiles,
 * docs/benchmarks.md run M). Pure, header only; owns nothing.
 */
#ifndef RDRELAY_STRCOPY_H
#define RDRELAY_STRCOPY_H

#include <stddef.h>
#include <string.h>

/* Copy src into dst (cap bytes, cap > 0), truncated to cap - 1 bytes and
 * always NUL-terminated, as snprintf "%s" does. */
static inline void str_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

#endif
