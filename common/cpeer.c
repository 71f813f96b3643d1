/*
 * cpeer.c - compact peers and interned relay names (cpeer.h).
 * Owns the table of relay names (grown by doubling, never shrunk: a relay
 * name stays valid for the life of the process). Not thread-safe; every
 * user is a process's single event loop.
 */
#include "cpeer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char (*names)[RR_RELAY_NAME_MAX];
static uint32_t nnames, capnames;

int proto_relay_intern(const char *name)
{
    char key[RR_RELAY_NAME_MAX];

    if (name[0] == '\0')
        return 0;
    strncpy(key, name, sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    /* a handful of names: a linear search beats a hash */
    for (uint32_t i = 1; i < nnames; i++)
        if (strcmp(names[i], key) == 0)
            return (int)i;
    if (nnames == 0)
        nnames = 1; /* index 0 is "" */
    if (nnames >= UINT16_MAX)
        return -1;
    if (nnames >= capnames) {
        uint32_t nc = capnames ? capnames * 2 : 16;
        char(*nv)[RR_RELAY_NAME_MAX] = realloc(names, nc * sizeof(*nv));
        if (nv == NULL)
            return -1;
        names = nv;
        capnames = nc;
        names[0][0] = '\0';
    }
    memcpy(names[nnames], key, sizeof(key));
    return (int)nnames++;
}

const char *proto_relay_name(uint16_t idx)
{
    return idx > 0 && idx < nnames ? names[idx] : "";
}

void caddr_set(struct rr_caddr *c, const struct rr_addr *a)
{
    memset(c, 0, sizeof(*c));
    if (a->len > 0 && a->len <= sizeof(c->u))
        memcpy(&c->u, &a->ss, a->len); /* AF_INET or AF_INET6 only (addr.h) */
}

struct rr_addr cpeer_addr(const struct rr_caddr *c)
{
    struct rr_addr a;

    addr_from_sockaddr(&a, &c->u.sa, sizeof(c->u));
    return a;
}

int cpeer_pack(struct rr_cpeer *c, const struct rr_peer *p)
{
    int relay = proto_relay_intern(p->relay);

    if (relay < 0)
        return -1;
    memset(c, 0, sizeof(*c));
    caddr_set(&c->remote, &p->remote);
    caddr_set(&c->local, &p->local);
    c->conn_id = p->conn_id;
    c->relay = (uint16_t)relay;
    c->transport = p->transport;
    return 0;
}

void cpeer_unpack(const struct rr_cpeer *c, struct rr_peer *p)
{
    memset(p, 0, sizeof(*p));
    p->transport = c->transport;
    snprintf(p->relay, sizeof(p->relay), "%s", proto_relay_name(c->relay));
    p->remote = cpeer_addr(&c->remote);
    p->local = cpeer_addr(&c->local);
    p->conn_id = c->conn_id;
}
