/*
 * ctl_cmd.c - rdrelayctl's commands at rd-frontend (CTL_REQUEST ->
 * CTL_RESPONSE, common/proto.h), answered as JSON built with libjansson:
 *   status             rd-frontend's own state and every relay it heard from
 *                      (up since, epoch, sequence, routes, connections, last
 *                      resync and why, draining, all RELAY_STATUS counters)
 *   list [TEXT]        registrations; TEXT: only those whose ep, d, host or
 *                      path contains it (case-insensitive)
 *   show WHICH         one registration in full (WHICH: /reg/N, N, host, ep)
 *   delete WHICH       remove it as DELETE /reg/N would (the answer leaves
 *                      after the COMMIT: ctl_read_only says so)
 *   drain RELAY        no new registrations through RELAY (5.03); paths it
 *                      holds keep working; undrain RELAY ends it. Kept in
 *                      SQLite (relay_drain; answered after the COMMIT), so
 *                      it outlives restarts of the relay and of rd-frontend.
 *   config             rd-frontend's effective configuration
 * Owns nothing; reads the registry and relays table, changes them only for
 * delete and drain (both written to the store in the batch). Also the drain check of RD requests
 * (ctl_drain_refuses).
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "clone_client.h"
#include "frontend.h"
#include "log.h"

#define CTL_TEXT_MAX 65000 /* a CTL_RESPONSE str is u16-length prefixed */

static json_t *jtime(uint64_t unix_ms)
{
    char ts[40];

    if (!unix_ms)
        return json_null();
    rd_rfc3339(unix_ms, ts, sizeof(ts));
    return json_string(ts);
}

static uint64_t counter(const struct rd_relay *rl, const char *name, bool *found)
{
    for (unsigned j = 0; j < rl->ncounters; j++)
        if (strcmp(rl->cname[j], name) == 0) {
            if (found)
                *found = true;
            return rl->cval[j];
        }
    if (found)
        *found = false;
    return 0;
}

static json_t *relay_json(const struct frontend *fe, const struct rd_relay *rl)
{
    uint64_t seen = rl->status_at > rl->hello_at ? rl->status_at : rl->hello_at;
    json_t *o = json_object(), *cs = json_object();
    bool has_conns, has_routes;
    char epoch[20];

    json_object_set_new(o, "name", json_string(rl->name));
    json_object_set_new(o, "transport", json_string(proto_transport_name(rl->transport)));
    json_object_set_new(o, "pid", json_integer(rl->pid));
    json_object_set_new(o, "protocol", json_integer(rl->version));
    json_object_set_new(o, "age_ms",
                        json_integer(seen && fe->now > seen ? (json_int_t)(fe->now - seen) : 0));
    json_object_set_new(o, "up_since", jtime(counter(rl, "start_ms", NULL)));
    snprintf(epoch, sizeof(epoch), "%016" PRIx64, counter(rl, "epoch", NULL));
    json_object_set_new(o, "epoch", json_string(epoch));
    json_object_set_new(o, "seq", json_integer((json_int_t)counter(rl, "seq", NULL)));
    uint64_t routes = counter(rl, "routes", &has_routes);
    json_object_set_new(o, "routes", has_routes ? json_integer((json_int_t)routes) : json_null());
    json_object_set_new(o, "synced", json_boolean(counter(rl, "synced", NULL)));
    uint64_t conns = counter(rl, "connections", &has_conns);
    json_object_set_new(o, "connections",
                        has_conns ? json_integer((json_int_t)conns) : json_null());
    json_object_set_new(o, "last_resync", jtime(counter(rl, "last_resync_ms", NULL)));
    bool has_reason;
    uint64_t reason = counter(rl, "last_resync_reason", &has_reason);
    json_object_set_new(
        o, "last_resync_reason",
        json_string(clone_resync_reason_name(has_reason ? (unsigned)reason : CLONE_RS_N)));
    json_object_set_new(o, "draining", json_boolean(rl->draining));
    for (unsigned j = 0; j < rl->ncounters; j++)
        json_object_set_new(cs, rl->cname[j], json_integer((json_int_t)rl->cval[j]));
    json_object_set_new(o, "counters", cs);
    return o;
}

