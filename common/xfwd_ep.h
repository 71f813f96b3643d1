/*
 * xfwd_ep.h - where a relay's cross-transport ROUTER is (issue 20: relays
 * on other hosts). By default at ipc://<state_dir>/relay-<name>.sock (one
 * host); the setting xfwd_endpoints lists relays elsewhere:
 *   NAME=tcp://ADDRESS:PORT[;KEY], ...
 * A relay listed there binds its ROUTER at that address, and every relay
 * connects to it there; KEY is that relay's CURVE public key (Z85), with
 * which the connection is CURVE-encrypted when CURVE is on
 * (curve_server_public set; common/curve.h). ';' and ',' are not in Z85.
 * Owns nothing: parsing only.
 */
#ifndef RDRELAY_XFWD_EP_H
#define RDRELAY_XFWD_EP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Call fn for every entry (name, endpoint, key or ""); stops when fn
 * returns non-zero and returns that. -1 for a malformed list. */
int xfwd_endpoints_foreach(const char *list,
                           int (*fn)(void *arg, const char *name, const char *ep, const char *key),
                           void *arg);
bool xfwd_endpoints_ok(const char *list);
/* Relay's endpoint: its xfwd_endpoints entry, else the ipc:// default.
 * 0, or -1 (too long). */
int xfwd_endpoint(const struct rr_config *cfg, const char *relay, char *out, size_t outlen);

#endif
