/*
 * fuzz_fwd_rules.c - libFuzzer target for the option handling on the
 * forwarding path (common/fwd_rules.c, common/coap_opts.c): a datagram a
 * client sent is parsed, routed by its Uri-Host, checked for unknown
 * critical/unsafe options, Hop-Limit applied, Uri-Host removed and the
 * result serialised, the way relay-udp forwards it.
 * Invariants: a rejected option really is unknown and critical/unsafe; the
 * forwarded message has no Uri-Host, one Hop-Limit one lower than the
 * client's (or the default), every other option byte-identical and in
 * order; a relay token round-trips.
 */
#include <stddef.h>
#include <stdint.h>

#include "coap_opts.h"
#include "config.h"
#include "fuzz_check.h"
#include "fwd_rules.h"

static void check_forwarded(const struct coap_msg *in, const struct coap_msg *fw, uint32_t hl_in,
                            int had_hl)
{
    unsigned j = 0;

    FUZZ_CHECK(coap_msg_find(fw, COAP_OPT_URI_HOST) == NULL);
    FUZZ_CHECK(coap_msg_opt_uint(fw, COAP_OPT_HOP_LIMIT, 0) ==
               (had_hl ? (hl_in > 255 ? 255 : hl_in) - 1 : 16));
    for (unsigned i = 0; i < in->nopts; i++) {
        const struct coap_msg_opt *o = &in->opts[i];
        if (o->num == COAP_OPT_URI_HOST || o->num == COAP_OPT_HOP_LIMIT)
            continue;
        while (j < fw->nopts && fw->opts[j].num == COAP_OPT_HOP_LIMIT)
            j++;
        FUZZ_CHECK(j < fw->nopts);
        FUZZ_CHECK(fw->opts[j].num == o->num && fw->opts[j].len == o->len);
        FUZZ_CHECK(o->len == 0 || memcmp(fw->opts[j].val, o->val, o->len) == 0);
        j++;
    }
    FUZZ_CHECK(fw->payload_len == in->payload_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rr_config cfg;
    static int ready;
    struct coap_msg m, orig, fw;
    char host[300], err[128];
    uint8_t hbuf[4], out[COAP_MSG_MAX_UDP];
    uint16_t bad;
    uint32_t slot, check;

    if (!ready) {
        config_defaults(&cfg);
        FUZZ_CHECK(config_set(&cfg, "proxy_domain", "proxy.example.net", err, sizeof(err)) == 0);
        FUZZ_CHECK(config_set(&cfg, "rd_names", "rd.example.net,RD.example", err, sizeof(err)) ==
                   0);
        FUZZ_CHECK(config_set(&cfg, "extra_options", "65000,2051", err, sizeof(err)) == 0);
        FUZZ_CHECK(config_finish(&cfg, err, sizeof(err)) == 0);
        ready = 1;
    }
    /* the relays forward requests only (responses travel by token) */
    if (coap_msg_parse_udp(data, size, &m) != 0 || m.code == COAP_EMPTY ||
        COAP_CODE_CLASS(m.code) != 0)
        return 0;
    orig = m;
    for (unsigned i = 0; i < m.nopts; i++)
        (void)coap_opt_name(m.opts[i].num);
    if (coap_msg_uri_host_lower(&m, host, sizeof(host)) == 0) {
        enum fwd_dest d = fwd_route_decide(host, &cfg);
        FUZZ_CHECK(d == FWD_DEST_RD || d == FWD_DEST_PROXY || d == FWD_DEST_REJECT);
        (void)fwd_host_is_ip_literal(host);
    }
    if (fwd_check_options(&m, &cfg, &bad) != 0)
        FUZZ_CHECK(!coap_opt_is_known(bad, &cfg) && coap_opt_is_unsafe(bad));
    if (fwd_check_critical(&m, &cfg, &bad) != 0)
        FUZZ_CHECK(!coap_opt_is_known(bad, &cfg) && coap_opt_is_critical(bad));
    (void)fwd_is_forward_proxy_request(&m);
    if (fwd_token_decode(m.token, m.tkl, &slot, &check) == 0) {
        uint8_t tok[FWD_TOKEN_LEN];
        fwd_token_encode(slot, check, tok);
        FUZZ_CHECK(memcmp(tok, m.token, FWD_TOKEN_LEN) == 0);
    }

    /* forward: Uri-Host out, Hop-Limit in (only one Hop-Limit is looked at) */
    const struct coap_msg_opt *hl = coap_msg_find(&m, COAP_OPT_HOP_LIMIT);
    int had_hl = hl != NULL;
    uint32_t hl_in = hl ? coap_opt_value_uint(hl) : 0;
    int extra_hl = hl && coap_msg_find_next(&m, hl) != NULL;
    (void)coap_msg_remove_opt(&m, COAP_OPT_URI_HOST);
    if (fwd_hop_limit_apply(&m, cfg.hop_limit, hbuf) != 0) {
        /* a loop, or no room left to add Hop-Limit (64 options): the
         * relays then answer 5.08 too (a misleading code, not a crash) */
        FUZZ_CHECK((had_hl && hl_in <= 1) || (!had_hl && m.nopts == COAP_MSG_MAX_OPTS));
        return 0;
    }
    ssize_t n = coap_msg_serialize_udp(&m, out, sizeof(out));
    if (n < 0 || extra_hl)
        return 0;
    FUZZ_CHECK(coap_msg_parse_udp(out, (size_t)n, &fw) == 0);
    check_forwarded(&orig, &fw, hl_in, had_hl);
    return 0;
}
