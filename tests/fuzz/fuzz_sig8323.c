/*
 * fuzz_sig8323.c - libFuzzer target for RFC 8323 §5 signalling
 * (relay-core/sig8323.c) behind the TCP stream framing (common/
 * coap_msg_tcp.c), as relay-tcp drives them: the input is a byte stream,
 * cut into messages the way relay-tcp's reader cuts it; every message
 * advances a virtual clock by its first byte (ms x 64) and fires the one
 * deadline timer when due; signals (7.xx) go to sig_on_message.
 * Invariants: every message the module sends serialises in TCP framing and
 * parses back to a signal; after a close or release nothing more is sent;
 * only a CSM changes the peer's settings, and its Max-Message-Size never
 * drops below 64; a CSM that does not abort marks the peer's CSM seen.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_check.h"
#include "sig8323.h"

struct fz {
    bool closed, released;
    uint64_t due;
    unsigned sent;
};

static int fz_send(void *arg, uint32_t ci, const struct coap_msg *m)
{
    struct fz *f = arg;
    static uint8_t out[4096];
    struct coap_msg back;
    (void)ci;

    FUZZ_CHECK(!f->closed);
    FUZZ_CHECK(COAP_CODE_CLASS(m->code) == 7);
    ssize_t n = coap_msg_serialize_tcp(m, out, sizeof(out));
    FUZZ_CHECK(n > 0);
    FUZZ_CHECK(coap_msg_tcp_frame_len(out, (size_t)n) == n);
    FUZZ_CHECK(coap_msg_parse_tcp(out, (size_t)n, &back) == 0);
    fuzz_check_same_msg(m, &back, 0);
    f->sent++;
    return 0;
}

static void fz_close(void *arg, uint32_t ci, const char *why, uint64_t now)
{
    struct fz *f = arg;
    (void)ci;
    (void)now;
    FUZZ_CHECK(why != NULL);
    f->closed = true;
}

static void fz_release(void *arg, uint32_t ci, uint64_t now)
{
    struct fz *f = arg;
    (void)ci;
    (void)now;
    f->released = true;
}

static void fz_arm(void *arg, uint32_t ci, uint64_t due)
{
    struct fz *f = arg;
    (void)ci;
    f->due = due;
}

static void fz_describe(void *arg, uint32_t ci, char *buf, size_t len)
{
    (void)arg;
    snprintf(buf, len, "conn %u", ci);
}

static const struct sig_ops fz_ops = {fz_send, fz_close, fz_release, fz_arm, fz_describe};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f = {.due = UINT64_MAX};
    struct sig_counters c = {0};
    struct sig_ctx x = {.ops = &fz_ops,
                        .arg = &f,
                        .our_mms = 16384,
                        .timeout_ms = 10000,
                        .ka_ms = 30000,
                        .pong_timeout_ms = 20000,
                        .c = &c};
    struct sig_conn s;
    uint64_t now = 1000;
    size_t off = 0;

    sig_conn_open(&x, &s, 7, now);
    FUZZ_CHECK(f.sent == 1); /* our CSM, at once */
    while (off < size && !f.closed) {
        const uint8_t *p = data + off;
        ssize_t flen = coap_msg_tcp_frame_len(p, size - off);
        struct coap_msg m;

        now += (uint64_t)p[0] * 64;
        if (f.due != UINT64_MAX && now >= f.due) {
            f.due = UINT64_MAX;
            sig_on_timer(&x, &s, 7, now);
            if (f.closed)
                break;
        }
        if (flen <= 0 || (size_t)flen > size - off)
            break; /* malformed or incomplete: relay-tcp aborts or waits */
        off += (size_t)flen;
        sig_on_rx(&s, now);
        if (coap_msg_parse_tcp(p, (size_t)flen, &m) != 0)
            continue;
        if (COAP_CODE_CLASS(m.code) != 7)
            continue; /* requests and responses are not signalling's */
        struct sig_csm before = s.csm;
        bool was_csm = m.code == COAP_SIG_CSM;
        unsigned sent = f.sent;
        sig_on_message(&x, &s, 7, &m, now);
        if (f.released || f.closed)
            FUZZ_CHECK(f.sent <= sent + 1); /* at most the Abort */
        if (!was_csm)
            FUZZ_CHECK(s.csm.mms == before.mms && s.csm.bwt == before.bwt);
        if (!f.closed)
            FUZZ_CHECK(s.csm.mms >= 64); /* a tiny peer MMS is raised (sig8323.c) */
        if (was_csm && !f.closed)
            FUZZ_CHECK(s.peer_csm);
        if (f.released)
            break;
    }
    return 0;
}
