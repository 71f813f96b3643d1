/*
 * reach.c - `rdrelay-connect reach`: a local UDP port for a client that
 * cannot send Uri-Host. Every request that arrives there is sent on to
 * rdrelay with the configured Uri-Host (the client's own Uri-Host, if any,
 * replaced; Uri-Port dropped, it named our local port), and every answer -
 * piggybacked, empty ACK plus separate response, Observe notifications,
 * each block of a block-wise transfer - comes back unchanged.
 * Owns the listening socket, one socket towards rdrelay and a forwarder
 * (fwd.h: token and message-id mapping, so clients that pick the same
 * token never see each other's answers). Talks to local clients and rdrelay.
 * With --rd coap+ws:// (or coaps+ws://) the socket towards rdrelay is one
 * WebSocket to rdrelay-ws instead (reach_ws.c).
 */
#include "connect.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fwd.h"
#include "log.h"
#include "reach_ws.h"
#include "timeutil.h"

struct reach {
    struct cn_uri rd;
    char host[CN_HOSTLEN];
    struct rr_addr listen;
    int fd_listen, fd_rd;
    struct fwd fwd;
    struct ws_tls_opts tls;
    struct reach_ws ws; /* used when rd.ws */
    uint8_t rxbuf[CN_DGRAM_MAX];
};

static void reach_usage(FILE *out)
{
    fprintf(out,
            "usage: rdrelay-connect reach --rd URI --host NAME [--listen ADDR:PORT]\n"
            "\n"
            "Opens a local UDP port for a CoAP client that cannot send Uri-Host: every request\n"
            "arriving there is sent on to rdrelay with Uri-Host NAME (a proxied endpoint's host\n"
            "name, e.g. alice.proxy.example.net), and every answer comes back unchanged\n"
            "(separate responses, Observe notifications, Block1/Block2 included).\n"
            "\n"
            "options:\n"
            "  --rd URI           rdrelay's address, coap://HOST[:PORT] (required), or\n"
            "                     coap+ws://HOST[:PORT] (8683) / coaps+ws:// (TLS, 8684): one\n"
            "                     WebSocket to rdrelay-ws, for networks where only HTTP gets out\n"
            "  --ca FILE          coaps+ws: trust the CAs in FILE (default: the system's)\n"
            "  --insecure         coaps+ws: do not check rdrelay's certificate (tests only)\n"
            "  --host NAME        the Uri-Host to send (required)\n"
            "  --listen ADDR:PORT local address to listen on (default 127.0.0.1:5684)\n"
            "  --log-level LEVEL  error, warn, info (default), debug\n"
            "  --help             this text\n"
            "exit: 0 after SIGINT/SIGTERM, 2 bad arguments, 1 failure\n");
}

static int reach_parse(struct reach *r, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rd", required_argument, NULL, 'r'},     {"host", required_argument, NULL, 'H'},
        {"listen", required_argument, NULL, 'l'}, {"log-level", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {"ca", required_argument, NULL, 'C'},
        {"insecure", no_argument, NULL, 'k'},     {NULL, 0, NULL, 0}};
    const char *rd = NULL, *listen = "127.0.0.1:5684";
    char err[256];
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'r':
            rd = optarg;
            break;
        case 'H':
            if (strlen(optarg) == 0 || strlen(optarg) >= sizeof(r->host)) {
                fprintf(stderr, "reach: bad --host\n");
                return -1;
            }
            snprintf(r->host, sizeof(r->host), "%s", optarg);
            break;
        case 'l':
            listen = optarg;
            break;
        case 'C':
            r->tls.ca_file = optarg;
            break;
        case 'k':
            r->tls.insecure = true;
            break;
        case 'v': {
            enum log_level lvl;
            if (log_level_parse(optarg, &lvl) < 0) {
                fprintf(stderr, "reach: unknown log level '%s'\n", optarg);
                return -1;
            }
            log_set_level(lvl);
            break;
        }
        case 'h':
            reach_usage(stdout);
            exit(CN_EXIT_OK);
        default:
            reach_usage(stderr);
            return -1;
        }
    }
    if (rd == NULL || r->host[0] == '\0' || optind < argc) {
        fprintf(stderr, "reach: --rd and --host are required, nothing else (see --help)\n");
        return -1;
    }
    if (strncasecmp(rd, "coap+tcp://", 11) == 0 ||
        cn_uri_parse(rd, true, &r->rd, err, sizeof(err)) < 0) {
        fprintf(stderr, "reach: --rd: %s\n",
                strncasecmp(rd, "coap+tcp://", 11) == 0 ? "coap:// or coap[s]+ws:// only" : err);
        return -1;
    }
    r->tls.on = r->rd.wss;
    if (addr_parse(&r->listen, listen, 5684) < 0) {
        fprintf(stderr, "reach: --listen: not a numeric ADDR:PORT: %s\n", listen);
        return -1;
    }
    return 0;
}

