/*
 * config.c - the shared configuration (config.h).
 * Owns: the settings table, the one place that names every setting, its
 * type, default and help text. Talks to the file system (config file) and
 * stderr (errors from config_from_args).
 * Everything is table-driven: defaults, file lines, flags and --help all go
 * through the same entry, so a new setting is one line here plus the field.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"
#include "curve.h"
#include "log.h"
#include "metrics.h"
#include "xfwd_ep.h"

enum cfg_type {
    CFG_STR,
    CFG_U32,
    CFG_LOGLEVEL,
    CFG_LISTEN,
    CFG_MXLISTEN,
    CFG_KEY,
    CFG_KEYLIST,
    CFG_XFWDEPS
};

struct cfg_entry {
    const char *name;
    enum cfg_type type;
    size_t offset, size;
    const char *def;
    const char *help;
};

#define F(field) offsetof(struct rr_config, field), sizeof(((struct rr_config *)0)->field)

static const struct cfg_entry cfg_table[] = {
    {"state_dir", CFG_STR, F(state_dir), "state", "directory for the database and sockets"},
    {"db_path", CFG_STR, F(db_path), "", "SQLite database (default <state_dir>/rdrelay.sqlite)"},
    {"ctl_endpoint", CFG_STR, F(ctl_endpoint), "",
     "rd-frontend ROUTER (default ipc://<state_dir>/ctl.sock)"},
    {"pub_endpoint", CFG_STR, F(pub_endpoint), "",
     "rd-frontend route PUB (default ipc://<state_dir>/routes.sock)"},
    {"proxy_domain", CFG_STR, F(proxy_domain), "proxy.localhost",
     "domain under which proxied endpoints are named; empty disables proxying"},
    {"rd_names", CFG_STR, F(rd_names), "",
     "comma list of the RD's own host names; empty = any name outside the proxy domain"},
    {"udp_listen", CFG_LISTEN, F(udp_listen), "0.0.0.0:5683,[::]:5683",
     "UDP listen addresses (comma list)"},
    {"tcp_listen", CFG_LISTEN, F(tcp_listen), "0.0.0.0:5683,[::]:5683",
     "TCP listen addresses (comma list)"},
    {"log_level", CFG_LOGLEVEL, F(log_level), "info", "error, warn, info or debug"},
    {"default_lt", CFG_U32, F(default_lt), "90000", "registration lifetime when none given (s)"},
    {"expiry_grace", CFG_U32, F(expiry_grace), "3600",
     "an expired registration stays refreshable this long (s)"},
    {"max_payload", CFG_U32, F(max_payload), "8192", "largest registration payload (bytes)"},
    {"empty_ack_delay_ms", CFG_U32, F(empty_ack_delay_ms), "100",
     "wait this long before an empty ACK (ms); 0 = at once"},
    {"nat_keepalive", CFG_U32, F(nat_keepalive), "25", "NAT keepalive interval (s); 0 = off"},
    {"hop_limit", CFG_U32, F(hop_limit), "16", "Hop-Limit added to forwarded requests"},
    {"upstream_timeout_ms", CFG_U32, F(upstream_timeout_ms), "45000",
     "forwarded request unanswered this long -> 5.04 (ms)"},
    {"max_exchanges", CFG_U32, F(max_exchanges), "4096", "in-flight forwarded exchanges per relay"},
    {"dedup_entries", CFG_U32, F(dedup_entries), "16384",
     "relay-udp: requests remembered for duplicate detection, all peers together (~1.7 KiB each)"},
    {"dedup_per_peer", CFG_U32, F(dedup_per_peer), "256",
     "relay-udp: requests remembered per peer (its own oldest go first)"},
    {"stop_deadline_ms", CFG_U32, F(stop_deadline_ms), "2000",
     "on SIGTERM a relay stops taking work and waits this long for the exchanges in flight "
     "before it exits (ms)"},
    {"heartbeat_ms", CFG_U32, F(heartbeat_ms), "1000", "route PUB heartbeat interval (ms)"},
    {"tcp_timeout_ms", CFG_U32, F(tcp_timeout_ms), "10000",
     "TCP peer with no CSM, or stuck in the middle of a message, this long -> Abort (ms)"},
    {"udp_relay_name", CFG_STR, F(udp_relay_name), "udp",
     "rdrelay-udp's relay name (its routing id and cross-transport endpoint; a-z, 0-9, -)"},
    {"tcp_relay_name", CFG_STR, F(tcp_relay_name), "tcp", "rdrelay-tcp's relay name"},
    {"xfwd_peers", CFG_STR, F(xfwd_peers), "udp,tcp,ws",
     "comma list of the relays every relay connects to at start for cross-transport forwarding "
     "(others when a route names them)"},
    {"xfwd_max_peers", CFG_U32, F(xfwd_max_peers), "8", "most other relays one relay forwards to"},
    {"ctl_resend_max", CFG_U32, F(ctl_resend_max), "4096",
     "relays: one-shot messages to rd-frontend (REACHABILITY, OBSERVE_GONE, EP_RESPONSE) kept "
     "and re-sent while its high-water mark refuses them (more are dropped, counted)"},
    {"tcp_max_message", CFG_U32, F(tcp_max_message), "16384",
     "relay-tcp's Max-Message-Size: largest whole message it takes (bytes, 1152..65536)"},
    {"tcp_outq_max", CFG_U32, F(tcp_outq_max), "262144",
     "output queued per TCP connection before a slow reader is dropped (bytes)"},
    {"tcp_max_conns", CFG_U32, F(tcp_max_conns), "20000",
     "most concurrent TCP connections (also limited by RLIMIT_NOFILE)"},
    {"tcp_max_inflight", CFG_U32, F(tcp_max_inflight), "256",
     "most outstanding requests of one TCP connection (then 5.03)"},
    {"tcp_pong_timeout_ms", CFG_U32, F(tcp_pong_timeout_ms), "20000",
     "a keepalive Ping unanswered this long closes the TCP connection (ms)"},
    {"ws_listen", CFG_LISTEN, F(ws_listen), "0.0.0.0:8683,[::]:8683",
     "WebSocket (coap+ws) addresses of the WebSocket relay"},
    {"ws_tls_listen", CFG_LISTEN, F(ws_tls_listen), "0.0.0.0:8684,[::]:8684",
     "TLS WebSocket (coaps+ws) addresses, used when ws_tls_cert and ws_tls_key are set"},
    {"ws_tls_cert", CFG_STR, F(ws_tls_cert), "", "PEM certificate (chain) for coaps+ws"},
    {"ws_tls_key", CFG_STR, F(ws_tls_key), "", "PEM private key for coaps+ws"},
    {"ws_relay_name", CFG_STR, F(ws_relay_name), "ws", "rdrelay-ws's relay name"},
    {"ws_www_dir", CFG_STR, F(ws_www_dir), "",
     "directory of the static files (status page) rdrelay-ws serves over HTTP at /; empty = "
     "the source tree's www/"},
    {"ws_trusted_proxies", CFG_STR, F(ws_trusted_proxies), "",
     "comma list of reverse-proxy addresses whose X-Forwarded-For names the client; empty = "
     "trust none"},
    {"ws_max_message", CFG_U32, F(ws_max_message), "16384",
     "relay-ws's Max-Message-Size: largest CoAP message (one frame) it takes (bytes, "
     "1152..65536)"},
    {"ws_max_conns", CFG_U32, F(ws_max_conns), "20000",
     "most concurrent WebSocket connections (also limited by RLIMIT_NOFILE)"},
    {"block_slots", CFG_U32, F(block_slots), "16",
     "block-wise bodies collected or split across transports at once, per relay"},
    {"block_body_max", CFG_U32, F(block_body_max), "16384",
     "largest body collected from or split into Block1 blocks (bytes, at most 65536); more -> "
     "4.13"},
    {"block_timeout_ms", CFG_U32, F(block_timeout_ms), "30000",
     "a block-wise body with no new block this long is dropped (ms)"},
    {"amplification_limit", CFG_U32, F(amplification_limit), "3",
     "relay-udp: an answer to an unverified source is at most this many times its request, "
     "else 4.01 + Echo (RFC 9175); 0 = off"},
    {"echo_verified_s", CFG_U32, F(echo_verified_s), "300",
     "relay-udp: a source that repeated a request with our Echo is verified this long (s)"},
    {"echo_verified_max", CFG_U32, F(echo_verified_max), "16384",
     "relay-udp: verified sources remembered (27 bytes each); the first to expire goes first"},
    {"proxy_rate_source", CFG_U32, F(proxy_rate_source), "200",
     "proxied requests per second from one source (IPv4 address, IPv6 /64), then 5.03 + "
     "Max-Age; 0 = no limit"},
    {"proxy_burst_source", CFG_U32, F(proxy_burst_source), "400",
     "proxied requests one source may send at once above its rate (bucket size)"},
    {"proxy_rate_endpoint", CFG_U32, F(proxy_rate_endpoint), "100",
     "proxied requests per second to one endpoint name, then 5.03 + Max-Age; 0 = no limit"},
    {"proxy_burst_endpoint", CFG_U32, F(proxy_burst_endpoint), "200",
     "proxied requests to one endpoint at once above its rate (bucket size)"},
    {"limit_buckets", CFG_U32, F(limit_buckets), "65536",
     "token buckets of the rate limits per relay (24 bytes each, allocated at start)"},
    {"max_conns_per_source", CFG_U32, F(max_conns_per_source), "64",
     "relay-tcp, relay-ws: open connections from one source (IPv4 address, IPv6 /64); more are "
     "refused with Abort 7.05; 0 = no limit"},
    {"max_inflight_per_source", CFG_U32, F(max_inflight_per_source), "1024",
     "exchanges in flight (observations included) from one source (IPv4 address, IPv6 /64) per "
     "relay; more get 5.03; 0 = no limit"},
    {"max_inflight_per_endpoint", CFG_U32, F(max_inflight_per_endpoint), "256",
     "proxied exchanges in flight (observations included) to one endpoint name per relay; more "
     "get 5.03 with Max-Age 1; 0 = no limit"},
    {"max_observe_per_client", CFG_U32, F(max_observe_per_client), "64",
     "proxied observations one client source (IPv4 address, IPv6 /64) holds per relay; more are "
     "forwarded without Observe (one plain response); 0 = no limit"},
    {"max_lookup_observe_per_client", CFG_U32, F(max_lookup_observe_per_client), "256",
     "rd-frontend: lookup observations (Observe on /rd-lookup/*) one client source (IPv4 address, "
     "IPv6 /64) holds, all relays together; more are answered without Observe; 0 = no limit"},
    {"extra_options", CFG_STR, F(extra_options), "",
     "comma list of CoAP option numbers to treat as known"},
    {"port_hosting_range", CFG_STR, F(port_hosting_range), "",
     "ports for port-based virtual hosting, e.g. 5701-5799 (one per proxied registration, "
     "on every relay's listen addresses); empty = off"},
    {"port_quarantine", CFG_U32, F(port_quarantine), "3600",
     "a released hosting port goes to no other endpoint for this long (s)"},
    {"port_handoff_socket", CFG_STR, F(port_handoff_socket), "",
     "unix socket (0600) over which rdrelay-tcp hands coap+ws connections on a hosting port "
     "to rdrelay-ws where tcp_listen and ws_listen share an address (default "
     "<state_dir>/ws-handoff.sock)"},
    {"port_per_source", CFG_U32, F(port_per_source), "8",
     "most hosting ports held by registrations from one IPv4 address or IPv6 /64"},
    {"takeover", CFG_STR, F(takeover), "same-address",
     "who may re-register, update or delete a live registration: same-address (the same peer "
     "IP, any port, or its own TCP/WebSocket connection), allow (anyone) or deny (only its very "
     "path: same address and port, or its own connection); refused -> 4.03"},
    {"name_secrets", CFG_STR, F(name_secrets), "",
     "file of \"NAME-PATTERN SECRET\" lines: such names are registered, updated and deleted only "
     "with ?sec=SECRET (4.01 otherwise); empty = none"},
    {"max_links", CFG_U32, F(max_links), "512",
     "most links in one registration (more -> 4.13); 0 = no limit"},
    {"max_registrations", CFG_U32, F(max_registrations), "200000",
     "most registrations in all (a new one beyond -> 5.03 with Max-Age); 0 = no limit"},
    {"max_regs_per_source", CFG_U32, F(max_regs_per_source), "1000",
     "most registrations from one IPv4 address or IPv6 /64 (a new one beyond -> 4.29 with "
     "Max-Age); 0 = no limit"},
    {"metrics_listen", CFG_MXLISTEN, F(metrics_listen), RR_METRICS_LISTEN_DEFAULT,
     "Prometheus /metrics listeners, a comma list of NAME=ADDRESS:PORT (NAME: frontend or a "
     "relay name); a process without an entry serves none; empty = metrics off"},
    {"curve_server_public", CFG_KEY, F(curve_server_public), "",
     "rd-frontend's CURVE public key (Z85, rdrelayctl keygen): set, every tcp:// ctl/pub "
     "endpoint is CURVE-encrypted and authenticated; in a config file put keys in double quotes"},
    {"curve_server_secret", CFG_KEY, F(curve_server_secret), "",
     "rd-frontend's CURVE secret key (only in rd-frontend's configuration)"},
    {"curve_public", CFG_KEY, F(curve_public), "",
     "this relay's (or rdrelayctl's) CURVE public key, listed in rd-frontend's curve_authorized"},
    {"curve_secret", CFG_KEY, F(curve_secret), "",
     "this relay's (or rdrelayctl's) CURVE secret key"},
    {"curve_authorized", CFG_KEYLIST, F(curve_authorized), "",
     "rd-frontend: comma list of the CURVE public keys of relays and rdrelayctl it lets in over "
     "tcp:// (any other key is refused and logged); a relay with a tcp:// xfwd endpoint lets in "
     "the keys of the relays that forward to it the same way"},
    {"xfwd_endpoints", CFG_XFWDEPS, F(xfwd_endpoints), "",
     "relays on other hosts: comma list of NAME=tcp://ADDRESS:PORT;KEY (KEY: that relay's "
     "curve_public); a relay listed binds its cross-transport endpoint there, every relay "
     "connects to it there; unlisted relays are at ipc://<state_dir>/relay-<name>.sock"},
};

#define CFG_N (sizeof(cfg_table) / sizeof(cfg_table[0]))

static const struct cfg_entry *cfg_find(const char *name, size_t len)
{
    for (size_t i = 0; i < CFG_N; i++)
        if (strlen(cfg_table[i].name) == len && strncmp(cfg_table[i].name, name, len) == 0)
            return &cfg_table[i];
    return NULL;
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    unsigned long long v;

    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int check_value(const struct cfg_entry *e, const char *value)
{
    enum log_level lvl;
    struct rr_addr tmp[16];

    switch (e->type) {
    case CFG_LOGLEVEL:
        return log_level_parse(value, &lvl);
    case CFG_LISTEN:
        return addr_parse_list(value, 5683, tmp, 16) < 0 ? -1 : 0;
    case CFG_MXLISTEN:
        return mx_listen_ok(value) ? 0 : -1;
    case CFG_KEY:
        return !*value || curve_key_ok(value) ? 0 : -1;
    case CFG_KEYLIST:
        return curve_key_list_ok(value) ? 0 : -1;
    case CFG_XFWDEPS:
        return xfwd_endpoints_ok(value) ? 0 : -1;
    default:
        return 0;
    }
}

int config_set(struct rr_config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    const struct cfg_entry *e = cfg_find(name, strlen(name));
    char *field;

    if (!e) {
        snprintf(err, errlen, "unknown setting \"%s\"", name);
        return -1;
    }
    field = (char *)cfg + e->offset;
    if (e->type == CFG_U32) {
        if (parse_u32(value, (uint32_t *)(void *)field) < 0)
            goto bad;
        return 0;
    }
    if (strlen(value) >= e->size || check_value(e, value) < 0)
        goto bad;
    memcpy(field, value, strlen(value) + 1);
    return 0;
bad:
    snprintf(err, errlen, "bad value for %s: \"%s\"", name, value);
    return -1;
}

void config_defaults(struct rr_config *cfg)
{
    char err[128];

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < CFG_N; i++)
        if (config_set(cfg, cfg_table[i].name, cfg_table[i].def, err, sizeof(err)) < 0)
            fatalx("config: bad embedded default: %s", err);
}

static char *trim(char *s)
{
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* One "name = value" line (comments already stripped); 0 / -1 with err. */
static int config_line(struct rr_config *cfg, char *line, char *err, size_t errlen)
{
    char *eq = strchr(line, '='), *name, *value;

    line = trim(line);
    if (*line == '\0')
        return 0;
    if (!eq) {
        snprintf(err, errlen, "expected \"name = value\"");
        return -1;
    }
    *eq = '\0';
    name = trim(line);
    value = trim(eq + 1);
    /* Allow "value" in double quotes, e.g. to keep a '#' or spaces. */
    if (value[0] == '"' && strlen(value) >= 2 && value[strlen(value) - 1] == '"') {
        value[strlen(value) - 1] = '\0';
        value++;
    }
    return config_set(cfg, name, value, err, errlen);
}

