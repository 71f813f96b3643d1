/*
 * rd_request.c - the Resource Directory's request layer: one CoAP request
 * in, one CoAP response out (RFC 9176 registration, registration resource,
 * simple registration, lookups, discovery; the proxy extension's names).
 * Owns: the lifecycle of registrations (create, replace, update, delete,
 * expire, grace) and of pending simple registrations. Talks to store.c
 * (every change is written before the answer is queued; main.c commits the
 * batch before anything is sent), registry.c, routes_pub.c (route changes),
 * lookup.c, observe.c (marks lookups dirty), block.c, and, through the
 * outbox, to relays (EP_REQUEST). Before any change it asks ownership.c
 * (may this source touch this name or path?) and limits.c (is there room?),
 * and tells limits.c whenever a registration joins, leaves or moves.
 * A store write failure is fatal: memory would be ahead of the disk, and a
 * restart (supervisor) reloads the consistent state; the relay re-sends.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "coap_opts.h"
#include "frontend.h"
#include "log.h"
#include "timeutil.h"

#define MAX_SEGS 8
#define SEG_MAX 64
#define PENDING_SLACK_MS 5000

void rd_peer_base(const struct rr_peer *peer, char *out, size_t outlen)
{
    char a[RR_ADDRSTRLEN];
    const char *scheme = peer->transport == RR_TRANSPORT_TCP  ? "coap+tcp"
                         : peer->transport == RR_TRANSPORT_WS ? "coap+ws"
                                                              : "coap";

    if (peer->remote.ss.ss_family != AF_INET && peer->remote.ss.ss_family != AF_INET6)
        snprintf(out, outlen, "%s://unknown", scheme);
    else
        snprintf(out, outlen, "%s://%s", scheme, addr_to_str(&peer->remote, a, sizeof(a)));
}

void rd_rfc3339(uint64_t unix_ms, char *out, size_t outlen)
{
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void rd_peer_str(const struct rr_peer *p, char *out, size_t len)
{
    char a[RR_ADDRSTRLEN];

    if (p->remote.ss.ss_family == AF_INET || p->remote.ss.ss_family == AF_INET6)
        snprintf(out, len, "%s:%s", p->relay, addr_to_str(&p->remote, a, sizeof(a)));
    else
        snprintf(out, len, "%s:?", p->relay);
}

static void log_change(const char *what, const struct rd_reg *r)
{
    char ps[RR_ADDRSTRLEN + RR_RELAY_NAME_MAX + 2];
    struct rr_peer peer;

    cpeer_unpack(&r->peer, &peer);
    rd_peer_str(&peer, ps, sizeof(ps));
    log_info("%s ep=%s d=%s path=/reg/%" PRId64 " host=%s peer=%s", what, r->ep, r->d, r->id,
             r->host, ps);
}

static void store_or_die(int rc, const char *what)
{
    if (rc < 0)
        fatalx("store: %s failed; exiting so the registry reloads a consistent state", what);
}

/* Base derived when none was given: the proxy name, or the peer's address. */
static void default_base(const struct rd_reg *r, char *out, size_t len)
{
    struct rr_peer peer;

    if (r->proxy) {
        snprintf(out, len, "coap://%s", r->host);
        return;
    }
    cpeer_unpack(&r->peer, &peer);
    rd_peer_base(&peer, out, len);
}

/* The proxy host name for ep/d, validated; 0 or -1 with a 4.00 in reply. */
static int proxy_host(struct frontend *fe, const char *ep, const char *d, char *host,
                      size_t hostlen, struct rd_reply *reply)
{
    size_t n;

    if (fe->cfg.proxy_domain[0] == '\0') {
        rd_reply_error(reply, COAP_BAD_REQUEST, "proxying not available: no proxy domain");
        return -1;
    }
    if (!rd_is_dns_label(ep) || (d[0] && !rd_is_dns_label(d))) {
        rd_reply_error(reply, COAP_BAD_REQUEST,
                       "with proxy, ep and d must be DNS labels (RFC 1123: letters, digits, "
                       "dashes, at most 63 characters)");
        return -1;
    }
    n = (size_t)snprintf(host, hostlen, "%s%s%s.%s", ep, d[0] ? "." : "", d, fe->cfg.proxy_domain);
    if (n >= hostlen) {
        rd_reply_error(reply, COAP_BAD_REQUEST, "proxy host name too long");
        return -1;
    }
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return 0;
}

/* Content-Format must be link-format (40) or absent; 0 or -1 with 4.15. */
static int check_cf(const struct coap_msg *req, struct rd_reply *reply)
{
    const struct coap_msg_opt *cf = coap_msg_find(req, COAP_OPT_CONTENT_FORMAT);

    if (cf != NULL && coap_opt_value_uint(cf) != COAP_CF_LINK_FORMAT) {
        rd_reply_error(reply, COAP_UNSUPPORTED_CF, "payload must be application/link-format (40)");
        return -1;
    }
    return 0;
}

