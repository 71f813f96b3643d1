/*
 * amp_udp.c - the amplification limit where relay-udp answers (RFC 9175
 * §2.4; the Echo values and the verified-source table are the relay core's,
 * relay-core/amplify.h). Every answer to a client leaves through dx_answer,
 * which asks here first: discovery, lookups, proxied and separate
 * responses, Observe notifications and Block2 slices alike. Owns nothing.
 * An unsafe proxied request (not GET/FETCH) from an unverified source is
 * challenged before it is forwarded instead (dx_amp_prechallenge): were its
 * answer challenged, the repeat would run the method at the origin twice.
 */
#include "log.h"
#include "relay.h"

/* An RD notification answers no request of its own (the observation was
 * registered by an earlier one the relay does not keep); take the smallest
 * request that can register a lookup observation (header, Observe and a
 * Uri-Path "rd-lookup/ep"). */
#define AMP_NOTIFY_REQ_MIN 20

static size_t amp_replace(struct relay *r, struct dexch *d, size_t req_len, size_t len,
                          uint64_t now)
{
    char a[RR_ADDRSTRLEN];
    log_debug("amplification: %zu-byte answer (code %u.%02u) to a %zu-byte request from "
              "unverified %s",
              len, COAP_CODE_CLASS(d->out.buf[1]), COAP_CODE_DETAIL(d->out.buf[1]), req_len,
              addr_to_str(&d->peer, a, sizeof(a)));
    uint8_t type = (uint8_t)((d->out.buf[0] >> 4) & 3);
    uint16_t msgid = (uint16_t)(d->out.buf[2] << 8 | d->out.buf[3]);
    size_t n =
        rc_amp_challenge(&r->amp, &d->peer, type, msgid, d->h.token, d->h.tkl, now, d->out.buf);

    if (n > (size_t)r->amp.factor * req_len) {
        r->amp.c.dropped++; /* a tiny request: even the challenge is too much */
        return 0;
    }
    return n;
}

/* An error answer keeps its code and options and has its diagnostic cut
 * to what fits in max bytes (at a UTF-8 character boundary; the payload
 * marker goes when nothing is left) rather than being challenged: the
 * error arrives at once, and a request that already ran (an update, a
 * delete) is not run a second time by the client's repeat. A 5.08 grows by
 * one address per hop (RFC 8768). The new length, or len when it cannot
 * be cut to max. */
static size_t amp_error_cut(const struct dexch *d, size_t len, size_t max)
{
    struct coap_msg m;

    if (COAP_CODE_CLASS(d->out.buf[1]) < 4 || coap_msg_parse_udp(d->out.buf, len, &m) < 0 ||
        m.payload_len == 0)
        return len;
    size_t head = (size_t)(m.payload - d->out.buf); /* through the marker */
    if (head - 1 > max)
        return len;
    if (head + 1 > max)
        return head - 1; /* no room for even one byte: no payload */
    size_t keep = max - head;
    while (keep > 0 && (m.payload[keep] & 0xc0) == 0x80)
        keep--; /* not inside a UTF-8 sequence */
    return keep ? head + keep : head - 1;
}

size_t dx_amp_limit(struct relay *r, uint32_t i, size_t len, uint64_t now)
{
    struct dexch *d = &r->dx[i];

    if (rc_amp_allows(&r->amp, &d->peer, d->req_len, len, now))
        return len;
    size_t cut = amp_error_cut(d, len, (size_t)r->amp.factor * d->req_len);
    if (cut < len)
        return cut;
    return amp_replace(r, d, d->req_len, len, now);
}

size_t dx_amp_limit_notify(struct relay *r, uint32_t i, size_t len, uint64_t now)
{
    struct dexch *d = &r->dx[i];

    if (rc_amp_allows(&r->amp, &d->peer, AMP_NOTIFY_REQ_MIN, len, now))
        return len;
    return amp_replace(r, d, AMP_NOTIFY_REQ_MIN, len, now);
}

int dx_amp_prechallenge(struct relay *r, uint32_t i, const struct coap_msg *m, uint64_t now)
{
    struct dexch *d = &r->dx[i];
    uint8_t b[RC_AMP_CHALLENGE_MAX];

    if (r->amp.factor == 0 || m->code == COAP_GET || m->code == COAP_FETCH ||
        rc_amp_is_verified(&r->amp, &d->peer, now))
        return 0;
    /* header fields are dx_answer's to set; only code, token and Echo count */
    size_t n = rc_amp_challenge(&r->amp, &d->peer, COAP_T_ACK, 0, d->h.token, d->h.tkl, now, b);
    dx_answer(r, i, b, n, 0xff, true, now);
    return 1;
}
