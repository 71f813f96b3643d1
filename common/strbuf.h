/*
 * strbuf.h - a growable byte/text buffer for building payloads outside the
 * hot path (link-format documents, JSON status). Owns its heap buffer.
 */
#ifndef RDRELAY_STRBUF_H
#define RDRELAY_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strbuf {
    char *buf; /* always NUL-terminated when non-NULL */
    size_t len, cap;
    bool oom; /* an append failed; contents are truncated */
};

void sb_init(struct strbuf *sb);
void sb_free(struct strbuf *sb);
void sb_reset(struct strbuf *sb);
void sb_append(struct strbuf *sb, const void *p, size_t n);
void sb_puts(struct strbuf *sb, const char *s);
void sb_putc(struct strbuf *sb, char c);
void sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
