/*
 * config.h - the one configuration shared by every rdrelay process.
 * Owns: struct rr_config and the table of settings (name, default, help).
 * Sources, later wins: embedded defaults < config file (--config FILE, or
 * $RDRELAY_CONFIG) < command-line flags. Every setting NAME (e.g.
 * "proxy_domain") is also the flag --proxy-domain VALUE (underscores become
 * dashes) and a "NAME = VALUE" line in the file ('#' starts a comment).
 * Derived defaults: an empty db_path, ctl_endpoint or pub_endpoint is filled
 * in from state_dir by config_finish().
 */
#ifndef RDRELAY_CONFIG_H
#define RDRELAY_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define RR_CFG_STR 256
#define RR_MAX_EXTRA_OPTIONS 32

struct rr_config {
    char state_dir[RR_CFG_STR];    /* "state" (relative to the cwd) */
    char db_path[RR_CFG_STR];      /* "" -> <state_dir>/rdrelay.sqlite */
    char ctl_endpoint[RR_CFG_STR]; /* "" -> ipc://<state_dir>/ctl.sock (ROUTER in rd-frontend) */
    char pub_endpoint[RR_CFG_STR]; /* "" -> ipc://<state_dir>/routes.sock (PUB in rd-frontend) */
    char proxy_domain[RR_CFG_STR]; /* "proxy.localhost"; "" disables proxying */
    char rd_names[RR_CFG_STR];     /* comma list of the RD's own host names; "" = any name
                                      outside the proxy domain is the RD */
    char udp_listen[RR_CFG_STR];   /* "0.0.0.0:5683,[::]:5683" */
    char tcp_listen[RR_CFG_STR];   /* "0.0.0.0:5683,[::]:5683" (relay-tcp) */
    char log_level[16];            /* "info" */
    uint32_t default_lt;           /* 90000 s */
    uint32_t expiry_grace;         /* 3600 s: an expired registration stays refreshable */
    uint32_t max_payload;          /* 8192 bytes: larger registration payload -> 4.13 */
    uint32_t empty_ack_delay_ms;   /* 100; 0 = empty ACK at once */
    uint32_t nat_keepalive;        /* 25 s; 0 = off */
    uint32_t hop_limit;            /* 16: Hop-Limit added to forwarded requests */
    uint32_t upstream_timeout_ms;  /* 45000 (EXCHANGE_LIFETIME-ish) -> 5.04 */
    uint32_t max_exchanges;        /* 4096 in-flight forwarded exchanges per relay */
    uint32_t dedup_entries;        /* 16384 requests remembered for duplicates (relay-udp) */
    uint32_t dedup_per_peer;       /* 256 of them per peer */
    uint32_t heartbeat_ms;         /* 1000: rd-frontend PUB heartbeat interval */
    uint32_t tcp_timeout_ms;       /* 10000: TCP peer without a CSM, or stuck mid-message,
                                      this long -> Abort (relay-tcp) */
    uint32_t block_slots;          /* 16 block-wise bodies in assembly/splitting (blockwise.h) */
    uint32_t block_body_max;       /* 16384 bytes per such body; more -> 4.13 + Size1 */
    uint32_t block_timeout_ms;     /* 30000: an idle block-wise body is dropped */
    uint32_t stop_deadline_ms;     /* 2000: SIGTERM waits this long for exchanges in flight */
    /* topology (relay core): names and cross-transport peers */
    char udp_relay_name[32];     /* "udp": rdrelay-udp's name (routing id, XFWD endpoint) */
    char tcp_relay_name[32];     /* "tcp": rdrelay-tcp's name */
    char xfwd_peers[RR_CFG_STR]; /* "udp,tcp,ws": relays every relay connects to at start */
    uint32_t xfwd_max_peers;     /* 8: most relays one relay forwards to */
    uint32_t ctl_resend_max;     /* 4096: one-shots kept for the HWM (relay-core/resend.c) */
    /* relay-tcp limits */
    uint32_t tcp_max_message;     /* 16384: our Max-Message-Size (whole message) */
    uint32_t tcp_outq_max;        /* 262144: queued output per connection, then dropped */
    uint32_t tcp_max_conns;       /* 20000 (further limited by RLIMIT_NOFILE) */
    uint32_t tcp_max_inflight;    /* 256: one connection's outstanding requests */
    uint32_t tcp_pong_timeout_ms; /* 20000: keepalive Ping unanswered -> close */
    /* relay-ws (CoAP over WebSockets, RFC 8323 §4); the tcp_ limits other
     * than the ones below (inflight, timeouts, output queue) apply to it */
    char ws_listen[RR_CFG_STR];          /* "0.0.0.0:8683,[::]:8683" */
    char ws_tls_listen[RR_CFG_STR];      /* "0.0.0.0:8684,[::]:8684", if cert + key */
    char ws_tls_cert[RR_CFG_STR];        /* "": no coaps+ws */
    char ws_tls_key[RR_CFG_STR];         /* "" */
    char ws_relay_name[32];              /* "ws": rdrelay-ws's name */
    char ws_www_dir[RR_CFG_STR];         /* static files served at / (the status page) */
    char ws_trusted_proxies[RR_CFG_STR]; /* "": X-Forwarded-For believed from these */
    uint32_t ws_max_message;             /* 16384: our Max-Message-Size (one frame) */
    uint32_t ws_max_conns;               /* 20000 (further limited by RLIMIT_NOFILE) */
    char extra_options[RR_CFG_STR];      /* comma list of option numbers to treat as known */
    /* port-based virtual hosting (BRIEF §3.4): rd-frontend assigns, relays listen */
    char port_hosting_range[32]; /* "" = off; "5701-5799" */
    uint32_t port_quarantine;    /* 3600 s before a released port is given out again */
    uint32_t port_per_source;    /* 8 ports per IPv4 address / IPv6 /64 */
    /* "" -> <state_dir>/ws-handoff.sock: relay-tcp hands coap+ws hosting
     * connections to relay-ws there (relay-core/handoff.h) */
    char port_handoff_socket[RR_CFG_STR];
    /* parsed from port_hosting_range by config_finish(): 0..0 = off */
    uint16_t port_lo, port_hi;
    /* rd-frontend: name ownership and registry limits (0 = no limit) */
    char takeover[16];             /* "same-address" | "allow" | "deny" */
    char name_secrets[RR_CFG_STR]; /* "" = none; file of "NAME-PATTERN SECRET" lines */
    uint32_t max_links;            /* 512 links per registration; more -> 4.13 */
    uint32_t max_registrations;    /* 200000 in all; a new one beyond -> 5.03 + Max-Age */
    uint32_t max_regs_per_source;  /* 1000 per IPv4 address / IPv6 /64 -> 4.29 + Max-Age */
    /* "frontend=127.0.0.1:9560,udp=...": each process's Prometheus
     * listener, by process name (common/metrics.h) */
    char metrics_listen[RR_CFG_STR];
    /* ZeroMQ CURVE on tcp:// endpoints (common/curve.h); Z85 keys */
    char curve_server_public[48]; /* rd-frontend's public key (every client) */
    char curve_server_secret[48]; /* rd-frontend's secret key (rd-frontend only) */
    char curve_public[48];        /* this relay's / rdrelayctl's own pair */
    char curve_secret[48];
    char curve_authorized[2700]; /* client public keys let in (comma list): rd-frontend,
                                    and relays with a tcp:// xfwd endpoint */
    char xfwd_endpoints[1024];   /* NAME=tcp://ADDR:PORT[;KEY],...: relays on other hosts */
    /* relay-udp: no traffic amplifier (RFC 9175, relay-core/amplify.h) */
    uint32_t amplification_limit; /* 3: answer <= 3 x request unless verified; 0 = off */
    uint32_t echo_verified_s;     /* 300: an Echo verifies its source this long */
    uint32_t echo_verified_max;   /* 16384 verified sources remembered */
    /* relay-side limits (relay-core/ratelimit.h) */
    uint32_t proxy_rate_source;    /* 200 proxied requests/s per source (IPv4, IPv6 /64); 0 off */
    uint32_t proxy_burst_source;   /* 400 */
    uint32_t proxy_rate_endpoint;  /* 100 proxied requests/s per endpoint name; 0 off */
    uint32_t proxy_burst_endpoint; /* 200 */
    uint32_t limit_buckets;        /* 65536 token buckets, all keys together */
    uint32_t max_conns_per_source; /* 64 TCP / WS connections per source; 0 off */
    uint32_t max_inflight_per_source;       /* 1024 exchanges in flight per source; 0 off */
    uint32_t max_inflight_per_endpoint;     /* 256 upstream exchanges per endpoint name; 0 off */
    uint32_t max_observe_per_client;        /* 64 proxied observations per source; 0 off */
    uint32_t max_lookup_observe_per_client; /* 256 RD lookup observations per source; 0 off */
    /* parsed from extra_options by config_finish() */
    uint16_t extra_option_nums[RR_MAX_EXTRA_OPTIONS];
    unsigned n_extra_options;
    uint8_t takeover_mode; /* enum rr_takeover, parsed from takeover by config_finish() */
};

