/*
 * main.c - rdrelay-udp: the UDP relay worker. Parses the shared
 * configuration (every setting is also a flag), sets up the state in one
 * struct relay (the relay core embedded in it) and runs the core's loop
 * (relay-core/loop.c) with this relay plugged in as a transport
 * (transport.c). Exit codes: 0 clean stop, 1 runtime failure (restart), 2
 * configuration error (do not restart).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "relay.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: rdrelay-udp [--config FILE] [--SETTING VALUE ...]\n"
                 "       rdrelay-udp --help | --version\n\n"
                 "The UDP relay worker of rdrelay: owns the public CoAP/UDP sockets, hands\n"
                 "Resource Directory requests to rdrelay-frontend and proxies requests for\n"
                 "registered endpoints (Uri-Host under the proxy domain) through their NAT\n"
                 "bindings.\n\nSettings (shared by every rdrelay process):\n");
    config_print_help(out);
}

int main(int argc, char **argv)
{
    struct relay *r;
    int rc = 1;
    enum log_level lvl;

    log_init("rdrelay-udp", LOG_LVL_INFO);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("rdrelay-udp %s\n", RDRELAY_VERSION);
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
        fprintf(stderr, "rdrelay-udp: unexpected argument \"%s\" (see --help)\n", argv[1]);
        free(r);
        return 2;
    }
    if (log_level_parse(r->cfg.log_level, &lvl) < 0) {
        fprintf(stderr, "rdrelay-udp: bad log_level \"%s\"\n", r->cfg.log_level);
        free(r);
        return 2;
    }
    log_set_level(lvl);
    {
        struct rr_addr tmp[RU_MAX_SOCKS];
        if (addr_parse_list(r->cfg.udp_listen, 5683, tmp, RU_MAX_SOCKS) <= 0) {
            fprintf(stderr, "rdrelay-udp: bad udp_listen \"%s\"\n", r->cfg.udp_listen);
            free(r);
            return 2;
        }
    }
    if (!rc_relay_name_ok(r->cfg.udp_relay_name)) {
        fprintf(stderr, "rdrelay-udp: bad udp_relay_name \"%s\"\n", r->cfg.udp_relay_name);
        free(r);
        return 2;
    }
    rc_seed_random();
    if (rc_signals_install() < 0 || ru_core_init(r) < 0 || exch_init(r) < 0 || ka_init(r) < 0 ||
        udp_open_all(r) < 0 || ru_attach(r) < 0 || rc_ctl_open(&r->core) < 0 ||
        rc_xfwd_open(&r->core) < 0)
        goto done;
    log_info("rdrelay-udp %s started as relay \"%s\": proxy domain \"%s\", %d socket(s), %u "
             "exchanges",
             RDRELAY_VERSION, r->core.name, r->cfg.proxy_domain, r->nsocks, r->nux);
    rc_ctl_send_hello(&r->core);
    if (rc_run(&r->core) == 0)
        rc = 0;
done:
    rc_ctl_close(&r->core);
    udp_close_all(r);
    ka_free(r);
    exch_free(r);
    rc_free(&r->core);
    free(r);
    return rc;
}
