/*
 * xff.c - the client address in an X-Forwarded-For header (ws_relay.h):
 * pure, no state; used by conn.c only for peers in ws_trusted_proxies.
 */
#include <arpa/inet.h>
#include <string.h>

#include "ws_relay.h"

int ws_xff_client(const char *xff, struct rr_addr *a)
{
    const char *p = strrchr(xff, ',');
    char host[64];
    struct sockaddr_in s4;
    struct sockaddr_in6 s6;

    p = p ? p + 1 : xff;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strcspn(p, " \t");
    if (n == 0 || n >= sizeof(host))
        return -1;
    memcpy(host, p, n);
    host[n] = '\0';
    memset(&s4, 0, sizeof(s4));
    memset(&s6, 0, sizeof(s6));
    if (inet_pton(AF_INET, host, &s4.sin_addr) == 1) {
        s4.sin_family = AF_INET;
        addr_from_sockaddr(a, (struct sockaddr *)&s4, sizeof(s4));
    } else if (inet_pton(AF_INET6, host, &s6.sin6_addr) == 1) {
        s6.sin6_family = AF_INET6;
        addr_from_sockaddr(a, (struct sockaddr *)&s6, sizeof(s6));
    } else {
        return -1;
    }
    addr_normalise(a);
    return 0;
}