/* Who may re-register, update or delete a live registration (ownership.c). */
enum rr_takeover {
    RR_TAKEOVER_SAME_ADDRESS = 0, /* the same peer IP address (any port), or its own connection */
    RR_TAKEOVER_ALLOW = 1,        /* anyone (the RFC 9176 default behaviour) */
    RR_TAKEOVER_DENY = 2,         /* only the registration's very path: same address and port,
                                     or its own connection */
};

#define RR_METRICS_LISTEN_DEFAULT                                                                  \
    "frontend=127.0.0.1:9560,udp=127.0.0.1:9561,tcp=127.0.0.1:9562,ws=127.0.0.1:9563"
#define RR_BLOCK_BODY_LIMIT 65536 /* block_body_max: one inter-relay message */

/* Fill with embedded defaults. */
void config_defaults(struct rr_config *cfg);

/* Parse one "name", "value" pair; 0 ok, -1 unknown name or bad value (err set). */
int config_set(struct rr_config *cfg, const char *name, const char *value, char *err,
               size_t errlen);

/* Load a config file; 0 ok, -1 with err set (file:line: reason). */
int config_load_file(struct rr_config *cfg, const char *path, char *err, size_t errlen);

/*
 * The common command line: defaults, then --config FILE (or $RDRELAY_CONFIG),
 * then every --setting-name VALUE flag, then config_finish(). Flags this
 * function does not know are left for the caller: on return *argc/argv hold
 * the program name followed by the unconsumed arguments (in order).
 * --help and --version are not handled here. Returns 0, or -1 after printing
 * the error to stderr.
 */
