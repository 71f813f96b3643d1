/*
 * xfwd_ep.c - cross-transport endpoints by relay name (xfwd_ep.h).
 */
#include "xfwd_ep.h"

#include <stdio.h>
#include <string.h>

#include "curve.h"
#include "proto.h"

int xfwd_endpoints_foreach(const char *list,
                           int (*fn)(void *arg, const char *name, const char *ep, const char *key),
                           void *arg)
{
    const char *p = list;

    while (*p) {
        char item[300], *eq, *semi;
        size_t n;
        while (*p == ' ' || *p == ',')
            p++;
        n = strcspn(p, ",");
        while (n && p[n - 1] == ' ')
            n--;
        if (!n)
            break;
        if (n >= sizeof(item))
            return -1;
        memcpy(item, p, n);
        item[n] = '\0';
        p += n;
        eq = strchr(item, '=');
        if (!eq || eq == item || strncmp(eq + 1, "tcp://", 6) != 0 || !eq[7])
            return -1;
        *eq = '\0';
        semi = strchr(eq + 1, ';');
        if (semi) {
            *semi = '\0';
            if (!curve_key_ok(semi + 1))
                return -1;
        }
        if (strlen(item) >= RR_RELAY_NAME_MAX)
            return -1;
        int rc = fn ? fn(arg, item, eq + 1, semi ? semi + 1 : "") : 0;
        if (rc)
            return rc;
    }
    return 0;
}

bool xfwd_endpoints_ok(const char *list)
{
    return xfwd_endpoints_foreach(list, NULL, NULL) == 0;
}

struct find {
    const char *relay;
    char *out;
    size_t outlen;
};

static int find_one(void *arg, const char *name, const char *ep, const char *key)
{
    struct find *f = arg;
    (void)key;
    if (strcmp(name, f->relay) != 0)
        return 0;
    int n = snprintf(f->out, f->outlen, "%s", ep);
    return n < 0 || (size_t)n >= f->outlen ? -1 : 1;
}

int xfwd_endpoint(const struct rr_config *cfg, const char *relay, char *out, size_t outlen)
{
    struct find f = {relay, out, outlen};
    int rc = xfwd_endpoints_foreach(cfg->xfwd_endpoints, find_one, &f);

    if (rc == 1)
        return 0;
    if (rc < 0)
        return -1;
    return proto_relay_endpoint(cfg->state_dir, relay, out, outlen);
}
