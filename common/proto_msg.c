/*
 * proto_msg.c - the encoder and decoder of every message body (proto_msg.h).
 * Owns nothing; never allocates. Talks to wire.c (field encoding) and
 * proto.c (peer and route). Each pair below lists the fields in wire order;
 * the layout is the one documented per type in proto.h.
 */
#include "proto_msg.h"

#include <string.h>

static int enc_done(const struct wire_w *w)
{
    return w->err ? -1 : 0;
}

static int dec_done(const struct wire_r *r)
{
    return r->err ? -1 : 0;
}

/* An optional trailing field is present when bytes are left after the
 * mandatory ones (an older sender stops before it). */
static bool dec_more(const struct wire_r *r)
{
    return !r->err && r->off < r->len;
}

static void put_bytes(struct wire_w *w, const struct rr_bytes *b)
{
    wire_put_bytes(w, b->p, b->len);
}

static void get_bytes(struct wire_r *r, struct rr_bytes *b)
{
    b->len = wire_get_bytes(r, &b->p);
}

/* The kind an older sender meant: its datagram's type bits. */
static uint8_t kind_of(const struct rr_bytes *coap)
{
    return coap->len ? (uint8_t)((coap->p[0] >> 4) & 3) : RR_XK_CON;
}

int proto_enc_route_update(struct wire_w *w, const struct rr_msg_route_update *m)
{
    wire_put_u64(w, m->epoch);
    wire_put_u64(w, m->seq);
    proto_put_route(w, &m->route);
    return enc_done(w);
}

int proto_dec_route_update(struct wire_r *r, struct rr_msg_route_update *m)
{
    m->epoch = wire_get_u64(r);
    m->seq = wire_get_u64(r);
    proto_get_route(r, &m->route);
    return dec_done(r);
}

int proto_enc_heartbeat(struct wire_w *w, const struct rr_msg_heartbeat *m)
{
    wire_put_u64(w, m->epoch);
    wire_put_u64(w, m->seq);
    wire_put_u32(w, m->interval_ms);
    return enc_done(w);
}

int proto_dec_heartbeat(struct wire_r *r, struct rr_msg_heartbeat *m)
{
    m->epoch = wire_get_u64(r);
    m->seq = wire_get_u64(r);
    m->interval_ms = wire_get_u32(r);
    return dec_done(r);
}

int proto_enc_hello(struct wire_w *w, const struct rr_msg_hello *m)
{
    wire_put_str(w, m->relay);
    wire_put_u8(w, m->transport);
    wire_put_u32(w, m->pid);
    wire_put_u8(w, RR_PROTO_VERSION); /* always this build's */
    return enc_done(w);
}

int proto_dec_hello(struct wire_r *r, struct rr_msg_hello *m)
{
    wire_get_str(r, m->relay, sizeof(m->relay));
    m->transport = wire_get_u8(r);
    m->pid = wire_get_u32(r);
    m->version = dec_more(r) ? wire_get_u8(r) : 1; /* the field came with version 1 */
    return dec_done(r);
}

int proto_enc_snapshot_req(struct wire_w *w, const struct rr_msg_snapshot_req *m)
{
    wire_put_u64(w, m->snap_id);
    return enc_done(w);
}

int proto_dec_snapshot_req(struct wire_r *r, struct rr_msg_snapshot_req *m)
{
    m->snap_id = wire_get_u64(r);
    return dec_done(r);
}

int proto_enc_rd_request(struct wire_w *w, const struct rr_msg_rd_request *m)
{
    wire_put_u64(w, m->req_id);
    proto_put_peer(w, &m->peer);
    put_bytes(w, &m->coap);
    return enc_done(w);
}

int proto_dec_rd_request(struct wire_r *r, struct rr_msg_rd_request *m)
{
    m->req_id = wire_get_u64(r);
    proto_get_peer(r, &m->peer);
    get_bytes(r, &m->coap);
    return dec_done(r);
}

