/*
 * curve.c - ZeroMQ CURVE for tcp:// endpoints (curve.h).
 */
#include "curve.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "timeutil.h"
#include "xfwd_ep.h"

#define CURVE_MAX_AUTH 64
#define CURVE_LOG_EVERY_MS 60000 /* repeated refusals: once a minute, counted */

/* The process's keys, set once by curve_init (read-only afterwards, also
 * from the ZAP and monitor threads). */
static struct {
    char server_public[48], server_secret[48]; /* as rr_config: checked 40 */
    char public_[48], secret[48];
    uint8_t auth[CURVE_MAX_AUTH][32];
    char auth_z85[CURVE_MAX_AUTH][CURVE_KEY_LEN + 1];
    unsigned nauth;
    /* xfwd_endpoints: the server key of each relay's tcp:// endpoint */
    struct {
        char ep[128], key[CURVE_KEY_LEN + 1], label[48];
    } peer[16];
    unsigned npeers;
} curve;

bool curve_key_ok(const char *z85)
{
    uint8_t k[32];
    return strlen(z85) == CURVE_KEY_LEN && zmq_z85_decode(k, z85) != NULL;
}

bool curve_key_list_ok(const char *list)
{
    char k[CURVE_KEY_LEN + 1];
    unsigned n = 0;

    for (const char *p = list; *p;) {
        while (*p == ',' || *p == ' ')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, ", ");
        if (len != CURVE_KEY_LEN || ++n > CURVE_MAX_AUTH)
            return false;
        memcpy(k, p, len);
        k[len] = '\0';
        if (!curve_key_ok(k))
            return false;
        p += len;
    }
    return true;
}

static int add_peer(void *arg, const char *name, const char *ep, const char *key)
{
    (void)arg;
    if (curve.npeers < sizeof(curve.peer) / sizeof(curve.peer[0]) && *key) {
        snprintf(curve.peer[curve.npeers].label, sizeof(curve.peer[0].label), "relay %s", name);
        snprintf(curve.peer[curve.npeers].ep, sizeof(curve.peer[0].ep), "%s", ep);
        snprintf(curve.peer[curve.npeers].key, sizeof(curve.peer[0].key), "%s", key);
        curve.npeers++;
    }
    return 0;
}

void curve_init(const struct rr_config *cfg)
{
    const char *p = cfg->curve_authorized;

    memset(&curve, 0, sizeof(curve));
    snprintf(curve.server_public, sizeof(curve.server_public), "%s", cfg->curve_server_public);
    snprintf(curve.server_secret, sizeof(curve.server_secret), "%s", cfg->curve_server_secret);
    snprintf(curve.public_, sizeof(curve.public_), "%s", cfg->curve_public);
    snprintf(curve.secret, sizeof(curve.secret), "%s", cfg->curve_secret);
    /* config_finish checked every key */
    while (*p && curve.nauth < CURVE_MAX_AUTH) {
        while (*p == ',' || *p == ' ')
            p++;
        if (strlen(p) < CURVE_KEY_LEN)
            break;
        char *z = curve.auth_z85[curve.nauth];
        memcpy(z, p, CURVE_KEY_LEN);
        z[CURVE_KEY_LEN] = '\0';
        if (zmq_z85_decode(curve.auth[curve.nauth], z))
            curve.nauth++;
        p += CURVE_KEY_LEN;
    }
    xfwd_endpoints_foreach(cfg->xfwd_endpoints, add_peer, NULL);
}

/* The server key for a client connection to endpoint: a relay's from
 * xfwd_endpoints (and *label names it), else rd-frontend's. */
static const char *server_key_for(const char *endpoint, const char **label)
{
    for (unsigned i = 0; i < curve.npeers; i++)
        if (strcmp(curve.peer[i].ep, endpoint) == 0) {
            *label = curve.peer[i].label;
            return curve.peer[i].key;
        }
    return curve.server_public;
}

static bool is_tcp(const char *endpoint)
{
    return strncmp(endpoint, "tcp://", 6) == 0;
}

