/*
 * fuzz_ws_xff.c - libFuzzer target for relay-ws's X-Forwarded-For parser
 * (relay-ws/xff.c), which sees a header of a trusted reverse proxy's
 * client. Invariants: an accepted header yields an address that, printed
 * and parsed as a header again, is the same address (and is never an
 * IPv4-mapped IPv6 one); a header that is that printed address alone is
 * accepted.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz_check.h"
#include "ws_relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char hdr[512], txt[RR_ADDRSTRLEN];
    struct rr_addr a, b;

    if (size >= sizeof(hdr))
        return 0;
    memcpy(hdr, data, size);
    hdr[size] = '\0';
    if (ws_xff_client(hdr, &a) != 0)
        return 0;
    FUZZ_CHECK(addr_port(&a) == 0);
    addr_host_str(&a, txt, sizeof(txt));
    if (a.ss.ss_family == AF_INET6)
        FUZZ_CHECK(!IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)&a.ss)->sin6_addr));
    FUZZ_CHECK(ws_xff_client(txt, &b) == 0);
    FUZZ_CHECK(addr_equal(&a, &b));
    return 0;
}
