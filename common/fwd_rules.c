/*
 * fwd_rules.c - implementation of fwd_rules.h (pure functions).
 */
#include "fwd_rules.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "coap_opts.h"

bool fwd_host_is_ip_literal(const char *host)
{
    char buf[64];
    unsigned char tmp[16];
    size_t n = strlen(host);

    if (n == 0 || n >= sizeof(buf))
        return false;
    if (host[0] == '[') {
        if (n < 3 || host[n - 1] != ']')
            return false;
        memcpy(buf, host + 1, n - 2);
        buf[n - 2] = '\0';
        /* a zone id ("%eth0") is allowed in a literal but not by inet_pton */
        char *pct = strchr(buf, '%');
        if (pct)
            *pct = '\0';
        return inet_pton(AF_INET6, buf, tmp) == 1;
    }
    if (inet_pton(AF_INET, host, tmp) == 1)
        return true;
    memcpy(buf, host, n + 1);
    char *pct = strchr(buf, '%');
    if (pct)
        *pct = '\0';
    return inet_pton(AF_INET6, buf, tmp) == 1;
}

/* Is name (length n) one of the comma-separated names in list? */
static bool name_in_list(const char *name, size_t n, const char *list)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        if ((size_t)(t - p) == n && strncasecmp(p, name, n) == 0)
            return true;
        p = e;
    }
    return false;
}

enum fwd_dest fwd_route_decide(const char *host, const struct rr_config *cfg)
{
    size_t n = strlen(host);
    const char *dom = cfg->proxy_domain;
    size_t dn = strlen(dom);

    /* a trailing dot names the same host (absolute DNS name) */
    if (n > 0 && host[n - 1] == '.')
        n--;
    if (n == 0 || fwd_host_is_ip_literal(host))
        return FWD_DEST_RD;
    if (dn > 0) {
        if (n == dn && strncasecmp(host, dom, dn) == 0)
            return FWD_DEST_RD;
        if (n > dn + 1 && host[n - dn - 1] == '.' && strncasecmp(host + n - dn, dom, dn) == 0)
            return FWD_DEST_PROXY;
    }
    if (cfg->rd_names[0] == '\0' || name_in_list(host, n, cfg->rd_names))
        return FWD_DEST_RD;
    return FWD_DEST_REJECT;
}

int fwd_hop_limit_apply(struct coap_msg *m, uint32_t dflt, uint8_t *buf)
{
    const struct coap_msg_opt *o = coap_msg_find(m, COAP_OPT_HOP_LIMIT);
    if (!o) {
        if (dflt == 0 || dflt > 255)
            dflt = 16;
        buf[0] = (uint8_t)dflt;
        /* the only way adding fails is a full option list: that is our
         * limit, not a loop, and must not be reported as 5.08 */
        return coap_msg_add_opt(m, COAP_OPT_HOP_LIMIT, buf, 1) < 0 ? FWD_HL_NO_ROOM : 0;
    }
    uint32_t v = coap_opt_value_uint(o);
    if (v <= 1)
        return FWD_HL_LOOP;
    /* Hop-Limit is 1..255 (RFC 8768 §3); a longer value counts as 255, not
     * as its low byte, which would reset the count or end it at once
     * (0x0100 -> 255, 0x0201 -> 0; found by tests/fuzz/fuzz_fwd_rules.c) */
    if (v > 255)
        v = 255;
    buf[0] = (uint8_t)(v - 1);
    /* Hop-Limit is 1 byte (RFC 8768); rewrite in place in our option list */
    struct coap_msg_opt *w = &m->opts[o - m->opts];
    w->val = buf;
    w->len = 1;
    return 0;
}

uint8_t fwd_hop_limit_answer(int verdict, char *diag, size_t len)
{
    if (verdict == FWD_HL_NO_ROOM) {
        snprintf(diag, len, "request has %u options: no room to add Hop-Limit", COAP_MSG_MAX_OPTS);
        return COAP_INTERNAL_ERROR;
    }
    snprintf(diag, len, "hop limit reached (proxy loop?)");
    return COAP_HOP_LIMIT_REACHED;
}

int fwd_check_options(const struct coap_msg *m, const struct rr_config *cfg, uint16_t *bad)
{
    for (unsigned i = 0; i < m->nopts; i++) {
        uint16_t num = m->opts[i].num;
        if (coap_opt_is_unsafe(num) && !coap_opt_is_known(num, cfg)) {
            *bad = num;
            return -1;
        }
    }
    return 0;
}

