/*
 * fuzz_proto_msg.c - libFuzzer target for every inter-process message
 * decoder (common/proto_msg.c, wire.c, proto.c): the first input byte picks
 * the message type (all proto_dec_* in RR_MSG_TYPES order), the rest is the
 * body as it came off a ZeroMQ socket; proto_parse_header sees the input
 * too.
 * Invariants: a decoded body re-encodes, and that encoding decodes and
 * re-encodes to the same bytes (decode -> encode is a fixed point: no field
 * is lost, invented or truncated differently the second time).
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_check.h"
#include "proto_msg.h"

#define FUZZ_CODECS(X)                                                                             \
    X(route_update)                                                                                \
    X(heartbeat)                                                                                   \
    X(hello)                                                                                       \
    X(snapshot_req)                                                                                \
    X(rd_request)                                                                                  \
    X(ep_response)                                                                                 \
    X(observe_gone)                                                                                \
    X(reachability)                                                                                \
    X(relay_status)                                                                                \
    X(snapshot_route)                                                                              \
    X(snapshot_end)                                                                                \
    X(rd_response)                                                                                 \
    X(rd_notify)                                                                                   \
    X(ep_request)                                                                                  \
    X(xfwd_request)                                                                                \
    X(xfwd_response)                                                                               \
    X(xfwd_cancel)                                                                                 \
    X(ctl_request)                                                                                 \
    X(ctl_response)

/* 1 MiB: far more than any body a decoder accepts from a 64 KiB input */
#define ENC_CAP (1u << 20)

#define FUZZ_ROUNDTRIP(name)                                                                       \
    static void roundtrip_##name(const uint8_t *p, size_t n, uint8_t *e1, uint8_t *e2)             \
    {                                                                                              \
        struct rr_msg_##name m, m2;                                                                \
        struct wire_r r;                                                                           \
        struct wire_w w1, w2;                                                                      \
        memset(&m, 0, sizeof(m));                                                                  \
        memset(&m2, 0, sizeof(m2));                                                                \
        wire_r_init(&r, p, n);                                                                     \
        if (proto_dec_##name(&r, &m) != 0)                                                         \
            return;                                                                                \
        FUZZ_CHECK(r.off <= n);                                                                    \
        wire_w_init(&w1, e1, ENC_CAP);                                                             \
        FUZZ_CHECK(proto_enc_##name(&w1, &m) == 0);                                                \
        wire_r_init(&r, e1, w1.len);                                                               \
        FUZZ_CHECK(proto_dec_##name(&r, &m2) == 0);                                                \
        FUZZ_CHECK(r.off == w1.len);                                                               \
        wire_w_init(&w2, e2, ENC_CAP);                                                             \
        FUZZ_CHECK(proto_enc_##name(&w2, &m2) == 0);                                               \
        FUZZ_CHECK(w1.len == w2.len && memcmp(e1, e2, w1.len) == 0);                               \
    }
FUZZ_CODECS(FUZZ_ROUNDTRIP)

typedef void (*roundtrip_fn)(const uint8_t *, size_t, uint8_t *, uint8_t *);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#define FUZZ_ENTRY(name) roundtrip_##name,
    static const roundtrip_fn fns[] = {FUZZ_CODECS(FUZZ_ENTRY)};
#undef FUZZ_ENTRY
    static uint8_t *e1, *e2;
    uint16_t type;

    if (!e1) {
        e1 = malloc(ENC_CAP);
        e2 = malloc(ENC_CAP);
        FUZZ_CHECK(e1 && e2);
    }
    (void)proto_parse_header(data, size, &type);
    if (size < 1)
        return 0;
    fns[data[0] % (sizeof(fns) / sizeof(fns[0]))](data + 1, size - 1, e1, e2);
    return 0;
}