static void proxy_on_warning(struct rd_reg *r, bool proxy_on)
{
    if (proxy_on && !r->warned_proxy_on) {
        log_warnx("ep=%s d=%s sent proxy=on, which is deprecated; treated as proxy=yes", r->ep,
                  r->d);
        r->warned_proxy_on = true;
    }
}

/* Remove a registration everywhere (store, route, registry). */
static void drop_reg(struct frontend *fe, struct rd_reg *r, const char *why)
{
    store_or_die(store_delete(fe->store, r->id), "delete");
    if (r->host[0] && !r->expired)
        routes_publish(fe, r, true);
    log_change(why, r);
    lim_track(fe, r, -1);
    port_reg_release(fe, r);
    registry_remove(&fe->reg, r);
    reg_free(r);
    fe->dirty = true;
}

void rd_delete_reg(struct frontend *fe, struct rd_reg *r, const char *why)
{
    drop_reg(fe, r, why);
}

/*
 * Create or replace the registration for (ep, d). payload is link-format.
 * simple: answer 2.04 without Location (simple registration).
 */
static void do_register(struct frontend *fe, const struct rr_peer *peer, const struct rd_params *p,
                        const uint8_t *payload, size_t plen, bool simple, struct rd_reply *reply)
{
    struct rd_reg *nr = NULL, *old, *clash;
    char err[128];

    if (!p->has_ep) {
        rd_reply_error(reply, COAP_BAD_REQUEST, "ep is required");
        return;
    }
    if (lim_payload(fe, peer, plen, reply) < 0)
        return;
    nr = reg_new();
    if (nr == NULL) {
        rd_reply_error(reply, COAP_INTERNAL_ERROR, "out of memory");
        return;
    }
    if (reg_set_links(nr, (const char *)payload, plen, err, sizeof(err)) < 0) {
        rd_reply_error(reply, COAP_BAD_REQUEST, "malformed link-format: %s", err);
        goto fail;
    }
    if (lim_links(fe, peer, nr->nlinks, reply) < 0)
        goto fail;
    char host[RR_HOST_MAX] = "", base[RD_BASE_MAX];
    if (p->proxy && proxy_host(fe, p->ep, p->d, host, sizeof(host), reply) < 0)
        goto fail;
    if (reg_set_names(nr, p->ep, p->d, NULL, host) < 0) {
        rd_reply_error(reply, COAP_INTERNAL_ERROR, "out of memory");
        goto fail;
    }
    nr->proxy = p->proxy;
    if (cpeer_pack(&nr->peer, peer) < 0) {
        rd_reply_error(reply, COAP_INTERNAL_ERROR, "out of memory");
        goto fail;
    }
    nr->reachable_since = fe->now; /* a new path */
    nr->ka = p->has_ka ? p->ka : RR_KA_DEFAULT;
    nr->lt = p->has_lt ? p->lt : fe->cfg.default_lt;
    nr->expires_at = fe->now + (uint64_t)nr->lt * 1000u;
    nr->base_explicit = p->has_base;
    if (p->has_base)
        snprintf(base, sizeof(base), "%s", p->base);
    else
        default_base(nr, base, sizeof(base));
    if (reg_set_names(nr, NULL, NULL, base, NULL) < 0) {
        rd_reply_error(reply, COAP_INTERNAL_ERROR, "out of memory");
        goto fail;
    }
    if (reg_apply_attrs(nr, p->attrs, p->nattrs) < 0) {
        rd_reply_error(reply, COAP_INTERNAL_ERROR, "out of memory");
        goto fail;
    }

    /* One past its grace period that the timer has not removed yet is
     * removed now: its name is free, but its path is never handed on. */
    old = registry_by_epd(&fe->reg, nr->ep, nr->d);
    if (old != NULL && rd_reg_gone(fe, old))
        drop_reg(fe, old, "removed after grace period");
    clash = registry_by_host(&fe->reg, nr->host);
    if (clash != NULL && rd_reg_gone(fe, clash))
        drop_reg(fe, clash, "removed after grace period");
    /* The same (ep, d) keeps its path; so does the same proxy name in another case. */
    old = registry_by_epd(&fe->reg, nr->ep, nr->d);
    clash = registry_by_host(&fe->reg, nr->host);
    if (clash == old)
        clash = NULL;
    if (old == NULL && clash != NULL) {
        old = clash;
        clash = NULL;
    }
    /* every refusal before anything changes */
    if (own_authorise(fe, old, nr->ep, nr->d, peer, p, reply) < 0 ||
        (clash != NULL && own_authorise(fe, clash, clash->ep, clash->d, peer, p, reply) < 0) ||
        lim_new_registration(fe, old, peer, reply) < 0)
        goto fail;
    if (clash != NULL)
        drop_reg(fe, clash, "replaced (same proxy name)");
    if (old != NULL) {
        nr->id = old->id;
        nr->warned_proxy_on = old->warned_proxy_on;
        nr->port = old->port; /* the same (ep, d) keeps its hosting port */
        port_reg_sync(fe, nr);
        store_or_die(store_update(fe->store, nr), "update");
        if (old->host[0] && !old->expired && strcmp(old->host, nr->host) != 0)
            routes_publish(fe, old, true);
        if (registry_replace(&fe->reg, old, nr) < 0)
            fatalx("registry: out of memory");
        lim_track(fe, old, -1);
        lim_track(fe, nr, 1);
        reg_free(old);
        log_change("re-registered", nr);
    } else {
        port_reg_sync(fe, nr);
        store_or_die(store_insert(fe->store, nr), "insert");
        if (registry_insert(&fe->reg, nr) < 0)
            fatalx("registry: out of memory");
        lim_track(fe, nr, 1);
        log_change("registered", nr);
        fe->registrations_made++;
    }
    proxy_on_warning(nr, p->proxy_on);
    if (nr->host[0])
        routes_publish(fe, nr, false);
    fe->dirty = true;
    reply->code = simple ? COAP_CHANGED : COAP_CREATED;
    reply->location = simple ? 0 : nr->id;
    if (!simple && nr->port) {
        /* the registrant learns its hosting port at once: its endpoint
         * lookup link, reduced to base and port */
        reply->content_format = COAP_CF_LINK_FORMAT;
        sb_printf(&reply->body, "</reg/%" PRId64 ">;base=\"%s\";port=\"%u\"", nr->id, nr->base,
                  nr->port);
    }
    return;
fail:
    reg_free(nr);
}