int proto_enc_ep_response(struct wire_w *w, const struct rr_msg_ep_response *m)
{
    wire_put_u64(w, m->req_id);
    wire_put_u8(w, m->status);
    put_bytes(w, &m->coap);
    return enc_done(w);
}

int proto_dec_ep_response(struct wire_r *r, struct rr_msg_ep_response *m)
{
    m->req_id = wire_get_u64(r);
    m->status = wire_get_u8(r);
    get_bytes(r, &m->coap);
    return dec_done(r);
}

int proto_enc_observe_gone(struct wire_w *w, const struct rr_msg_observe_gone *m)
{
    proto_put_peer(w, &m->peer);
    put_bytes(w, &m->token);
    return enc_done(w);
}

int proto_dec_observe_gone(struct wire_r *r, struct rr_msg_observe_gone *m)
{
    proto_get_peer(r, &m->peer);
    get_bytes(r, &m->token);
    return dec_done(r);
}

int proto_enc_reachability(struct wire_w *w, const struct rr_msg_reachability *m)
{
    wire_put_str(w, m->host);
    wire_put_u8(w, m->reachable);
    wire_put_u64(w, m->since_ms);
    return enc_done(w);
}

int proto_dec_reachability(struct wire_r *r, struct rr_msg_reachability *m)
{
    wire_get_str(r, m->host, sizeof(m->host));
    m->reachable = wire_get_u8(r);
    m->since_ms = wire_get_u64(r);
    return dec_done(r);
}

int proto_enc_relay_status(struct wire_w *w, const struct rr_msg_relay_status *m)
{
    uint16_t n = m->n > RR_STATUS_MAX ? RR_STATUS_MAX : m->n;

    wire_put_str(w, m->relay);
    wire_put_u16(w, n);
    for (uint16_t i = 0; i < n; i++) {
        wire_put_str(w, m->c[i].name);
        wire_put_u64(w, m->c[i].value);
    }
    return enc_done(w);
}

int proto_dec_relay_status(struct wire_r *r, struct rr_msg_relay_status *m)
{
    uint16_t n;
    char skip[RR_STATUS_NAME_MAX];

    wire_get_str(r, m->relay, sizeof(m->relay));
    n = wire_get_u16(r);
    m->n = 0;
    for (uint16_t i = 0; i < n && !r->err; i++) {
        struct rr_status_counter *c = m->n < RR_STATUS_MAX ? &m->c[m->n] : NULL;
        wire_get_str(r, c ? c->name : skip, RR_STATUS_NAME_MAX);
        uint64_t v = wire_get_u64(r);
        if (c && !r->err) {
            c->value = v;
            m->n++;
        }
    }
    return dec_done(r);
}

int proto_enc_snapshot_route(struct wire_w *w, const struct rr_msg_snapshot_route *m)
{
    wire_put_u64(w, m->snap_id);
    wire_put_u64(w, m->epoch);
    proto_put_route(w, &m->route);
    return enc_done(w);
}

int proto_dec_snapshot_route(struct wire_r *r, struct rr_msg_snapshot_route *m)
{
    m->snap_id = wire_get_u64(r);
    m->epoch = wire_get_u64(r);
    proto_get_route(r, &m->route);
    return dec_done(r);
}

int proto_enc_snapshot_end(struct wire_w *w, const struct rr_msg_snapshot_end *m)
{
    wire_put_u64(w, m->snap_id);
    wire_put_u64(w, m->epoch);
    wire_put_u64(w, m->seq);
    wire_put_u32(w, m->count);
    return enc_done(w);
}

int proto_dec_snapshot_end(struct wire_r *r, struct rr_msg_snapshot_end *m)
{
    m->snap_id = wire_get_u64(r);
    m->epoch = wire_get_u64(r);
    m->seq = wire_get_u64(r);
    m->count = wire_get_u32(r);
    return dec_done(r);
}

int proto_enc_rd_response(struct wire_w *w, const struct rr_msg_rd_response *m)
{
    wire_put_u64(w, m->req_id);
    put_bytes(w, &m->coap);
    return enc_done(w);
}

