/*
 * proxy.c - the proxy decision of the relay core (BRIEF §3.3), one copy for
 * every transport: the route lookup (clone client's table), "is this route
 * ours" (our transport and our relay name), whether its path is down (the
 * transport knows: UDP keepalive verdicts, TCP connections), the option
 * checks and Hop-Limit of common/fwd_rules, and the mapping of what fails to
 * 4.02 / 5.02 / 5.05 / 5.08 with a diagnostic. The transport then sends the
 * vetted request upstream on the route's path (RC_PROXY_LOCAL) or through
 * rc_xfwd_forward (RC_PROXY_XFWD). Before it, rc_on_request classifies
 * every client request (RD / proxy / answered here). Owns nothing; no I/O.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "fwd_rules.h"

void rc_msg_limit_503(struct coap_msg *a, uint32_t max_age, const char *diag, uint8_t age[4])
{
    coap_msg_init(a);
    a->code = COAP_SERVICE_UNAVAILABLE;
    coap_msg_add_opt_uint(a, COAP_OPT_MAX_AGE, max_age, age);
    a->payload = (const uint8_t *)diag;
    a->payload_len = strlen(diag);
}

bool rc_route_is_ours(const struct relay_core *c, const struct rr_route *rt)
{
    return rt->path.transport == c->tp->transport && strcmp(rt->path.relay, c->name) == 0;
}

void rc_fmt_rfc3339(uint64_t wall_ms, char *buf, size_t len)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void rc_unreachable_diag(uint64_t since_wall_ms, const char *suffix, char *buf, size_t len)
{
    char ts[32];

    if (since_wall_ms) {
        rc_fmt_rfc3339(since_wall_ms, ts, sizeof(ts));
        snprintf(buf, len, "registrant unreachable since %s%s", ts, suffix);
    } else {
        snprintf(buf, len, "registrant unreachable%s", suffix);
    }
}

void rc_on_request(struct relay_core *c, uint32_t slot, struct coap_msg *m, const uint8_t *raw,
                   size_t n, uint64_t now)
{
    char host[RR_HOST_MAX], diag[64];
    uint16_t bad = 0;
    enum fwd_verdict v = fwd_classify(m, c->cfg, host, sizeof(host), &bad);
    unsigned method = m->code < 8 ? m->code : 0;
    uint8_t code;

    switch (v) {
    case FWD_V_RD:
        c->c.req[RC_REQ_RD][method]++;
        c->tp->rd_request(c->tpa, slot, m, raw, n, now);
        break;
    case FWD_V_PROXY:
        c->c.req[RC_REQ_PROXY][method]++;
        c->tp->proxy_request(c->tpa, slot, m, host, now);
        break;
    default:
        c->c.req[RC_REQ_LOCAL][method]++;
        if (v == FWD_V_UNKNOWN_HOST)
            c->c.proxy_5_05++;
        code = fwd_verdict_answer(v, bad, diag, sizeof(diag));
        c->c.resp[RC_RESP_RELAY][code]++;
        c->tp->answer(c->tpa, slot, code, diag, now);
        break;
    }
}

static enum rc_proxy_verdict proxy_decide(struct relay_core *c, struct coap_msg *m,
                                          const char *host, const struct rr_route **route,
                                          uint8_t *hl, uint8_t *code, char *diag, size_t dlen)
{
    const struct route_table *t = rc_routes(c);
    const struct rr_route *rt = t ? route_table_get(t, host) : NULL;
    uint16_t bad;

    *route = rt;
    if (!rt) {
        c->c.proxy_5_05++;
        *code = COAP_PROXYING_NOT_SUPPORTED;
        snprintf(diag, dlen, "no registration with that name");
        return RC_PROXY_ANSWER;
    }
    bool ours = rc_route_is_ours(c, rt);
    if (ours && c->tp->path_down && c->tp->path_down(c->tpa, rt, diag, dlen)) {
        c->c.proxy_5_02++;
        *code = COAP_BAD_GATEWAY;
        return RC_PROXY_ANSWER;
    }
    if (fwd_check_options(m, c->cfg, &bad) < 0) {
        *code = COAP_BAD_OPTION;
        snprintf(diag, dlen, "unknown unsafe option %u", bad);
        return RC_PROXY_ANSWER;
    }
    int hlv = fwd_hop_limit_apply(m, c->cfg->hop_limit, hl);
    if (hlv < 0) {
        *code = fwd_hop_limit_answer(hlv, diag, dlen);
        return RC_PROXY_ANSWER;
    }
    coap_msg_remove_opt(m, COAP_OPT_URI_HOST);
    coap_msg_remove_opt(m, COAP_OPT_URI_PORT);
    return ours ? RC_PROXY_LOCAL : RC_PROXY_XFWD;
}

/* The decision, with what it answers itself counted by code. */
enum rc_proxy_verdict rc_proxy_decide(struct relay_core *c, struct coap_msg *m, const char *host,
                                      const struct rr_route **route, uint8_t *hl, uint8_t *code,
                                      char *diag, size_t dlen)
{
    enum rc_proxy_verdict v = proxy_decide(c, m, host, route, hl, code, diag, dlen);
    if (v == RC_PROXY_ANSWER)
        c->c.resp[RC_RESP_RELAY][*code]++;
    return v;
}

int rc_proxy_check_response(struct relay_core *c, const struct coap_msg *m, char *diag, size_t dlen)
{
    uint16_t bad;

    c->c.resp[RC_RESP_ENDPOINT][m->code]++;
    if (fwd_check_options(m, c->cfg, &bad) == 0)
        return 0;
    c->c.proxy_5_02++;
    snprintf(diag, dlen, "endpoint sent unknown unsafe option %u", bad);
    return -1;
}