/* A thread with every signal blocked (the main thread takes them). */
static int thread_start(pthread_t *th, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(th, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* ---- client side: options and the handshake monitor ---- */

struct curve_mon {
    void *pair;
    char peer[64], endpoint[128];
};

static void *mon_main(void *arg)
{
    struct curve_mon *m = arg;
    uint64_t last_log = 0, quiet = 0;

    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        zmq_msg_init(&addr);
        if (zmq_msg_recv(&ev, m->pair, 0) < 0) {
            zmq_msg_close(&ev);
            zmq_msg_close(&addr);
            break; /* ETERM: the context is going */
        }
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
        }
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&addr, m->pair, 0);
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
        if (event == ZMQ_EVENT_MONITOR_STOPPED)
            break;
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            log_info("CURVE: %s at %s accepted our key", m->peer, m->endpoint);
            quiet = 0;
            last_log = 0;
            continue;
        }
        uint64_t now = now_mono_ms();
        if (last_log && now - last_log < CURVE_LOG_EVERY_MS) {
            quiet++;
            continue;
        }
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            log_warnx("CURVE: %s at %s refused our key (status %u): is curve_public in its "
                      "curve_authorized? (%llu more refusals since the last message)",
                      m->peer, m->endpoint, value, (unsigned long long)quiet);
        else
            log_warnx("CURVE: handshake with %s at %s failed (%s %u): is curve_server_public "
                      "its key? (%llu more since the last message)",
                      m->peer, m->endpoint,
                      event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error" : "error",
                      value, (unsigned long long)quiet);
        last_log = now;
        quiet = 0;
    }
    zmq_close(m->pair);
    free(m);
    return NULL;
}

static int monitor_start(void *zctx, void *sock, const char *endpoint, const char *peer)
{
    static unsigned seq; /* main thread only: names the inproc endpoints */
    char ep[64];
    pthread_t th;
    struct curve_mon *m = calloc(1, sizeof(*m));

    if (!m)
        return -1;
    snprintf(ep, sizeof(ep), "inproc://rdrelay-curve-mon-%u", seq++);
    snprintf(m->peer, sizeof(m->peer), "%s", peer);
    snprintf(m->endpoint, sizeof(m->endpoint), "%s", endpoint);
    if (zmq_socket_monitor(sock, ep,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) < 0 ||
        (m->pair = zmq_socket(zctx, ZMQ_PAIR)) == NULL || zmq_connect(m->pair, ep) < 0) {
        log_warnx("CURVE: monitor for %s: %s", endpoint, zmq_strerror(errno));
        if (m->pair)
            zmq_close(m->pair);
        free(m);
        return -1;
    }
    if (thread_start(&th, mon_main, m) != 0) {
        zmq_close(m->pair);
        free(m);
        return -1;
    }
    pthread_detach(th); /* it ends with the context (ETERM) */
    return 0;
}

int curve_client(void *zctx, void *sock, const char *endpoint, const char *peer)
{
    if (!is_tcp(endpoint) || !curve.server_public[0])
        return 0;
    const char *server_key = server_key_for(endpoint, &peer);
    if (!server_key[0]) {
        log_warnx("CURVE: %s needs its server's key (xfwd_endpoints: NAME=%s;KEY)", endpoint,
                  endpoint);
        return -1;
    }
    if (!curve.public_[0] || !curve.secret[0]) {
        log_warnx("CURVE: %s needs curve_public and curve_secret (this process's key pair, "
                  "rdrelayctl keygen)",
                  endpoint);
        return -1;
    }
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_key, CURVE_KEY_LEN) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, curve.public_, CURVE_KEY_LEN) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, curve.secret, CURVE_KEY_LEN) < 0) {
        log_warnx("CURVE: options for %s: %s", endpoint, zmq_strerror(errno));
        return -1;
    }
    return monitor_start(zctx, sock, endpoint, peer);
}

int curve_server(void *sock, const char *endpoint, bool relay)
{
    int one = 1;
    const char *secret = relay ? curve.secret : curve.server_secret;

    if (!is_tcp(endpoint))
        return 0;
    if (relay && curve.server_public[0] && !secret[0]) {
        log_warnx("CURVE: %s needs curve_secret (this relay's key pair)", endpoint);
        return -1;
    }
    if (!secret[0] || (relay && !curve.server_public[0])) {
        log_warnx("%s without CURVE (curve_server_secret unset): anyone who reaches it is "
                  "trusted",
                  endpoint);
        return 0;
    }
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret, CURVE_KEY_LEN) < 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "rdrelay", 7) < 0) {
        log_warnx("CURVE: options for %s: %s", endpoint, zmq_strerror(errno));
        return -1;
    }
    log_info("CURVE on %s: %u authorised client keys", endpoint, curve.nauth);
    return 0;
}

