/*
 * serve.c - `rdrelay-connect serve`: puts an unmodified local CoAP server
 * behind rdrelay's reverse proxy.
 * Owns, per endpoint name (--ep): one UDP socket towards rdrelay (the
 * registration, its refreshes, the pings and all forwarded traffic share it,
 * so they share the NAT binding rdrelay routes through), one UDP socket
 * towards the local server, the registration's state machine and a forwarder
 * (fwd.h) between the two. Several --ep NAME=URI pairs get one socket each:
 * rdrelay removes Uri-Host when it forwards, so the path (our socket) is the
 * only thing that tells two names apart.
 * Talks to: rdrelay (RD interface: discovery, registration, update, lookup,
 * removal; proxy: the requests it forwards) and the local server.
 *
 * Registration life cycle, per endpoint:
 *   DISCOVER (GET /.well-known/core?rt=core.rd, else /rd) -> REGISTER (POST
 *   ?ep&d&proxy=yes&lt with the local server's links) -> LOOKUP (the host
 *   name from the endpoint lookup's base) -> REGISTERED: update POST to the
 *   registration resource before lt runs out (2.04 expected; 4.04 ->
 *   REGISTER again; timeouts and 5.xx -> retry with backoff, never a new
 *   registration), and a CoAP ping when nothing was sent for --ping seconds,
 *   which keeps the NAT binding open. An unanswered ping triggers an update
 *   at once: that moves the route to our current source address.
 *   SIGINT/SIGTERM -> DELETE the registration, exit 0.
 * --transport tcp (or a coap+tcp:// --rd): after parsing and fetching the
 * links, everything is handed to tcp.c (serve_tcp_run); serve.h holds what
 * the two share.
 */
#include "connect.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "coap_msg.h"
#include "fwd.h"
#include "serve.h"
#include "linkformat.h"
#include "log.h"
#include "timeutil.h"

#define SERVE_MAX_EPS 16
#define SERVE_TKL 4
#define SERVE_ACK_TIMEOUT_MS 2000u
#define SERVE_MAX_RETRANSMIT 4
#define SERVE_SEPARATE_WAIT_MS 60000u /* after an empty ACK */
#define SERVE_BACKOFF_MIN_MS 2000u
#define SERVE_BACKOFF_MAX_MS 60000u
#define SERVE_STOP_WAIT_MS 6000u
#define SERVE_PROBE_WAIT_MS 10000u /* a route probe that has not come back by then failed */
#define SERVE_DEFAULT_LT 90000u    /* RFC 9176 default when --lt is not given */
#define SERVE_BLOCK_SZX 6          /* 1024-byte Block1 blocks for long link payloads */
#define SERVE_BLOCK_SIZE 1024u

enum reg_state { RS_DISCOVER, RS_REGISTER, RS_LOOKUP, RS_REGISTERED, RS_DELETING, RS_DONE };
enum own_kind {
    OWN_NONE,
    OWN_DISCOVER,
    OWN_REGISTER,
    OWN_LOOKUP,
    OWN_REFRESH,
    OWN_PING,
    OWN_PROBE,
    OWN_DELETE
};

/* The one request of our own an endpoint has outstanding towards the RD. */
struct own_req {
    enum own_kind kind;
    uint8_t code;
    char path[CN_PATHLEN];
    char query[512];           /* as long as ep_step's q (registration query with sec=) */
    char uri_host[CN_HOSTLEN]; /* route probes only */
    const char *payload;       /* the endpoint's links (owned by serve_ep) */
    size_t payload_len;
    int cf;
    uint32_t blk1; /* current Block1 number */
    uint16_t mid;
    uint8_t token[SERVE_TKL];
    uint8_t *buf;
    size_t len;
    int tries, max_tries;
    unsigned rto;
    uint64_t next_tx, give_up;
    bool acked;
    uint8_t echo[40]; /* RFC 9175 Echo to repeat, from a 4.01 (echo_len 0: none) */
    uint8_t echo_len;
};

struct serve_ep {
    char ep[64];
    struct cn_uri local;
    char *links;
    int fd_rd, fd_local;
    struct fwd fwd;
    enum reg_state st;
    char reg_iface[CN_PATHLEN]; /* "/rd" */
    char reg_loc[CN_PATHLEN];   /* "/reg/3" */
    char host[CN_HOSTLEN];
    unsigned port; /* hosting port from the lookup, 0 = none */
    struct own_req own;
    uint64_t next_action;  /* when the current state's request is (re)tried */
    uint64_t next_refresh; /* REGISTERED: when the update is due */
    uint64_t last_tx;      /* our own last datagram to rdrelay */
    unsigned backoff_ms;
    unsigned registrations; /* how many times REGISTER succeeded */
    char probe_q[48];       /* the Uri-Query that marks our current route probe */
    bool probe_seen;        /* it came back to us through rdrelay */
    uint64_t next_probe;
};

struct serve {
    struct serve_opts o;
    struct serve_ep eps[SERVE_MAX_EPS];
    unsigned n_eps;
    bool stopping;
    uint64_t stop_deadline;
    int exit_code;
    uint8_t rxbuf[CN_DGRAM_MAX]; /* the one read buffer (single-threaded) */
};

