/*
 * stream_xfwd.c - a stream relay as the holder of cross-transport forwarding
 * (common/proto.h, "Cross-transport forwarding"). The sockets, decoding,
 * checks and status codes are the relay core's (relay-core/xfwd.c): here
 * another relay's request for a route on one of our connections goes to
 * the registrant over it (UNREACHABLE when the connection is gone), and
 * every response goes back as XFWD_RESPONSE; an XFWD_CANCEL ends the
 * exchange (an observation is deregistered at the registrant).
 * Talks to the core, stream_proxy.c (the upstream exchanges), stream_exch.c, stream_conn.c.
 */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "proto_msg.h"
#include "stream.h"

static void send_status(struct st_relay *r, const struct rc_xreq *x, uint8_t status)
{
    rc_xfwd_send_response(&r->core, x->id, x->idlen, x->req_id, status, NULL, 0, RR_XK_ACK);
}

void st_xfwd_answer(struct st_relay *r, uint32_t ui, uint8_t status, const struct coap_msg *m)
{
    struct st_ux *u = &r->ux[ui];
    uint8_t *coap = r->core.coapbuf;
    ssize_t n = 0;

    if (status == RR_EP_OK) {
        struct coap_msg a = *m;
        a.type = COAP_T_ACK;
        a.msgid = 0;
        n = coap_msg_serialize_udp(&a, coap, RC_COAP_MAX);
        if (n < 0) {
            status = RR_EP_UNREACHABLE;
            n = 0;
        }
    }
    /* a plain answer is ACK (piggybacked); a notification CON, so a UDP
     * requester sends it on confirmable and learns when its client left */
    uint8_t kind = status == RR_EP_OK && u->h.observe_req && COAP_CODE_CLASS(m->code) == 2 &&
                           coap_msg_find(m, COAP_OPT_OBSERVE)
                       ? RR_XK_CON
                       : RR_XK_ACK;
    if (rc_xfwd_send_response(&r->core, u->h.xid, u->h.xid_len, u->h.req_id, status, coap,
                              (size_t)n, kind) < 0 &&
        errno == EHOSTUNREACH && u->h.state == UX_OBSERVE) {
        /* the requesting relay is gone: so is its client */
        log_debug("XFWD requester gone: ending observation of %s", u->h.host);
        st_proxy_end_observation(r, ui, 0);
    }
}

void st_xfwd_on_request(void *tp, const struct rc_xreq *x, struct coap_msg *m,
                        const struct rr_route *route, uint64_t now)
{
    struct st_relay *r = tp;

    uint32_t ci = st_conn_find(r, route->path.conn_id);
    if (ci == ST_NONE) {
        send_status(r, x, RR_EP_UNREACHABLE);
        return;
    }
    uint32_t ui = st_ux_alloc(r);
    if (ui == ST_NONE) {
        r->core.c.no_slot++;
        send_status(r, x, RR_EP_UNREACHABLE);
        return;
    }
    struct st_ux *u = &r->ux[ui];
    const struct coap_msg_opt *obs = coap_msg_find(m, COAP_OPT_OBSERVE);
    u->h.origin = UX_O_XFWD;
    u->h.req_id = x->req_id;
    u->h.xid_len = (uint8_t)x->idlen;
    memcpy(u->h.xid, x->id, x->idlen);
    u->h.observe_req = obs && coap_opt_value_uint(obs) == 0;
    snprintf(u->h.host, sizeof(u->h.host), "%s", x->host);
    if (st_ux_send_request(r, ui, m, ci, now) < 0) {
        st_ux_release(r, ui);
        send_status(r, x, RR_EP_UNREACHABLE);
        return;
    }
    r->core.c.proxied++;
    th_arm(&r->core.timers, &u->t, now + r->cfg.upstream_timeout_ms);
}

void st_xfwd_on_cancel(void *tp, const struct rc_xreq *x, uint64_t now)
{
    struct st_relay *r = tp;

    /* rare (a client left or cancelled): a scan is fine */
    for (uint32_t i = 0; i < r->nux; i++) {
        struct st_ux *u = &r->ux[i];
        if (u->h.state != UX_FREE && u->h.origin == UX_O_XFWD && u->h.req_id == x->req_id &&
            u->h.xid_len == x->idlen && memcmp(u->h.xid, x->id, x->idlen) == 0) {
            if (u->h.state == UX_CANCEL)
                return;
            /* nothing more goes to the requester; an observation is ended
             * at the registrant, a plain request's answer is dropped */
            st_proxy_end_observation(r, i, now);
            return;
        }
    }
}
