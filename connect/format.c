/*
 * format.c - what rdrelay-connect prints: host names taken from an RD's
 * endpoint lookup (base="coap://<host>"), the host name computed the way
 * rdrelay names a proxied registration (lower(ep)[.lower(d)].domain), and
 * JSON string quoting for --json output. Owns nothing; pure functions.
 */
#include "connect.h"

#include <coap3/coap.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

int cn_base_host(const char *base, char *out, size_t outlen)
{
    coap_uri_t cu;

    if (base == NULL || coap_split_uri((const uint8_t *)base, strlen(base), &cu) < 0 ||
        cu.host.length == 0 || cu.host.length >= outlen)
        return -1;
    memcpy(out, cu.host.s, cu.host.length);
    out[cu.host.length] = '\0';
    return 0;
}

int cn_host_compute(const char *ep, const char *d, const char *domain, char *out, size_t outlen)
{
    int n;

    if (domain == NULL || domain[0] == '\0')
        return -1;
    if (d != NULL && d[0] != '\0')
        n = snprintf(out, outlen, "%s.%s.%s", ep, d, domain);
    else
        n = snprintf(out, outlen, "%s.%s", ep, domain);
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

void cn_json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; s != NULL && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}
