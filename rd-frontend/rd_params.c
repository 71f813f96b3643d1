/*
 * rd_params.c - Uri-Query parsing and validation for the RD interfaces.
 * Owns nothing; pure functions over a parsed request. Every rejection comes
 * with a short diagnostic that rd_request.c sends as the 4.00 payload.
 * Rules (RFC 9176 §5, BRIEF §1.2): ep and d at most 63 bytes, no characters
 * 0-31 or 127-159, well-formed UTF-8 (as every attribute value);
 * lt 1..4294967295; ep, d, lt, base, proxy, ka or sec given twice -> 4.00,
 * while any other attribute may repeat (RFC 9176 §9.3.1: several et are
 * several parameters) and every value is kept; proxy=yes|ondemand|on
 * (on = yes, deprecated); page needs count; sec= (a name's secret,
 * secrets.c) is kept apart and never becomes an attribute.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"

/* Decimal digits only, value in [min, max]. */
static int parse_u32(const char *s, size_t len, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 10)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, at most
 * U+10FFFF): names and attributes are text (RFC 9176 §9.3, RFC 6690). */
static bool valid_utf8(const unsigned char *u, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        size_t n = c < 0x80                 ? 1
                   : c >= 0xc2 && c <= 0xdf ? 2
                   : c >= 0xe0 && c <= 0xef ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4
                                            : 0;
        if (n == 0 || i + n > len)
            return false;
        for (size_t k = 1; k < n; k++)
            if ((u[i + k] & 0xc0) != 0x80)
                return false;
        if ((c == 0xe0 && u[i + 1] < 0xa0) || (c == 0xed && u[i + 1] > 0x9f) ||
            (c == 0xf0 && u[i + 1] < 0x90) || (c == 0xf4 && u[i + 1] > 0x8f))
            return false;
        i += n;
    }
    return true;
}

int rd_params_check_name(const char *what, const char *v, size_t len, char *err, size_t errlen)
{
    const unsigned char *u = (const unsigned char *)v;

    if (len > 63) {
        snprintf(err, errlen, "%s longer than 63 bytes", what);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        /* C0 controls, DEL, and C1 controls (U+0080..U+009F = C2 80..C2 9F) */
        if (u[i] < 32 || u[i] == 127 ||
            (u[i] == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f)) {
            snprintf(err, errlen, "%s contains a control character", what);
            return -1;
        }
    }
    if (!valid_utf8(u, len)) {
        snprintf(err, errlen, "%s is not UTF-8", what);
        return -1;
    }
    return 0;
}

bool rd_is_dns_label(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) || (unsigned char)s[i] > 127)
            if (s[i] != '-')
                return false;
    return true;
}

static bool valid_attr_name(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~'))
            return false;
    }
    return true;
}

/* A base must be an absolute URI without whitespace or control characters. */
static bool valid_base(const char *s)
{
    const char *colon = strchr(s, ':');

    if (!isalpha((unsigned char)s[0]) || colon == NULL || strncmp(colon, "://", 3) != 0 ||
        colon[3] == '\0')
        return false;
    for (const char *p = s; p < colon; p++)
        if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
            return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 32 || *p == 127 || *p == '<' || *p == '>' || *p == '"')
            return false;
    return true;
}

/* Split one Uri-Query option into name and value. */
static int split_query(const struct coap_msg_opt *o, char *name, size_t namelen, char *value,
                       size_t valuelen, bool *has_value, char *err, size_t errlen)
{
    const char *s = (const char *)o->val;
    const char *eq = memchr(s, '=', o->len);
    size_t nl = eq ? (size_t)(eq - s) : o->len;
    size_t vl = eq ? o->len - nl - 1 : 0;

    if (!valid_attr_name(s, nl) || nl >= namelen) {
        snprintf(err, errlen, "bad query parameter name");
        return -1;
    }
    if (vl >= valuelen) {
        snprintf(err, errlen, "query parameter %.*s too long", (int)nl, s);
        return -1;
    }
    if (memchr(s, '\0', o->len) != NULL) {
        snprintf(err, errlen, "NUL in query parameter");
        return -1;
    }
    for (size_t i = 0; i < nl; i++)
        name[i] = (char)tolower((unsigned char)s[i]);
    name[nl] = '\0';
    memcpy(value, eq ? eq + 1 : "", vl);
    value[vl] = '\0';
    *has_value = eq != NULL;
    return 0;
}

