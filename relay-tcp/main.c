/*
 * main.c - rdrelay-tcp: the CoAP over TCP (RFC 8323) relay worker. Parses
 * the shared configuration (every setting is also a flag), sets up the
 * state in one struct rt_relay (the relay core embedded in it) and runs the
 * core's loop (relay-core/loop.c: one epoll registry holding every
 * listener, connection and ZeroMQ socket, so 10,000 connections cost no
 * more per wake-up than one) with this relay plugged in as a transport
 * (transport.c). Exit codes: 0 clean stop, 1 runtime failure (restart), 2
 * configuration error (do not restart).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tcp_relay.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: rdrelay-tcp [--config FILE] [--SETTING VALUE ...]\n"
                 "       rdrelay-tcp --help | --version\n\n"
                 "The CoAP over TCP (RFC 8323) relay worker of rdrelay: owns the public TCP\n"
                 "listeners (tcp_listen), hands Resource Directory requests to\n"
                 "rdrelay-frontend with the connection they came over, and proxies requests\n"
                 "for registered endpoints over the connection the endpoint registered on,\n"
                 "or through the relay that holds the endpoint's path (cross-transport).\n"
                 "Limits are settings: tcp_max_message (our Max-Message-Size),\n"
                 "tcp_outq_max, tcp_max_conns, tcp_max_inflight, tcp_pong_timeout_ms; a peer\n"
                 "with no CSM or stuck mid-message for tcp_timeout_ms gets an Abort; idle\n"
                 "connections get a Ping every nat_keepalive seconds.\n\n"
                 "Settings (shared by every rdrelay process):\n");
    config_print_help(out);
}

int main(int argc, char **argv)
{
    struct rt_relay *r;
    int rc = 1;
    enum log_level lvl;

    log_init("rdrelay-tcp", LOG_LVL_INFO);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("rdrelay-tcp %s\n", RDRELAY_VERSION);
            return 0;
        }
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        fatalx("out of memory");
    r->core.epfd = -1;
    if (config_from_args(&r->cfg, &argc, argv) < 0) {
        free(r);
        return 2;
    }
    if (argc > 1) {
        fprintf(stderr, "rdrelay-tcp: unexpected argument \"%s\" (see --help)\n", argv[1]);
        free(r);
        return 2;
    }
    if (log_level_parse(r->cfg.log_level, &lvl) < 0) {
        fprintf(stderr, "rdrelay-tcp: bad log_level \"%s\"\n", r->cfg.log_level);
        free(r);
        return 2;
    }
    log_set_level(lvl);
    {
        struct rr_addr tmp[RT_MAX_LISTEN];
        if (addr_parse_list(r->cfg.tcp_listen, 5683, tmp, RT_MAX_LISTEN) <= 0) {
            fprintf(stderr, "rdrelay-tcp: bad tcp_listen \"%s\"\n", r->cfg.tcp_listen);
            free(r);
            return 2;
        }
    }
    if (!rc_relay_name_ok(r->cfg.tcp_relay_name)) {
        fprintf(stderr, "rdrelay-tcp: bad tcp_relay_name \"%s\"\n", r->cfg.tcp_relay_name);
        free(r);
        return 2;
    }
    rc_seed_random();
    if (rc_signals_install() < 0 || rt_core_init(r) < 0 || rt_conns_init(r) < 0 ||
        rt_exch_init(r) < 0 || rt_listen_all(r) < 0 || rt_attach(r) < 0 ||
        rc_ctl_open(&r->core) < 0 || rc_xfwd_open(&r->core) < 0)
        goto done;
    log_info("rdrelay-tcp %s started as relay \"%s\": proxy domain \"%s\", %d listener(s), %u "
             "connections max, %u exchanges",
             RDRELAY_VERSION, r->core.name, r->cfg.proxy_domain, r->nlisten, r->nconns_max, r->nux);
    rc_ctl_send_hello(&r->core);
    if (rc_run(&r->core) == 0)
        rc = 0;
done:
    rc_ctl_close(&r->core);
    rt_listen_close(r);
    rt_conns_free(r);
    rt_exch_free(r);
    rc_free(&r->core);
    free(r);
    return rc;
}