int config_from_args(struct rr_config *cfg, int *argc, char **argv);

/* SIGHUP: build a fresh configuration from the same command line (and so
 * the same file) config_from_args was given; 0, or -1 with err set. */
int config_reread(struct rr_config *cfg, char *err, size_t errlen);

/* Copy one setting's field (by table name) from src to dst; -1 unknown. */
int config_copy_setting(struct rr_config *dst, const struct rr_config *src, const char *name);

/*
 * SIGHUP (config_reload.c): re-read the configuration, log every setting
 * that changed (old -> new), copy into *cur the ones safe to change at run
 * time and log the others as needing a restart. A file that does not parse
 * changes nothing (logged). Applies log_level itself. Returns how many
 * settings were applied, -1 on a bad file.
 */
int config_reload(struct rr_config *cur);

/* Derive empty paths from state_dir, parse extra_options; 0 / -1 (err set). */
int config_finish(struct rr_config *cfg, char *err, size_t errlen);

/* Every setting's effective value, in table order (rdrelayctl config):
 * is_default when it equals the embedded default. */
void config_foreach(const struct rr_config *cfg,
                    void (*fn)(void *arg, const char *name, const char *value, bool is_default),
                    void *arg);

/* Print every setting with its default and help text (for --help). */
void config_print_help(FILE *out);

#endif
