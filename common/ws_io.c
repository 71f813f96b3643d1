/*
 * ws_io.c - the byte stream under the WebSocket client (ws_client.h):
 * plain TCP (coap+ws://) or TLS on it (coaps+ws://, OpenSSL, which
 * libwebsockets links anyway). Owns the TLS state of a struct ws_conn (its
 * SSL_CTX and SSL); the socket stays the caller's. Every call is
 * non-blocking; the callers in ws_client.c wait with poll, bounded.
 * Certificates are checked by default (the system's CAs, or ca_file; the
 * name or IP address of the URI); insecure is for tests only.
 */
#include "ws_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "timeutil.h"

void ws_conn_init(struct ws_conn *c, int fd)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
}

static bool is_ip_literal(const char *host)
{
    struct in6_addr a6;
    struct in_addr a4;

    return inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
}

static void tls_error(const char *what, char *err, size_t errlen)
{
    unsigned long e = ERR_get_error();
    char buf[160] = "";

    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(err, errlen, "TLS: %s%s%s", what, buf[0] ? ": " : "", buf);
    ERR_clear_error();
}

int ws_tls_start(struct ws_conn *c, const char *host, const struct ws_tls_opts *t,
                 unsigned timeout_ms, char *err, size_t errlen)
{
    uint64_t deadline = now_mono_ms() + timeout_ms;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        tls_error("no context", err, errlen);
        return -1;
    }
    c->ctx = ctx;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (t->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if ((t->ca_file ? SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL)
                        : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
            tls_error(t->ca_file ? "cannot load the CA file" : "no system CAs", err, errlen);
            return -1;
        }
    }
    c->ssl = SSL_new(ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        tls_error("no session", err, errlen);
        return -1;
    }
    if (is_ip_literal(host)) {
        if (!t->insecure && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host) != 1) {
            tls_error("bad address", err, errlen);
            return -1;
        }
    } else {
        SSL_set_tlsext_host_name(c->ssl, host); /* SNI */
        if (!t->insecure && SSL_set1_host(c->ssl, host) != 1) {
            tls_error("bad host name", err, errlen);
            return -1;
        }
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    for (;;) {
        int r = SSL_connect(c->ssl), e;
        struct pollfd pfd = {.fd = c->fd};
        uint64_t now = now_mono_ms();
        if (r == 1)
            return 0;
        e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            pfd.events = POLLIN;
        else if (e == SSL_ERROR_WANT_WRITE)
            pfd.events = POLLOUT;
        else {
            long v = SSL_get_verify_result(c->ssl);
            if (v != X509_V_OK) {
                snprintf(err, errlen, "TLS: certificate not accepted: %s",
                         X509_verify_cert_error_string(v));
                ERR_clear_error();
            } else {
                tls_error("handshake failed", err, errlen);
            }
            return -1;
        }
        if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) == 0) {
            snprintf(err, errlen, "TLS: handshake timed out");
            return -1;
        }
    }
}

/* errno from an SSL result: EAGAIN for "try again", EPIPE for the rest. */
static ssize_t ssl_result(struct ws_conn *c, int r)
{
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0; /* close_notify: EOF */
    default:
        ERR_clear_error();
        errno = EPIPE;
        return -1;
    }
}

ssize_t ws_io_send(struct ws_conn *c, const void *p, size_t len)
{
    int r;

    if (c->ssl == NULL)
        return send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    r = SSL_write(c->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
    return r > 0 ? r : ssl_result(c, r);
}

ssize_t ws_io_recv(struct ws_conn *c, void *buf, size_t cap)
{
    int r;

    if (c->ssl == NULL)
        return recv(c->fd, buf, cap, MSG_DONTWAIT);
    r = SSL_read(c->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    return r > 0 ? r : ssl_result(c, r);
}

bool ws_io_pending(const struct ws_conn *c)
{
    return c->ssl != NULL && SSL_pending(c->ssl) > 0;
}

void ws_conn_release(struct ws_conn *c)
{
    if (c->ssl != NULL) {
        SSL_shutdown(c->ssl); /* close_notify, best effort (non-blocking) */
        SSL_free(c->ssl);
    }
    if (c->ctx != NULL)
        SSL_CTX_free(c->ctx);
    c->ssl = NULL;
    c->ctx = NULL;
}

void ws_conn_close(struct ws_conn *c)
{
    ws_conn_release(c);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}
