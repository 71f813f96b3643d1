#!/usr/bin/env bash
# test_udp_segmented.sh - relay-udp's coalesced sends (issue 21, relay-udp/
# udp_gso.c): when one loop iteration forwards several requests to one
# registrant, or answers several to one client, they leave as one
# UDP_SEGMENT send that the kernel cuts into datagrams. Against a real
# libcoap origin (coap-server-notls, registered with proxy=yes from its own
# port) under a load of 64 requests in flight from one client socket
# (rdrelay-bench), every answer is a 2.05 with its own token, none is
# malformed or lost, while coap-client-notls beside the load gets through
# the relay byte for byte what the origin gives directly; and the relay's
# rdrelay_udp_segmented_total shows that runs did go out this way (its
# value is printed, only its being non-zero is asserted).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

command -v curl >/dev/null || die "curl missing (tools/setup-deps.sh)"
[ -x "$RDRELAY_BIN/rdrelay-bench" ] || die "rdrelay-bench is not built"

MP=$(rr_free_port tu) || die "no free port"
# one loopback source at full speed: no per-source limits; the load tool
# answers no Echo challenge
RR_EXTRA_ARGS=(--metrics-listen "udp=127.0.0.1:$MP" --log-level info --proxy-rate-source 0
    --proxy-rate-endpoint 0 --amplification-limit 0)
rr_start_all
start_origin
# coap-server-notls cannot register itself: register it from its own port
# (coap-client-notls binds it beside the server, SO_REUSEADDR)
register_origin() {
    coap -m post -a 127.0.0.1 -p "$ORIGIN_PORT" "$(rd_uri "/rd?ep=origin&proxy=yes&lt=600")"
    [ "$CODE" == 2.01 ]
}
wait_until 10 register_origin || die "registering coap-server-notls failed ($CODE)"
H=origin.proxy.localhost

coap -m get "coap://127.0.0.1:$ORIGIN_PORT/"
assert_code 2.05 "GET / directly at coap-server-notls"
direct=$PAYLOAD
assert_ne "" "$direct" "the origin's / has a body"
pcoap $H -m get /
assert_code 2.05 "GET / through the relay"
assert_eq "$direct" "$PAYLOAD" "the same body through the relay"

segmented() {
    curl -s -m 5 "http://127.0.0.1:$MP/metrics" |
        awk '$1 ~ /^rdrelay_udp_segmented_total([{]|$)/ {print $2}'
}
before=$(segmented)
assert_ne "" "$before" "relay-udp's metrics page has rdrelay_udp_segmented_total"

"$RDRELAY_BIN/rdrelay-bench" --target "127.0.0.1:$RR_PORT" --host $H --path /time -n 64 -w 0 \
    -d 3 --json >"$T_DIR/bench.json" 2>"$T_DIR/bench.err" &
BENCH=$!
T_BG_PIDS+=("$BENCH")
# real clients beside the load, each its own socket: byte for byte
for ((i = 0; i < 5; i++)); do
    pcoap $H -m get /
    assert_code 2.05 "GET / through the relay during the load (#$((i + 1)))"
    assert_eq "$direct" "$PAYLOAD" "the body through the relay during the load (#$((i + 1)))"
done
wait "$BENCH"
assert_eq 0 "$?" "rdrelay-bench ran"

B=$(cat "$T_DIR/bench.json")
field() { sed -nE "s/.*\"$1\":([0-9.]+).*/\1/p" <<<"$B"; }
responses=$(field responses) okn=$(field ok)
echo "# load: $(field rps) req/s, $okn of $responses answered 2.05, 64 in flight, one client socket"
[ -n "$responses" ] && [ "$responses" -gt 1000 ] ||
    die "the load got only ${responses:-0} answers: too few to test (bench: $B)"
assert_eq "$responses" "$okn" "every answer under the load is a 2.05"
assert_eq 0 "$(field failed)" "no request failed"
assert_eq 0 "$(field malformed)" "no answer was malformed"
assert_eq 0 "$(field duplicates)" "no answer came twice"

after=$(segmented)
echo "# rdrelay_udp_segmented_total: $before before the load, $after after"
[ -n "$after" ] && awk -v a="$after" -v b="$before" 'BEGIN { exit !(a > b) }' ||
    die "no datagram left in a UDP_SEGMENT run under 64 in flight ($before -> $after)"
ok "runs of datagrams left as UDP_SEGMENT sends ($before -> $after datagrams)"
grep -q 'UDP_SEGMENT refused' "$T_DIR/udp.log" && die "the kernel refused UDP_SEGMENT on loopback"
ok "the kernel took every run"

t_done