/* POST /reg/N: refresh, change lt/base/attrs/proxy; optional new links. */
static void do_update(struct frontend *fe, struct rd_reg *r, const struct rr_peer *peer,
                      const struct coap_msg *req, const uint8_t *payload, size_t plen,
                      struct rd_reply *reply)
{
    struct rd_params p;
    char err[128], host[RR_HOST_MAX] = "";
    struct rd_reg *clash;
    bool was_routed = r->host[0] && !r->expired;
    char old_host[RR_HOST_MAX];

    if (rd_params_parse(req, &p, err, sizeof(err)) < 0) {
        rd_reply_error(reply, COAP_BAD_REQUEST, "%s", err);
        return;
    }
    if (p.has_ep || p.has_d) {
        rd_reply_error(reply, COAP_BAD_REQUEST, "ep and d cannot be changed by an update");
        return;
    }
    if (plen > 0 && check_cf(req, reply) < 0)
        return;
    if (lim_payload(fe, peer, plen, reply) < 0)
        return;
    if (plen > 0) {
        /* RFC 9176 defines updates without payload; a link-format payload
         * replaces the links (as earlier drafts did). Parse before changing anything. */
        struct lf_doc doc;
        memset(&doc, 0, sizeof(doc));
        if (lf_parse((const char *)payload, plen, &doc, err, sizeof(err)) < 0) {
            rd_reply_error(reply, COAP_BAD_REQUEST, "malformed link-format: %s", err);
            return;
        }
        unsigned nlinks = doc.nlinks;
        lf_free(&doc);
        if (lim_links(fe, peer, nlinks, reply) < 0)
            return;
    }
    /* Only a proxy= in this very request is validated: a plain refresh must
     * never fail (RIOT drops its registration after a failed update), even
     * if the configuration changed since the name was given out. */
    uint8_t proxy = p.has_proxy ? p.proxy : r->proxy;
    if (p.has_proxy && proxy_host(fe, r->ep, r->d, host, sizeof(host), reply) < 0)
        return;
    if (!p.has_proxy)
        snprintf(host, sizeof(host), "%s", r->host);

    clash = registry_by_host(&fe->reg, host);
    if (clash == r)
        clash = NULL;
    if (clash != NULL && own_authorise(fe, clash, clash->ep, clash->d, peer, &p, reply) < 0)
        return;

    struct rr_cpeer np;
    if (cpeer_pack(&np, peer) < 0) {
        rd_reply_error(reply, COAP_INTERNAL_ERROR, "out of memory");
        return;
    }

