/*
 * addr.c - socket address helpers (addr.h).
 * Owns nothing. Talks to nothing (inet_pton/inet_ntop only).
 * Every address that enters through here is normalised: a v4-mapped IPv6
 * address becomes AF_INET, so the same peer never has two spellings
 * (BRIEF §1.2: NATs and dual-stack sockets hand us both forms).
 */
#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void addr_normalise(struct rr_addr *a)
{
    struct sockaddr_in6 s6;
    struct sockaddr_in *s4;

    if (a->ss.ss_family != AF_INET6)
        return;
    memcpy(&s6, &a->ss, sizeof(s6));
    if (!IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr))
        return;
    memset(&a->ss, 0, sizeof(a->ss));
    s4 = (struct sockaddr_in *)&a->ss;
    s4->sin_family = AF_INET;
    s4->sin_port = s6.sin6_port;
    memcpy(&s4->sin_addr, &s6.sin6_addr.s6_addr[12], 4);
    a->len = sizeof(*s4);
}

void addr_from_sockaddr(struct rr_addr *a, const struct sockaddr *sa, socklen_t len)
{
    memset(a, 0, sizeof(*a));
    if (!sa || len < sizeof(sa_family_t))
        return;
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
        a->len = sizeof(struct sockaddr_in);
    else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
        a->len = sizeof(struct sockaddr_in6);
    else
        return; /* anything else is "no address" */
    memcpy(&a->ss, sa, a->len);
    addr_normalise(a);
}

static const struct sockaddr_in *as4(const struct rr_addr *a)
{
    return (const struct sockaddr_in *)&a->ss;
}

static const struct sockaddr_in6 *as6(const struct rr_addr *a)
{
    return (const struct sockaddr_in6 *)&a->ss;
}

bool addr_equal_host(const struct rr_addr *a, const struct rr_addr *b)
{
    if (a->ss.ss_family != b->ss.ss_family)
        return false;
    switch (a->ss.ss_family) {
    case AF_INET:
        return as4(a)->sin_addr.s_addr == as4(b)->sin_addr.s_addr;
    case AF_INET6:
        return memcmp(&as6(a)->sin6_addr, &as6(b)->sin6_addr, 16) == 0;
    default:
        return true; /* both unset */
    }
}

void addr_source_key(const struct rr_addr *a, uint8_t key[ADDR_SOURCE_KEY_LEN])
{
    memset(key, 0, ADDR_SOURCE_KEY_LEN);
    if (a->ss.ss_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &as4(a)->sin_addr, 4);
    } else if (a->ss.ss_family == AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, &as6(a)->sin6_addr, 8);
    }
}

bool addr_same_source(const struct rr_addr *a, const struct rr_addr *b)
{
    uint8_t ka[ADDR_SOURCE_KEY_LEN], kb[ADDR_SOURCE_KEY_LEN];

    addr_source_key(a, ka);
    addr_source_key(b, kb);
    return memcmp(ka, kb, sizeof(ka)) == 0;
}

bool addr_equal(const struct rr_addr *a, const struct rr_addr *b)
{
    if (!addr_equal_host(a, b) || addr_port(a) != addr_port(b))
        return false;
    /* The scope only tells link-local addresses apart. */
    if (a->ss.ss_family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&as6(a)->sin6_addr))
        return as6(a)->sin6_scope_id == as6(b)->sin6_scope_id;
    return true;
}

uint32_t addr_hash(const struct rr_addr *a)
{
    uint32_t h = 2166136261u;
    const uint8_t *p = NULL;
    size_t n = 0;
    uint16_t port = addr_port(a);

    if (a->ss.ss_family == AF_INET) {
        p = (const uint8_t *)&as4(a)->sin_addr;
        n = 4;
    } else if (a->ss.ss_family == AF_INET6) {
        p = (const uint8_t *)&as6(a)->sin6_addr;
        n = 16;
    }
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    h = (h ^ (port & 0xff)) * 16777619u;
    h = (h ^ (port >> 8)) * 16777619u;
    return h;
}

uint16_t addr_port(const struct rr_addr *a)
{
    if (a->ss.ss_family == AF_INET)
        return ntohs(as4(a)->sin_port);
    if (a->ss.ss_family == AF_INET6)
        return ntohs(as6(a)->sin6_port);
    return 0;
}

