/*
 * ctl.c - everything that arrives on rd-frontend's ROUTER socket, and the
 * outbox through which everything leaves.
 * Owns: the relays table (HELLO, RELAY_STATUS), the response cache
 * ((relay, req_id) -> response bytes, the last RD_CACHE_SIZE answers, so a
 * relay's re-sent RD_REQUEST is answered, not executed twice), and the
 * outbox (messages of the current batch, sent by ctl_flush only after
 * main.c committed the batch: nothing is acknowledged before it is durable).
 * The dispatcher is a flat switch on the message type: decode, length-check,
 * call one function. A malformed message is logged and dropped.
 * rdrelayctl's commands are ctl_cmd.c's; RD requests and answers are
 * counted here for the metrics (metrics.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "addr.h"
#include "frontend.h"
#include "log.h"

static void send_one(struct frontend *fe, bool pub, const uint8_t *ident, size_t idlen,
                     uint16_t type, const uint8_t *body, size_t len)
{
    void *sock = pub ? fe->pub : fe->router;

    if (sock == NULL)
        return;
    if (proto_send(sock, pub ? NULL : ident, idlen, type, body, len) == 0)
        return;
    if (errno == EAGAIN) {
        /* high-water mark: counted; PUB subscribers see the seq gap and resync */
        if (pub)
            fe->pub_eagain++;
        else
            fe->router_eagain++;
    } else if (errno == EHOSTUNREACH) {
        fe->router_unroutable++;
        log_debug("%s to %.*s: peer not connected", proto_msg_name(type), (int)idlen,
                  (const char *)ident);
    } else {
        log_warn("send %s", proto_msg_name(type));
    }
}

void fe_queue(struct frontend *fe, bool pub, const uint8_t *ident, size_t idlen, uint16_t type,
              const uint8_t *body, size_t len)
{
    struct rd_out *o;

    if (fe->send_now && fe->router != NULL) {
        send_one(fe, pub, ident, idlen, type, body, len);
        return;
    }
    o = calloc(1, sizeof(*o));

    if (o == NULL || idlen > RD_IDENT_MAX || (len && (o->body = malloc(len)) == NULL)) {
        log_warnx("outbox: out of memory, %s dropped", proto_msg_name(type));
        free(o);
        return;
    }
    o->pub = pub;
    if (idlen)
        memcpy(o->ident, ident, idlen);
    o->idlen = idlen;
    o->type = type;
    if (len)
        memcpy(o->body, body, len);
    o->len = len;
    if (fe->out_tail)
        fe->out_tail->next = o;
    else
        fe->out_head = o;
    fe->out_tail = o;
    fe->nout++;
}

void fe_outbox_clear(struct frontend *fe)
{
    struct rd_out *o, *next;

    for (o = fe->out_head; o; o = next) {
        next = o->next;
        free(o->body);
        free(o);
    }
    fe->out_head = fe->out_tail = NULL;
    fe->nout = 0;
}

void ctl_flush(struct frontend *fe)
{
    for (struct rd_out *o = fe->out_head; o; o = o->next)
        send_one(fe, o->pub, o->ident, o->idlen, o->type, o->body, o->len);
    fe_outbox_clear(fe);
}

bool ctl_read_only(uint16_t type, const uint8_t *body, size_t len)
{
    struct rr_msg_rd_request m;
    struct wire_r r;

    if (type == RR_MSG_CTL_REQUEST) {
        struct rr_msg_ctl_request q;
        wire_r_init(&r, body, len);
        return proto_dec_ctl_request(&r, &q) < 0 || !ctl_command_writes(q.command);
    }
    if (type != RR_MSG_RD_REQUEST)
        return false;
    wire_r_init(&r, body, len);
    if (proto_dec_rd_request(&r, &m) < 0 || m.coap.len < 2)
        return false;
    /* CoAP code byte: 0.01 GET and 0.05 FETCH change nothing here */
    return m.coap.p[1] == 0x01 || m.coap.p[1] == 0x05;
}

/* --- response cache --- */

const struct rd_cache_ent *ctl_cache_find(const struct frontend *fe, const uint8_t *ident,
                                          size_t idlen, uint64_t req_id)
{
    for (unsigned i = 0; i < RD_CACHE_SIZE; i++) {
        const struct rd_cache_ent *c = &fe->cache[i];
        if (c->resp && c->req_id == req_id && c->idlen == idlen &&
            memcmp(c->ident, ident, idlen) == 0)
            return c;
    }
    return NULL;
}