/* Strip a '#' comment that is not inside double quotes. */
static void strip_comment(char *line)
{
    bool quoted = false;

    for (char *p = line; *p; p++) {
        if (*p == '"')
            quoted = !quoted;
        else if (*p == '#' && !quoted) {
            *p = '\0';
            return;
        }
    }
}

int config_load_file(struct rr_config *cfg, const char *path, char *err, size_t errlen)
{
    char line[1024], why[256];
    unsigned lineno = 0;
    int rc = -1;
    FILE *f = fopen(path, "r");

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%u: line too long", path, lineno);
            goto out;
        }
        strip_comment(line);
        if (config_line(cfg, line, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
            goto out;
        }
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto out;
    }
    rc = 0;
out:
    fclose(f);
    return rc;
}

static void lower_in_place(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static int parse_extra_options(struct rr_config *cfg, char *err, size_t errlen)
{
    const char *p = cfg->extra_options;

    cfg->n_extra_options = 0;
    while (*p) {
        char *end;
        unsigned long v;

        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        errno = 0;
        v = strtoul(p, &end, 10);
        if (!isdigit((unsigned char)*p) || errno || v == 0 || v > 65535 ||
            (*end && *end != ',' && *end != ' ') || cfg->n_extra_options >= RR_MAX_EXTRA_OPTIONS) {
            snprintf(err, errlen, "bad extra_options \"%s\"", cfg->extra_options);
            return -1;
        }
        cfg->extra_option_nums[cfg->n_extra_options++] = (uint16_t)v;
        p = end;
    }
    return 0;
}

/* Fill an empty setting with state_dir + suffix; -1 if it does not fit. */
static int derive(char *field, size_t size, const char *prefix, const char *dir, const char *suffix)
{
    int n;

    if (field[0])
        return 0;
    n = snprintf(field, size, "%s%s/%s", prefix, dir, suffix);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* port_hosting_range "LO-HI" (or one port) -> port_lo, port_hi; "" = off. */
static int parse_port_range(struct rr_config *cfg, char *err, size_t errlen)
{
    const char *s = cfg->port_hosting_range;
    char *end;
    unsigned long lo, hi;

    cfg->port_lo = cfg->port_hi = 0;
    if (s[0] == '\0')
        return 0;
    if (!isdigit((unsigned char)s[0]))
        goto bad;
    lo = strtoul(s, &end, 10);
    hi = lo;
    if (*end == '-') {
        if (!isdigit((unsigned char)end[1]))
            goto bad;
        hi = strtoul(end + 1, &end, 10);
    }
    if (*end != '\0' || lo == 0 || hi > 65535 || lo > hi)
        goto bad;
    cfg->port_lo = (uint16_t)lo;
    cfg->port_hi = (uint16_t)hi;
    return 0;
bad:
    snprintf(err, errlen, "port_hosting_range must be LO-HI (1..65535, LO <= HI) or empty");
    return -1;
}

/* No listen address may use a hosting port: a connection's local port in
 * the range is how the stream relays tell a hosting connection. */
static int check_listen_outside_range(const struct rr_config *cfg, char *err, size_t errlen)
{
    const char *lists[] = {cfg->udp_listen, cfg->tcp_listen, cfg->ws_listen, cfg->ws_tls_listen};
    struct rr_addr a[16];

    if (cfg->port_lo == 0)
        return 0;
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        int n = addr_parse_list(lists[i], 5683, a, 16);
        for (int k = 0; k < n; k++) {
            uint16_t p = addr_port(&a[k]);
            if (p >= cfg->port_lo && p <= cfg->port_hi) {
                snprintf(err, errlen, "listen port %u is inside port_hosting_range %s", p,
                         cfg->port_hosting_range);
                return -1;
            }
        }
    }
    return 0;
}

int config_finish(struct rr_config *cfg, char *err, size_t errlen)
{
    if (cfg->state_dir[0] == '\0') {
        snprintf(err, errlen, "state_dir must not be empty");
        return -1;
    }
    if (derive(cfg->db_path, sizeof(cfg->db_path), "", cfg->state_dir, "rdrelay.sqlite") < 0 ||
        derive(cfg->ctl_endpoint, sizeof(cfg->ctl_endpoint), "ipc://", cfg->state_dir, "ctl.sock") <
            0 ||
        derive(cfg->pub_endpoint, sizeof(cfg->pub_endpoint), "ipc://", cfg->state_dir,
               "routes.sock") < 0 ||
        derive(cfg->port_handoff_socket, sizeof(cfg->port_handoff_socket), "", cfg->state_dir,
               "ws-handoff.sock") < 0) {
        snprintf(err, errlen, "state_dir too long");
        return -1;
    }
    if (strlen(cfg->port_handoff_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        snprintf(err, errlen,
                 "port_handoff_socket is too long for a unix socket (%zu bytes at most)",
                 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        return -1;
    }
    if (cfg->tcp_max_message < 1152 || cfg->tcp_max_message > 65536) {
        snprintf(err, errlen, "tcp_max_message must be 1152..65536");
        return -1;
    }
    if (cfg->ws_max_message < 1152 || cfg->ws_max_message > 65536 || cfg->ws_max_conns == 0 ||
        cfg->tcp_outq_max < cfg->ws_max_message) {
        snprintf(err, errlen,
                 "ws_max_message must be 1152..65536 and at most tcp_outq_max, ws_max_conns at "
                 "least 1");
        return -1;
    }
    if (cfg->xfwd_max_peers == 0 || cfg->xfwd_max_peers > 64 || cfg->tcp_max_conns == 0 ||
        cfg->tcp_max_inflight == 0 || cfg->tcp_max_inflight > 65535 ||
        cfg->tcp_outq_max < cfg->tcp_max_message) {
        snprintf(err, errlen,
                 "xfwd_max_peers 1..64, tcp_max_conns and tcp_max_inflight "
                 "(..65535) at least 1, tcp_outq_max at least tcp_max_message");
        return -1;
    }
    /* an assembled body travels between relays in one message */
    if (cfg->block_body_max > RR_BLOCK_BODY_LIMIT) {
        snprintf(err, errlen, "block_body_max must be at most %u", RR_BLOCK_BODY_LIMIT);
        return -1;
    }
    if (parse_port_range(cfg, err, errlen) < 0 || check_listen_outside_range(cfg, err, errlen) < 0)
        return -1;
    if (strcmp(cfg->takeover, "same-address") == 0) {
        cfg->takeover_mode = RR_TAKEOVER_SAME_ADDRESS;
    } else if (strcmp(cfg->takeover, "allow") == 0) {
        cfg->takeover_mode = RR_TAKEOVER_ALLOW;
    } else if (strcmp(cfg->takeover, "deny") == 0) {
        cfg->takeover_mode = RR_TAKEOVER_DENY;
    } else {
        snprintf(err, errlen, "takeover must be same-address, allow or deny");
        return -1;
    }
    /* Host names compare case-insensitively; store them lower-case once. */
    lower_in_place(cfg->proxy_domain);
    lower_in_place(cfg->rd_names);
    return parse_extra_options(cfg, err, errlen);
}

/* "--proxy-domain" -> entry, or NULL. name excludes the leading dashes. */
static const struct cfg_entry *flag_find(const char *flag, size_t len)
{
    char name[64];

    if (len >= sizeof(name))
        return NULL;
    for (size_t i = 0; i < len; i++)
        name[i] = flag[i] == '-' ? '_' : flag[i];
    name[len] = '\0';
    return cfg_find(name, len);
}

/* Find --config FILE / --config=FILE (before anything else is applied). */
static const char *find_config_path(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            return argv[i + 1];
        if (strncmp(argv[i], "--config=", 9) == 0)
            return argv[i] + 9;
    }
    return NULL;
}

/* Apply one known flag; *i is advanced past a separate value. */
static int apply_flag(struct rr_config *cfg, const struct cfg_entry *e, const char *inline_val,
                      int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *value = inline_val;

    if (!value) {
        if (*i + 1 >= argc) {
            snprintf(err, errlen, "%s needs a value", argv[*i]);
            return -1;
        }
        value = argv[++*i];
    }
    return config_set(cfg, e->name, value, err, errlen);
}

/* Apply every known flag, compacting the rest into argv[1..]. */
static int apply_flags(struct rr_config *cfg, int *argc, char **argv, char *err, size_t errlen)
{
    int out = 1, i;

    for (i = 1; i < *argc; i++) {
        const char *a = argv[i], *eq;
        const struct cfg_entry *e = NULL;
        size_t len;

        if (strcmp(a, "--") == 0)
            break;
        if (strncmp(a, "--", 2) == 0) {
            eq = strchr(a + 2, '=');
            len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            if (len == 6 && strncmp(a + 2, "config", 6) == 0) {
                if (!eq)
                    i++; /* already loaded */
                continue;
            }
            e = flag_find(a + 2, len);
            if (e) {
                if (apply_flag(cfg, e, eq ? eq + 1 : NULL, *argc, argv, &i, err, errlen) < 0)
                    return -1;
                continue;
            }
        }
        argv[out++] = argv[i];
    }
    for (; i < *argc; i++)
        argv[out++] = argv[i];
    argv[out] = NULL;
    *argc = out;
    return 0;
}

/* The command line as first given (config_from_args compacts argv in
 * place): SIGHUP re-reads the same file and flags (config_reread). */
#define CFG_MAX_ARGS 256
static char *saved_argv[CFG_MAX_ARGS + 1];
static int saved_argc;

static void save_args(int argc, char **argv)
{
    saved_argc = argc < CFG_MAX_ARGS ? argc : CFG_MAX_ARGS;
    for (int i = 0; i < saved_argc; i++)
        saved_argv[i] = argv[i];
    saved_argv[saved_argc] = NULL;
}

/* defaults < file < flags, then config_finish; argv compacted as above */
static int config_build(struct rr_config *cfg, int *argc, char **argv, char *err, size_t errlen)
{
    const char *path = find_config_path(*argc, argv);

    config_defaults(cfg);
    if (!path) {
        path = getenv("RDRELAY_CONFIG");
        if (path && !*path)
            path = NULL;
    }
    if (path && config_load_file(cfg, path, err, errlen) < 0)
        return -1;
    if (apply_flags(cfg, argc, argv, err, errlen) < 0)
        return -1;
    return config_finish(cfg, err, errlen);
}

int config_reread(struct rr_config *cfg, char *err, size_t errlen)
{
    char *argv[CFG_MAX_ARGS + 1];
    int argc = saved_argc;

    if (argc == 0) {
        snprintf(err, errlen, "no command line saved");
        return -1;
    }
    memcpy(argv, saved_argv, sizeof(argv));
    return config_build(cfg, &argc, argv, err, errlen);
}

int config_from_args(struct rr_config *cfg, int *argc, char **argv)
{
    char err[512];

    save_args(*argc, argv);
    if (config_build(cfg, argc, argv, err, sizeof(err)) < 0)
        goto fail;
    return 0;
fail:
    fprintf(stderr, "%s: config: %s\n", argv[0], err);
    return -1;
}

int config_copy_setting(struct rr_config *dst, const struct rr_config *src, const char *name)
{
    const struct cfg_entry *e = cfg_find(name, strlen(name));

    if (!e)
        return -1;
    memcpy((char *)dst + e->offset, (const char *)src + e->offset, e->size);
    return 0;
}

void config_print_help(FILE *out)
{
    char flag[64];

    fprintf(out, "  --config FILE  read settings from FILE (also $RDRELAY_CONFIG)\n");
    for (size_t i = 0; i < CFG_N; i++) {
        const struct cfg_entry *e = &cfg_table[i];
        size_t j;

        for (j = 0; e->name[j] && j < sizeof(flag) - 1; j++)
            flag[j] = e->name[j] == '_' ? '-' : e->name[j];
        flag[j] = '\0';
        if (e->def[0])
            fprintf(out, "  --%s VALUE\n      %s (default: %s)\n", flag, e->help, e->def);
        else
            fprintf(out, "  --%s VALUE\n      %s\n", flag, e->help);
    }
}

void config_foreach(const struct rr_config *cfg,
                    void (*fn)(void *arg, const char *name, const char *value, bool is_default),
                    void *arg)
{
    char v[RR_CFG_STR];

    for (size_t i = 0; i < CFG_N; i++) {
        const struct cfg_entry *e = &cfg_table[i];
        const char *field = (const char *)cfg + e->offset;
        if (e->type == CFG_U32)
            snprintf(v, sizeof(v), "%u", *(const uint32_t *)(const void *)field);
        else
            snprintf(v, sizeof(v), "%s", field);
        fn(arg, e->name, v, strcmp(v, e->def) == 0);
    }
}
