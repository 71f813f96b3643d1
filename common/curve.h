/*
 * curve.h - ZeroMQ CURVE (authentication and encryption) for the tcp://
 * endpoints between rd-frontend and relays on other hosts (issue 20).
 * ipc:// endpoints stay plain (the state directory's permissions guard
 * them). Owns the process's keys (curve_init copies them from the config
 * once: the one process-global besides log.c's level), the ZAP handler
 * thread that lets in only the authorised client keys (rd-frontend), and
 * the monitor threads that log a handshake refused or accepted (clients).
 * Refusals are logged on both sides: rd-frontend names the key and the
 * address it refused, the relay says that rd-frontend refused its key.
 * Settings (config.h): curve_server_public (rd-frontend's public key; every
 * client needs it), curve_server_secret (rd-frontend only), curve_public /
 * curve_secret (a relay's or rdrelayctl's own pair), curve_authorized
 * (rd-frontend: comma list of the client public keys it lets in). Keys are
 * Z85 (40 characters, `rdrelayctl keygen`).
 */
#ifndef RDRELAY_CURVE_H
#define RDRELAY_CURVE_H

#include <stdbool.h>

#include "config.h"

#define CURVE_KEY_LEN 40 /* Z85 of 32 bytes */

/* A Z85 CURVE key (40 characters that decode). */
bool curve_key_ok(const char *z85);
/* A comma list of such keys (empty is fine). */
bool curve_key_list_ok(const char *list);
/* Keep the keys of cfg for the calls below (process start). */
void curve_init(const struct rr_config *cfg);
/* Before zmq_connect(sock, endpoint): CURVE client options when endpoint is
 * tcp:// and curve_server_public is set (then our own pair is required),
 * and a monitor thread that logs the handshake's outcome (peer: who we
 * connect to, for the log). 0, or -1 (logged). */
int curve_client(void *zctx, void *sock, const char *endpoint, const char *peer);
/* Before zmq_bind(sock, endpoint): CURVE server options when endpoint is
 * tcp:// and CURVE is on: rd-frontend (relay false) with
 * curve_server_secret, a relay's xfwd ROUTER (relay true, curve_server_public
 * set) with its own curve_secret. A tcp:// endpoint without CURVE is
 * logged as unauthenticated. 0 / -1. */
int curve_server(void *sock, const char *endpoint, bool relay);

/* The ZAP handler (inproc://zeromq.zap.01 in zctx) of rd-frontend, or of a
 * relay with a tcp:// xfwd endpoint (relay true), before any CURVE socket
 * binds. NULL when CURVE is off (nothing to do) or on error (then *err is
 * set). Stopped after zmq_ctx_term (which ends its wait). */
struct curve_zap;
struct curve_zap *curve_zap_start(void *zctx, bool relay, bool *err);
void curve_zap_join(struct curve_zap *z);

#endif