void addr_set_port(struct rr_addr *a, uint16_t port)
{
    if (a->ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
    else if (a->ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
}

const char *addr_host_str(const struct rr_addr *a, char *buf, size_t len)
{
    char tmp[INET6_ADDRSTRLEN], ifname[IF_NAMESIZE];
    const struct sockaddr_in6 *s6 = as6(a);

    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (a->ss.ss_family == AF_INET) {
        if (!inet_ntop(AF_INET, &as4(a)->sin_addr, tmp, sizeof(tmp)))
            return buf;
        snprintf(buf, len, "%s", tmp);
    } else if (a->ss.ss_family == AF_INET6) {
        if (!inet_ntop(AF_INET6, &s6->sin6_addr, tmp, sizeof(tmp)))
            return buf;
        if (s6->sin6_scope_id == 0)
            snprintf(buf, len, "%s", tmp);
        else if (if_indextoname(s6->sin6_scope_id, ifname))
            snprintf(buf, len, "%s%%%s", tmp, ifname);
        else
            snprintf(buf, len, "%s%%%u", tmp, (unsigned)s6->sin6_scope_id);
    } else {
        snprintf(buf, len, "none");
    }
    return buf;
}

const char *addr_to_str(const struct rr_addr *a, char *buf, size_t len)
{
    char host[RR_ADDRSTRLEN];

    addr_host_str(a, host, sizeof(host));
    if (a->ss.ss_family == AF_INET)
        snprintf(buf, len, "%s:%u", host, addr_port(a));
    else if (a->ss.ss_family == AF_INET6)
        snprintf(buf, len, "[%s]:%u", host, addr_port(a));
    else
        snprintf(buf, len, "%s", host);
    return buf;
}

/* Decimal port 0..65535, nothing else. */
static int parse_port(const char *s, uint16_t *out)
{
    unsigned long v = 0;

    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > 65535)
            return -1;
    }
    *out = (uint16_t)v;
    return 0;
}

/* An IPv6 literal with an optional "%scope" (interface name or index). */
static int parse_v6(struct rr_addr *a, char *host, uint16_t port)
{
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
    char *pct = strchr(host, '%');

    if (pct) {
        *pct++ = '\0';
        if (*pct == '\0')
            return -1;
        s6->sin6_scope_id = if_nametoindex(pct);
        if (s6->sin6_scope_id == 0) {
            char *end;
            unsigned long v = strtoul(pct, &end, 10);
            if (*end || v == 0 || v > UINT32_MAX)
                return -1;
            s6->sin6_scope_id = (uint32_t)v;
        }
    }
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
        return -1;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    a->len = sizeof(*s6);
    return 0;
}

static int parse_v4(struct rr_addr *a, const char *host, uint16_t port)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;

    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
        return -1;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    a->len = sizeof(*s4);
    return 0;
}

int addr_parse(struct rr_addr *a, const char *str, uint16_t default_port)
{
    char tmp[RR_ADDRSTRLEN + 8], *host = tmp, *colon;
    uint16_t port = default_port;
    int rc = -1;

    memset(a, 0, sizeof(*a));
    if (strlen(str) >= sizeof(tmp))
        return -1;
    strcpy(tmp, str);
    if (tmp[0] == '[') {
        char *close = strchr(tmp, ']');
        if (!close)
            goto out;
        *close = '\0';
        host = tmp + 1;
        if (close[1] == ':') {
            if (parse_port(close + 2, &port) < 0)
                goto out;
        } else if (close[1] != '\0') {
            goto out;
        }
        rc = parse_v6(a, host, port);
    } else if ((colon = strchr(tmp, ':')) && strchr(colon + 1, ':')) {
        rc = parse_v6(a, host, port); /* bare IPv6 literal, no port */
    } else {
        if (colon) {
            *colon = '\0';
            if (parse_port(colon + 1, &port) < 0)
                goto out;
        }
        rc = parse_v4(a, host, port);
    }
out:
    if (rc < 0)
        memset(a, 0, sizeof(*a));
    else
        addr_normalise(a);
    return rc;
}

int addr_parse_list(const char *list, uint16_t default_port, struct rr_addr *out, int max)
{
    char item[RR_ADDRSTRLEN + 8];
    const char *p = list;
    int n = 0;

    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);

        while (len && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        if (len >= sizeof(item))
            return -1;
        if (len) {
            memcpy(item, p, len);
            item[len] = '\0';
            if (n >= max || addr_parse(&out[n], item, default_port) < 0)
                return -1;
            n++;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return n;
}
