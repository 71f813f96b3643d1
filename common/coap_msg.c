/*
 * coap_msg.c - zero-copy CoAP message view and serializer (coap_msg.h).
 * Owns nothing: a parsed struct coap_msg points into the caller's buffer;
 * never allocates. Talks to libcoap only for option headers
 * (coap_opt_parse / coap_opt_encode); the message frame is handled here
 * because libcoap 4.3.1 cannot serialise a PDU without a session and
 * allocates per PDU (docs/architecture.md).
 */
#include "coap_msg.h"

#include <coap3/coap.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define COAP_PAYLOAD_MARKER 0xff

void coap_msg_init(struct coap_msg *m)
{
    m->type = COAP_T_CON;
    m->code = 0;
    m->msgid = 0;
    m->tkl = 0;
    memset(m->token, 0, sizeof(m->token));
    m->nopts = 0;
    m->payload = NULL;
    m->payload_len = 0;
}

/*
 * The real delta of an option header. coap_opt_parse() keeps the delta in a
 * uint16_t, so a 14-nibble delta near 65535 can wrap; recompute it from the
 * raw bytes to reject such headers instead of misreading them.
 */
static uint32_t raw_delta(const uint8_t *p)
{
    unsigned nib = p[0] >> 4;

    if (nib == 13)
        return 13u + p[1];
    if (nib == 14)
        return 269u + ((uint32_t)p[1] << 8) + p[2];
    return nib;
}

/* Parse the options starting at *off; leaves *off at the marker or end. */
static int parse_opts(const uint8_t *buf, size_t len, size_t *off, struct coap_msg *m)
{
    uint32_t num = 0;

    while (*off < len && buf[*off] != COAP_PAYLOAD_MARKER) {
        coap_option_t o;
        size_t used = coap_opt_parse(buf + *off, len - *off, &o);

        if (used == 0 || m->nopts >= COAP_MSG_MAX_OPTS)
            return -1;
        num += raw_delta(buf + *off);
        if (num > 0xffff || o.length > 0xffff)
            return -1;
        m->opts[m->nopts].num = (uint16_t)num;
        m->opts[m->nopts].len = (uint16_t)o.length;
        m->opts[m->nopts].val = o.value;
        m->nopts++;
        *off += used;
    }
    return 0;
}

int coap_msg_parse_udp(const uint8_t *buf, size_t len, struct coap_msg *m)
{
    size_t off;

    coap_msg_init(m);
    if (len < 4 || (buf[0] >> 6) != 1)
        return -1;
    m->type = (buf[0] >> 4) & 3;
    m->tkl = buf[0] & 0x0f;
    m->code = buf[1];
    m->msgid = (uint16_t)((buf[2] << 8) | buf[3]);
    if (m->tkl > COAP_MSG_MAX_TOKEN || len < 4u + m->tkl)
        goto bad;
    /* RFC 7252 §4.1: an Empty message is exactly the 4-byte header. */
    if (m->code == COAP_EMPTY && len != 4)
        goto bad;
    memcpy(m->token, buf + 4, m->tkl);
    off = 4u + m->tkl;
    if (parse_opts(buf, len, &off, m) < 0)
        goto bad;
    if (off < len) {
        off++; /* the payload marker */
        if (off == len)
            goto bad; /* marker followed by a zero-length payload */
        m->payload = buf + off;
        m->payload_len = len - off;
    }
    return 0;
bad:
    coap_msg_init(m);
    return -1;
}

ssize_t coap_msg_serialize_udp(const struct coap_msg *m, uint8_t *buf, size_t cap)
{
    size_t off = 4u + m->tkl;
    uint16_t prev = 0;

    if (m->tkl > COAP_MSG_MAX_TOKEN || cap < off)
        return -1;
    buf[0] = (uint8_t)(0x40 | ((m->type & 3) << 4) | m->tkl);
    buf[1] = m->code;
    buf[2] = (uint8_t)(m->msgid >> 8);
    buf[3] = (uint8_t)m->msgid;
    memcpy(buf + 4, m->token, m->tkl);
    for (unsigned i = 0; i < m->nopts; i++) {
        const struct coap_msg_opt *o = &m->opts[i];
        size_t n;

        if (o->num < prev)
            return -1; /* options must be sorted: deltas cannot be negative */
        n = coap_opt_encode(buf + off, cap - off, (uint16_t)(o->num - prev), o->val, o->len);
        if (n == 0)
            return -1;
        off += n;
        prev = o->num;
    }
    if (m->payload_len) {
        if (cap - off < 1 + m->payload_len)
            return -1;
        buf[off++] = COAP_PAYLOAD_MARKER;
        memcpy(buf + off, m->payload, m->payload_len);
        off += m->payload_len;
    }
    return (ssize_t)off;
}

