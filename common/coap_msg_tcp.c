/*
 * coap_msg_tcp.c - RFC 8323 framing for the zero-copy CoAP message view
 * (coap_msg.h): CoAP over TCP (§3.2: Len nibble + extended length, no type,
 * no message id) and over WebSockets (§4.2: the same with Len = 0 and no
 * extended length, the frame gives the size).
 * Owns nothing: a parsed struct coap_msg points into the caller's buffer;
 * never allocates. Option headers are decoded and encoded with libcoap's
 * coap_opt_parse() / coap_opt_encode(), as in coap_msg.c.
 * Used by relay-tcp (and relay-ws) for every message on a connection.
 */
#include "coap_msg.h"

#include <coap3/coap.h>
#include <string.h>

#define PAYLOAD_MARKER 0xff

/* Len nibble thresholds of RFC 8323 §3.2 */
#define TCP_LEN_8 13u     /* Len 13: 8-bit extended length + 13 */
#define TCP_LEN_16 269u   /* Len 14: 16-bit extended length + 269 */
#define TCP_LEN_32 65805u /* Len 15: 32-bit extended length + 65805 */

/* The real delta of an option header (see coap_msg.c: libcoap keeps the
 * delta in a uint16_t, which can wrap). */
static uint32_t raw_delta(const uint8_t *p)
{
    unsigned nib = p[0] >> 4;

    if (nib == 13)
        return 13u + p[1];
    if (nib == 14)
        return 269u + ((uint32_t)p[1] << 8) + p[2];
    return nib;
}

/* Options and payload of buf[off..len) into m (token/code already set). */
static int parse_rest(const uint8_t *buf, size_t len, size_t off, struct coap_msg *m)
{
    uint32_t num = 0;

    while (off < len && buf[off] != PAYLOAD_MARKER) {
        coap_option_t o;
        size_t used = coap_opt_parse(buf + off, len - off, &o);

        if (used == 0 || m->nopts >= COAP_MSG_MAX_OPTS)
            return -1;
        num += raw_delta(buf + off);
        if (num > 0xffff || o.length > 0xffff)
            return -1;
        m->opts[m->nopts].num = (uint16_t)num;
        m->opts[m->nopts].len = (uint16_t)o.length;
        m->opts[m->nopts].val = o.value;
        m->nopts++;
        off += used;
    }
    if (off < len) {
        off++; /* the payload marker */
        if (off == len)
            return -1; /* marker followed by a zero-length payload */
        m->payload = buf + off;
        m->payload_len = len - off;
    }
    return 0;
}

/* Bytes of options + payload marker + payload, as serialised; -1 if the
 * options are not sorted or cannot be encoded. */
static ssize_t rest_len(const struct coap_msg *m)
{
    uint16_t prev = 0;
    size_t n = 0;

    for (unsigned i = 0; i < m->nopts; i++) {
        const struct coap_msg_opt *o = &m->opts[i];
        uint16_t delta;
        if (o->num < prev)
            return -1;
        delta = (uint16_t)(o->num - prev);
        /* header size only: 1 + extended delta + extended length */
        n += 1 +
             (delta >= 269  ? 2
              : delta >= 13 ? 1
                            : 0) +
             (o->len >= 269  ? 2
              : o->len >= 13 ? 1
                             : 0) +
             o->len;
        prev = o->num;
    }
    if (m->payload_len)
        n += 1 + m->payload_len;
    return (ssize_t)n;
}

/* Write options + payload at buf[off..cap); returns the new offset or -1. */
static ssize_t write_rest(const struct coap_msg *m, uint8_t *buf, size_t off, size_t cap)
{
    uint16_t prev = 0;

    for (unsigned i = 0; i < m->nopts; i++) {
        const struct coap_msg_opt *o = &m->opts[i];
        size_t n;
        if (o->num < prev)
            return -1;
        n = coap_opt_encode(buf + off, cap - off, (uint16_t)(o->num - prev), o->val, o->len);
        if (n == 0)
            return -1;
        off += n;
        prev = o->num;
    }
    if (m->payload_len) {
        if (cap - off < 1 + m->payload_len)
            return -1;
        buf[off++] = PAYLOAD_MARKER;
        memcpy(buf + off, m->payload, m->payload_len);
        off += m->payload_len;
    }
    return (ssize_t)off;
}

ssize_t coap_msg_tcp_frame_len(const uint8_t *buf, size_t avail)
{
    unsigned lnib, tkl;
    size_t ext;
    uint64_t len;

    if (avail < 1)
        return 0;
    lnib = buf[0] >> 4;
    tkl = buf[0] & 0x0f;
    if (tkl > COAP_MSG_MAX_TOKEN)
        return -1; /* TKL 9..15 are reserved (RFC 8974 extended tokens unsupported) */
    ext = lnib == 13 ? 1 : lnib == 14 ? 2 : lnib == 15 ? 4 : 0;
    if (avail < 1 + ext)
        return 0;
    switch (lnib) {
    case 13:
        len = TCP_LEN_8 + buf[1];
        break;
    case 14:
        len = TCP_LEN_16 + ((uint64_t)buf[1] << 8 | buf[2]);
        break;
    case 15:
        len = TCP_LEN_32 +
              ((uint64_t)buf[1] << 24 | (uint64_t)buf[2] << 16 | (uint64_t)buf[3] << 8 | buf[4]);
        break;
    default:
        len = lnib;
        break;
    }
    /* first byte + extended length + code + token + options/payload */
    return (ssize_t)(1 + ext + 1 + tkl + len);
}

