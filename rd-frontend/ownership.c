/*
 * ownership.c - name ownership: who may re-register a live (ep, d), or
 * update or delete its registration resource (issue 19).
 * Owns no state: the owner of a registration is its rd_reg.peer (where the
 * last registration or update came from, persisted with it). Talks to
 * secrets.c (a name with a secret is decided by the secret alone) and
 * limits.c (refusals are counted and logged there).
 * Rules (takeover setting, enum rr_takeover):
 *   same-address (default)  the same peer IP address, any port (NATs rebind
 *                           ports), or the registration's own TCP/WebSocket
 *                           connection;
 *   deny                    only the registration's very path: the same
 *                           address and port, or its own connection;
 *   allow                   anyone (RFC 9176 itself has no ownership).
 * A registration past its grace period (rd_reg_gone) owns nothing: the
 * name is free and its path answers 4.04.
 */
#include <string.h>

#include "addr.h"
#include "coap_msg.h"
#include "frontend.h"

/* The registration's own TCP/WebSocket connection (UDP has none). */
static bool same_connection(const struct rr_peer *a, const struct rr_peer *b)
{
    return a->conn_id != 0 && a->conn_id == b->conn_id && a->transport == b->transport &&
           strcmp(a->relay, b->relay) == 0;
}

static bool known_family(const struct rr_addr *a)
{
    return a->ss.ss_family == AF_INET || a->ss.ss_family == AF_INET6;
}

bool own_same_owner(uint8_t mode, const struct rr_peer *owner, const struct rr_peer *peer)
{
    if (mode == RR_TAKEOVER_ALLOW || same_connection(owner, peer))
        return true;
    /* an unknown address (never from a relay) proves nothing */
    if (!known_family(&owner->remote) || !known_family(&peer->remote))
        return false;
    if (mode == RR_TAKEOVER_DENY) /* a connection's path is that connection alone */
        return owner->conn_id == 0 && owner->transport == peer->transport &&
               strcmp(owner->relay, peer->relay) == 0 && addr_equal(&owner->remote, &peer->remote);
    return addr_equal_host(&owner->remote, &peer->remote);
}

int own_authorise(struct frontend *fe, const struct rd_reg *r, const char *ep, const char *d,
                  const struct rr_peer *peer, const struct rd_params *p, struct rd_reply *reply)
{
    const char *secret = secrets_find(&fe->secrets, ep, d);

    if (secret != NULL) {
        if (p->has_sec && secrets_equal(p->sec, secret))
            return 0;
        rd_reply_error(reply, COAP_UNAUTHORIZED, "ep=%s%s%s needs its secret (sec=)", ep,
                       d[0] ? " d=" : "", d);
        lim_hit(fe, RD_LIM_SECRET, peer, "ep=%s d=%s: %s secret", ep, d,
                p->has_sec ? "wrong" : "no");
        return -1;
    }
    if (r == NULL || rd_reg_gone(fe, r))
        return 0;
    struct rr_peer owner;
    cpeer_unpack(&r->peer, &owner);
    if (own_same_owner(fe->cfg.takeover_mode, &owner, peer))
        return 0;
    rd_reply_error(reply, COAP_FORBIDDEN,
                   "ep=%s%s%s is registered from another source (takeover=%s)", ep,
                   d[0] ? " d=" : "", d, fe->cfg.takeover);
    char ps[RR_ADDRSTRLEN + RR_RELAY_NAME_MAX + 2];
    rd_peer_str(&owner, ps, sizeof(ps));
    lim_hit(fe, RD_LIM_TAKEOVER, peer, "ep=%s d=%s /reg/%lld is owned by %s", ep, d,
            (long long)r->id, ps);
    return -1;
}