void ctl_cache_put(struct frontend *fe, const uint8_t *ident, size_t idlen, uint64_t req_id,
                   const uint8_t *resp, size_t len)
{
    struct rd_cache_ent *c = &fe->cache[fe->cache_next];
    uint8_t *copy;

    if (idlen > RD_IDENT_MAX || (copy = malloc(len ? len : 1)) == NULL)
        return;
    memcpy(copy, resp, len);
    free(c->resp);
    memcpy(c->ident, ident, idlen);
    c->idlen = idlen;
    c->req_id = req_id;
    c->resp = copy;
    c->resp_len = len;
    fe->cache_next = (fe->cache_next + 1) % RD_CACHE_SIZE;
}

void ctl_cache_free(struct frontend *fe)
{
    for (unsigned i = 0; i < RD_CACHE_SIZE; i++) {
        free(fe->cache[i].resp);
        fe->cache[i].resp = NULL;
    }
}

static void queue_response(struct frontend *fe, const uint8_t *ident, size_t idlen, uint64_t req_id,
                           const uint8_t *resp, size_t len)
{
    uint8_t body[2048];
    struct wire_w w;
    const struct rr_msg_rd_response m = {.req_id = req_id, .coap = {resp, len}};

    wire_w_init(&w, body, sizeof(body));
    if (proto_enc_rd_response(&w, &m) < 0) {
        log_warnx("RD_RESPONSE %" PRIu64 " too large (%zu bytes)", req_id, len);
        return;
    }
    fe_queue(fe, false, ident, idlen, RR_MSG_RD_RESPONSE, body, w.len);
}

void ctl_send_response(struct frontend *fe, const uint8_t *ident, size_t idlen, uint64_t req_id,
                       const uint8_t *resp, size_t len)
{
    if (len >= 2)
        fe->mx_resp[resp[1]]++; /* metrics: answers by code */
    ctl_cache_put(fe, ident, idlen, req_id, resp, len);
    queue_response(fe, ident, idlen, req_id, resp, len);
}

/* --- relays --- */

struct rd_relay *ctl_relay_get(struct frontend *fe, const char *name)
{
    for (unsigned i = 0; i < fe->nrelays; i++)
        if (strcmp(fe->relays[i].name, name) == 0)
            return &fe->relays[i];
    if (fe->nrelays == RD_MAX_RELAYS)
        return NULL;
    struct rd_relay *r = &fe->relays[fe->nrelays++];
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    return r;
}

static bool pending_exists(const struct frontend *fe, const uint8_t *ident, size_t idlen,
                           uint64_t req_id)
{
    for (const struct rd_pending *pd = fe->pending; pd; pd = pd->next)
        if (pd->req_id == req_id && pd->idlen == idlen && memcmp(pd->ident, ident, idlen) == 0)
            return true;
    return false;
}

static void on_rd_request(struct frontend *fe, const uint8_t *ident, size_t idlen,
                          const struct rr_msg_rd_request *m)
{
    const struct rd_cache_ent *c;
    struct strbuf out;

    if ((c = ctl_cache_find(fe, ident, idlen, m->req_id)) != NULL) {
        fe->mx_cache_hits++;
        queue_response(fe, ident, idlen, m->req_id, c->resp, c->resp_len);
        return;
    }
    if (pending_exists(fe, ident, idlen, m->req_id))
        return; /* still fetching the endpoint's links: answer comes later */
    if (m->coap.len >= 2)
        fe->mx_req[m->coap.p[1] < 8 ? m->coap.p[1] : 0]++; /* metrics: by method */
    sb_init(&out);
    if (ctl_drain_refuses(fe, ident, idlen, m->coap.p, m->coap.len, &out)) {
        ctl_send_response(fe, ident, idlen, m->req_id, (const uint8_t *)out.buf, out.len);
        sb_free(&out);
        return;
    }
    switch (
        rd_handle_request(fe, ident, idlen, m->req_id, &m->peer, m->coap.p, m->coap.len, &out)) {
    case RD_DONE:
        ctl_send_response(fe, ident, idlen, m->req_id, (const uint8_t *)out.buf, out.len);
        break;
    case RD_PENDING:
        break;
    default:
        log_warnx("RD_REQUEST %" PRIu64 ": not a CoAP request, dropped", m->req_id);
        break;
    }
    sb_free(&out);
}

/*
 * A relay that (re)started knows none of its old verdicts: REACHABILITY is
 * a one-shot message, and a relay re-announces every host it holds as
 * unreachable after each HELLO (a lost "reachable again" would otherwise
 * mark a route unreachable until the endpoint registers anew). So the
 * verdicts of its previous run are dropped here and its new ones follow.
 */
