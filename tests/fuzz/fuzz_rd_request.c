/*
 * fuzz_rd_request.c - libFuzzer target for rd-frontend's whole request
 * path (rd-frontend/rd_request.c and everything behind it: parameters,
 * link-format, registry, lookup index, Block1/Block2, Observe, simple
 * registration, the SQLite store in memory) and for its ROUTER dispatcher
 * (ctl.c: HELLO, SNAPSHOT_REQ, RD_REQUEST, EP_RESPONSE, OBSERVE_GONE,
 * REACHABILITY, RELAY_STATUS, CTL_REQUEST bodies).
 * Input: records of (u8 kind, u16 length, bytes) on a frontend holding a
 * few registrations: kind 0/1 a CoAP request from a UDP/TCP peer, 2 a
 * ROUTER message (first byte picks the type), 3 the clock moves on
 * (expiry, grace, pending timeouts) by length seconds.
 * Invariants: every immediate answer is one well-formed CoAP message; a
 * fresh frontend per input, so a crash reproduces from its input alone.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_fe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t types[] = {RR_MSG_HELLO,        RR_MSG_SNAPSHOT_REQ, RR_MSG_RD_REQUEST,
                                     RR_MSG_EP_RESPONSE,  RR_MSG_OBSERVE_GONE, RR_MSG_REACHABILITY,
                                     RR_MSG_RELAY_STATUS, RR_MSG_CTL_REQUEST};
    struct frontend *fe = fuzz_fe_new();
    size_t off = 0;
    int n = 0;

    fuzz_fe_populate(fe);
    while (off + 3 <= size && n++ < 32) {
        uint8_t kind = data[off] & 3;
        size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        const uint8_t *p = data + off;
        off += len;
        switch (kind) {
        case 0:
        case 1:
            fuzz_fe_request(fe, kind, p, len);
            break;
        case 2:
            if (len < 1)
                break;
            ctl_dispatch(fe, (const uint8_t *)"udp", 3, types[p[0] % 8], p + 1, len - 1);
            fe_outbox_clear(fe);
            break;
        case 3:
            fe->now += (uint64_t)len * 1000u;
            rd_tick(fe);
            observe_flush(fe);
            fe_outbox_clear(fe);
            break;
        }
    }
    fuzz_fe_free(fe);
    return 0;
}
