/*
 * evloop.c - libwebsockets inside the relay core's one loop (see
 * ws_relay.h for why through a foreign libuv loop). Owns the lws context
 * and vhosts, the libuv loop, its descriptor in the core's registry and
 * its timer, and our listeners: the relay accepts (relay-core/listen.c,
 * IPv4 and IPv6 exactly like relay-tcp) and libwebsockets adopts each
 * socket into the coap+ws or the coaps+ws vhost, so libwebsockets never
 * binds anything itself.
 * Talks to the core (registry, timers), http.c and conn.c (the callbacks).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "timeutil.h"
#include "ws_relay.h"

#define WS_UV_ROUNDS 4
#define WS_RX_BUFFER 2048

static const struct lws_protocols ws_protocols[] = {
    /* protocols[0]: every HTTP connection before (or without) an upgrade */
    {"http", ws_http_callback, 0, 0, 0, NULL, 0},
    /* rx_buffer_size: libwebsockets keeps one per connection; 2 KiB (not
     * its 4 KiB default) still takes a 1024-byte block with its headers in
     * one piece, larger messages are joined by conn.c; tx_packet_size:
     * conn.c sends several frames at once (else lws splits a send at the
     * rx_buffer_size and buffers the rest) */
    {"coap", ws_coap_callback, sizeof(struct ws_pss), WS_RX_BUFFER, 0, NULL, WS_TX_MAX},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* After every uv_run: when libuv wants to run next (its timers). */
static void arm_uv_timer(struct ws_relay *r)
{
    int ms = uv_backend_timeout(&r->loop);
    if (ms < 0)
        th_cancel(&r->s.core.timers, &r->uvt);
    else
        th_arm(&r->s.core.timers, &r->uvt, now_mono_ms() + (uint64_t)ms);
}

static void run_uv(struct ws_relay *r)
{
    r->uv_due = false;
    r->c.uv_runs++;
    uv_run(&r->loop, UV_RUN_NOWAIT);
    arm_uv_timer(r);
}

static void on_uv_fd(struct rc_handler *h, uint32_t events, uint64_t now)
{
    (void)events;
    (void)now;
    run_uv(h->arg);
}

void ws_evloop_kick(struct ws_relay *r)
{
    r->uv_due = true;
}

void ws_evloop_on_timer(struct ws_relay *r, uint64_t now)
{
    (void)now;
    run_uv(r);
}

void ws_evloop_flush(struct ws_relay *r)
{
    /* Writeable requests (and closes) made during this iteration become
     * epoll changes inside libuv only when it runs again, and what a
     * callback did inside uv_run (lws asking for POLLOUT to send a close
     * frame) too: libuv applies watcher changes at its next poll and
     * uv_backend_timeout does not count them. Every lws callback of ours
     * kicks, so run until a round had none (bounded; the rest is a 0 ms
     * timer, never a busy wait in epoll). */
    for (int round = 0; r->uv_due && round < WS_UV_ROUNDS; round++)
        run_uv(r);
    if (r->uv_due)
        th_arm(&r->s.core.timers, &r->uvt, now_mono_ms());
}

static void on_accept(struct ws_relay *r, struct lws_vhost *vh, int fd)
{
    if (r->s.nconns >= r->s.nconns_max) {
        /* the stream pool is full: refuse before any HTTP work */
        r->s.c.conn_refused++;
        close(fd);
        return;
    }
    /* as relay-tcp does: a small answer leaves at once instead of waiting
     * for the peer's delayed ACK (Nagle; 40 ms tails at low concurrency,
     * docs/benchmarks.md run L). libwebsockets sets it only on sockets it
     * accepts itself, and this one we accepted. */
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!lws_adopt_socket_vhost(vh, fd)) {
        log_warnx("libwebsockets did not adopt a connection");
        close(fd);
        return;
    }
    ws_evloop_kick(r);
}

static void on_accept_plain(void *arg, int li, int fd, uint64_t now)
{
    struct ws_relay *r = arg;
    (void)li;
    (void)now;
    on_accept(r, r->vh, fd);
}

/* A hosting connection relay-tcp handed over (relay-core/handoff.c): its
 * first bytes are still in the socket, its local port is the hosting port. */
static void on_handoff(void *arg, int fd, uint64_t now)
{
    struct ws_relay *r = arg;
    (void)now;
    on_accept(r, r->vh, fd);
}

static void on_accept_tls(void *arg, int li, int fd, uint64_t now)
{
    struct ws_relay *r = arg;
    (void)li;
    (void)now;
    on_accept(r, r->tls_vh, fd);
}

/* A TCP port can have one listener per address: where a ws_listen address
 * overlaps a tcp_listen one, the hosting port's listener is relay-tcp's,
 * which hands the coap+ws connections over (port_handoff_socket). */
static uint32_t ws_hosting_skip(struct ws_relay *r)
{
    struct rr_addr t[RC_MAX_LISTEN];
    int nt = addr_parse_list(r->s.cfg.tcp_listen, 5683, t, RC_MAX_LISTEN);
    uint32_t skip = 0;
    char a[RR_ADDRSTRLEN];

    for (int k = 0; k < r->lis.n && r->s.core.nports; k++) {
        for (int i = 0; i < nt; i++) {
            if (rc_listen_overlap(&r->lis.bound[k], &t[i])) {
                skip |= 1u << k;
                log_info("ws %s: no coap+ws hosting ports there (tcp_listen has that address): "
                         "relay-tcp hands them over",
                         addr_to_str(&r->lis.bound[k], a, sizeof(a)));
                break;
            }
        }
    }
    return skip;
}