    /* validated: apply */
    if (clash != NULL)
        drop_reg(fe, clash, "replaced (same proxy name)");
    snprintf(old_host, sizeof(old_host), "%s", r->host);
    if (strcmp(host, r->host) != 0) {
        if (was_routed)
            routes_publish(fe, r, true);
        registry_unindex(&fe->reg, r);
        if (reg_set_names(r, NULL, NULL, NULL, host) < 0)
            fatalx("registry: out of memory");
        registry_reindex(&fe->reg, r);
    }
    r->proxy = proxy;
    if (p.has_ka)
        r->ka = p.ka;
    lim_track(fe, r, -1);
    struct rr_addr cur = cpeer_addr(&r->peer.remote);
    if (r->unreachable || r->expired || r->peer.transport != np.transport ||
        r->peer.relay != np.relay || !addr_equal(&cur, &peer->remote) ||
        r->peer.conn_id != np.conn_id)
        r->reachable_since = fe->now; /* a new path, or one alive again */
    r->peer = np;                     /* the route follows a NAT rebinding */
    lim_track(fe, r, 1);
    port_reg_sync(fe, r);
    if (p.has_lt)
        r->lt = p.lt;
    r->expires_at = fe->now + (uint64_t)r->lt * 1000u;
    char base[RD_BASE_MAX];
    if (p.has_base)
        snprintf(base, sizeof(base), "%s", p.base);
    else if (!r->base_explicit)
        default_base(r, base, sizeof(base));
    else
        snprintf(base, sizeof(base), "%s", r->base);
    r->base_explicit |= p.has_base;
    if (strcmp(base, r->base) != 0) {
        registry_unindex(&fe->reg, r); /* out of the base order while it changes */
        if (reg_set_names(r, NULL, NULL, base, NULL) < 0)
            fatalx("registry: out of memory");
        registry_reindex(&fe->reg, r);
    }
    if (reg_apply_attrs(r, p.attrs, p.nattrs) < 0)
        fatalx("registry: out of memory");
    if (plen > 0 && reg_set_links(r, (const char *)payload, plen, err, sizeof(err)) < 0)
        fatalx("registry: links: %s", err);
    bool revived = r->expired;
    r->expired = false;
    r->unreachable = false;
    if (registry_changed(&fe->reg, r) < 0)
        fatalx("registry: out of memory");
    store_or_die(store_update(fe->store, r), "update");
    proxy_on_warning(r, p.proxy_on);
    if (r->host[0])
        routes_publish(fe, r, false);
    log_change(revived ? "refreshed after expiry" : "updated", r);
    fe->dirty = true;
    reply->code = COAP_CHANGED;
}

/* GET on /rd-lookup/ep or /rd-lookup/res. */
static void do_lookup(struct frontend *fe, const struct rr_peer *peer, const struct coap_msg *req,
                      bool res, struct rd_reply *reply)
{
    struct rd_query q;
    char err[128];
    const struct coap_msg_opt *acc = coap_msg_find(req, COAP_OPT_ACCEPT);

    if (rd_query_parse(req, &q, err, sizeof(err)) < 0) {
        rd_reply_error(reply, COAP_BAD_REQUEST, "%s", err);
        return;
    }
    if (acc != NULL && coap_opt_value_uint(acc) != COAP_CF_LINK_FORMAT) {
        rd_reply_error(reply, COAP_NOT_ACCEPTABLE, "only application/link-format (40)");
        return;
    }
    lookup_run(fe, res, &q, &reply->body);
    reply->code = COAP_CONTENT;
    reply->content_format = COAP_CF_LINK_FORMAT;
    if (coap_msg_find(req, COAP_OPT_OBSERVE) != NULL)
        reply->has_observe = observe_request(fe, peer, req, res, &q, &reply->body, &reply->observe);
}

static int do_simple(struct frontend *fe, const uint8_t *ident, size_t idlen, uint64_t req_id,
                     const struct rr_peer *peer, const struct coap_msg *req, bool wkc,
                     struct rd_reply *reply)
{
    struct rd_pending *pd;
    struct rd_params p;
    char err[128];
    struct coap_msg m;
    uint8_t tok[8], acc[4], coap[64], body[512];
    struct wire_w w;
    ssize_t n;

    if (rd_params_parse(req, &p, err, sizeof(err)) < 0) {
        rd_reply_error(reply, COAP_BAD_REQUEST, "%s", err);
        return RD_DONE;
    }
    if (!p.has_ep) {
        rd_reply_error(reply, COAP_BAD_REQUEST, "ep is required");
        return RD_DONE;
    }
    if (p.has_base) {
        /* RFC 9176 §5.1: the base comes from the request's source address */
        rd_reply_error(reply, COAP_BAD_REQUEST,
                       "base is not accepted in simple registration (RFC 9176 5.1)");
        return RD_DONE;
    }
    if (req->payload_len > 0) {
        rd_reply_error(reply, COAP_BAD_REQUEST, "simple registration takes no payload");
        return RD_DONE;
    }
    if (p.proxy && proxy_host(fe, p.ep, p.d, (char[RR_HOST_MAX]){0}, RR_HOST_MAX, reply) < 0)
        return RD_DONE;
    /* refused now rather than after a fetch (do_register checks again) */
    if (own_authorise(fe, registry_by_epd(&fe->reg, p.ep, p.d), p.ep, p.d, peer, &p, reply) < 0)
        return RD_DONE;
    if (lim_pending(fe, peer, reply) < 0)
        return RD_DONE;
    if (idlen > RD_IDENT_MAX) {
        rd_reply_error(reply, COAP_INTERNAL_ERROR, "routing id too long");
        return RD_DONE;
    }
    if (wkc)
        log_warnx("simple registration via POST /.well-known/core (old URI) from ep=%s", p.ep);
    pd = calloc(1, sizeof(*pd));
    if (pd == NULL) {
        rd_reply_error(reply, COAP_INTERNAL_ERROR, "out of memory");
        return RD_DONE;
    }
    pd->ep_req_id = ++fe->next_ep_req_id;
    memcpy(pd->ident, ident, idlen);
    pd->idlen = idlen;
    pd->req_id = req_id;
    pd->peer = *peer;
    pd->tkl = req->tkl;
    memcpy(pd->token, req->token, req->tkl);
    pd->params = p;
    pd->deadline = fe->now + fe->cfg.upstream_timeout_ms + PENDING_SLACK_MS;