static void forget_reachability(struct frontend *fe, const char *relay)
{
    size_t n = 0;

    for (struct rd_reg *r = fe->reg.first; r; r = r->next) {
        if (r->unreachable && strcmp(proto_relay_name(r->peer.relay), relay) == 0) {
            r->unreachable = false;
            r->unreachable_since = 0;
            r->reachable_since = fe->now;
            n++;
        }
    }
    if (n) {
        log_info("relay %s restarted: %zu unreachable marks dropped until it re-announces", relay,
                 n);
        fe->dirty = true;
    }
}

static void on_hello(struct frontend *fe, const struct rr_msg_hello *m)
{
    struct rd_relay *rl = ctl_relay_get(fe, m->relay);

    if (rl == NULL)
        return;
    if (m->version != RR_PROTO_VERSION)
        log_warnx("relay %s speaks protocol version %u, rd-frontend version %u: upgrade one side",
                  m->relay, m->version, RR_PROTO_VERSION);
    if (rl->pid != m->pid)
        forget_reachability(fe, m->relay);
    rl->transport = m->transport;
    rl->pid = m->pid;
    rl->version = m->version;
    rl->hello_at = fe->now;
    log_info("relay %s (%s, pid %u, protocol %u) connected", m->relay,
             proto_transport_name(m->transport), m->pid, m->version);
}

static void on_relay_status(struct frontend *fe, const struct rr_msg_relay_status *m)
{
    struct rd_relay *rl = ctl_relay_get(fe, m->relay);

    if (rl == NULL)
        return;
    rl->ncounters = 0;
    for (unsigned i = 0; i < m->n && rl->ncounters < RD_MAX_COUNTERS; i++) {
        snprintf(rl->cname[rl->ncounters], sizeof(rl->cname[0]), "%s", m->c[i].name);
        rl->cval[rl->ncounters++] = m->c[i].value;
    }
    rl->status_at = fe->now;
}

void ctl_dispatch(struct frontend *fe, const uint8_t *ident, size_t idlen, uint16_t type,
                  const uint8_t *body, size_t len)
{
    /* one decoded message at a time; RELAY_STATUS is the big one */
    union {
        struct rr_msg_hello hello;
        struct rr_msg_snapshot_req snap;
        struct rr_msg_rd_request rdq;
        struct rr_msg_ep_response epr;
        struct rr_msg_observe_gone gone;
        struct rr_msg_reachability reach;
        struct rr_msg_relay_status status;
        struct rr_msg_ctl_request ctl;
    } m;
    struct wire_r r;
    int rc = -1;

    wire_r_init(&r, body, len);
    switch (type) {
    case RR_MSG_HELLO:
        if ((rc = proto_dec_hello(&r, &m.hello)) == 0)
            on_hello(fe, &m.hello);
        break;
    case RR_MSG_SNAPSHOT_REQ:
        if ((rc = proto_dec_snapshot_req(&r, &m.snap)) == 0)
            routes_snapshot(fe, ident, idlen, m.snap.snap_id);
        break;
    case RR_MSG_RD_REQUEST:
        if ((rc = proto_dec_rd_request(&r, &m.rdq)) == 0)
            on_rd_request(fe, ident, idlen, &m.rdq);
        break;
    case RR_MSG_EP_RESPONSE:
        if ((rc = proto_dec_ep_response(&r, &m.epr)) == 0)
            rd_on_ep_response(fe, m.epr.req_id, m.epr.status, m.epr.coap.p, m.epr.coap.len);
        break;
    case RR_MSG_OBSERVE_GONE:
        if ((rc = proto_dec_observe_gone(&r, &m.gone)) == 0 &&
            m.gone.token.len <= COAP_MSG_MAX_TOKEN)
            observe_gone(fe, &m.gone.peer, m.gone.token.p, m.gone.token.len);
        break;
    case RR_MSG_REACHABILITY:
        if ((rc = proto_dec_reachability(&r, &m.reach)) == 0) {
            fe->mx_reach[m.reach.reachable != 0]++; /* metrics */
            rd_on_reachability(fe, m.reach.host, m.reach.reachable != 0, m.reach.since_ms);
        }
        break;
    case RR_MSG_RELAY_STATUS:
        if ((rc = proto_dec_relay_status(&r, &m.status)) == 0)
            on_relay_status(fe, &m.status);
        break;
    case RR_MSG_CTL_REQUEST:
        if ((rc = proto_dec_ctl_request(&r, &m.ctl)) == 0)
            ctl_command(fe, ident, idlen, m.ctl.command, m.ctl.argument);
        break;
    default:
        log_warnx("unexpected %s (0x%04x) on the control socket, dropped", proto_msg_name(type),
                  type);
        return;
    }
    if (rc < 0)
        log_warnx("%s: malformed body, dropped", proto_msg_name(type));
}
