/*
 * amp_udp.c - the amplification limit where relay-udp answers (RFC 9175
 * §2.4; the Echo values and the verified-source table are the relay core's,
 * relay-core/amplify.h). Every answer to a client leaves through dx_answer,
 * which asks here first: discovery, lookups, proxied and separate
 * responses, Observe notifications and Block2 slices alike. Owns nothing.
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
    size_t n = rc_amp_challenge(&r->amp, &d->peer, type, msgid, d->token, d->tkl, now, d->out.buf);

    if (n > (size_t)r->amp.factor * req_len) {
        r->amp.c.dropped++; /* a tiny request: even the challenge is too much */
        return 0;
    }
    return n;
}

size_t dx_amp_limit(struct relay *r, uint32_t i, size_t len, uint64_t now)
{
    struct dexch *d = &r->dx[i];

    if (rc_amp_allows(&r->amp, &d->peer, d->req_len, len, now))
        return len;
    return amp_replace(r, d, d->req_len, len, now);
}

size_t dx_amp_limit_notify(struct relay *r, uint32_t i, size_t len, uint64_t now)
{
    struct dexch *d = &r->dx[i];

    if (rc_amp_allows(&r->amp, &d->peer, AMP_NOTIFY_REQ_MIN, len, now))
        return len;
    return amp_replace(r, d, AMP_NOTIFY_REQ_MIN, len, now);
}