json_t *ctl_status_json(struct frontend *fe)
{
    size_t live = 0, proxied = 0, expired = 0;
    unsigned pending = 0, snaps_active = 0;
    json_t *o = json_object(), *rls = json_array();
    char epoch[20];

    for (unsigned i = 0; i < RD_MAX_RELAYS; i++)
        snaps_active += fe->snaps[i].active;
    for (const struct rd_pending *pd = fe->pending; pd; pd = pd->next)
        pending++;
    for (const struct rd_reg *r = fe->reg.first; r; r = r->next) {
        if (lookup_reg_live(fe, r)) {
            live++;
            proxied += r->host[0] != '\0';
        } else {
            expired++;
        }
    }
    snprintf(epoch, sizeof(epoch), "%016" PRIx64, fe->epoch);
#define SETI(k, v) json_object_set_new(o, k, json_integer((json_int_t)(v)))
    json_object_set_new(o, "process", json_string("rd-frontend"));
    json_object_set_new(o, "up_since", jtime(fe->start_wall_ms));
    SETI("registrations", live);
    SETI("expired_in_grace", expired);
    SETI("proxied", proxied);
    SETI("observers", fe->nobservers);
    SETI("pending_simple", pending);
    json_object_set_new(o, "epoch", json_string(epoch));
    SETI("seq", fe->seq);
    SETI("requests", fe->requests);
    SETI("pub_eagain", fe->pub_eagain);
    SETI("router_eagain", fe->router_eagain);
    SETI("router_unroutable", fe->router_unroutable);
    SETI("snapshots_active", snaps_active);
    SETI("snapshots_merged", fe->snaps_merged);
    SETI("snapshot_hwm_pauses", fe->snap_hwm_pauses);
    SETI("snapshots_aborted", fe->snaps_aborted);
#undef SETI
    lim_status_json(fe, o);
    /* what each relay's counters.route_digest must equal (route_digest.h) */
    json_object_set_new(o, "route_digest", json_integer((json_int_t)fe_route_digest(fe)));
    for (unsigned i = 0; i < fe->nrelays; i++)
        json_array_append_new(rls, relay_json(fe, &fe->relays[i]));
    json_object_set_new(o, "relays", rls);
    return o;
}

static json_t *reg_json(const struct frontend *fe, const struct rd_reg *r, bool full)
{
    json_t *o = json_object();
    char path[40], a[RR_ADDRSTRLEN];

    snprintf(path, sizeof(path), "/reg/%" PRId64, r->id);
    json_object_set_new(o, "ep", json_string(r->ep));
    json_object_set_new(o, "d", json_string(r->d));
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "host", json_string(r->host));
    json_object_set_new(o, "base", json_string(r->base));
    json_object_set_new(o, "port", json_integer(r->port)); /* hosting port, 0 = none */
    json_object_set_new(o, "transport", json_string(proto_transport_name(r->peer.transport)));
    json_object_set_new(o, "relay", json_string(proto_relay_name(r->peer.relay)));
    json_object_set_new(o, "expires", jtime(r->expires_at));
    json_object_set_new(o, "expired", json_boolean(!lookup_reg_live(fe, r)));
    json_object_set_new(o, "reachable", json_boolean(!r->unreachable));
    if (!full)
        return o;
    json_object_set_new(o, "lt", json_integer(r->lt));
    struct rr_addr remote = cpeer_addr(&r->peer.remote), local = cpeer_addr(&r->peer.local);
    json_object_set_new(o, "peer", json_string(addr_to_str(&remote, a, sizeof(a))));
    json_object_set_new(o, "local", json_string(addr_to_str(&local, a, sizeof(a))));
    json_object_set_new(o, "conn_id", json_integer((json_int_t)r->peer.conn_id));
    json_object_set_new(o, "ka", r->ka == RR_KA_DEFAULT ? json_null() : json_integer(r->ka));
    json_object_set_new(o, "unreachable_since", jtime(r->unreachable ? r->unreachable_since : 0));
    json_t *attrs = json_object();
    for (unsigned i = 0; i < r->nattrs; i++)
        json_object_set_new(attrs, r->attrs[i].name,
                            r->attrs[i].has_value ? json_string(r->attrs[i].value) : json_true());
    json_object_set_new(o, "attributes", attrs);
    json_object_set_new(o, "links", json_stringn(r->links ? r->links : "", r->links_len));
    return o;
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return n == 0;
}