    /* /.well-known/core is fetched from where the request came from */
    const struct rr_peer path = *peer;
    coap_msg_init(&m);
    m.type = COAP_T_CON;
    m.code = COAP_GET;
    m.tkl = 8;
    for (int i = 0; i < 8; i++)
        tok[i] = (uint8_t)(pd->ep_req_id >> (56 - 8 * i));
    memcpy(m.token, tok, 8);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, ".well-known", 11);
    coap_msg_add_opt(&m, COAP_OPT_URI_PATH, "core", 4);
    coap_msg_add_opt_uint(&m, COAP_OPT_ACCEPT, COAP_CF_LINK_FORMAT, acc);
    n = coap_msg_serialize_udp(&m, coap, sizeof(coap));
    const struct rr_msg_ep_request er = {
        .req_id = pd->ep_req_id, .path = path, .coap = {coap, n > 0 ? (size_t)n : 0}};
    wire_w_init(&w, body, sizeof(body));
    if (n < 0 || proto_enc_ep_request(&w, &er) < 0) {
        free(pd);
        rd_reply_error(reply, COAP_INTERNAL_ERROR, "cannot build request");
        return RD_DONE;
    }
    fe_queue(fe, false, (const uint8_t *)path.relay, strlen(path.relay), RR_MSG_EP_REQUEST, body,
             w.len);
    pd->next = fe->pending;
    fe->pending = pd;
    log_debug("simple registration ep=%s: fetching /.well-known/core via %s", p.ep, path.relay);
    return RD_PENDING;
}

static void finish_pending(struct frontend *fe, struct rd_pending *pd, struct rd_reply *reply)
{
    struct coap_msg fake;
    struct strbuf out;

    coap_msg_init(&fake);
    fake.tkl = pd->tkl;
    memcpy(fake.token, pd->token, pd->tkl);
    sb_init(&out);
    if (rd_reply_serialize(reply, &fake, RD_DEFAULT_BLOCK_SZX, &out) == 0)
        ctl_send_response(fe, pd->ident, pd->idlen, pd->req_id, (const uint8_t *)out.buf, out.len);
    sb_free(&out);
    for (struct rd_pending **pp = &fe->pending; *pp; pp = &(*pp)->next) {
        if (*pp == pd) {
            *pp = pd->next;
            break;
        }
    }
    free(pd);
}

void rd_on_ep_response(struct frontend *fe, uint64_t ep_req_id, uint8_t status, const uint8_t *coap,
                       size_t len)
{
    struct rd_pending *pd;
    struct rd_reply reply;
    struct coap_msg m;
    char cs[8];

    for (pd = fe->pending; pd && pd->ep_req_id != ep_req_id; pd = pd->next)
        ;
    if (pd == NULL) {
        log_debug("EP_RESPONSE %" PRIu64 " for no pending simple registration", ep_req_id);
        return;
    }
    rd_reply_init(&reply);
    if (status == RR_EP_TIMEOUT) {
        rd_reply_error(&reply, COAP_GATEWAY_TIMEOUT,
                       "endpoint did not answer GET /.well-known/core");
    } else if (status != RR_EP_OK) {
        rd_reply_error(&reply, COAP_BAD_GATEWAY, "endpoint unreachable");
    } else if (coap_msg_parse_udp(coap, len, &m) < 0) {
        rd_reply_error(&reply, COAP_BAD_GATEWAY, "endpoint sent a malformed response");
    } else if (m.code != COAP_CONTENT) {
        rd_reply_error(&reply, COAP_BAD_GATEWAY, "endpoint answered /.well-known/core with %s",
                       coap_code_str(m.code, cs));
    } else if (coap_msg_find(&m, COAP_OPT_CONTENT_FORMAT) &&
               coap_msg_opt_uint(&m, COAP_OPT_CONTENT_FORMAT, 0) != COAP_CF_LINK_FORMAT) {
        rd_reply_error(&reply, COAP_BAD_GATEWAY, "endpoint's /.well-known/core is not link-format");
    } else if (coap_msg_find(&m, COAP_OPT_BLOCK2) &&
               (coap_msg_opt_uint(&m, COAP_OPT_BLOCK2, 0) & 0x8)) {
        rd_reply_error(&reply, COAP_BAD_GATEWAY, "endpoint's /.well-known/core is block-wise");
    } else {
        do_register(fe, &pd->peer, &pd->params, m.payload, m.payload_len, true, &reply);
        if (COAP_CODE_CLASS(reply.code) == 4 && reply.code != COAP_TOO_LARGE)
            log_warnx("simple registration ep=%s: %.*s", pd->params.ep, (int)reply.body.len,
                      reply.body.buf ? reply.body.buf : "");
    }
    finish_pending(fe, pd, &reply);
    rd_reply_free(&reply);
}

