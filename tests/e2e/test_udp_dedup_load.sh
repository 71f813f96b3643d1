#!/usr/bin/env bash
# test_udp_dedup_load.sh - duplicate detection per peer under load (issue 15
# item 7). One client (rdrelay-bench, one socket) loads a proxied endpoint
# through rdrelay-udp as fast as it can (aiming at 50,000 req/s; the rate
# reached is printed, not asserted) while another client (a raw node dgram
# client) sends a CON POST /count to a second proxied endpoint, drops the
# answer and retransmits the same message 2 s later. Between the two, the
# load sends far more requests than the old shared duplicate window held
# (2 x max_exchanges), so the old relay forwarded the retransmission and the
# POST ran twice. Now: the endpoint counted one POST and the retransmission
# got the first answer byte for byte from the relay's per-peer memory.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

command -v node >/dev/null || die "node is not installed (tools/setup-deps.sh)"
[ -x "$RDRELAY_BIN/rdrelay-bench" ] || die "rdrelay-bench is not built"

# a small exchange pool makes the old shared window (2 x 512 answered
# requests) a fraction of the 2 s even at the rate a sanitizer build on a
# busy machine reaches; the per-peer memory does not depend on it. The
# long empty-ACK delay keeps every answer piggybacked (the cached kind).
MAX_EXCHANGES=512
# the load is one source at full speed: the per-source and per-endpoint
# rate limits (test_relay_limits.sh) are off here; so is the amplification
# limit: the raw POST client cannot answer an Echo challenge
RR_EXTRA_ARGS=(--max-exchanges "$MAX_EXCHANGES" --empty-ack-delay-ms 5000 --log-level info
    --proxy-rate-source 0 --proxy-rate-endpoint 0 --amplification-limit 0)
rr_start_all
reg_start counter --ep counter
reg_start load --ep load

pcoap counter.proxy.localhost -m get /count
assert_code 2.05 "GET /count through the relay"
assert_eq "count 0" "$PAYLOAD" "the counter starts at 0"

# the load: one client socket, 64 CON GETs in flight, for 4 s
"$RDRELAY_BIN/rdrelay-bench" --target "127.0.0.1:$RR_PORT" --host load.proxy.localhost \
    --path /hello -n 64 -w 0 -d 4 --json >"$T_DIR/bench.json" 2>"$T_DIR/bench.err" &
BENCH=$!
T_BG_PIDS+=("$BENCH")

# the quiet client, meanwhile; whether the load really filled the 2 s is
# checked from the bench's own count below
RD_PORT=$RR_PORT PROXY_HOST=counter.proxy.localhost REQ_PATH=count RETRANSMIT_MS=2000 \
    timeout 20 node "$RDRELAY_SRC/tests/e2e/node/udp_lost_answer.js" >"$T_DIR/client.out" 2>&1
rc=$?
wait "$BENCH"
bench_rc=$?
sed 's/^/    client: /' "$T_DIR/client.out"
assert_eq 0 "$rc" "the retransmitted POST was answered"
assert_eq 0 "$bench_rc" "rdrelay-bench ran"

# the load really overlapped the 2 s and exceeded the old window many times
B=$(cat "$T_DIR/bench.json")
rps=$(sed -nE 's/.*"rps":([0-9.]+).*/\1/p' <<<"$B")
okn=$(sed -nE 's/.*"ok":([0-9]+).*/\1/p' <<<"$B")
echo "# load reached ${rps:-?} req/s (${okn:-?} answered 2.05 in 4 s, 64 in flight, one client)"
[ -n "$okn" ] && [ "$okn" -gt $((8 * MAX_EXCHANGES)) ] ||
    die "the load answered only ${okn:-0} requests: too few to test the window (bench: $B)"

first=$(sed -n 's/^first //p' "$T_DIR/client.out")
again=$(sed -n 's/^again //p' "$T_DIR/client.out")
assert_ne "" "$first" "the first answer came (and was dropped)"
assert_eq "$first" "$again" "the retransmission got the first answer byte for byte"

# the endpoint's own view, directly, not through the relay
coap -m get "coap://127.0.0.1:$(reg_port counter)/count"
assert_code 2.05 "GET /count directly at the endpoint"
assert_eq "count 1" "$PAYLOAD" "the endpoint executed the POST once"

t_done