static json_t *list_json(struct frontend *fe, const char *filter)
{
    json_t *arr = json_array();
    char path[40];

    for (const struct rd_reg *r = fe->reg.first; r; r = r->next) {
        snprintf(path, sizeof(path), "/reg/%" PRId64, r->id);
        if (filter && *filter && !contains_ci(r->ep, filter) && !contains_ci(r->d, filter) &&
            !contains_ci(r->host, filter) && strcmp(path, filter) != 0)
            continue;
        json_array_append_new(arr, reg_json(fe, r, false));
    }
    return arr;
}

/* /reg/N, N, a host name or an endpoint name; NULL and why. */
static struct rd_reg *find_reg(struct frontend *fe, const char *which, char *err, size_t len)
{
    const char *num = strncmp(which, "/reg/", 5) == 0 ? which + 5 : which;
    char *end;
    long long id = strtoll(num, &end, 10);
    struct rd_reg *hit = NULL;
    unsigned n = 0;

    if (*num && (*end == '\0' || strcmp(end, "/") == 0) && id > 0) {
        if ((hit = registry_by_id(&fe->reg, id)) == NULL)
            snprintf(err, len, "no registration %s", which);
        return hit;
    }
    for (struct rd_reg *r = fe->reg.first; r; r = r->next) {
        if (strcasecmp(r->host, which) == 0)
            return r;
        if (strcmp(r->ep, which) == 0) {
            hit = r;
            n++;
        }
    }
    if (n > 1) {
        snprintf(err, len, "%u registrations have ep \"%s\" (other sectors): name the path", n,
                 which);
        return NULL;
    }
    if (!hit)
        snprintf(err, len, "no registration with path, host or ep \"%s\"", which);
    return hit;
}

static struct rd_relay *find_relay(struct frontend *fe, const char *name)
{
    for (unsigned i = 0; i < fe->nrelays; i++)
        if (strcmp(fe->relays[i].name, name) == 0)
            return &fe->relays[i];
    return NULL;
}

static void cfg_item(void *arg, const char *name, const char *value, bool is_default)
{
    (void)is_default;
    json_object_set_new(arg, name, json_string(value));
}

/* Run one command: the JSON answer, or NULL and the refusal in err. */
static json_t *run(struct frontend *fe, const char *cmd, const char *arg, char *err, size_t len)
{
    if (strcmp(cmd, "status") == 0)
        return ctl_status_json(fe);
    if (strcmp(cmd, "list") == 0 || strcmp(cmd, "search") == 0)
        return list_json(fe, arg);
    if (strcmp(cmd, "config") == 0) {
        json_t *o = json_object();
        config_foreach(&fe->cfg, cfg_item, o);
        return o;
    }
    if (strcmp(cmd, "show") == 0 || strcmp(cmd, "delete") == 0) {
        struct rd_reg *r;
        if (!*arg) {
            snprintf(err, len, "%s needs a registration (path, host or ep)", cmd);
            return NULL;
        }
        if ((r = find_reg(fe, arg, err, len)) == NULL)
            return NULL;
        json_t *o = reg_json(fe, r, true);
        if (cmd[0] == 'd') {
            log_info("rdrelayctl: deleting %s (ep=%s)",
                     json_string_value(json_object_get(o, "path")), r->ep);
            rd_delete_reg(fe, r, "deleted by rdrelayctl");
            json_object_set_new(o, "deleted", json_true());
        }
        return o;
    }
    if (strcmp(cmd, "drain") == 0 || strcmp(cmd, "undrain") == 0) {
        struct rd_relay *rl = *arg ? find_relay(fe, arg) : NULL;
        if (!rl) {
            snprintf(err, len, "%s needs the name of a relay rd-frontend has heard from", cmd);
            return NULL;
        }
        bool on = cmd[0] == 'd';
        if (store_drain(fe->store, rl->name, on) < 0) {
            snprintf(err, len, "%s %s: the store refused it (see rd-frontend's log)", cmd,
                     rl->name);
            return NULL;
        }
        rl->draining = on;
        log_info("rdrelayctl: relay %s %s", rl->name,
                 rl->draining ? "draining: no new registrations through it" : "no longer draining");
        return relay_json(fe, rl);
    }
    snprintf(err, len,
             "unknown command \"%s\" (status, list, search, show, delete, drain, undrain, config)",
             cmd);
    return NULL;
}

