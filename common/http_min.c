/*
 * http_min.c - the metrics HTTP server (http_min.h).
 */
#include "http_min.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define HM_CTYPE "text/plain; version=0.0.4; charset=utf-8"

bool hm_is_open(const struct hm_server *s)
{
    return s->lfd >= 0;
}

int hm_open(struct hm_server *s, const struct rr_addr *a, hm_watch_fn watch, hm_render_fn render,
            void *arg)
{
    char as[RR_ADDRSTRLEN];
    int one = 1;

    memset(s, 0, sizeof(*s));
    s->lfd = -1;
    for (int i = 0; i < HM_MAX_CONNS; i++)
        s->c[i].fd = -1;
    s->watch = watch;
    s->render = render;
    s->arg = arg;
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("metrics: socket");
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 || listen(fd, 16) < 0) {
        log_warn("metrics: listen on %s (metrics off)", addr_to_str(a, as, sizeof(as)));
        close(fd);
        return -1;
    }
    s->lfd = fd;
    s->watch(s->arg, 0, fd, HM_ADD, HM_IN);
    log_info("metrics on http://%s/metrics", addr_to_str(a, as, sizeof(as)));
    return 0;
}

static void conn_close(struct hm_server *s, int slot)
{
    struct hm_conn *c = &s->c[slot - 1];

    if (c->fd < 0)
        return;
    s->watch(s->arg, slot, c->fd, HM_DEL, 0);
    close(c->fd);
    c->fd = -1;
    sb_free(&c->out);
}

void hm_close(struct hm_server *s)
{
    for (int i = 1; i <= HM_MAX_CONNS; i++)
        conn_close(s, i);
    if (s->lfd >= 0) {
        s->watch(s->arg, 0, s->lfd, HM_DEL, 0);
        close(s->lfd);
    }
    s->lfd = -1;
}

static void status(struct strbuf *out, const char *st, const char *ctype, const char *body,
                   size_t blen, bool head)
{
    sb_printf(out,
              "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
              st, ctype, blen);
    if (!head)
        sb_append(out, body, blen);
}

void hm_answer(struct hm_server *s, const char *req, size_t len, struct strbuf *out)
{
    const char *sp1 = memchr(req, ' ', len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - req)) : NULL;
    bool head = sp1 && (size_t)(sp1 - req) == 4 && memcmp(req, "HEAD", 4) == 0;
    bool get = sp1 && (size_t)(sp1 - req) == 3 && memcmp(req, "GET", 3) == 0;
    static const char nf[] = "not found: the metrics are at /metrics\n";

    if (!sp1 || !sp2) {
        status(out, "400 Bad Request", "text/plain", "bad request\n", 12, false);
        return;
    }
    if (!get && !head) {
        status(out, "405 Method Not Allowed", "text/plain", "GET only\n", 9, false);
        return;
    }
    size_t plen = (size_t)(sp2 - sp1 - 1);
    const char *path = sp1 + 1;
    const char *q = memchr(path, '?', plen);
    if (q)
        plen = (size_t)(q - path); /* Prometheus may add ?query; ignore it */
    if (plen == 8 && memcmp(path, "/metrics", 8) == 0) {
        struct strbuf body;
        sb_init(&body);
        s->render(s->arg, &body);
        if (body.oom) {
            status(out, "500 Internal Server Error", "text/plain", "out of memory\n", 14, false);
        } else {
            s->scrapes++;
            status(out, "200 OK", HM_CTYPE, body.buf ? body.buf : "", body.len, head);
        }
        sb_free(&body);
        return;
    }
    status(out, "404 Not Found", "text/plain", nf, sizeof(nf) - 1, head);
}

static void on_accept(struct hm_server *s, uint64_t now)
{
    for (int k = 0; k < 16; k++) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int slot = 0;
        if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
            /* the connection stays queued and the listener readable: stop
             * watching it until hm_tick, or the loop would spin */
            s->watch(s->arg, 0, s->lfd, HM_MOD, 0);
            s->paused = true;
            return;
        }
        if (fd < 0)
            return; /* EAGAIN, or an aborted connection: nothing to do */
        for (int i = 0; i < HM_MAX_CONNS; i++)
            if (s->c[i].fd < 0) {
                slot = i + 1;
                break;
            }
        if (!slot) {
            s->refused++; /* a scraper gets one at a time anyway */
            close(fd);
            continue;
        }
        struct hm_conn *c = &s->c[slot - 1];
        c->fd = fd;
        c->rlen = c->off = 0;
        c->since = now;
        sb_init(&c->out);
        s->watch(s->arg, slot, fd, HM_ADD, HM_IN);
    }
}

/* Write what is left of the answer; close when all is out. */
static void conn_write(struct hm_server *s, int slot)
{
    struct hm_conn *c = &s->c[slot - 1];

    while (c->off < c->out.len) {
        ssize_t n = send(c->fd, c->out.buf + c->off, c->out.len - c->off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            s->watch(s->arg, slot, c->fd, HM_MOD, HM_OUT);
            return;
        }
        if (n <= 0)
            break;
        c->off += (size_t)n;
    }
    shutdown(c->fd, SHUT_WR);
    conn_close(s, slot);
}

static void conn_read(struct hm_server *s, int slot)
{
    struct hm_conn *c = &s->c[slot - 1];

    for (;;) {
        ssize_t n = recv(c->fd, c->req + c->rlen, sizeof(c->req) - 1 - c->rlen, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_close(s, slot);
            return;
        }
        c->rlen += (size_t)n;
        c->req[c->rlen] = '\0';
        if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
            hm_answer(s, c->req, c->rlen, &c->out);
            s->watch(s->arg, slot, c->fd, HM_MOD, 0); /* no more reading */
            conn_write(s, slot);
            return;
        }
        if (c->rlen + 1 >= sizeof(c->req)) {
            status(&c->out, "431 Request Header Fields Too Large", "text/plain", "too large\n", 10,
                   false);
            conn_write(s, slot);
            return;
        }
    }
}

void hm_ready(struct hm_server *s, int slot, unsigned events, uint64_t now_ms)
{
    if (s->lfd < 0 || slot < 0 || slot > HM_MAX_CONNS)
        return;
    if (slot == 0) {
        on_accept(s, now_ms);
        return;
    }
    struct hm_conn *c = &s->c[slot - 1];
    if (c->fd < 0)
        return;
    if (c->out.len)
        conn_write(s, slot);
    else if (events & (HM_IN | HM_OUT))
        conn_read(s, slot);
}

void hm_tick(struct hm_server *s, uint64_t now_ms)
{
    if (s->lfd < 0)
        return;
    if (s->paused) {
        s->paused = false;
        s->watch(s->arg, 0, s->lfd, HM_MOD, HM_IN);
    }
    for (int i = 0; i < HM_MAX_CONNS; i++)
        if (s->c[i].fd >= 0 && now_ms - s->c[i].since > HM_IDLE_MS)
            conn_close(s, i + 1);
}
