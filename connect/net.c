/*
 * net.c - URI parsing and UDP socket helpers for rdrelay-connect.
 * Owns nothing long-lived. URIs are split with libcoap's coap_split_uri()
 * and resolved with getaddrinfo(); sockets are plain non-blocking UDP
 * sockets (see connect.h for why connect/ works at message level).
 */
#include "connect.h"

#include <coap3/coap.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "coap_msg.h"
#include "log.h"
#include "ws_client.h"

static void copy_str(char *dst, size_t cap, const uint8_t *s, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    if (len > 0)
        memcpy(dst, s, len);
    dst[len] = '\0';
}

int cn_uri_parse(const char *text, bool allow_tcp, struct cn_uri *u, char *err, size_t errlen)
{
    coap_uri_t cu;
    struct addrinfo hints, *res = NULL;
    char port[8];
    int rc;

    memset(u, 0, sizeof(*u));
    /* libcoap 4.3.1 does not know coap+ws:// (RFC 8323 §8.3): split it as
     * coap+tcp:// and take the port (8683, 8684 for coaps+ws) from
     * ws_uri_split */
    if (allow_tcp &&
        (strncasecmp(text, "coap+ws://", 10) == 0 || strncasecmp(text, "coaps+ws://", 11) == 0)) {
        char as_tcp[CN_HOSTLEN + 2 * CN_PATHLEN + 16], h[CN_HOSTLEN], p[CN_PATHLEN], q[CN_PATHLEN];
        uint16_t wsport;
        bool tls;
        if (ws_uri_split(text, h, sizeof(h), &wsport, p, sizeof(p), q, sizeof(q), &tls) < 0 ||
            snprintf(as_tcp, sizeof(as_tcp), "coap+tcp://%s", strstr(text, "://") + 3) >=
                (int)sizeof(as_tcp) ||
            cn_uri_parse(as_tcp, true, u, err, errlen) < 0) {
            snprintf(err, errlen, "not a coap[s]+ws:// URI: %s", text);
            return -1;
        }
        u->port = wsport;
        u->ws = true;
        u->wss = tls;
        addr_set_port(&u->addr, wsport);
        return 0;
    }
    if (coap_split_uri((const uint8_t *)text, strlen(text), &cu) < 0) {
        snprintf(err, errlen, "not a CoAP URI: %s", text);
        return -1;
    }
    if (cu.scheme != COAP_URI_SCHEME_COAP &&
        !(allow_tcp && cu.scheme == COAP_URI_SCHEME_COAP_TCP)) {
        snprintf(err, errlen, "unsupported scheme in %s (coap:// only)", text);
        return -1;
    }
    if (cu.host.length == 0 || cu.host.length >= sizeof(u->host)) {
        snprintf(err, errlen, "no usable host in %s", text);
        return -1;
    }
    copy_str(u->host, sizeof(u->host), cu.host.s, cu.host.length);
    u->port = cu.port;
    if (cu.path.length > 0) {
        u->path[0] = '/';
        copy_str(u->path + 1, sizeof(u->path) - 1, cu.path.s, cu.path.length);
    }
    copy_str(u->query, sizeof(u->query), cu.query.s, cu.query.length);

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    snprintf(port, sizeof(port), "%u", (unsigned)u->port);
    rc = getaddrinfo(u->host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "cannot resolve %s: %s", u->host, gai_strerror(rc));
        return -1;
    }
    addr_from_sockaddr(&u->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

int cn_udp_socket(const struct rr_addr *family_of, const struct rr_addr *bind_to)
{
    int fd, family = family_of->ss.ss_family;

    fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("socket");
        return -1;
    }
    if (bind_to != NULL && bind(fd, (const struct sockaddr *)&bind_to->ss, bind_to->len) < 0) {
        char b[RR_ADDRSTRLEN];
        log_warn("bind %s", addr_to_str(bind_to, b, sizeof(b)));
        close(fd);
        return -1;
    }
    return fd;
}

int cn_sendto(int fd, const void *buf, size_t len, const struct rr_addr *to)
{
    if (sendto(fd, buf, len, 0, (const struct sockaddr *)&to->ss, to->len) < 0) {
        char b[RR_ADDRSTRLEN];
        log_debug("sendto %s: %s", addr_to_str(to, b, sizeof(b)), strerror(errno));
        return -1;
    }
    return 0;
}

ssize_t cn_recvfrom(int fd, void *buf, size_t cap, struct rr_addr *from)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    ssize_t n;

    for (;;) {
        n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&ss, &sl);
        if (n >= 0)
            break;
        if (errno == EINTR)
            continue;
        /* ICMP errors (ECONNREFUSED etc.) surface here: not fatal for UDP */
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            log_debug("recvfrom: %s", strerror(errno));
        return -1;
    }
    addr_from_sockaddr(from, (struct sockaddr *)&ss, sl);
    return n;
}

int cn_add_path_query(struct coap_msg *m, const char *path, const char *query, char *storage,
                      size_t storage_len)
{
    size_t used = 0;
    const char *parts[2] = {path, query};
    const char seps[2] = {'/', '&'};
    const uint16_t nums[2] = {COAP_OPT_URI_PATH, COAP_OPT_URI_QUERY};

    for (int i = 0; i < 2; i++) {
        const char *s = parts[i];
        if (s == NULL)
            continue;
        while (*s != '\0') {
            const char *e;
            size_t n;
            if (*s == seps[i]) {
                s++;
                continue;
            }
            e = strchr(s, seps[i]);
            n = e ? (size_t)(e - s) : strlen(s);
            if (used + n + 1 > storage_len || n > 0xffff)
                return -1;
            memcpy(storage + used, s, n);
            storage[used + n] = '\0';
            if (coap_msg_add_opt(m, nums[i], storage + used, (uint16_t)n) < 0)
                return -1;
            used += n + 1;
            s += n;
        }
    }
    return 0;
}

uint32_t cn_random32(void)
{
    uint32_t v;

    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
        return v;
    return (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16);
}

size_t cn_echo_challenge(const struct coap_msg *m, uint8_t *buf, size_t cap)
{
    const struct coap_msg_opt *o = coap_msg_find(m, COAP_OPT_ECHO);

    if (m->code != COAP_CODE(4, 1) || !o || o->len == 0 || o->len > cap)
        return 0;
    memcpy(buf, o->val, o->len);
    return o->len;
}