/* Parse a decimal registration id; -1 if it is not one. */
static int64_t parse_id(const char *s)
{
    int64_t v = 0;

    if (*s == '\0' || strlen(s) > 18)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

bool rd_reg_gone(const struct frontend *fe, const struct rd_reg *r)
{
    return r == NULL || fe->now >= r->expires_at + (uint64_t)fe->cfg.expiry_grace * 1000u;
}

static bool unknown_critical(const struct frontend *fe, const struct coap_msg *req,
                             struct rd_reply *reply)
{
    for (unsigned i = 0; i < req->nopts; i++) {
        uint16_t num = req->opts[i].num;
        if (coap_opt_is_critical(num) && !coap_opt_is_known(num, &fe->cfg)) {
            rd_reply_error(reply, COAP_BAD_OPTION, "unknown critical option %u", (unsigned)num);
            return true;
        }
    }
    return false;
}

int rd_handle_request(struct frontend *fe, const uint8_t *ident, size_t idlen, uint64_t req_id,
                      const struct rr_peer *peer_in, const uint8_t *coap, size_t coap_len,
                      struct strbuf *out)
{
    struct coap_msg req;
    struct rd_reply reply;
    struct rr_peer peer = *peer_in;
    char segs[MAX_SEGS][SEG_MAX];
    unsigned nseg = 0;
    int rc = RD_DONE;
    uint8_t code;

    if (coap_msg_parse_udp(coap, coap_len, &req) < 0 || COAP_CODE_CLASS(req.code) != 0 ||
        req.code == COAP_EMPTY)
        return -1;
    fe->requests++;
    addr_normalise(&peer.remote);
    addr_normalise(&peer.local);
    code = req.code;
    rd_reply_init(&reply);
    for (const struct coap_msg_opt *o = coap_msg_find(&req, COAP_OPT_URI_PATH); o;
         o = coap_msg_find_next(&req, o)) {
        if (nseg == MAX_SEGS || o->len >= SEG_MAX) {
            nseg = MAX_SEGS + 1;
            break;
        }
        memcpy(segs[nseg], o->val, o->len);
        segs[nseg++][o->len] = '\0';
    }
    if (nseg > 1 && nseg <= MAX_SEGS && segs[nseg - 1][0] == '\0')
        nseg--; /* /reg/N/ is /reg/N */
#define PATH_IS(n, a, b)                                                                           \
    (nseg == (n) && strcmp(segs[0], (a)) == 0 && ((n) == 1 || strcmp(segs[1], (b)) == 0))

    if (unknown_critical(fe, &req, &reply)) {
        ; /* RFC 7252 §5.4.1: an unrecognised critical option is 4.02 */
    } else if (PATH_IS(2, ".well-known", "core")) {
        if (code == COAP_GET) {
            struct rd_query q;
            char err[128];
            if (rd_query_parse(&req, &q, err, sizeof(err)) < 0) {
                rd_reply_error(&reply, COAP_BAD_REQUEST, "%s", err);
            } else {
                lookup_discovery(fe, &q, &reply.body);
                reply.code = COAP_CONTENT;
                reply.content_format = COAP_CF_LINK_FORMAT;
            }
        } else if (code == COAP_POST) {
            rc = do_simple(fe, ident, idlen, req_id, &peer, &req, true, &reply);
        } else {
            rd_reply_error(&reply, COAP_METHOD_NOT_ALLOWED, "GET or POST only");
        }
    } else if (PATH_IS(2, ".well-known", "rd")) {
        if (code == COAP_POST)
            rc = do_simple(fe, ident, idlen, req_id, &peer, &req, false, &reply);
        else
            rd_reply_error(&reply, COAP_METHOD_NOT_ALLOWED, "POST only");
    } else if (PATH_IS(1, "rd", "")) {
        const uint8_t *payload;
        size_t plen;
        struct rd_params p;
        char err[128];
        if (code != COAP_POST)
            rd_reply_error(&reply, COAP_METHOD_NOT_ALLOWED, "POST only");
        else if (check_cf(&req, &reply) < 0)
            ;
        else if (rd_params_parse(&req, &p, err, sizeof(err)) < 0)
            rd_reply_error(&reply, COAP_BAD_REQUEST, "%s", err);
        else if (!p.has_ep)
            rd_reply_error(&reply, COAP_BAD_REQUEST, "ep is required");
        else if (rd_block1_feed(fe, &peer, &req, &reply, &payload, &plen) == 1)
            do_register(fe, &peer, &p, payload, plen, false, &reply);
    } else if (PATH_IS(2, "rd-lookup", "ep") || PATH_IS(2, "rd-lookup", "res")) {
        if (code == COAP_GET)
            do_lookup(fe, &peer, &req, segs[1][0] == 'r', &reply);
        else
            rd_reply_error(&reply, COAP_METHOD_NOT_ALLOWED, "GET only");
    } else if (nseg == 2 && strcmp(segs[0], "reg") == 0 && parse_id(segs[1]) > 0) {
        struct rd_reg *r = registry_by_id(&fe->reg, parse_id(segs[1]));
        const uint8_t *payload;
        size_t plen;
        if (rd_reg_gone(fe, r)) {
            rd_reply_error(&reply, COAP_NOT_FOUND, "no such registration");
        } else if (code == COAP_GET) {
            reply.code = COAP_CONTENT;
            reply.content_format = COAP_CF_LINK_FORMAT;
            sb_append(&reply.body, r->links, r->links_len);
        } else if (code == COAP_POST || code == COAP_DELETE) {
            /* a malformed update is refused by do_update with 4.00, changing
             * nothing; for DELETE a malformed query just carries no sec= */
            struct rd_params op;
            char err[128];
            bool parsed = rd_params_parse(&req, &op, err, sizeof(err)) == 0;
            if (!parsed)
                memset(&op, 0, sizeof(op));
            if ((parsed || code == COAP_DELETE) &&
                own_authorise(fe, r, r->ep, r->d, &peer, &op, &reply) < 0) {
                ; /* 4.01 / 4.03 */
            } else if (code == COAP_DELETE) {
                drop_reg(fe, r, "deleted");
                reply.code = COAP_DELETED;
            } else if (rd_block1_feed(fe, &peer, &req, &reply, &payload, &plen) == 1) {
                do_update(fe, r, &peer, &req, payload, plen, &reply);
            }
        } else {
            rd_reply_error(&reply, COAP_METHOD_NOT_ALLOWED, "GET, POST or DELETE only");
        }
    } else {
        rd_reply_error(&reply, COAP_NOT_FOUND, "no such resource");
    }
#undef PATH_IS
    if (rc == RD_DONE && rd_reply_serialize(&reply, &req, RD_DEFAULT_BLOCK_SZX, out) < 0)
        rc = -1;
    rd_reply_free(&reply);
    return rc;
}

void rd_on_reachability(struct frontend *fe, const char *host, bool reachable, uint64_t since)
{
    char lower[RR_HOST_MAX];
    struct rd_reg *r;
    size_t i;

    for (i = 0; host[i] && i + 1 < sizeof(lower); i++)
        lower[i] = (char)tolower((unsigned char)host[i]);
    lower[i] = '\0';
    r = registry_by_host(&fe->reg, lower);
    if (r == NULL || r->unreachable == !reachable)
        return;
    r->unreachable = !reachable;
    r->unreachable_since = reachable ? 0 : since;
    if (reachable)
        r->reachable_since = fe->now;
    aidx_touch_reg(&fe->reg.idx, r); /* lookups show reachable="no" */
    if (reachable) {
        log_info("reachable again ep=%s host=%s", r->ep, r->host);
    } else {
        char ts[40];
        rd_rfc3339(since, ts, sizeof(ts));
        log_info("unreachable ep=%s host=%s since=%s", r->ep, r->host, ts);
    }
    fe->dirty = true;
}

/* At most this many expiry events per tick: a wave of expiries is spread
 * over several turns of the loop instead of stalling one. */
#define TICK_MAX_EXPIRIES 512

void rd_tick(struct frontend *fe)
{
    struct rd_reg *r;
    struct rd_pending *pd, *pnext;

    /* only what is due: the expiry heap, earliest first */
    for (int n = 0; n < TICK_MAX_EXPIRIES; n++) {
        r = registry_next_due(&fe->reg);
        if (r == NULL || r->due > fe->now)
            break;
        if (rd_reg_gone(fe, r)) {
            r->expired = true; /* its route went at expiry */
            drop_reg(fe, r, "removed after grace period");
            continue;
        }
        if (!r->expired && fe->now >= r->expires_at) {
            r->expired = true;
            if (r->host[0])
                routes_publish(fe, r, true);
            log_change("expired", r);
            fe->dirty = true;
        }
        if (registry_changed(&fe->reg, r) < 0) /* next event: the end of grace */
            fatalx("registry: out of memory");
    }
    for (pd = fe->pending; pd; pd = pnext) {
        pnext = pd->next;
        if (fe->now >= pd->deadline) {
            struct rd_reply reply;
            rd_reply_init(&reply);
            rd_reply_error(&reply, COAP_GATEWAY_TIMEOUT,
                           "endpoint did not answer GET /.well-known/core");
            finish_pending(fe, pd, &reply);
            rd_reply_free(&reply);
        }
    }
    rd_block1_gc(fe);
}

/* A growing list of registration ids (rows to touch once the SELECT is done). */
struct id_list {
    int64_t *v;
    size_t n, cap;
};

static int id_list_push(struct id_list *l, int64_t id)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        int64_t *nv = realloc(l->v, nc * sizeof(*nv));
        if (nv == NULL)
            return -1;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = id;
    return 0;
}