const struct coap_msg_opt *coap_msg_find(const struct coap_msg *m, uint16_t num)
{
    for (unsigned i = 0; i < m->nopts; i++) {
        if (m->opts[i].num == num)
            return &m->opts[i];
        if (m->opts[i].num > num)
            break;
    }
    return NULL;
}

const struct coap_msg_opt *coap_msg_find_next(const struct coap_msg *m,
                                              const struct coap_msg_opt *prev)
{
    const struct coap_msg_opt *next = prev + 1;

    if (next < m->opts + m->nopts && next->num == prev->num)
        return next;
    return NULL;
}

uint32_t coap_opt_value_uint(const struct coap_msg_opt *o)
{
    uint32_t v = 0;

    /* uint options are at most 4 bytes; a longer one keeps its low 4 */
    for (unsigned i = 0; i < o->len; i++)
        v = (v << 8) | o->val[i];
    return v;
}

uint32_t coap_msg_opt_uint(const struct coap_msg *m, uint16_t num, uint32_t def)
{
    const struct coap_msg_opt *o = coap_msg_find(m, num);

    return o ? coap_opt_value_uint(o) : def;
}

int coap_msg_add_opt(struct coap_msg *m, uint16_t num, const void *val, uint16_t len)
{
    unsigned i = m->nopts;

    if (m->nopts >= COAP_MSG_MAX_OPTS)
        return -1;
    while (i > 0 && m->opts[i - 1].num > num)
        i--;
    memmove(&m->opts[i + 1], &m->opts[i], (m->nopts - i) * sizeof(m->opts[0]));
    m->opts[i].num = num;
    m->opts[i].len = len;
    m->opts[i].val = val;
    m->nopts++;
    return 0;
}

int coap_msg_add_opt_uint(struct coap_msg *m, uint16_t num, uint32_t v, uint8_t *buf)
{
    uint16_t n = 0;

    for (uint32_t t = v; t; t >>= 8)
        n++;
    for (uint16_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return coap_msg_add_opt(m, num, buf, n);
}

int coap_msg_remove_opt(struct coap_msg *m, uint16_t num)
{
    unsigned out = 0;
    int removed = 0;

    for (unsigned i = 0; i < m->nopts; i++) {
        if (m->opts[i].num == num) {
            removed++;
            continue;
        }
        m->opts[out++] = m->opts[i];
    }
    m->nopts = (uint16_t)out;
    return removed;
}

/* Characters that would change the meaning of a joined path are escaped. */
static bool path_needs_escape(uint8_t c)
{
    return c == '/' || c == '%' || c == '?' || c == '#' || c <= 0x20 || c >= 0x7f;
}

int coap_msg_uri_path(const struct coap_msg *m, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    const struct coap_msg_opt *o = coap_msg_find(m, COAP_OPT_URI_PATH);
    size_t n = 0;

    if (outlen < 2)
        return -1;
    if (!o) {
        strcpy(out, "/");
        return 0;
    }
    for (; o; o = coap_msg_find_next(m, o)) {
        if (n + 1 >= outlen)
            return -1;
        out[n++] = '/';
        for (unsigned i = 0; i < o->len; i++) {
            uint8_t c = o->val[i];
            size_t need = path_needs_escape(c) ? 3 : 1;
            if (n + need >= outlen)
                return -1;
            if (need == 1) {
                out[n++] = (char)c;
                continue;
            }
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
    return 0;
}

int coap_msg_uri_host_lower(const struct coap_msg *m, char *out, size_t outlen)
{
    const struct coap_msg_opt *o = coap_msg_find(m, COAP_OPT_URI_HOST);

    if (outlen < 1)
        return -1;
    out[0] = '\0';
    if (!o)
        return 0;
    if (o->len >= outlen || memchr(o->val, '\0', o->len))
        return -1;
    for (unsigned i = 0; i < o->len; i++)
        out[i] = (char)tolower(o->val[i]);
    out[o->len] = '\0';
    return 0;
}

const char *coap_code_str(uint8_t code, char buf[8])
{
    snprintf(buf, 8, "%u.%02u", (unsigned)COAP_CODE_CLASS(code), (unsigned)COAP_CODE_DETAIL(code));
    return buf;
}

uint32_t coap_block_encode(uint32_t num, bool more, unsigned szx)
{
    return (num << 4) | (more ? 8u : 0u) | (szx & 7u);
}

void coap_block_decode(uint32_t v, uint32_t *num, bool *more, unsigned *szx)
{
    *num = v >> 4;
    *more = (v & 8) != 0;
    *szx = v & 7;
}
