/*
 * strbuf.c - growable byte/text buffer (strbuf.h).
 * Owns: the heap buffer of each struct strbuf. Talks to nothing.
 * Used outside the hot path only: it allocates as it grows. An allocation
 * failure sets ->oom and keeps the contents so far, so callers check once.
 */
#include "strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_init(struct strbuf *sb)
{
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    sb->oom = false;
}

void sb_free(struct strbuf *sb)
{
    free(sb->buf);
    sb_init(sb);
}

void sb_reset(struct strbuf *sb)
{
    sb->len = 0;
    sb->oom = false;
    if (sb->buf)
        sb->buf[0] = '\0';
}

/* Make room for n more bytes plus the terminating NUL. */
static int sb_reserve(struct strbuf *sb, size_t n)
{
    size_t need, cap;
    char *p;

    if (sb->oom)
        return -1;
    if (n > SIZE_MAX / 2 - sb->len - 1)
        goto oom;
    need = sb->len + n + 1;
    if (need <= sb->cap)
        return 0;
    cap = sb->cap ? sb->cap : 64;
    while (cap < need)
        cap *= 2;
    p = realloc(sb->buf, cap);
    if (!p)
        goto oom;
    sb->buf = p;
    sb->cap = cap;
    return 0;
oom:
    sb->oom = true;
    return -1;
}

void sb_append(struct strbuf *sb, const void *p, size_t n)
{
    if (sb_reserve(sb, n) < 0)
        return;
    if (n)
        memcpy(sb->buf + sb->len, p, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

void sb_puts(struct strbuf *sb, const char *s)
{
    sb_append(sb, s, strlen(s));
}

void sb_putc(struct strbuf *sb, char c)
{
    sb_append(sb, &c, 1);
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sb_reserve(sb, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}