struct load_ctx {
    struct frontend *fe;
    struct id_list gone; /* past their grace period: deleted after the load */
    struct id_list redo; /* hosting port dropped: rewritten after the load */
};

static int load_one(struct rd_reg *r, void *arg)
{
    struct load_ctx *lc = arg;
    struct frontend *fe = lc->fe;

    if (rd_reg_gone(fe, r)) {
        if (id_list_push(&lc->gone, r->id) < 0) {
            reg_free(r);
            return -1;
        }
        /* it ended while we were down: its port starts its quarantine now */
        if (r->port && ports_on(&fe->ports)) {
            ports_load_quarantined(&fe->ports, r->port, fe->now + fe->ports.quarantine_ms);
            if (store_port_quarantine(fe->store, r->port, fe->now + fe->ports.quarantine_ms) < 0) {
                reg_free(r);
                return -1;
            }
        }
        reg_free(r);
        return 0;
    }
    r->expired = fe->now >= r->expires_at;
    r->reachable_since = fe->now; /* all this process knows */
    bool rewrite = port_reg_load(fe, r);
    if (registry_insert(&fe->reg, r) < 0) {
        reg_free(r);
        return -1;
    }
    lim_track(fe, r, 1);
    /* rare (the range changed): rewritten after the load, not mid-SELECT */
    return rewrite ? id_list_push(&lc->redo, r->id) : 0;
}