int coap_msg_parse_tcp(const uint8_t *buf, size_t len, struct coap_msg *m)
{
    ssize_t fl = coap_msg_tcp_frame_len(buf, len);
    size_t off;

    coap_msg_init(m);
    if (fl <= 0 || (size_t)fl != len)
        goto bad;
    m->tkl = buf[0] & 0x0f;
    off = 1 + ((buf[0] >> 4) == 13 ? 1 : (buf[0] >> 4) == 14 ? 2 : (buf[0] >> 4) == 15 ? 4 : 0);
    m->code = buf[off++];
    memcpy(m->token, buf + off, m->tkl);
    off += m->tkl;
    /* an Empty message (code 0.00) has no options or payload (RFC 8323 §3.2
     * keeps RFC 7252's rule); TCP has no use for one but it is harmless */
    if (m->code == COAP_EMPTY && off != len)
        goto bad;
    if (parse_rest(buf, len, off, m) < 0)
        goto bad;
    return 0;
bad:
    coap_msg_init(m);
    return -1;
}

ssize_t coap_msg_serialize_tcp(const struct coap_msg *m, uint8_t *buf, size_t cap)
{
    ssize_t rl = rest_len(m);
    size_t ext, off;
    uint32_t l;

    if (rl < 0 || m->tkl > COAP_MSG_MAX_TOKEN)
        return -1;
    l = (uint32_t)rl;
    ext = l < TCP_LEN_8 ? 0 : l < TCP_LEN_16 ? 1 : l < TCP_LEN_32 ? 2 : 4;
    off = 1 + ext + 1 + m->tkl;
    if (cap < off + l)
        return -1;
    switch (ext) {
    case 0:
        buf[0] = (uint8_t)(l << 4 | m->tkl);
        break;
    case 1:
        buf[0] = (uint8_t)(13 << 4 | m->tkl);
        buf[1] = (uint8_t)(l - TCP_LEN_8);
        break;
    case 2:
        buf[0] = (uint8_t)(14 << 4 | m->tkl);
        buf[1] = (uint8_t)((l - TCP_LEN_16) >> 8);
        buf[2] = (uint8_t)(l - TCP_LEN_16);
        break;
    default: {
        uint32_t v = l - TCP_LEN_32;
        buf[0] = (uint8_t)(15 << 4 | m->tkl);
        buf[1] = (uint8_t)(v >> 24);
        buf[2] = (uint8_t)(v >> 16);
        buf[3] = (uint8_t)(v >> 8);
        buf[4] = (uint8_t)v;
        break;
    }
    }
    buf[1 + ext] = m->code;
    memcpy(buf + 2 + ext, m->token, m->tkl);
    ssize_t end = write_rest(m, buf, off, cap);
    if (end < 0 || (size_t)end != off + l)
        return -1;
    return end;
}

void coap_msg_signal(struct coap_msg *m, uint8_t code, const uint8_t *tok, uint8_t tkl,
                     uint32_t mms, bool bwt, uint8_t mmsbuf[4])
{
    coap_msg_init(m);
    m->code = code;
    m->tkl = tkl > COAP_MSG_MAX_TOKEN ? COAP_MSG_MAX_TOKEN : tkl;
    if (m->tkl)
        memcpy(m->token, tok, m->tkl);
    if (code == COAP_SIG_CSM) {
        coap_msg_add_opt_uint(m, 2, mms, mmsbuf); /* Max-Message-Size */
        if (bwt)
            coap_msg_add_opt(m, 4, NULL, 0); /* Block-Wise-Transfer */
    }
}

int coap_msg_parse_ws(const uint8_t *buf, size_t len, struct coap_msg *m)
{
    size_t off;

    coap_msg_init(m);
    if (len < 2 || (buf[0] >> 4) != 0 || (buf[0] & 0x0f) > COAP_MSG_MAX_TOKEN)
        goto bad;
    m->tkl = buf[0] & 0x0f;
    m->code = buf[1];
    if (len < 2u + m->tkl)
        goto bad;
    memcpy(m->token, buf + 2, m->tkl);
    off = 2u + m->tkl;
    if (m->code == COAP_EMPTY && off != len)
        goto bad;
    if (parse_rest(buf, len, off, m) < 0)
        goto bad;
    return 0;
bad:
    coap_msg_init(m);
    return -1;
}

ssize_t coap_msg_serialize_ws(const struct coap_msg *m, uint8_t *buf, size_t cap)
{
    size_t off = 2u + m->tkl;

    if (m->tkl > COAP_MSG_MAX_TOKEN || cap < off)
        return -1;
    buf[0] = m->tkl;
    buf[1] = m->code;
    memcpy(buf + 2, m->token, m->tkl);
    return write_rest(m, buf, off, cap);
}