static void lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    if (level & LLL_ERR)
        log_warnx("libwebsockets: %.*s", (int)n, line);
    else
        log_debug("libwebsockets: %.*s", (int)n, line);
}

static struct lws_vhost *make_vhost(struct ws_relay *r, const char *name, bool tls)
{
    struct lws_context_creation_info vi;

    memset(&vi, 0, sizeof(vi));
    vi.vhost_name = name;
    vi.port = CONTEXT_PORT_NO_LISTEN_SERVER; /* we listen; lws adopts */
    vi.protocols = ws_protocols;
    vi.mounts = r->mounts;
    vi.keepalive_timeout = 5;
    vi.timeout_secs = 10; /* HTTP handshake and idle HTTP connections */
    if (tls) {
        /* lws reads this option from the vhost's info too: without it the
         * vhost silently stays plain */
        vi.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        vi.ssl_cert_filepath = r->s.cfg.ws_tls_cert;
        vi.ssl_private_key_filepath = r->s.cfg.ws_tls_key;
    }
    struct lws_vhost *vh = lws_create_vhost(r->ctx, &vi);
    if (!vh)
        log_warnx("libwebsockets: cannot create the %s vhost%s", name,
                  tls ? " (check ws_tls_cert / ws_tls_key)" : "");
    return vh;
}

int ws_evloop_open(struct ws_relay *r)
{
    struct lws_context_creation_info ci;
    void *foreign[1] = {&r->loop};
    bool tls = r->s.cfg.ws_tls_cert[0] && r->s.cfg.ws_tls_key[0];

    lws_set_log_level(LLL_ERR | LLL_WARN | (log_get_level() >= LOG_LVL_DEBUG ? LLL_NOTICE : 0),
                      lws_log);
    if (uv_loop_init(&r->loop) != 0) {
        log_warnx("uv_loop_init failed");
        return -1;
    }
    r->loop_ok = true;
    ws_http_mounts_init(r);
    memset(&ci, 0, sizeof(ci));
    ci.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_LIBUV |
                 (tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
    ci.foreign_loops = foreign;
    ci.user = r;
    ci.fd_limit_per_thread = r->s.nconns_max + 64;
    r->ctx = lws_create_context(&ci);
    if (!r->ctx) {
        log_warnx("libwebsockets: cannot create the context");
        return -1;
    }
    r->vh = make_vhost(r, "coap+ws", false);
    if (!r->vh || (tls && !(r->tls_vh = make_vhost(r, "coaps+ws", true))))
        return -1;

    r->uvh = (struct rc_handler){.fn = on_uv_fd, .arg = r};
    th_timer_init(&r->uvt, WS_T_UV, 0);
    if (rc_fd_add(&r->s.core, uv_backend_fd(&r->loop), EPOLLIN, &r->uvh) < 0)
        return -1;
    r->lis = (struct rc_listeners){.what = "ws", .on_accept = on_accept_plain, .arg = r};
    if (rc_listeners_open(&r->s.core, &r->lis, r->s.cfg.ws_listen, 8683) < 0)
        return -1;
    /* hosting ports (coap+ws, plain) on the ws_listen addresses */
    if (st_port_listeners(&r->s, &r->lis, ws_hosting_skip(r)) < 0)
        return -1;
    /* and every coap+ws connection on relay-tcp's hosting listeners (on
     * the shared addresses, or any other tcp_listen address); without it
     * the relay still serves, relay-tcp answers those clients 503 */
    if (r->s.core.nports && r->s.cfg.tcp_listen[0] &&
        rc_handoff_rx_open(&r->s.hand, &r->s.core, r->s.cfg.port_handoff_socket, on_handoff, r) < 0)
        log_warnx("no coap+ws on relay-tcp's hosting listeners (port_handoff_socket %s)",
                  r->s.cfg.port_handoff_socket);
    if (tls) {
        r->tls_lis = (struct rc_listeners){.what = "wss", .on_accept = on_accept_tls, .arg = r};
        if (rc_listeners_open(&r->s.core, &r->tls_lis, r->s.cfg.ws_tls_listen, 8684) < 0)
            return -1;
    }
    run_uv(r);
    return 0;
}

void ws_evloop_close(struct ws_relay *r)
{
    rc_listeners_close(&r->lis);
    rc_listeners_close(&r->tls_lis);
    if (r->ctx) {
        /* with a foreign loop the destroy is two-phase: lws closes its
         * libuv handles, the loop runs their close callbacks, then the
         * second call frees the context (the lws foreign-loop example) */
        r->ctx_dying = true;
        lws_context_destroy(r->ctx);
        for (int i = 0; i < 100 && uv_run(&r->loop, UV_RUN_NOWAIT); i++)
            ;
        lws_context_destroy(r->ctx);
        r->ctx = NULL;
    }
    if (r->loop_ok) {
        for (int i = 0; i < 100 && uv_run(&r->loop, UV_RUN_NOWAIT); i++)
            ;
        if (uv_loop_close(&r->loop) != 0)
            log_debug("libuv loop still had handles at exit");
        r->loop_ok = false;
    }
}
