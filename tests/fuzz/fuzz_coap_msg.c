/*
 * fuzz_coap_msg.c - libFuzzer target for the RFC 7252 datagram view
 * (common/coap_msg.c), what every relay-udp datagram meets first.
 * Invariants: a parsed message serialises to exactly the input (the header
 * encoding is canonical), parses again to the same view, and every helper
 * a relay or rd-frontend calls on it (Uri-Path/Uri-Host joining, option
 * lookup and uint decoding, option removal and insertion, Block values)
 * stays in bounds.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_check.h"

static void exercise_helpers(struct coap_msg *m)
{
    char path[512], host[300], code[8];
    uint8_t ubuf[4], out[COAP_MSG_MAX_UDP + 64];
    struct coap_msg again;

    (void)coap_msg_uri_path(m, path, sizeof(path));
    (void)coap_msg_uri_path(m, path, 3);
    if (coap_msg_uri_host_lower(m, host, sizeof(host)) == 0)
        FUZZ_CHECK(strlen(host) < sizeof(host));
    (void)coap_code_str(m->code, code);
    for (unsigned i = 0; i < m->nopts; i++) {
        uint32_t v = coap_opt_value_uint(&m->opts[i]), num;
        unsigned szx;
        bool more;

        coap_block_decode(v, &num, &more, &szx);
        if (num < (1u << 20))
            FUZZ_CHECK(coap_block_encode(num, more, szx) == (v & 0xFFFFFFu));
        (void)coap_msg_opt_uint(m, m->opts[i].num, 0);
    }
    for (const struct coap_msg_opt *o = coap_msg_find(m, COAP_OPT_URI_PATH); o;
         o = coap_msg_find_next(m, o))
        FUZZ_CHECK(o->num == COAP_OPT_URI_PATH);
    /* what the forwarding path does to a request: drop Uri-Host, set
     * Hop-Limit, send (an Empty message must stay empty) */
    if (m->code == COAP_EMPTY || COAP_CODE_CLASS(m->code) != 0)
        return;
    (void)coap_msg_remove_opt(m, COAP_OPT_URI_HOST);
    FUZZ_CHECK(coap_msg_find(m, COAP_OPT_URI_HOST) == NULL);
    if (coap_msg_add_opt_uint(m, COAP_OPT_HOP_LIMIT, 16, ubuf) == 0) {
        for (unsigned i = 1; i < m->nopts; i++)
            FUZZ_CHECK(m->opts[i - 1].num <= m->opts[i].num);
    }
    ssize_t n = coap_msg_serialize_udp(m, out, sizeof(out));
    if (n > 0) {
        FUZZ_CHECK(coap_msg_parse_udp(out, (size_t)n, &again) == 0);
        fuzz_check_same_msg(m, &again, 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct coap_msg m, again;
    uint8_t out[65536 + 64];

    if (coap_msg_parse_udp(data, size, &m) != 0)
        return 0;
    FUZZ_CHECK(m.tkl <= COAP_MSG_MAX_TOKEN && m.nopts <= COAP_MSG_MAX_OPTS);
    FUZZ_CHECK(m.payload_len <= size);
    ssize_t n = coap_msg_serialize_udp(&m, out, sizeof(out));
    FUZZ_CHECK(n >= 0);
    FUZZ_CHECK((size_t)n == size && memcmp(out, data, size) == 0);
    FUZZ_CHECK(coap_msg_parse_udp(out, (size_t)n, &again) == 0);
    fuzz_check_same_msg(&m, &again, 1);
    /* too small an output buffer must fail cleanly, never overrun */
    if (size > 0)
        FUZZ_CHECK(coap_msg_serialize_udp(&m, out, size - 1) < 0);
    exercise_helpers(&m);
    return 0;
}