static void serve_usage(FILE *out)
{
    fprintf(
        out,
        "usage: rdrelay-connect serve --rd coap[+tcp|+ws]://HOST[:PORT] --ep NAME [options] "
        "LOCAL-URI\n"
        "       rdrelay-connect serve --rd coap://HOST[:PORT] --ep NAME=LOCAL-URI [--ep "
        "NAME=URI ...]\n"
        "\n"
        "Registers a local CoAP server (e.g. coap://127.0.0.1:5683) at rdrelay's Resource\n"
        "Directory with proxy=yes, from this process's own UDP socket (or TCP or WebSocket\n"
        "connection),\n"
        "prints the host name "
        "clients must use, and relays every request rdrelay forwards to the local server\n"
        "and its answers back, unchanged (options, payload, blocks, Observe, separate\n"
        "responses). Keeps the NAT path alive (pings, refreshes before lt). SIGINT or\n"
        "SIGTERM removes the registration and exits 0.\n"
        "\n"
        "options:\n"
        "  --rd URI            rdrelay's address, coap://, coap+tcp:// or\n"
        "                      coap+ws://HOST[:PORT] (WebSocket, default port 8683) or\n"
        "                      coaps+ws://HOST[:PORT] (WebSocket over TLS, 8684) (required)\n"
        "  --ca FILE           coaps+ws: accept rdrelay's certificate if FILE's CAs sign it\n"
        "                      (default: the system's CAs); it must name the --rd host\n"
        "  --insecure          coaps+ws: do not check rdrelay's certificate (tests only)\n"
        "  --ep NAME[=URI]     endpoint name; repeatable with =URI, one socket (or TCP\n"
        "                      connection) each\n"
        "  --d SECTOR          sector (the host name becomes NAME.SECTOR.<proxy domain>)\n"
        "  --transport T       udp (default), tcp or ws: one RFC 8323 connection per name to\n"
        "                      rdrelay-tcp (or one WebSocket to rdrelay-ws, RFC 8323 §4),\n"
        "                      requests come back over it (coap+tcp:// / coap+ws:// --rd\n"
        "                      imply it; the local server is always spoken to over UDP)\n"
        "  --lt SECONDS        registration lifetime (default: the RD's, 90000)\n"
        "  --links LINKS       link-format to register instead of the local /.well-known/core\n"
        "  --json              print one JSON object per registration instead of a line\n"
        "  --timeout MS        local server silent this long -> 5.04 (default 8000)\n"
        "  --ping SECONDS      CoAP ping (TCP: RFC 8323 Ping) when idle this long (default 20,\n"
        "                      0 = off)\n"
        "  --probe SECONDS     check the route this often: a request to our own name must\n"
        "                      come back to us through rdrelay, else refresh at once\n"
        "                      (a NAT that changed our mapping; default 60, 0 = off)\n"
        "  --proxy-domain DOM  host name fallback if the RD's lookup does not show it\n"
        "  --secret S          the name's shared secret (the RD's name_secrets): sent as\n"
        "                      sec=S on registration, refresh and DELETE; as safe as the\n"
        "                      transport (plain UDP/TCP: readable on the path)\n"
        "  --secret-file F     the same, read from the first line of F (keeps it out of ps)\n"
        "  --log-level LEVEL   error, warn, info (default), debug\n"
        "  --help              this text\n"
        "exit: 0 after SIGINT/SIGTERM, 2 bad arguments or registration refused, 1 failure\n");
}

/* ---- shared with tcp.c (serve.h) ---- */

void serve_reg_query(const struct serve_opts *o, const char *ep, char *q, size_t qlen)
{
    int n = snprintf(q, qlen, "ep=%s", ep);

    if (o->d[0] != '\0')
        n += snprintf(q + n, qlen - (size_t)n, "&d=%s", o->d);
    n += snprintf(q + n, qlen - (size_t)n, "&proxy=yes");
    if (o->lt != 0)
        n += snprintf(q + n, qlen - (size_t)n, "&lt=%u", (unsigned)o->lt);
    if (o->secret[0] != '\0')
        snprintf(q + n, qlen - (size_t)n, "&sec=%s", o->secret);
}

const char *serve_auth_query(const struct serve_opts *o, char *q, size_t qlen)
{
    if (o->secret[0] == '\0')
        return NULL;
    snprintf(q, qlen, "sec=%s", o->secret);
    return q;
}