int proto_dec_rd_response(struct wire_r *r, struct rr_msg_rd_response *m)
{
    m->req_id = wire_get_u64(r);
    get_bytes(r, &m->coap);
    return dec_done(r);
}

int proto_enc_rd_notify(struct wire_w *w, const struct rr_msg_rd_notify *m)
{
    proto_put_peer(w, &m->peer);
    wire_put_u8(w, m->confirmable);
    put_bytes(w, &m->coap);
    return enc_done(w);
}

int proto_dec_rd_notify(struct wire_r *r, struct rr_msg_rd_notify *m)
{
    proto_get_peer(r, &m->peer);
    m->confirmable = wire_get_u8(r);
    get_bytes(r, &m->coap);
    return dec_done(r);
}

int proto_enc_ep_request(struct wire_w *w, const struct rr_msg_ep_request *m)
{
    wire_put_u64(w, m->req_id);
    proto_put_peer(w, &m->path);
    put_bytes(w, &m->coap);
    return enc_done(w);
}

int proto_dec_ep_request(struct wire_r *r, struct rr_msg_ep_request *m)
{
    m->req_id = wire_get_u64(r);
    proto_get_peer(r, &m->path);
    get_bytes(r, &m->coap);
    return dec_done(r);
}

int proto_enc_xfwd_request(struct wire_w *w, const struct rr_msg_xfwd_request *m)
{
    wire_put_u64(w, m->req_id);
    wire_put_str(w, m->host);
    put_bytes(w, &m->coap);
    wire_put_u8(w, m->kind);
    return enc_done(w);
}

int proto_dec_xfwd_request(struct wire_r *r, struct rr_msg_xfwd_request *m)
{
    m->req_id = wire_get_u64(r);
    wire_get_str(r, m->host, sizeof(m->host));
    get_bytes(r, &m->coap);
    m->kind = dec_more(r) ? wire_get_u8(r) : kind_of(&m->coap);
    return dec_done(r);
}

int proto_enc_xfwd_response(struct wire_w *w, const struct rr_msg_xfwd_response *m)
{
    wire_put_u64(w, m->req_id);
    wire_put_u8(w, m->status);
    put_bytes(w, &m->coap);
    wire_put_u8(w, m->kind);
    return enc_done(w);
}

int proto_dec_xfwd_response(struct wire_r *r, struct rr_msg_xfwd_response *m)
{
    m->req_id = wire_get_u64(r);
    m->status = wire_get_u8(r);
    get_bytes(r, &m->coap);
    m->kind = dec_more(r) ? wire_get_u8(r) : kind_of(&m->coap);
    return dec_done(r);
}

int proto_enc_xfwd_cancel(struct wire_w *w, const struct rr_msg_xfwd_cancel *m)
{
    wire_put_u64(w, m->req_id);
    return enc_done(w);
}

int proto_dec_xfwd_cancel(struct wire_r *r, struct rr_msg_xfwd_cancel *m)
{
    m->req_id = wire_get_u64(r);
    return dec_done(r);
}

int proto_enc_ctl_request(struct wire_w *w, const struct rr_msg_ctl_request *m)
{
    wire_put_str(w, m->command);
    wire_put_str(w, m->argument);
    return enc_done(w);
}

int proto_dec_ctl_request(struct wire_r *r, struct rr_msg_ctl_request *m)
{
    wire_get_str(r, m->command, sizeof(m->command));
    wire_get_str(r, m->argument, sizeof(m->argument));
    return dec_done(r);
}

int proto_enc_ctl_response(struct wire_w *w, const struct rr_msg_ctl_response *m)
{
    wire_put_u8(w, m->ok);
    put_bytes(w, &m->text);
    return enc_done(w);
}

int proto_dec_ctl_response(struct wire_r *r, struct rr_msg_ctl_response *m)
{
    m->ok = wire_get_u8(r);
    get_bytes(r, &m->text);
    return dec_done(r);
}
