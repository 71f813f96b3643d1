/*
 * amplify.c - Echo values and the verified-source table (amplify.h).
 */
#include "amplify.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"

#define AMP_PROBE 8 /* table slots looked at per source */

/* The bytes that name a source: family, port, address (zero-padded). */
static void amp_key(const struct rr_addr *a, uint8_t k[19])
{
    memset(k, 0, 19);
    k[0] = (uint8_t)a->ss.ss_family;
    uint16_t port = addr_port(a);
    k[1] = (uint8_t)(port >> 8);
    k[2] = (uint8_t)port;
    if (a->ss.ss_family == AF_INET)
        memcpy(k + 3, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
    else if (a->ss.ss_family == AF_INET6)
        memcpy(k + 3, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, 16);
}

int rc_amp_init(struct rc_amp *a, uint32_t factor, uint32_t verified_s, uint32_t max_verified)
{
    uint32_t n = 64;

    memset(a, 0, sizeof(*a));
    a->factor = factor;
    a->verified_ms = verified_s * 1000u;
    if (factor == 0)
        return 0;
    if (getrandom(a->key, sizeof(a->key), 0) != (ssize_t)sizeof(a->key)) {
        log_warn("getrandom (Echo key)");
        return -1;
    }
    while (n < max_verified && n < (1u << 24))
        n <<= 1;
    a->tab = calloc(n, sizeof(*a->tab));
    if (!a->tab)
        return -1;
    a->mask = n - 1;
    return 0;
}

void rc_amp_free(struct rc_amp *a)
{
    free(a->tab);
    a->tab = NULL;
}

static uint64_t amp_mac(const struct rc_amp *a, const struct rr_addr *peer, uint8_t slot)
{
    uint8_t in[1 + 19];
    in[0] = slot;
    amp_key(peer, in + 1);
    return siphash24(a->key, in, sizeof(in));
}

static void amp_echo_for_slot(const struct rc_amp *a, const struct rr_addr *peer, uint8_t slot,
                              uint8_t out[RC_ECHO_LEN])
{
    uint64_t mac = amp_mac(a, peer, slot);
    out[0] = slot;
    for (int i = 1; i < RC_ECHO_LEN; i++)
        out[i] = (uint8_t)(mac >> (8 * (i - 1)));
}

void rc_amp_make_echo(const struct rc_amp *a, const struct rr_addr *peer, uint64_t now,
                      uint8_t out[RC_ECHO_LEN])
{
    amp_echo_for_slot(a, peer, (uint8_t)(now / RC_ECHO_SLOT_MS), out);
}

bool rc_amp_check_echo(const struct rc_amp *a, const struct rr_addr *peer, const uint8_t *val,
                       size_t len, uint64_t now)
{
    uint8_t slot = (uint8_t)(now / RC_ECHO_SLOT_MS), want[RC_ECHO_LEN], diff = 0;

    if (len != RC_ECHO_LEN || (val[0] != slot && val[0] != (uint8_t)(slot - 1)))
        return false;
    amp_echo_for_slot(a, peer, val[0], want);
    for (int i = 0; i < RC_ECHO_LEN; i++) /* no early exit: constant time */
        diff |= (uint8_t)(want[i] ^ val[i]);
    return diff == 0;
}

/* The table slot holding peer, or NULL; *victim: where to put it if not. */
static struct rc_amp_entry *amp_find(const struct rc_amp *a, const uint8_t k[19],
                                     struct rc_amp_entry **victim, uint64_t now)
{
    /* keyed hash: nobody can aim many sources at one bucket chain */
    uint32_t h = (uint32_t)siphash24(a->key, k, 19);
    struct rc_amp_entry *v = NULL;

    for (uint32_t i = 0; i < AMP_PROBE; i++) {
        struct rc_amp_entry *e = &a->tab[(h + i) & a->mask];
        if (e->until_ms > now && memcmp(e->key, k, 19) == 0)
            return e;
        if (!v || e->until_ms < v->until_ms)
            v = e;
    }
    if (victim)
        *victim = v;
    return NULL;
}

void rc_amp_set_verified(struct rc_amp *a, const struct rr_addr *peer, uint64_t now)
{
    uint8_t k[19];
    struct rc_amp_entry *v = NULL, *e;

    if (!a->tab)
        return;
    amp_key(peer, k);
    e = amp_find(a, k, &v, now);
    if (!e) {
        e = v;
        memcpy(e->key, k, 19);
    }
    e->until_ms = now + a->verified_ms;
}

bool rc_amp_is_verified(const struct rc_amp *a, const struct rr_addr *peer, uint64_t now)
{
    uint8_t k[19];

    if (!a->tab)
        return false;
    amp_key(peer, k);
    return amp_find(a, k, NULL, now) != NULL;
}

void rc_amp_on_request(struct rc_amp *a, const struct rr_addr *peer, struct coap_msg *m,
                       uint64_t now)
{
    const struct coap_msg_opt *o;

    if (a->factor == 0 || !(o = coap_msg_find(m, COAP_OPT_ECHO)))
        return;
    if (!rc_amp_check_echo(a, peer, o->val, o->len, now)) {
        a->c.echo_stale++; /* maybe the endpoint's own Echo: leave it */
        return;
    }
    rc_amp_set_verified(a, peer, now);
    a->c.verified++;
    coap_msg_remove_opt(m, COAP_OPT_ECHO);
}

bool rc_amp_allows(const struct rc_amp *a, const struct rr_addr *peer, size_t req_len,
                   size_t resp_len, uint64_t now)
{
    if (a->factor == 0 || resp_len <= (size_t)a->factor * req_len)
        return true;
    return rc_amp_is_verified(a, peer, now);
}

size_t rc_amp_challenge(struct rc_amp *a, const struct rr_addr *peer, uint8_t type, uint16_t msgid,
                        const uint8_t *token, uint8_t tkl, uint64_t now, uint8_t *out)
{
    size_t n = 4;
    char name[RR_ADDRSTRLEN];

    if (tkl > COAP_MSG_MAX_TOKEN)
        tkl = COAP_MSG_MAX_TOKEN;
    out[0] = (uint8_t)(0x40 | (type << 4) | tkl);
    out[1] = COAP_CODE(4, 1);
    out[2] = (uint8_t)(msgid >> 8);
    out[3] = (uint8_t)msgid;
    memcpy(out + n, token, tkl);
    n += tkl;
    /* option 252: delta nibble 13, extended delta 252 - 13, length 8 */
    out[n++] = (uint8_t)(13 << 4 | RC_ECHO_LEN);
    out[n++] = (uint8_t)(COAP_OPT_ECHO - 13);
    rc_amp_make_echo(a, peer, now, out + n);
    n += RC_ECHO_LEN;
    a->c.challenged++;
    /* one line per 10 s at most: a flood must not flood the log too */
    if (a->last_log_ms == 0 || now - a->last_log_ms >= 10000) {
        a->last_log_ms = now;
        log_info("amplification limit: answer to unverified %s replaced by 4.01 + Echo "
                 "(%llu so far)",
                 addr_to_str(peer, name, sizeof(name)), (unsigned long long)a->c.challenged);
    }
    return n;
}