static void reach_read(struct reach *r, bool from_rd, uint64_t now)
{
    struct rr_addr from;
    ssize_t n;

    for (int i = 0; i < 64; i++) {
        n = cn_recvfrom(from_rd ? r->fd_rd : r->fd_listen, r->rxbuf, sizeof(r->rxbuf), &from);
        if (n < 0)
            return;
        if (from_rd) {
            if (addr_equal(&from, &r->rd.addr))
                fwd_on_up(&r->fwd, r->rxbuf, (size_t)n, now);
        } else if (fwd_on_down(&r->fwd, r->rxbuf, (size_t)n, &from, now) == FWD_NOT_MINE) {
            log_debug("stray message from a client dropped");
        }
    }
}

int reach_main(int argc, char **argv)
{
    struct reach *r = calloc(1, sizeof(*r));
    char b[RR_ADDRSTRLEN];
    int rc = CN_EXIT_CONFIG;

    if (r == NULL)
        return CN_EXIT_RUNTIME;
    r->fd_listen = r->fd_rd = -1;
    if (reach_parse(r, argc, argv) < 0)
        goto done;
    rc = CN_EXIT_RUNTIME;
    r->fd_listen = cn_udp_socket(&r->listen, &r->listen);
    if (!r->rd.ws)
        r->fd_rd = cn_udp_socket(&r->rd.addr, NULL);
    if (r->fd_listen < 0 || (!r->rd.ws && r->fd_rd < 0) ||
        fwd_init(&r->fwd, r->fd_listen, r->fd_rd, &r->rd.addr) < 0)
        goto done;
    if (r->rd.ws)
        reach_ws_init(&r->ws, &r->rd, &r->tls, &r->fwd);
    r->fwd.uri_host = r->host;
    cn_install_signals();
    printf("listening on coap://%s -> %s as %s\n", addr_to_str(&r->listen, b, sizeof(b)),
           r->rd.host, r->host);
    fflush(stdout);
    while (!cn_sig.stop) {
        uint64_t now = now_mono_ms(), next;
        struct pollfd pfd[2] = {{.fd = r->fd_listen, .events = POLLIN},
                                {.fd = r->fd_rd, .events = POLLIN}};
        if (r->rd.ws) {
            reach_ws_tick(&r->ws, now);
            pfd[1].fd = r->ws.conn.fd;
        }
        fwd_tick(&r->fwd, now);
        next = fwd_next_timer(&r->fwd, now);
        if (r->rd.ws && next > now + 1000)
            next = now + 1000; /* reconnects */
        if (poll(pfd, 2, next > now ? (int)(next - now) : 0) < 0) {
            if (errno == EINTR)
                continue;
            log_warn("poll");
            goto done;
        }
        now = now_mono_ms();
        if (pfd[0].revents & (POLLIN | POLLERR))
            reach_read(r, false, now);
        if (r->rd.ws && r->ws.conn.fd >= 0 && (pfd[1].revents || ws_io_pending(&r->ws.conn)))
            reach_ws_read(&r->ws, now);
        else if (!r->rd.ws && (pfd[1].revents & (POLLIN | POLLERR)))
            reach_read(r, true, now);
    }
    log_info("stopping (requests %llu, responses %llu, notifications %llu)",
             (unsigned long long)r->fwd.stats.requests, (unsigned long long)r->fwd.stats.responses,
             (unsigned long long)r->fwd.stats.notifications);
    rc = CN_EXIT_OK;
done:
    if (r->rd.ws)
        reach_ws_close(&r->ws);
    fwd_free(&r->fwd);
    if (r->fd_listen >= 0)
        close(r->fd_listen);
    if (r->fd_rd >= 0)
        close(r->fd_rd);
    free(r);
    return rc;
}
