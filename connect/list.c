/*
 * list.c - `rdrelay-connect list`: for the client operator, the proxied
 * endpoints and the host names to use. One endpoint lookup
 * (GET /rd-lookup/ep[?ep=PATTERN], Block2 followed), printed as a table of
 * ep, d and host name (the host of each registration's base), or as JSON.
 * By default only proxied endpoints (those with a proxy attribute: the ones
 * reachable by name), filtered by the RD (proxy=*); --all lists every one.
 * Owns nothing beyond the call. Talks to rdrelay's RD.
 */
#include "connect.h"
#include "ws_client.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coap_msg.h"
#include "linkformat.h"
#include "log.h"

static void list_usage(FILE *out)
{
    fprintf(
        out,
        "usage: rdrelay-connect list --rd coap[+ws]://HOST[:PORT] [--ep PATTERN] [--all] "
        "[--json]\n"
        "\n"
        "Prints the proxied endpoints registered at rdrelay and the host names clients use\n"
        "to reach them (an endpoint lookup: GET /rd-lookup/ep?proxy=*, filtered by\n"
        "ep=PATTERN; a trailing * matches any suffix).\n"
        "\n"
        "options:\n"
        "  --rd URI          rdrelay's address (required): coap://, or coap+ws:// to ask\n"
        "                    over a WebSocket (rdrelay-ws, default port 8683), or\n"
        "                    coaps+ws:// over TLS (8684; --ca FILE, --insecure as for serve)\n"
        "  --ep PATTERN      only endpoints whose name matches\n"
        "  --all             every endpoint, also those not proxied (host shown as -)\n"
        "  --json            a JSON array of {ep, d, host, proxy, base, href} instead of a table\n"
        "  --timeout MS      give up after this long (default 10000)\n"
        "  --log-level LEVEL error, warn, info (default), debug\n"
        "  --help            this text\n"
        "exit: 0 listed (possibly nothing), 2 bad arguments, 1 RD unreachable or error\n");
}

static const char *param_or_empty(const struct lf_link *l, const char *name)
{
    const char *v = lf_link_param(l, name);
    return v ? v : "";
}

static void list_print(const struct lf_doc *doc, bool json)
{
    if (json)
        fputc('[', stdout);
    else
        printf("%-24s %-16s %-40s %s\n", "EP", "D", "HOST", "PORT");
    for (unsigned i = 0; i < doc->nlinks; i++) {
        const struct lf_link *l = &doc->links[i];
        char host[CN_HOSTLEN] = "";
        const char *base = lf_link_param(l, "base"), *proxy = lf_link_param(l, "proxy");
        /* port-based hosting: the hosting port (port="N"), 0 = none */
        unsigned long port = strtoul(param_or_empty(l, "port"), NULL, 10);
        if (port > 65535)
            port = 0;

        /* only a proxied registration's base names a host that reaches it */
        if (proxy == NULL || strcmp(proxy, "no") == 0 || cn_base_host(base, host, sizeof(host)) < 0)
            host[0] = '\0';
        if (json) {
            fputs(i ? ",{\"ep\":" : "{\"ep\":", stdout);
            cn_json_str(stdout, param_or_empty(l, "ep"));
            fputs(",\"d\":", stdout);
            cn_json_str(stdout, param_or_empty(l, "d"));
            fputs(",\"host\":", stdout);
            cn_json_str(stdout, host);
            fputs(",\"proxy\":", stdout);
            cn_json_str(stdout, proxy ? proxy : "");
            fputs(",\"base\":", stdout);
            cn_json_str(stdout, base ? base : "");
            fputs(",\"href\":", stdout);
            cn_json_str(stdout, l->target);
            fprintf(stdout, ",\"port\":%lu}", port);
        } else {
            char ps[8] = "-";
            if (port)
                snprintf(ps, sizeof(ps), "%lu", port);
            printf("%-24s %-16s %-40s %s\n", param_or_empty(l, "ep"),
                   param_or_empty(l, "d")[0] ? param_or_empty(l, "d") : "-", host[0] ? host : "-",
                   ps);
        }
    }
    if (json)
        fputs("]\n", stdout);
}

int list_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rd", required_argument, NULL, 'r'}, {"ep", required_argument, NULL, 'e'},
        {"json", no_argument, NULL, 'j'},     {"timeout", required_argument, NULL, 'T'},
        {"all", no_argument, NULL, 'a'},      {"log-level", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},     {"ca", required_argument, NULL, 'C'},
        {"insecure", no_argument, NULL, 'k'}, {NULL, 0, NULL, 0}};
    const char *rd = NULL, *pattern = NULL;
    bool json = false, all = false;
    unsigned timeout_ms = 10000;
    struct cn_uri u;
    struct cn_request req;
    struct ws_tls_opts tls = {0};
    struct strbuf body, query;
    struct lf_doc doc;
    uint8_t code = 0;
    char err[256], cb[8];
    int c, rc = CN_EXIT_CONFIG;

    sb_init(&body);
    sb_init(&query);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            rd = optarg;
            break;
        case 'e':
            pattern = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'C':
            tls.ca_file = optarg;
            break;
        case 'k':
            tls.insecure = true;
            break;
        case 'a':
            all = true;
            break;
        case 'T':
            timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
            if (timeout_ms == 0) {
                fprintf(stderr, "list: --timeout wants milliseconds > 0\n");
                goto done;
            }
            break;
        case 'v': {
            enum log_level lvl;
            if (log_level_parse(optarg, &lvl) < 0) {
                fprintf(stderr, "list: unknown log level '%s'\n", optarg);
                goto done;
            }
            log_set_level(lvl);
            break;
        }
        case 'h':
            list_usage(stdout);
            rc = CN_EXIT_OK;
            goto done;
        default:
            list_usage(stderr);
            goto done;
        }
    }
    if (rd == NULL || optind < argc) {
        fprintf(stderr, "list: --rd is required, nothing else (see --help)\n");
        goto done;
    }
    if (strncasecmp(rd, "coap+tcp://", 11) == 0 ||
        cn_uri_parse(rd, true, &u, err, sizeof(err)) < 0) {
        fprintf(stderr, "list: --rd: %s\n",
                strncasecmp(rd, "coap+tcp://", 11) == 0 ? "coap:// or coap[s]+ws:// only" : err);
        goto done;
    }
    rc = CN_EXIT_RUNTIME;
    if (!all)
        sb_puts(&query, "proxy=*");
    if (pattern != NULL)
        sb_printf(&query, "%sep=%s", all ? "" : "&", pattern);
    memset(&req, 0, sizeof(req));
    req.to = &u.addr;
    req.method = COAP_GET;
    req.path = "/rd-lookup/ep";
    req.query = query.buf;
    req.content_format = -1;
    req.timeout_ms = timeout_ms;
    req.ws = u.ws ? &u : NULL;
    tls.on = u.wss;
    req.tls = &tls;
    if (cn_request_blocking(&req, &code, &body, err, sizeof(err)) < 0) {
        fprintf(stderr, "list: %s: %s\n", rd, err);
        goto done;
    }
    if (code != COAP_CONTENT) {
        fprintf(stderr, "list: endpoint lookup answered %s %s\n", coap_code_str(code, cb),
                body.buf ? body.buf : "");
        goto done;
    }
    if (lf_parse(body.buf ? body.buf : "", body.len, &doc, err, sizeof(err)) < 0) {
        fprintf(stderr, "list: unreadable lookup answer: %s\n", err);
        goto done;
    }
    list_print(&doc, json);
    lf_free(&doc);
    rc = CN_EXIT_OK;
done:
    sb_free(&body);
    sb_free(&query);
    return rc;
}