/* The registration parameters with one value; every other one may repeat. */
static bool single_valued(const char *name)
{
    static const char *const names[] = {"ep", "d", "lt", "base", "proxy", "ka", "sec"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

/* Attributes endpoint lookup computes (lookup.c, append_ep_link): a
 * registrant that sent them would show a host name, path or lifetime that
 * is not the RD's (the status page and client operators trust them). */
static bool rd_computed(const char *name)
{
    static const char *const names[] = {"host",           "transport",         "relay",
                                        "expires",        "unreachable-since", "reachable",
                                        "reachable-since"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

/* Reject a name seen before in this query. */
static int check_repeat(const struct coap_msg *req, const struct coap_msg_opt *o, const char *name,
                        char *err, size_t errlen)
{
    size_t nl = strlen(name);

    for (const struct coap_msg_opt *p = coap_msg_find(req, COAP_OPT_URI_QUERY); p && p != o;
         p = coap_msg_find_next(req, p)) {
        if ((p->len == nl || (p->len > nl && p->val[nl] == '=')) &&
            strncasecmp((const char *)p->val, name, nl) == 0) {
            snprintf(err, errlen, "parameter %s given more than once", name);
            return -1;
        }
    }
    return 0;
}

int rd_params_parse(const struct coap_msg *req, struct rd_params *p, char *err, size_t errlen)
{
    char name[RD_ATTR_NAME_MAX], value[RD_ATTR_VALUE_MAX];
    bool hv;

    memset(p, 0, sizeof(*p));
    p->ka = RR_KA_DEFAULT;
    for (const struct coap_msg_opt *o = coap_msg_find(req, COAP_OPT_URI_QUERY); o;
         o = coap_msg_find_next(req, o)) {
        if (split_query(o, name, sizeof(name), value, sizeof(value), &hv, err, errlen) < 0 ||
            (single_valued(name) && check_repeat(req, o, name, err, errlen) < 0))
            return -1;
        size_t vl = strlen(value);
        if (strcmp(name, "ep") == 0 || strcmp(name, "d") == 0) {
            bool is_ep = name[0] == 'e';
            if (rd_params_check_name(name, value, vl, err, errlen) < 0)
                return -1;
            if (is_ep && vl == 0) {
                snprintf(err, errlen, "ep must not be empty");
                return -1;
            }
            snprintf(is_ep ? p->ep : p->d, RR_EP_MAX, "%s", value);
            *(is_ep ? &p->has_ep : &p->has_d) = true;
        } else if (strcmp(name, "lt") == 0) {
            if (parse_u32(value, vl, 1, 4294967295u, &p->lt) < 0) {
                snprintf(err, errlen, "lt must be an integer 1..4294967295");
                return -1;
            }
            p->has_lt = true;
        } else if (strcmp(name, "base") == 0) {
            if (vl >= RD_BASE_MAX || !valid_base(value)) {
                snprintf(err, errlen, "base must be an absolute URI (scheme://authority)");
                return -1;
            }
            snprintf(p->base, sizeof(p->base), "%s", value);
            p->has_base = true;
        } else if (strcmp(name, "proxy") == 0) {
            if (strcmp(value, "yes") == 0) {
                p->proxy = RD_PROXY_YES;
            } else if (strcmp(value, "on") == 0) {
                p->proxy = RD_PROXY_YES;
                p->proxy_on = true;
            } else if (strcmp(value, "ondemand") == 0) {
                p->proxy = RD_PROXY_ONDEMAND;
            } else {
                snprintf(err, errlen, "proxy must be yes or ondemand");
                return -1;
            }
            p->has_proxy = true;
        } else if (strcmp(name, "ka") == 0) {
            if (parse_u32(value, vl, 0, 4294967294u, &p->ka) < 0) {
                snprintf(err, errlen, "ka must be an integer number of seconds");
                return -1;
            }
            p->has_ka = true;
        } else if (strcmp(name, "sec") == 0) {
            /* the name's secret (secrets.c): kept for the check, never an attribute */
            snprintf(p->sec, sizeof(p->sec), "%s", value);
            p->has_sec = true;
        } else if (rd_computed(name)) {
            snprintf(err, errlen, "%s is set by the RD, not by the registrant", name);
            return -1;
        } else {
            if (rd_params_check_name(name, value, vl, err, errlen) < 0)
                return -1;
            if (p->nattrs >= RD_MAX_ATTRS) {
                snprintf(err, errlen, "too many parameters");
                return -1;
            }
            struct rd_attr *a = &p->attrs[p->nattrs++];
            snprintf(a->name, sizeof(a->name), "%s", name);
            snprintf(a->value, sizeof(a->value), "%s", value);
            a->has_value = hv;
        }
    }
    return 0;
}

int rd_query_parse(const struct coap_msg *req, struct rd_query *q, char *err, size_t errlen)
{
    char name[RD_ATTR_NAME_MAX], value[RD_ATTR_VALUE_MAX];
    bool hv;

    memset(q, 0, sizeof(*q));
    for (const struct coap_msg_opt *o = coap_msg_find(req, COAP_OPT_URI_QUERY); o;
         o = coap_msg_find_next(req, o)) {
        if (split_query(o, name, sizeof(name), value, sizeof(value), &hv, err, errlen) < 0)
            return -1;
        if (strcmp(name, "page") == 0 || strcmp(name, "count") == 0) {
            bool is_page = name[0] == 'p';
            if (check_repeat(req, o, name, err, errlen) < 0)
                return -1;
            if (parse_u32(value, strlen(value), 0, 4294967295u, is_page ? &q->page : &q->count) <
                0) {
                snprintf(err, errlen, "%s must be a non-negative integer", name);
                return -1;
            }
            *(is_page ? &q->has_page : &q->has_count) = true;
            continue;
        }
        if (q->nf >= RD_MAX_ATTRS) {
            snprintf(err, errlen, "too many filters");
            return -1;
        }
        struct rd_attr *a = &q->f[q->nf++];
        snprintf(a->name, sizeof(a->name), "%s", name);
        snprintf(a->value, sizeof(a->value), "%s", value);
        a->has_value = hv;
    }
    if (q->has_page && !q->has_count) {
        snprintf(err, errlen, "page requires count");
        return -1;
    }
    return 0;
}
