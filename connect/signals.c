/*
 * signals.c - rdrelay-connect's signal flags: SIGINT and SIGTERM only set
 * cn_sig.stop (the event loops look at it); SIGPIPE is ignored.
 * Owns the one piece of process-wide state the handlers may touch.
 */
#include "connect.h"

#include <signal.h>
#include <string.h>

/* The only process-wide state: what the signal handlers may touch. */
struct cn_signals cn_sig;

static void on_stop(int sig)
{
    (void)sig;
    cn_sig.stop = 1;
}

void cn_install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}