/* ---- rd-frontend: ZAP (RFC 27) ---- */

struct curve_zap {
    void *rep;
    pthread_t th;
};

static bool authorised(const uint8_t *key, size_t len)
{
    for (unsigned i = 0; i < curve.nauth && len == 32; i++)
        if (memcmp(curve.auth[i], key, 32) == 0)
            return true;
    return false;
}

static void *zap_main(void *arg)
{
    struct curve_zap *z = arg;
    uint64_t last_log = 0, quiet = 0;

    for (;;) {
        /* version, request id, domain, address, routing id, mechanism, key */
        zmq_msg_t f[7];
        int n = 0;
        bool more = true;
        while (more) {
            zmq_msg_t tmp, *m = n < 7 ? &f[n] : &tmp;
            zmq_msg_init(m);
            if (zmq_msg_recv(m, z->rep, 0) < 0) {
                zmq_msg_close(m);
                for (int i = 0; i < n && i < 7; i++)
                    zmq_msg_close(&f[i]);
                goto out; /* ETERM */
            }
            more = zmq_msg_more(m);
            if (m == &tmp)
                zmq_msg_close(m);
            n++;
        }
        bool ok = n >= 7 && zmq_msg_size(&f[5]) == 5 &&
                  memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
                  authorised(zmq_msg_data(&f[6]), zmq_msg_size(&f[6]));
        if (!ok) {
            char key[CURVE_KEY_LEN + 1] = "?", addr[64] = "?";
            uint64_t now = now_mono_ms();
            if (n >= 7 && zmq_msg_size(&f[6]) == 32)
                zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
            if (n >= 4)
                snprintf(addr, sizeof(addr), "%.*s", (int)zmq_msg_size(&f[3]),
                         (const char *)zmq_msg_data(&f[3]));
            if (!last_log || now - last_log >= CURVE_LOG_EVERY_MS) {
                log_warnx("CURVE: refused client key %s from %s: not in curve_authorized (%llu "
                          "more refusals since the last message)",
                          key, addr, (unsigned long long)quiet);
                last_log = now;
                quiet = 0;
            } else {
                quiet++;
            }
        }
        /* reply: version, request id, status, text, user id, metadata */
        const char *status = ok ? "200" : "400";
        const char *text = ok ? "OK" : "key not authorised";
        zmq_send(z->rep, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(z->rep, n >= 2 ? zmq_msg_data(&f[1]) : "", n >= 2 ? zmq_msg_size(&f[1]) : 0,
                 ZMQ_SNDMORE);
        zmq_send(z->rep, status, 3, ZMQ_SNDMORE);
        zmq_send(z->rep, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(z->rep, "", 0, ZMQ_SNDMORE);
        zmq_send(z->rep, "", 0, 0);
        for (int i = 0; i < n && i < 7; i++)
            zmq_msg_close(&f[i]);
    }
out:
    zmq_close(z->rep);
    return NULL;
}

struct curve_zap *curve_zap_start(void *zctx, bool relay, bool *err)
{
    int zero = 0;

    *err = false;
    if (relay ? !(curve.server_public[0] && curve.secret[0]) : !curve.server_secret[0])
        return NULL;
    struct curve_zap *z = calloc(1, sizeof(*z));
    if (!z || (z->rep = zmq_socket(zctx, ZMQ_REP)) == NULL ||
        zmq_setsockopt(z->rep, ZMQ_LINGER, &zero, sizeof(zero)) < 0 ||
        zmq_bind(z->rep, "inproc://zeromq.zap.01") < 0 || thread_start(&z->th, zap_main, z) != 0) {
        log_warnx("CURVE: ZAP handler: %s", zmq_strerror(errno));
        if (z && z->rep)
            zmq_close(z->rep);
        free(z);
        *err = true;
        return NULL;
    }
    return z;
}

void curve_zap_join(struct curve_zap *z)
{
    if (!z)
        return;
    pthread_join(z->th, NULL);
    free(z);
}
