/*
 * main.c - rdrelay-udp: the UDP relay worker. Reads the shared
 * configuration (relay-core/cmdline.c), sets up the state in one struct
 * relay (the relay core embedded in it) and runs the core's loop
 * (relay-core/loop.c) with this relay plugged in as a transport
 * (transport.c). Exit codes: 0 clean stop, 1 runtime failure (restart), 2
 * configuration error (do not restart).
 */
#include <stddef.h>
#include <stdlib.h>

#include "log.h"
#include "relay.h"

static const struct rc_cmdline ru_cmdline = {
    .prog = "rdrelay-udp",
    .blurb = "The UDP relay worker of rdrelay: owns the public CoAP/UDP sockets, hands\n"
             "Resource Directory requests to rdrelay-frontend and proxies requests for\n"
             "registered endpoints (Uri-Host under the proxy domain) through their NAT\n"
             "bindings.",
    RC_CMDLINE_SETTINGS(udp),
};

int main(int argc, char **argv)
{
    struct relay *r = calloc(1, sizeof(*r));
    int rc = 1;

    if (!r)
        fatalx("out of memory");
    r->core.epfd = -1;
    int cl = rc_cmdline(&ru_cmdline, &r->cfg, argc, argv);
    if (cl != 0) {
        free(r);
        return cl == 1 ? 0 : 2;
    }
    if (rc_signals_install() < 0 || ru_core_init(r) < 0 || exch_init(r) < 0 || ka_init(r) < 0 ||
        bw_store_init(&r->bw, r->cfg.block_slots, r->cfg.block_body_max, r->cfg.block_timeout_ms) <
            0 ||
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
    bw_store_free(&r->bw);
    rc_free(&r->core);
    free(r);
    return rc;
}