void ctl_command(struct frontend *fe, const uint8_t *ident, size_t idlen, const char *cmd,
                 const char *arg)
{
    char err[200] = "", *text = NULL;
    json_t *j = run(fe, cmd, arg, err, sizeof(err));
    bool ok = j != NULL;
    struct wire_w w;

    if (j) {
        text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (!text || strlen(text) > CTL_TEXT_MAX) {
            ok = false;
            snprintf(err, sizeof(err), "answer too large (narrow it: list TEXT)");
        }
    }
    const char *out = ok ? text : err;
    size_t n = strlen(out);
    uint8_t *body = malloc(n + 16);
    if (body != NULL) {
        const struct rr_msg_ctl_response m = {.ok = ok, .text = {(const uint8_t *)out, n}};
        wire_w_init(&w, body, n + 16);
        if (proto_enc_ctl_response(&w, &m) == 0)
            fe_queue(fe, false, ident, idlen, RR_MSG_CTL_RESPONSE, body, w.len);
        free(body);
    }
    free(text);
}

bool ctl_command_writes(const char *cmd)
{
    return strcmp(cmd, "delete") == 0 || strcmp(cmd, "drain") == 0 || strcmp(cmd, "undrain") == 0;
}

static void drain_loaded(const char *relay, void *arg)
{
    struct rd_relay *rl = ctl_relay_get(arg, relay);

    if (rl) {
        rl->draining = true;
        log_info("relay %s is draining (rdrelayctl drain, kept in the store)", relay);
    }
}

int ctl_drains_load(struct frontend *fe)
{
    return store_load_drains(fe->store, drain_loaded, fe);
}

/*
 * A draining relay takes no new registrations: POST /rd for an (ep, d) not
 * registered yet, and simple registration, get 5.03 in out. Updates,
 * re-registrations and lookups pass. true when it answered.
 */
bool ctl_drain_refuses(struct frontend *fe, const uint8_t *ident, size_t idlen, const uint8_t *coap,
                       size_t len, struct strbuf *out)
{
    char name[RR_RELAY_NAME_MAX], err[128];
    struct coap_msg req;
    struct rd_params p;
    char segs[2][16];
    unsigned nseg = 0;
    bool simple;

    if (idlen == 0 || idlen >= sizeof(name))
        return false;
    memcpy(name, ident, idlen);
    name[idlen] = '\0';
    struct rd_relay *rl = find_relay(fe, name);
    if (!rl || !rl->draining || coap_msg_parse_udp(coap, len, &req) < 0 || req.code != COAP_POST)
        return false;
    for (const struct coap_msg_opt *o = coap_msg_find(&req, COAP_OPT_URI_PATH); o;
         o = coap_msg_find_next(&req, o)) {
        if (nseg == 2 || o->len >= sizeof(segs[0]))
            return false;
        memcpy(segs[nseg], o->val, o->len);
        segs[nseg++][o->len] = '\0';
    }
    simple = nseg == 2 && strcmp(segs[0], ".well-known") == 0 &&
             (strcmp(segs[1], "rd") == 0 || strcmp(segs[1], "core") == 0);
    if (!simple) {
        if (nseg != 1 || strcmp(segs[0], "rd") != 0)
            return false;
        if (rd_params_parse(&req, &p, err, sizeof(err)) < 0 || !p.has_ep ||
            registry_by_epd(&fe->reg, p.ep, p.d) != NULL)
            return false; /* let the RD answer it as always */
    }
    struct rd_reply reply;
    rd_reply_init(&reply);
    rd_reply_error(&reply, COAP_SERVICE_UNAVAILABLE,
                   "relay %s is draining: register through another one", name);
    int rc = rd_reply_serialize(&reply, &req, RD_DEFAULT_BLOCK_SZX, out);
    rd_reply_free(&reply);
    return rc == 0;
}
