/*
 * fuzz_relay_udp.c - libFuzzer target for relay-udp's message layer
 * (relay-udp/msglayer.c, exchange.c, dedup.c, amp_udp.c and what they call
 * in the relay core: the proxy decision, the RD path, the Echo checker),
 * driven the way udp_drain drives it. One relay for the whole run (its
 * ZeroMQ context and sockets are costly to make), no rd-frontend and no
 * routes, so RD requests wait and names answer 4.04.
 * Input: records of [peer selector, clock step (x 16 ms), length, bytes];
 * four client addresses on 127.0.0.1 (real sockets, so the relay's
 * answers can be read back) and timers fired as the clock passes them.
 * Invariants: every datagram a client gets parses as CoAP; an answer that
 * follows a request at once is at most amplification_limit times that
 * request unless the client was verified (RFC 9175, the amplification
 * limit); the exchange pool never counts more than it has.
 */
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "log.h"
#include "relay.h"

#define NPEERS 4

static struct relay *R;
static int cli[NPEERS];
static struct rr_addr peer[NPEERS], local;
static uint64_t now = 1000000;

static void setup(void)
{
    char err[128];

    log_init("fuzz", LOG_LVL_ERROR);
    R = calloc(1, sizeof(*R));
    config_defaults(&R->cfg);
    snprintf(R->cfg.udp_listen, sizeof(R->cfg.udp_listen), "127.0.0.1:0");
    snprintf(R->cfg.state_dir, sizeof(R->cfg.state_dir), "/nonexistent-fuzz");
    config_finish(&R->cfg, err, sizeof(err));
    R->cfg.max_exchanges = 32;
    R->cfg.dedup_entries = 512;
    R->cfg.dedup_per_peer = 32;
    R->cfg.block_slots = 2;
    FUZZ_CHECK(ru_core_init(R) == 0);
    FUZZ_CHECK(exch_init(R) == 0);
    FUZZ_CHECK(ka_init(R) == 0);
    FUZZ_CHECK(udp_open_all(R) == 0);
    local = R->socks[0].bound;
    for (int i = 0; i < NPEERS; i++) {
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof(sin);
        cli[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        FUZZ_CHECK(cli[i] >= 0);
        FUZZ_CHECK(bind(cli[i], (struct sockaddr *)&sin, sizeof(sin)) == 0);
        FUZZ_CHECK(getsockname(cli[i], (struct sockaddr *)&sin, &sl) == 0);
        addr_from_sockaddr(&peer[i], (struct sockaddr *)&sin, sl);
    }
}

/* Read what client p got; with req_len, the first must respect the limit. */
static void drain(int p, size_t req_len)
{
    uint8_t buf[2048];
    struct coap_msg m;
    ssize_t n;
    bool first = true;

    while ((n = recv(cli[p], buf, sizeof(buf), 0)) > 0) {
        FUZZ_CHECK(coap_msg_parse_udp(buf, (size_t)n, &m) == 0);
        if (first && req_len && R->amp.factor && !rc_amp_is_verified(&R->amp, &peer[p], now))
            FUZZ_CHECK((size_t)n <= R->amp.factor * req_len);
        first = false;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t dgram[COAP_MSG_MAX_UDP + 1];
    size_t off = 0;

    if (!R)
        setup();
    while (off + 3 <= size) {
        int p = data[off] % NPEERS;
        uint64_t step = (uint64_t)data[off + 1] * 16;
        size_t len = data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        /* the clock first: timers that are due fire (retransmissions, empty
         * ACKs, RD re-sends, timeouts) */
        now += step;
        struct rr_timer *t;
        while ((t = th_pop_due(&R->core.timers, now)) != NULL)
            exch_on_timer(R, t, now);
        udp_flush(R);
        for (int i = 0; i < NPEERS; i++)
            drain(i, 0);
        memcpy(dgram, data + off, len);
        off += len;
        msg_on_datagram(R, 0, &peer[p], &local, dgram, len, now);
        udp_flush(R);
        /* an empty ACK or RST is 4 bytes, always within the limit */
        drain(p, len >= 4 ? len : 4);
        FUZZ_CHECK(R->core.dx.used <= R->core.dx.n);
    }
    return 0;
}