int frontend_init(struct frontend *fe, const struct rr_config *cfg, const char *db_path)
{
    struct load_ctx lc = {.fe = fe};
    char err[128];
    int ret = -1;

    memset(fe, 0, sizeof(*fe));
    fe->cfg = *cfg;
    fe->now = now_wall_ms();
    if (registry_init(&fe->reg) < 0)
        return -1;
    fe->reg.grace_ms = (uint64_t)cfg->expiry_grace * 1000u;
    if (lf_parse(LOOKUP_WKC, strlen(LOOKUP_WKC), &fe->wkc, err, sizeof(err)) < 0) {
        log_warnx("discovery document: %s", err);
        goto out;
    }
    if (secrets_load(&fe->secrets, cfg->name_secrets) < 0 || ports_init(&fe->ports, cfg) < 0)
        goto out;
    if (store_open(db_path, &fe->store) < 0)
        goto out;
    lc.fe = fe;
    aidx_bulk_begin(&fe->reg.idx); /* one sort at the end, not an ordered insert per key */
    int lrc = store_load(fe->store, load_one, &lc);
    aidx_bulk_end(&fe->reg.idx);
    if (lrc < 0)
        goto out;
    for (size_t i = 0; i < lc.gone.n; i++)
        if (store_delete(fe->store, lc.gone.v[i]) < 0)
            goto out;
    for (size_t i = 0; i < lc.redo.n; i++) {
        const struct rd_reg *r = registry_by_id(&fe->reg, lc.redo.v[i]);
        if (r && store_update(fe->store, r) < 0)
            goto out;
    }
    if (port_reg_load_end(fe) < 0 || ctl_drains_load(fe) < 0)
        goto out;
    routes_init(fe);
    log_info("loaded %zu registrations (%zu past their grace period removed)", fe->reg.count,
             lc.gone.n);
    ret = 0;
out:
    free(lc.gone.v);
    free(lc.redo.v);
    return ret;
}

void frontend_free(struct frontend *fe)
{
    struct rd_pending *pd, *next;

    for (pd = fe->pending; pd; pd = next) {
        next = pd->next;
        free(pd);
    }
    fe->pending = NULL;
    observe_free_all(fe);
    ctl_cache_free(fe);
    fe_outbox_clear(fe);
    for (int i = 0; i < RD_MAX_BLOCK1; i++)
        sb_free(&fe->block1[i].buf);
    registry_free(&fe->reg);
    lim_free(&fe->lim);
    secrets_free(&fe->secrets);
    lf_free(&fe->wkc);
    store_close(fe->store);
    fe->store = NULL;
    ports_free(&fe->ports);
}
