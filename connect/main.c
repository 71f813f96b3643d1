/*
 * main.c - rdrelay-connect's entry point: picks the mode (serve, reach,
 * list), handles the top-level --help / --version, and owns the signal
 * flags (handlers only set them; the loops look).
 * Talks to nothing itself.
 */
#include "connect.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

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

static void usage(FILE *out)
{
    fprintf(out,
        "usage: rdrelay-connect MODE [options]   (rdrelay-connect MODE --help for each)\n"
        "\n"
        "The operators' command for rdrelay, the CoAP Resource Directory and reverse proxy\n"
        "for endpoints behind NATs.\n"
        "\n"
        "modes:\n"
        "  serve   server side: register a local CoAP server at rdrelay with proxy=yes and\n"
        "          relay what clients send to it by name (e.g. coap://alice.proxy.example.net)\n"
        "            rdrelay-connect serve --rd coap://rd.example.net --ep alice coap://127.0.0.1:5683\n"
        "  reach   client side: a local port that forwards to a proxied name, for clients\n"
        "          that cannot send Uri-Host\n"
        "            rdrelay-connect reach --rd coap://rd.example.net --host alice.proxy.example.net \\\n"
        "                --listen 127.0.0.1:5684\n"
        "  list    the registered endpoints and their host names\n"
        "            rdrelay-connect list --rd coap://rd.example.net [--ep PATTERN] [--json]\n"
        "\n"
        "  --help     this text\n"
        "  --version  the version\n");
}

int main(int argc, char **argv)
{
    log_init("rdrelay-connect", LOG_LVL_INFO);
    if (argc < 2) {
        usage(stderr);
        return CN_EXIT_CONFIG;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CN_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("rdrelay-connect %s\n", RDRELAY_VERSION);
        return CN_EXIT_OK;
    }
    if (strcmp(argv[1], "serve") == 0)
        return serve_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "reach") == 0)
        return reach_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return list_main(argc - 1, argv + 1);
    fprintf(stderr, "rdrelay-connect: unknown mode '%s' (serve, reach, list; see --help)\n",
            argv[1]);
    return CN_EXIT_CONFIG;
}