/* --secret-file: the first line, without its line end. 0 / -1 (printed). */
static int read_secret_file(const char *path, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");

    if (f == NULL || fgets(out, (int)outlen, f) == NULL) {
        fprintf(stderr, "serve: --secret-file %s: %s\n", path, f ? "empty" : strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

/* A secret travels as one Uri-Query value: no '&' (our own query
 * separator), no blanks or controls. */
static int set_secret(struct serve_opts *o, const char *v)
{
    size_t n = strlen(v);

    if (n == 0 || n >= sizeof(o->secret) || strpbrk(v, "& \t") != NULL) {
        fprintf(stderr, "serve: the secret must be 1..%zu bytes without '&' or blanks\n",
                sizeof(o->secret) - 1);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 32 || v[i] == 127) {
            fprintf(stderr, "serve: the secret contains a control character\n");
            return -1;
        }
    memcpy(o->secret, v, n + 1);
    return 0;
}

/* ---- own requests towards the RD ---- */

static void own_clear(struct own_req *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

/* Build the datagram for the current block of the own request (Block1,
 * RFC 7959, when the payload does not fit one SERVE_BLOCK_SIZE block: a
 * server's links can be long, and the RD reassembles). New message id. */
static int own_build(struct serve_ep *e)
{
    struct own_req *r = &e->own;
    struct coap_msg m;
    char storage[1024];
    uint8_t cfbuf[4], b1buf[4];
    size_t off = 0, n = r->payload_len, cap;
    ssize_t len;

    coap_msg_init(&m);
    m.type = COAP_T_CON;
    m.code = r->code;
    m.msgid = fwd_alloc_down_mid(&e->fwd);
    if (r->code != COAP_EMPTY) {
        m.tkl = SERVE_TKL;
        memcpy(m.token, r->token, SERVE_TKL);
        if (r->uri_host[0] != '\0' &&
            coap_msg_add_opt(&m, COAP_OPT_URI_HOST, r->uri_host, (uint16_t)strlen(r->uri_host)) < 0)
            return -1;
        if (cn_add_path_query(&m, r->path, r->query, storage, sizeof(storage)) < 0)
            return -1;
        if (r->echo_len && coap_msg_add_opt(&m, COAP_OPT_ECHO, r->echo, r->echo_len) < 0)
            return -1;
        if (r->cf >= 0 &&
            coap_msg_add_opt_uint(&m, COAP_OPT_CONTENT_FORMAT, (uint32_t)r->cf, cfbuf) < 0)
            return -1;
        if (r->payload_len > SERVE_BLOCK_SIZE) {
            bool more;
            off = (size_t)r->blk1 * SERVE_BLOCK_SIZE;
            if (off >= r->payload_len)
                return -1;
            more = r->payload_len - off > SERVE_BLOCK_SIZE;
            n = more ? SERVE_BLOCK_SIZE : r->payload_len - off;
            if (coap_msg_add_opt_uint(&m, COAP_OPT_BLOCK1,
                                      coap_block_encode(r->blk1, more, SERVE_BLOCK_SZX), b1buf) < 0)
                return -1;
        }
        if (n > 0) {
            m.payload = (const uint8_t *)r->payload + off;
            m.payload_len = n;
        }
    }
    cap = 1024 + m.payload_len;
    free(r->buf);
    r->buf = malloc(cap);
    if (r->buf == NULL)
        return -1;
    len = coap_msg_serialize_udp(&m, r->buf, cap);
    if (len < 0)
        return -1;
    r->len = (size_t)len;
    r->mid = m.msgid;
    r->tries = 0;
    r->acked = false;
    r->rto = SERVE_ACK_TIMEOUT_MS + cn_random32() % (SERVE_ACK_TIMEOUT_MS / 2);
    return 0;
}

static int own_start(struct serve_ep *e, enum own_kind kind, uint8_t code, const char *path,
                     const char *query, const char *payload, int cf, int max_tries, uint64_t now)
{
    struct own_req *r = &e->own;
    uint32_t t = cn_random32();

    own_clear(r);
    r->kind = kind;
    r->code = code;
    snprintf(r->path, sizeof(r->path), "%s", path ? path : "");
    snprintf(r->query, sizeof(r->query), "%s", query ? query : "");
    r->payload = payload;
    r->payload_len = payload ? strlen(payload) : 0;
    r->cf = cf;
    memcpy(r->token, &t, SERVE_TKL);
    r->max_tries = max_tries;
    r->next_tx = now; /* sent by ep_step */
    if (own_build(e) < 0) {
        log_warnx("%s: cannot build a request (too large?)", e->ep);
        own_clear(r);
        return -1;
    }
    return 0;
}

void serve_print(const struct serve_opts *o, const char *ep, const char *host, unsigned port,
                 const char *reg_loc, const struct rr_addr *local)
{
    char reg[CN_HOSTLEN + CN_PATHLEN + 32], puri[CN_HOSTLEN + 32] = "";
    const char *lb = strchr(o->rd.host, ':') ? "[" : "", *rb = lb[0] ? "]" : "";

    const char *scheme = o->tls.on ? "coaps+ws" : o->ws ? "coap+ws" : o->tcp ? "coap+tcp" : "coap";
    snprintf(reg, sizeof(reg), "%s://%s%s%s:%u%s", scheme, lb, o->rd.host, rb, (unsigned)o->rd.port,
             reg_loc);
    /* port-based hosting: the same port on the RD's address, no Uri-Host
     * (UDP: every relay with port hosting serves it there) */
    if (port)
        snprintf(puri, sizeof(puri), "coap://%s%s%s:%u/", lb, o->rd.host, rb, port);
    if (o->json) {
        char uri[CN_HOSTLEN + 16];
        snprintf(uri, sizeof(uri), "coap://%s", host);
        fputs("{\"ep\":", stdout);
        cn_json_str(stdout, ep);
        fputs(",\"d\":", stdout);
        cn_json_str(stdout, o->d);
        fputs(",\"host\":", stdout);
        cn_json_str(stdout, host);
        fputs(",\"uri\":", stdout);
        cn_json_str(stdout, host[0] ? uri : "");
        fprintf(stdout, ",\"port\":%u,\"port_uri\":", port);
        cn_json_str(stdout, puri);
        fputs(",\"registration\":", stdout);
        cn_json_str(stdout, reg);
        fputs(",\"local\":", stdout);
        {
            char loc[CN_HOSTLEN];
            addr_to_str(local, loc, sizeof(loc));
            cn_json_str(stdout, loc);
        }
        fputs("}\n", stdout);
    } else if (host[0] != '\0' && port) {
        printf("%s: clients use coap://%s/, or without Uri-Host %s (registered as %s)\n", ep, host,
               puri, reg);
    } else if (host[0] != '\0') {
        printf("%s: clients use coap://%s/ (registered as %s)\n", ep, host, reg);
    } else {
        printf("%s: registered as %s, but the RD does not show the host name\n", ep, reg);
    }
    fflush(stdout);
}

/* Take the host name (and the hosting port, port="N", 0 if none) from an
 * endpoint lookup answer; fall back to the computed name when
 * --proxy-domain was given. */
void serve_take_host(const struct serve_opts *o, const char *ep, const struct coap_msg *m,
                     char *host, size_t hostlen, unsigned *port)
{
    struct lf_doc doc;
    char err[128];

    host[0] = '\0';
    *port = 0;
    if (m != NULL && COAP_CODE_CLASS(m->code) == 2 &&
        lf_parse((const char *)m->payload, m->payload_len, &doc, err, sizeof(err)) == 0) {
        for (unsigned i = 0; i < doc.nlinks; i++) {
            const char *lep = lf_link_param(&doc.links[i], "ep");
            const char *d = lf_link_param(&doc.links[i], "d");
            if (lep == NULL || strcmp(lep, ep) != 0)
                continue;
            if (o->d[0] != '\0' && (d == NULL || strcmp(d, o->d) != 0))
                continue;
            const char *pv = lf_link_param(&doc.links[i], "port");
            if (pv != NULL) {
                unsigned long v = strtoul(pv, NULL, 10);
                *port = v <= 65535 ? (unsigned)v : 0;
            }
            if (cn_base_host(lf_link_param(&doc.links[i], "base"), host, hostlen) == 0)
                break;
        }
        lf_free(&doc);
    }
    if (host[0] == '\0' && cn_host_compute(ep, o->d, o->proxy_domain, host, hostlen) < 0)
        log_warnx("%s: the RD's lookup shows no base; give --proxy-domain", ep);
}

uint64_t serve_refresh_interval_ms(const struct serve_opts *o)
{
    uint64_t lt = o->lt ? o->lt : SERVE_DEFAULT_LT;

    /* well before lt: a refresh may need all its retransmissions */
    if (lt >= 3600)
        return (lt - 900) * 1000;
    return lt * 750 > 1000 ? lt * 750 : 1000;
}

static void backoff(struct serve_ep *e, uint64_t now)
{
    if (e->backoff_ms < SERVE_BACKOFF_MIN_MS)
        e->backoff_ms = SERVE_BACKOFF_MIN_MS;
    e->next_action = now + e->backoff_ms;
    e->backoff_ms =
        e->backoff_ms * 2 > SERVE_BACKOFF_MAX_MS ? SERVE_BACKOFF_MAX_MS : e->backoff_ms * 2;
}

/* Location-Path options of a 2.01 -> "/reg/3". */
int serve_take_location(const struct coap_msg *m, char *out, size_t outlen)
{
    size_t used = 0;

    out[0] = '\0';
    for (const struct coap_msg_opt *o = coap_msg_find(m, COAP_OPT_LOCATION_PATH); o != NULL;
         o = coap_msg_find_next(m, o)) {
        if (used + 1 + o->len + 1 > outlen)
            return -1;
        out[used++] = '/';
        memcpy(out + used, o->val, o->len);
        used += o->len;
        out[used] = '\0';
    }
    return used > 0 ? 0 : -1;
}

/* The first link of the discovery answer: the registration interface. */
void serve_take_iface(const struct coap_msg *m, char *out, size_t outlen)
{
    const char *p = (const char *)m->payload, *end = p + m->payload_len, *lt, *gt, *path;
    size_t n;

    snprintf(out, outlen, "/rd");
    lt = memchr(p, '<', m->payload_len);
    if (lt == NULL)
        return;
    gt = memchr(lt, '>', (size_t)(end - lt));
    if (gt == NULL)
        return;
    path = lt + 1;
    /* a full URI: keep only its path (we already talk to that RD) */
    if ((size_t)(gt - path) > 3 && memmem(path, (size_t)(gt - path), "://", 3) != NULL) {
        const char *auth = (const char *)memmem(path, (size_t)(gt - path), "://", 3) + 3;
        path = memchr(auth, '/', (size_t)(gt - auth));
        if (path == NULL)
            return;
    }
    n = (size_t)(gt - path);
    if (n == 0 || n >= outlen || path[0] != '/')
        return;
    memcpy(out, path, n);
    out[n] = '\0';
}

/* The own request ended: m is its response, or NULL (timeout / RST). */
static void own_done(struct serve *s, struct serve_ep *e, const struct coap_msg *m, bool rst,
                     uint64_t now)
{
    enum own_kind kind = e->own.kind;
    uint8_t code = m ? m->code : 0;
    char cb[8];
    const char *cs = m ? coap_code_str(code, cb) : (rst ? "RST" : "timeout");

    own_clear(&e->own);
    switch (kind) {
    case OWN_DISCOVER:
        if (m != NULL && code == COAP_CONTENT && m->payload_len > 0) {
            serve_take_iface(m, e->reg_iface, sizeof(e->reg_iface));
        } else if (m == NULL) {
            log_warnx("%s: RD discovery: %s; retrying", e->ep, cs);
            backoff(e, now);
            break;
        } else {
            snprintf(e->reg_iface, sizeof(e->reg_iface), "/rd");
        }
        log_info("%s: registration interface %s", e->ep, e->reg_iface);
        e->backoff_ms = 0;
        e->st = RS_REGISTER;
        e->next_action = now;
        break;
    case OWN_REGISTER:
        if (code == COAP_CREATED && serve_take_location(m, e->reg_loc, sizeof(e->reg_loc)) == 0) {
            e->registrations++;
            log_info("%s: registered at %s", e->ep, e->reg_loc);
            e->backoff_ms = 0;
            e->st = RS_LOOKUP;
            e->next_action = now;
            e->next_refresh = now + serve_refresh_interval_ms(&s->o);
        } else if (m != NULL && code == COAP_NOT_FOUND && strcmp(e->reg_iface, "/rd") != 0) {
            log_warnx("%s: %s answered 4.04; trying /rd", e->ep, e->reg_iface);
            snprintf(e->reg_iface, sizeof(e->reg_iface), "/rd");
            e->next_action = now;
        } else if (m != NULL && COAP_CODE_CLASS(code) == 4) {
            log_warnx("%s: registration refused: %s %.*s", e->ep, cs, (int)m->payload_len,
                      (const char *)m->payload);
            s->exit_code = CN_EXIT_CONFIG;
            cn_sig.stop = 1;
            e->st = RS_DONE;
        } else {
            log_warnx("%s: registration: %s; retrying", e->ep, cs);
            backoff(e, now);
        }
        break;
    case OWN_LOOKUP:
        if (m == NULL)
            log_warnx("%s: endpoint lookup: %s", e->ep, cs);
        serve_take_host(&s->o, e->ep, m, e->host, sizeof(e->host), &e->port);
        serve_print(&s->o, e->ep, e->host, e->port, e->reg_loc, &e->local.addr);
        e->st = RS_REGISTERED;
        break;
    case OWN_REFRESH:
        if (code == COAP_CHANGED) {
            log_debug("%s: registration %s refreshed", e->ep, e->reg_loc);
            e->backoff_ms = 0;
            e->next_refresh = now + serve_refresh_interval_ms(&s->o);
        } else if (code == COAP_NOT_FOUND) {
            log_warnx("%s: registration %s is gone (4.04); registering again", e->ep, e->reg_loc);
            e->reg_loc[0] = '\0';
            e->st = RS_REGISTER;
            e->next_action = now;
        } else {
            log_warnx("%s: refresh of %s: %s; retrying", e->ep, e->reg_loc, cs);
            if (code == COAP_FORBIDDEN || code == COAP_UNAUTHORIZED)
                log_warnx("%s: the RD sees us from another address than the registration "
                          "(new network?) and keeps the name for its owner until it lapses "
                          "(lt + grace); --secret for a name with a secret, a short --lt "
                          "otherwise",
                          e->ep);
            backoff(e, now);
            e->next_refresh = e->next_action;
        }
        break;
    case OWN_PING:
        if (rst || m != NULL)
            log_debug("%s: ping answered", e->ep);
        if (m == NULL && !rst) {
            log_warnx("%s: ping unanswered; refreshing the registration now", e->ep);
            e->next_refresh = now;
        }
        break;
    case OWN_PROBE:
        if (e->probe_seen) {
            log_debug("%s: route check passed", e->ep);
        } else {
            log_warnx("%s: route check failed (%s): requests for %s do not reach us; "
                      "refreshing the registration now",
                      e->ep, cs, e->host);
            e->next_refresh = now;
        }
        e->probe_q[0] = '\0';
        break;
    case OWN_DELETE:
        log_info("%s: registration %s removed (%s)", e->ep, e->reg_loc, cs);
        e->reg_loc[0] = '\0';
        e->st = RS_DONE;
        break;
    case OWN_NONE:
        break;
    }
}

/* Retransmit or give up the own request; start the one the state wants. */
static void ep_step(struct serve *s, struct serve_ep *e, uint64_t now)
{
    struct own_req *r = &e->own;
    char q[512];

    if (r->kind != OWN_NONE) {
        if (!r->acked && now >= r->next_tx) {
            if (r->tries > r->max_tries) {
                own_done(s, e, NULL, false, now);
                return;
            }
            if (r->tries > 0)
                log_debug("%s: retransmitting (try %d)", e->ep, r->tries + 1);
            cn_sendto(e->fd_rd, r->buf, r->len, &s->o.rd.addr);
            e->last_tx = now;
            r->tries++;
            r->next_tx = now + r->rto;
            r->rto *= 2;
        } else if (r->acked && now >= r->give_up) {
            own_done(s, e, NULL, false, now);
        }
        return;
    }
    switch (e->st) {
    case RS_DISCOVER:
        if (now >= e->next_action)
            own_start(e, OWN_DISCOVER, COAP_GET, "/.well-known/core", "rt=core.rd", NULL, -1,
                      SERVE_MAX_RETRANSMIT, now);
        break;
    case RS_REGISTER:
        if (now < e->next_action)
            break;
        serve_reg_query(&s->o, e->ep, q, sizeof(q));
        own_start(e, OWN_REGISTER, COAP_POST, e->reg_iface, q, e->links, COAP_CF_LINK_FORMAT,
                  SERVE_MAX_RETRANSMIT, now);
        break;
    case RS_LOOKUP:
        if (s->o.d[0] != '\0')
            snprintf(q, sizeof(q), "ep=%s&d=%s", e->ep, s->o.d);
        else
            snprintf(q, sizeof(q), "ep=%s", e->ep);
        own_start(e, OWN_LOOKUP, COAP_GET, "/rd-lookup/ep", q, NULL, -1, SERVE_MAX_RETRANSMIT, now);
        break;
    case RS_REGISTERED:
        if (now >= e->next_refresh) {
            own_start(e, OWN_REFRESH, COAP_POST, e->reg_loc, serve_auth_query(&s->o, q, sizeof(q)),
                      NULL, -1, SERVE_MAX_RETRANSMIT, now);
        } else if (s->o.probe_ms > 0 && e->host[0] != '\0' && now >= e->next_probe) {
            e->next_probe = now + s->o.probe_ms;
            e->probe_seen = false;
            snprintf(e->probe_q, sizeof(e->probe_q), "rdrelay-connect-probe=%08x%08x",
                     cn_random32(), cn_random32());
            if (own_start(e, OWN_PROBE, COAP_GET, "/.well-known/core", e->probe_q, NULL, -1, 1,
                          now) == 0) {
                snprintf(r->uri_host, sizeof(r->uri_host), "%s", e->host);
                if (own_build(e) < 0) /* again, now with Uri-Host */
                    own_clear(r);
            }
        } else if (s->o.ping_ms > 0) {
            uint64_t last = e->last_tx > e->fwd.last_down_tx ? e->last_tx : e->fwd.last_down_tx;
            if (now >= last + s->o.ping_ms)
                own_start(e, OWN_PING, COAP_EMPTY, NULL, NULL, NULL, -1, SERVE_MAX_RETRANSMIT, now);
        }
        break;
    case RS_DELETING:
        own_start(e, OWN_DELETE, COAP_DELETE, e->reg_loc, serve_auth_query(&s->o, q, sizeof(q)),
                  NULL, -1, 1, now);
        break;
    case RS_DONE:
        break;
    }
    /* send at once what was just started */
    if (r->kind != OWN_NONE && r->tries == 0)
        ep_step(s, e, now);
}

/* 4.01 with an Echo (RFC 9175 §2.4: rdrelay verifies our address before
 * it sends a larger answer): the same request again with that Echo, once. */
static bool own_echo_retry(struct serve_ep *e, const struct coap_msg *m, uint64_t now)
{
    struct own_req *r = &e->own;

    if (r->echo_len || (r->echo_len = (uint8_t)cn_echo_challenge(m, r->echo, sizeof(r->echo))) == 0)
        return false;
    if (own_build(e) < 0)
        return false;
    r->next_tx = now;
    return true;
}

/* 2.31 Continue for a Block1 transfer of ours: send the next block. */
static bool own_next_block(struct serve_ep *e, const struct coap_msg *m, uint64_t now)
{
    struct own_req *r = &e->own;

    if (m->code != COAP_CONTINUE || r->payload_len <= SERVE_BLOCK_SIZE ||
        (size_t)(r->blk1 + 1) * SERVE_BLOCK_SIZE >= r->payload_len)
        return false;
    r->blk1++;
    if (own_build(e) < 0)
        return false;
    r->next_tx = now; /* ep_step sends it on the next turn of the loop */
    return true;
}

/* A datagram from rdrelay that the forwarder says is not its own: the
 * answer to one of our requests, or a stray. */
static void own_on_msg(struct serve *s, struct serve_ep *e, const uint8_t *buf, size_t len,
                       uint64_t now)
{
    struct own_req *r = &e->own;
    struct coap_msg m;

    if (coap_msg_parse_udp(buf, len, &m) < 0)
        return;
    if ((m.type == COAP_T_ACK || m.type == COAP_T_RST) && r->kind != OWN_NONE &&
        m.msgid == r->mid) {
        if (m.type == COAP_T_RST) {
            own_done(s, e, NULL, true, now);
        } else if (m.code == COAP_EMPTY) {
            if (r->kind == OWN_PING) {
                own_done(s, e, NULL, true, now);
            } else {
                r->acked = true;
                r->give_up =
                    now + (r->kind == OWN_PROBE ? SERVE_PROBE_WAIT_MS : SERVE_SEPARATE_WAIT_MS);
            }
        } else if (m.tkl == SERVE_TKL && memcmp(m.token, r->token, SERVE_TKL) == 0) {
            if (!own_echo_retry(e, &m, now) && !own_next_block(e, &m, now))
                own_done(s, e, &m, false, now);
        }
        return;
    }
    if ((m.type == COAP_T_CON || m.type == COAP_T_NON) && COAP_CODE_CLASS(m.code) >= 2) {
        bool mine = r->kind != OWN_NONE && r->kind != OWN_PING && m.tkl == SERVE_TKL &&
                    memcmp(m.token, r->token, SERVE_TKL) == 0;
        uint8_t b[4] = {mine ? 0x60 : 0x70, 0, (uint8_t)(m.msgid >> 8), (uint8_t)m.msgid};
        if (m.type == COAP_T_CON || !mine) {
            cn_sendto(e->fd_rd, b, sizeof(b), &s->o.rd.addr);
            e->last_tx = now;
        }
        if (mine && !own_echo_retry(e, &m, now) && !own_next_block(e, &m, now))
            own_done(s, e, &m, false, now);
    }
}

/* ---- setup ---- */

static int ep_fetch_links(struct serve *s, struct serve_ep *e)
{
    struct cn_request req = {.to = &e->local.addr,
                             .method = COAP_GET,
                             .path = "/.well-known/core",
                             .content_format = -1,
                             .timeout_ms = 5000};
    struct strbuf body;
    uint8_t code = 0;
    char err[128];

    if (s->o.links != NULL) {
        e->links = strdup(s->o.links);
        return e->links ? 0 : -1;
    }
    sb_init(&body);
    if (cn_request_blocking(&req, &code, &body, err, sizeof(err)) < 0 || code != COAP_CONTENT) {
        char b[RR_ADDRSTRLEN];
        log_warnx("%s: no /.well-known/core from the local server %s (%s); registering no links",
                  e->ep, addr_to_str(&e->local.addr, b, sizeof(b)),
                  code ? coap_code_str(code, err) : err);
        sb_free(&body);
        e->links = strdup("");
        return e->links ? 0 : -1;
    }
    e->links = strdup(body.buf ? body.buf : "");
    sb_free(&body);
    return e->links ? 0 : -1;
}

static bool valid_label(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

static int ep_add(struct serve *s, const char *spec, const char *default_local)
{
    struct serve_ep *e;
    const char *eq = strchr(spec, '='), *local = eq ? eq + 1 : default_local;
    size_t n = eq ? (size_t)(eq - spec) : strlen(spec);
    char err[256];

    if (s->n_eps >= SERVE_MAX_EPS) {
        fprintf(stderr, "serve: at most %d --ep\n", SERVE_MAX_EPS);
        return -1;
    }
    e = &s->eps[s->n_eps];
    memset(e, 0, sizeof(*e));
    e->fd_rd = e->fd_local = -1;
    if (n >= sizeof(e->ep)) {
        fprintf(stderr, "serve: endpoint name too long: %s\n", spec);
        return -1;
    }
    memcpy(e->ep, spec, n);
    e->ep[n] = '\0';
    if (!valid_label(e->ep)) {
        fprintf(stderr,
                "serve: endpoint name '%s' is not a DNS label (letters, digits, '-', "
                "at most 63)\n",
                e->ep);
        return -1;
    }
    if (local == NULL) {
        fprintf(stderr, "serve: no local server URI for %s\n", e->ep);
        return -1;
    }
    if (cn_uri_parse(local, false, &e->local, err, sizeof(err)) < 0) {
        fprintf(stderr, "serve: local server: %s\n", err);
        return -1;
    }
    if (e->local.path[0] != '\0' || e->local.query[0] != '\0')
        log_warnx("%s: the path and query of %s are ignored: requests keep their own", e->ep,
                  local);
    s->n_eps++;
    return 0;
}

static int ep_open(struct serve *s, struct serve_ep *e)
{
    e->fd_rd = cn_udp_socket(&s->o.rd.addr, NULL);
    e->fd_local = cn_udp_socket(&e->local.addr, NULL);
    if (e->fd_rd < 0 || e->fd_local < 0)
        return -1;
    if (fwd_init(&e->fwd, e->fd_rd, e->fd_local, &e->local.addr) < 0)
        return -1;
    e->fwd.timeout_ms = s->o.timeout_ms;
    e->st = RS_DISCOVER;
    return 0;
}

static void ep_close(struct serve_ep *e)
{
    own_clear(&e->own);
    fwd_free(&e->fwd);
    if (e->fd_rd >= 0)
        close(e->fd_rd);
    if (e->fd_local >= 0)
        close(e->fd_local);
    free(e->links);
}

static int serve_parse(struct serve *s, int argc, char **argv)
{
    static const struct option longopts[] = {{"rd", required_argument, NULL, 'r'},
                                             {"ep", required_argument, NULL, 'e'},
                                             {"d", required_argument, NULL, 'd'},
                                             {"transport", required_argument, NULL, 't'},
                                             {"lt", required_argument, NULL, 'l'},
                                             {"links", required_argument, NULL, 'L'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"timeout", required_argument, NULL, 'T'},
                                             {"ping", required_argument, NULL, 'p'},
                                             {"proxy-domain", required_argument, NULL, 'D'},
                                             {"log-level", required_argument, NULL, 'v'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"probe", required_argument, NULL, 'P'},
                                             {"ca", required_argument, NULL, 'C'},
                                             {"insecure", no_argument, NULL, 'k'},
                                             {"secret", required_argument, NULL, 's'},
                                             {"secret-file", required_argument, NULL, 'S'},
                                             {NULL, 0, NULL, 0}};
    const char *eps[SERVE_MAX_EPS], *rd = NULL;
    unsigned neps = 0;
    bool udp_asked = false;
    char err[256], *end;
    int c;

    s->o.timeout_ms = 8000;
    s->o.ping_ms = 20000;
    s->o.probe_ms = 60000;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            rd = optarg;
            break;
        case 'e':
            if (neps >= SERVE_MAX_EPS) {
                fprintf(stderr, "serve: at most %d --ep\n", SERVE_MAX_EPS);
                return -1;
            }
            eps[neps++] = optarg;
            break;
        case 'd':
            if (!valid_label(optarg)) {
                fprintf(stderr, "serve: sector '%s' is not a DNS label\n", optarg);
                return -1;
            }
            snprintf(s->o.d, sizeof(s->o.d), "%s", optarg);
            break;
        case 't':
            if (strcmp(optarg, "tcp") == 0) {
                s->o.tcp = true;
                break;
            }
            if (strcmp(optarg, "ws") == 0) {
                s->o.tcp = s->o.ws = true;
                break;
            }
            if (strcmp(optarg, "udp") == 0) {
                udp_asked = true;
                break;
            }
            fprintf(stderr, "serve: unknown transport '%s' (udp, tcp, ws)\n", optarg);
            return -1;
        case 'l': {
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end != '\0' || v < 1 || v > 4294967295ul) {
                fprintf(stderr, "serve: --lt must be 1..4294967295\n");
                return -1;
            }
            s->o.lt = (uint32_t)v;
            break;
        }
        case 'L':
            s->o.links = optarg;
            break;
        case 'j':
            s->o.json = true;
            break;
        case 'T':
            s->o.timeout_ms = (unsigned)strtoul(optarg, &end, 10);
            if (*end != '\0' || s->o.timeout_ms == 0) {
                fprintf(stderr, "serve: --timeout wants milliseconds > 0\n");
                return -1;
            }
            break;
        case 'p':
            s->o.ping_ms = (unsigned)strtoul(optarg, &end, 10) * 1000u;
            if (*end != '\0') {
                fprintf(stderr, "serve: --ping wants seconds\n");
                return -1;
            }
            break;
        case 'P':
            s->o.probe_ms = (unsigned)strtoul(optarg, &end, 10) * 1000u;
            if (*end != '\0') {
                fprintf(stderr, "serve: --probe wants seconds\n");
                return -1;
            }
            break;
        case 'D':
            s->o.proxy_domain = optarg;
            break;
        case 'C':
            s->o.tls.ca_file = optarg;
            break;
        case 'k':
            s->o.tls.insecure = true;
            break;
        case 's':
            if (set_secret(&s->o, optarg) < 0)
                return -1;
            break;
        case 'S': {
            char buf[sizeof(s->o.secret) + 2];
            if (read_secret_file(optarg, buf, sizeof(buf)) < 0 || set_secret(&s->o, buf) < 0)
                return -1;
            break;
        }
        case 'v': {
            enum log_level lvl;
            if (log_level_parse(optarg, &lvl) < 0) {
                fprintf(stderr, "serve: unknown log level '%s'\n", optarg);
                return -1;
            }
            log_set_level(lvl);
            break;
        }
        case 'h':
            serve_usage(stdout);
            exit(CN_EXIT_OK);
        default:
            serve_usage(stderr);
            return -1;
        }
    }
    if (rd == NULL || neps == 0) {
        fprintf(stderr, "serve: --rd and --ep are required (see --help)\n");
        return -1;
    }
    if (optind < argc - 1) {
        fprintf(stderr, "serve: one local server URI at most (use --ep NAME=URI for more)\n");
        return -1;
    }
    /* coap+tcp:// implies --transport tcp; coap:// with --transport tcp
     * means the same host and port over TCP */
    if (strncasecmp(rd, "coap+tcp://", 11) == 0) {
        if (udp_asked || s->o.ws) {
            fprintf(stderr, "serve: --transport udp/ws with a coap+tcp:// --rd\n");
            return -1;
        }
        s->o.tcp = true;
    }
    /* coap+ws:// implies --transport ws (coap:// with --transport ws: the
     * same host and port over a WebSocket) */
    if (strncasecmp(rd, "coap+ws://", 10) == 0 || strncasecmp(rd, "coaps+ws://", 11) == 0) {
        if (udp_asked || (s->o.tcp && !s->o.ws)) {
            fprintf(stderr, "serve: --transport udp/tcp with a coap+ws:// --rd\n");
            return -1;
        }
        s->o.tcp = s->o.ws = true;
    }
    if (cn_uri_parse(rd, true, &s->o.rd, err, sizeof(err)) < 0) {
        fprintf(stderr, "serve: --rd: %s\n", err);
        return -1;
    }
    s->o.tls.on = s->o.rd.wss;
    if ((s->o.tls.ca_file || s->o.tls.insecure) && !s->o.tls.on) {
        fprintf(stderr, "serve: --ca and --insecure go with a coaps+ws:// --rd\n");
        return -1;
    }
    snprintf(s->o.rd_text, sizeof(s->o.rd_text), "%s", rd);
    for (unsigned i = 0; i < neps; i++)
        if (ep_add(s, eps[i], optind < argc ? argv[optind] : NULL) < 0)
            return -1;
    return 0;
}

/* ---- the loop ---- */

static void serve_begin_stop(struct serve *s, uint64_t now)
{
    s->stopping = true;
    s->stop_deadline = now + SERVE_STOP_WAIT_MS;
    log_info("stopping: removing registrations");
    for (unsigned i = 0; i < s->n_eps; i++) {
        struct serve_ep *e = &s->eps[i];
        own_clear(&e->own);
        e->st = e->reg_loc[0] != '\0' ? RS_DELETING : RS_DONE;
    }
}

/* Our own route probe, forwarded back to us by rdrelay: the route works.
 * Answer it here (the local server never sees probes). */
static bool probe_answer(struct serve *s, struct serve_ep *e, const uint8_t *buf, size_t len,
                         uint64_t now)
{
    struct coap_msg m, a;
    const struct coap_msg_opt *q;
    uint8_t out[64];
    ssize_t n;

    if (e->probe_q[0] == '\0' || coap_msg_parse_udp(buf, len, &m) < 0 || m.code != COAP_GET ||
        (m.type != COAP_T_CON && m.type != COAP_T_NON))
        return false;
    q = coap_msg_find(&m, COAP_OPT_URI_QUERY);
    if (q == NULL || q->len != strlen(e->probe_q) || memcmp(q->val, e->probe_q, q->len) != 0)
        return false;
    e->probe_seen = true;
    coap_msg_init(&a);
    a.type = m.type == COAP_T_CON ? COAP_T_ACK : COAP_T_NON;
    a.code = COAP_CONTENT;
    a.msgid = m.type == COAP_T_CON ? m.msgid : fwd_alloc_down_mid(&e->fwd);
    a.tkl = m.tkl;
    memcpy(a.token, m.token, m.tkl);
    n = coap_msg_serialize_udp(&a, out, sizeof(out));
    if (n > 0) {
        cn_sendto(e->fd_rd, out, (size_t)n, &s->o.rd.addr);
        e->last_tx = now;
    }
    return true;
}

static void serve_read(struct serve *s, struct serve_ep *e, bool from_rd, uint64_t now)
{
    uint8_t *buf = s->rxbuf;
    struct rr_addr from;
    ssize_t n;

    for (int i = 0; i < 64; i++) {
        n = cn_recvfrom(from_rd ? e->fd_rd : e->fd_local, buf, sizeof(s->rxbuf), &from);
        if (n < 0)
            return;
        if (from_rd) {
            if (!addr_equal(&from, &s->o.rd.addr))
                continue; /* only rdrelay may use this path */
            if (probe_answer(s, e, buf, (size_t)n, now))
                continue;
            if (fwd_on_down(&e->fwd, buf, (size_t)n, &from, now) == FWD_NOT_MINE)
                own_on_msg(s, e, buf, (size_t)n, now);
        } else {
            if (!addr_equal(&from, &e->local.addr))
                continue;
            fwd_on_up(&e->fwd, buf, (size_t)n, now);
        }
    }
}

static uint64_t ep_next_timer(const struct serve *s, const struct serve_ep *e, uint64_t now)
{
    uint64_t next = fwd_next_timer(&e->fwd, now);

    if (e->own.kind != OWN_NONE) {
        uint64_t t = e->own.acked ? e->own.give_up : e->own.next_tx;
        if (t < next)
            next = t;
    } else if (e->st == RS_REGISTERED) {
        uint64_t last = e->last_tx > e->fwd.last_down_tx ? e->last_tx : e->fwd.last_down_tx;
        if (e->next_refresh < next)
            next = e->next_refresh;
        if (s->o.ping_ms > 0 && last + s->o.ping_ms < next)
            next = last + s->o.ping_ms;
        if (s->o.probe_ms > 0 && e->host[0] != '\0' && e->next_probe < next)
            next = e->next_probe;
    } else if (e->st != RS_DONE && e->next_action < next) {
        next = e->next_action;
    }
    return next;
}

static int serve_loop(struct serve *s)
{
    struct pollfd pfd[SERVE_MAX_EPS * 2];

    for (;;) {
        uint64_t now = now_mono_ms(), next = now + 1000;
        bool all_done = true;
        int wait;

        if (cn_sig.stop && !s->stopping)
            serve_begin_stop(s, now);
        for (unsigned i = 0; i < s->n_eps; i++) {
            ep_step(s, &s->eps[i], now);
            fwd_tick(&s->eps[i].fwd, now);
            if (s->eps[i].st != RS_DONE)
                all_done = false;
        }
        if (s->stopping && (all_done || now >= s->stop_deadline))
            break;
        for (unsigned i = 0; i < s->n_eps; i++) {
            uint64_t t = ep_next_timer(s, &s->eps[i], now);
            if (t < next)
                next = t;
            pfd[2 * i] = (struct pollfd){.fd = s->eps[i].fd_rd, .events = POLLIN};
            pfd[2 * i + 1] = (struct pollfd){.fd = s->eps[i].fd_local, .events = POLLIN};
        }
        wait = next > now ? (int)(next - now) : 0;
        if (poll(pfd, 2 * s->n_eps, wait) < 0) {
            if (errno == EINTR)
                continue;
            log_warn("poll");
            return CN_EXIT_RUNTIME;
        }
        now = now_mono_ms();
        for (unsigned i = 0; i < s->n_eps; i++) {
            if (pfd[2 * i].revents & (POLLIN | POLLERR))
                serve_read(s, &s->eps[i], true, now);
            if (pfd[2 * i + 1].revents & (POLLIN | POLLERR))
                serve_read(s, &s->eps[i], false, now);
        }
    }
    return s->exit_code;
}

int serve_main(int argc, char **argv)
{
    struct serve *s = calloc(1, sizeof(*s));
    int rc = CN_EXIT_CONFIG;

    if (s == NULL)
        return CN_EXIT_RUNTIME;
    if (serve_parse(s, argc, argv) < 0)
        goto done;
    rc = CN_EXIT_RUNTIME;
    cn_install_signals();
    if (s->o.tcp) {
        struct serve_target t[SERVE_MAX_EPS];
        for (unsigned i = 0; i < s->n_eps; i++) {
            if (ep_fetch_links(s, &s->eps[i]) < 0)
                goto done;
            t[i] = (struct serve_target){s->eps[i].ep, &s->eps[i].local, s->eps[i].links};
        }
        rc = serve_tcp_run(&s->o, t, s->n_eps);
        goto done;
    }
    for (unsigned i = 0; i < s->n_eps; i++) {
        if (ep_open(s, &s->eps[i]) < 0 || ep_fetch_links(s, &s->eps[i]) < 0)
            goto done;
    }
    rc = serve_loop(s);
done:
    for (unsigned i = 0; i < s->n_eps; i++)
        ep_close(&s->eps[i]);
    free(s);
    return rc;
}
