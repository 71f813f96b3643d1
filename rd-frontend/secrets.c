/*
 * secrets.c - optional per-name shared secrets (issue 19): the file named
 * by name_secrets maps name patterns to secrets; a name that matches can
 * only be registered, updated or deleted by a request that carries the
 * secret as the query parameter sec=SECRET.
 * Owns: struct rd_secrets (loaded once at start). Talks to the file system.
 * File format, one mapping per line, '#' starts a comment:
 *     PATTERN SECRET
 * PATTERN is the endpoint name "ep" (no sector) or "ep.d" (sector d), with
 * fnmatch(3) wildcards, compared without regard to case (proxy names are
 * case-insensitive): "alice", "alice.lab", "riot-*", "*.plugtest". The
 * first matching line wins. SECRET is any run of non-blank bytes.
 * Why a query parameter and not a CoAP option: every registrant can send
 * one (coap-client, RIOT cord_ep, aiocoap, a URI in a config file), it
 * travels on updates and DELETE alike, and rd_params.c drops it before
 * anything is stored or shown. It is exactly as safe as the transport: over
 * plain UDP/TCP anyone on the path reads it (see docs/security.md).
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"
#include "log.h"

void secrets_free(struct rd_secrets *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].pattern);
        free(s->v[i].secret);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* Split "PATTERN SECRET" (comment and blanks removed); 1 added, 0 blank,
 * -1 malformed or out of memory. */
static int parse_line(struct rd_secrets *s, char *line)
{
    char *pat, *sec, *rest, *save = NULL;
    struct rd_secret *nv;

    line[strcspn(line, "#\r\n")] = '\0';
    pat = strtok_r(line, " \t", &save);
    if (pat == NULL)
        return 0;
    sec = strtok_r(NULL, " \t", &save);
    rest = strtok_r(NULL, " \t", &save);
    if (sec == NULL || rest != NULL || strlen(sec) >= RD_ATTR_VALUE_MAX)
        return -1;
    nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
    if (nv == NULL)
        return -1;
    s->v = nv;
    nv[s->n].pattern = strdup(pat);
    nv[s->n].secret = strdup(sec);
    if (nv[s->n].pattern == NULL || nv[s->n].secret == NULL) {
        free(nv[s->n].pattern);
        free(nv[s->n].secret);
        return -1;
    }
    s->n++;
    return 1;
}

int secrets_load(struct rd_secrets *s, const char *path)
{
    char line[1024];
    unsigned lineno = 0;
    FILE *f;
    int rc = 0;

    s->v = NULL;
    s->n = 0;
    if (path[0] == '\0')
        return 0;
    f = fopen(path, "r");
    if (f == NULL) {
        log_warn("name_secrets %s", path);
        return -1;
    }
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        if (parse_line(s, line) < 0) {
            log_warnx("name_secrets %s:%u: expected \"PATTERN SECRET\" (secret under %d bytes)",
                      path, lineno, RD_ATTR_VALUE_MAX);
            rc = -1;
        }
    }
    fclose(f);
    if (rc < 0)
        secrets_free(s);
    else
        log_info("name_secrets %s: %zu names with a secret", path, s->n);
    return rc;
}

const char *secrets_find(const struct rd_secrets *s, const char *ep, const char *d)
{
    char name[2 * RR_EP_MAX + 2];

    if (s->n == 0)
        return NULL;
    snprintf(name, sizeof(name), "%s%s%s", ep, d[0] ? "." : "", d);
    for (size_t i = 0; i < s->n; i++)
        if (fnmatch(s->v[i].pattern, name, FNM_CASEFOLD) == 0)
            return s->v[i].secret;
    return NULL;
}

bool secrets_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;

    /* walk the secret's length whatever a is: no early exit to time */
    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(b[i] ^ (i < la ? a[i] : 0));
    return diff == 0;
}
