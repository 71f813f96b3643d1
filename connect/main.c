/*
 * main.c - rdrelay-connect's entry point: picks the mode (serve, reach,
 * list) and handles the top-level --help / --version.
 * Owns nothing; talks to nothing itself.
 */
#include "connect.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: rdrelay-connect MODE [options]   (rdrelay-connect MODE --help for each)\n"
        "\n"
        "The operators' command for rdrelay, the CoAP Resource Directory and reverse proxy\n"
        "for endpoints behind NATs.\n"
        "\n"
        "modes:\n"
        "  serve   server side: register a local CoAP server at rdrelay with proxy=yes and\n"
        "          relay what clients send to it by name (e.g. coap://alice.proxy.example.net)\n"
        "            rdrelay-connect serve --rd coap://rd.example.net --ep alice "
        "coap://127.0.0.1:5683\n"
        "          over TCP (RFC 8323; requests come back over serve's connection):\n"
        "            rdrelay-connect serve --rd coap+tcp://rd.example.net --ep alice "
        "coap://127.0.0.1:5683\n"
        "  reach   client side: a local port that forwards to a proxied name, for clients\n"
        "          that cannot send Uri-Host\n"
        "            rdrelay-connect reach --rd coap://rd.example.net --host "
        "alice.proxy.example.net \\\n"
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
