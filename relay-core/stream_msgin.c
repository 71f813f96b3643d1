/*
 * stream_msgin.c - classification of every whole message a stream relay gets on a
 * connection (RFC 8323 §3-5): signals to stream_sig.c; nothing but a CSM before
 * the peer's CSM; requests to stream_rd.c or stream_proxy.c by Uri-Host (team
 * routing rules); responses from registrants to stream_proxy.c by relay token.
 * Owns no state; uses stream_exch.c's pools.
 */
#include <string.h>

#include "log.h"
#include "stream.h"

/* An answer without an exchange (no slot, or a malformed request). */
static void answer_stateless(struct st_relay *r, uint32_t ci, const uint8_t *tok, uint8_t tkl,
                             uint8_t code, const char *diag)
{
    struct coap_msg m;

    coap_msg_init(&m);
    m.code = code;
    m.tkl = tkl;
    memcpy(m.token, tok, tkl);
    m.payload = (const uint8_t *)diag;
    m.payload_len = strlen(diag);
    st_conn_send_msg(r, ci, &m);
}

static void on_request(struct st_relay *r, uint32_t ci, struct coap_msg *m, uint64_t now)
{
    uint32_t i = st_dx_alloc(r, ci, m, now);
    if (i == ST_NONE) {
        r->core.c.no_slot++;
        answer_stateless(r, ci, m->token, m->tkl, COAP_SERVICE_UNAVAILABLE,
                         "too many requests in flight");
        return;
    }
    if (!rc_dx_count_source(&r->core, i, &r->conns[ci].remote, now)) {
        r->core.tp->answer(r->core.tpa, i, COAP_SERVICE_UNAVAILABLE,
                           "too many requests in flight from this source", now);
        return;
    }
    /* a hosting port's connection: every request goes to its one route */
    if (r->conns[ci].mux_port)
        rc_port_request(&r->core, r->conns[ci].mux_port, i, m, now);
    else
        rc_on_request(&r->core, i, m, NULL, 0, now);
}

void st_msg_on_message(struct st_relay *r, uint32_t ci, const uint8_t *buf, size_t len,
                       uint64_t now)
{
    struct coap_msg m;
    struct st_conn *c = &r->conns[ci];

    if (r->io->parse(buf, len, &m) < 0) {
        /* the frame was sound, only its options are not: a request gets
         * 4.00, anything else is dropped; a bad first message aborts */
        if (!c->sig.peer_csm) {
            st_sig_abort(r, ci, "malformed CSM", 0, now);
            return;
        }
        uint8_t tkl = buf[0] & 0x0f;
        size_t hdr = 1 + ((buf[0] >> 4) == 13   ? 1
                          : (buf[0] >> 4) == 14 ? 2
                          : (buf[0] >> 4) == 15 ? 4
                                                : 0);
        if (len >= hdr + 1 + tkl && COAP_CODE_CLASS(buf[hdr]) == 0 && buf[hdr] != 0)
            answer_stateless(r, ci, buf + hdr + 1, tkl, COAP_BAD_REQUEST, "malformed message");
        return;
    }
    uint8_t cls = COAP_CODE_CLASS(m.code);
    if (cls == 7) {
        st_sig_on_message(r, ci, &m, now);
        return;
    }
    if (!c->sig.peer_csm) {
        st_sig_abort(r, ci, "the first message must be a CSM (RFC 8323 5.3)", 0, now);
        return;
    }
    if (m.code == COAP_EMPTY)
        return; /* RFC 8323 §3.2: an empty message is ignored */
    if (cls == 0) {
        on_request(r, ci, &m, now);
        return;
    }
    if (cls >= 2 && cls <= 5) {
        uint32_t ui = rc_ux_from_token(&r->core, m.token, m.tkl);
        if (ui == ST_NONE || r->ux[ui].conn != ci || r->ux[ui].conn_id != c->id) {
            log_debug("response with an unknown token on conn %llx dropped",
                      (unsigned long long)c->id);
            return;
        }
        st_proxy_on_upstream(r, ui, &m, now);
        return;
    }
    log_debug("message with reserved code class %u dropped", cls);
}