int fwd_check_critical(const struct coap_msg *m, const struct rr_config *cfg, uint16_t *bad)
{
    for (unsigned i = 0; i < m->nopts; i++) {
        uint16_t num = m->opts[i].num;
        if (coap_opt_is_critical(num) && !coap_opt_is_known(num, cfg)) {
            *bad = num;
            return -1;
        }
    }
    return 0;
}

bool fwd_is_forward_proxy_request(const struct coap_msg *m)
{
    return coap_msg_find(m, COAP_OPT_PROXY_URI) || coap_msg_find(m, COAP_OPT_PROXY_SCHEME);
}

void fwd_token_encode(uint32_t slot, uint32_t check, uint8_t out[FWD_TOKEN_LEN])
{
    out[0] = (uint8_t)(slot >> 24);
    out[1] = (uint8_t)(slot >> 16);
    out[2] = (uint8_t)(slot >> 8);
    out[3] = (uint8_t)slot;
    out[4] = (uint8_t)(check >> 24);
    out[5] = (uint8_t)(check >> 16);
    out[6] = (uint8_t)(check >> 8);
    out[7] = (uint8_t)check;
}

int fwd_token_decode(const uint8_t *tok, size_t len, uint32_t *slot, uint32_t *check)
{
    if (len != FWD_TOKEN_LEN)
        return -1;
    *slot = (uint32_t)tok[0] << 24 | (uint32_t)tok[1] << 16 | (uint32_t)tok[2] << 8 | tok[3];
    *check = (uint32_t)tok[4] << 24 | (uint32_t)tok[5] << 16 | (uint32_t)tok[6] << 8 | tok[7];
    return 0;
}

/* A Uri-Host that no URI could carry (RFC 3986 host: reg-name, IPv4 or
 * an IP-literal; RFC 7252 §6.4): controls, blanks, non-ASCII bytes (an IDN
 * travels as punycode) and the URI delimiters that cannot be part of a
 * host. Such a request is answered 4.00, never routed anywhere. */
static bool host_chars_valid(const char *h)
{
    /* one bit per byte (the forwarding path: no search per character):
     * 0x21..0x7e without " # / < > ? @ \ ^ ` { | } */
    static const uint64_t ok[4] = {0x2fff7ff200000000ull, 0x47fffffeaffffffeull, 0, 0};

    for (const unsigned char *p = (const unsigned char *)h; *p; p++)
        if (!((ok[*p >> 6] >> (*p & 63)) & 1))
            return false;
    return true;
}

enum fwd_verdict fwd_classify(const struct coap_msg *m, const struct rr_config *cfg, char *host,
                              size_t hostlen, uint16_t *bad)
{
    if (fwd_is_forward_proxy_request(m))
        return FWD_V_FORWARD_PROXY;
    if (coap_msg_uri_host_lower(m, host, hostlen) < 0)
        return FWD_V_HOST_TOO_LONG;
    if (!host_chars_valid(host))
        return FWD_V_BAD_HOST;
    size_t n = strlen(host);
    if (n > 0 && host[n - 1] == '.')
        host[n - 1] = '\0'; /* an absolute name is the same host */
    switch (fwd_route_decide(host, cfg)) {
    case FWD_DEST_RD:
        return fwd_check_critical(m, cfg, bad) < 0 ? FWD_V_BAD_CRITICAL : FWD_V_RD;
    case FWD_DEST_PROXY:
        return FWD_V_PROXY;
    default:
        return FWD_V_UNKNOWN_HOST;
    }
}

uint8_t fwd_verdict_answer(enum fwd_verdict v, uint16_t bad, char *diag, size_t len)
{
    switch (v) {
    case FWD_V_BAD_CRITICAL:
        snprintf(diag, len, "unknown critical option %u", bad);
        return COAP_BAD_OPTION;
    case FWD_V_FORWARD_PROXY:
        snprintf(diag, len, "forward proxying is not supported");
        return COAP_PROXYING_NOT_SUPPORTED;
    case FWD_V_HOST_TOO_LONG:
        snprintf(diag, len, "Uri-Host too long");
        return COAP_PROXYING_NOT_SUPPORTED;
    case FWD_V_BAD_HOST:
        snprintf(diag, len, "Uri-Host is not a valid host name");
        return COAP_BAD_REQUEST;
    default:
        snprintf(diag, len, "unknown host name");
        return COAP_PROXYING_NOT_SUPPORTED;
    }
}
