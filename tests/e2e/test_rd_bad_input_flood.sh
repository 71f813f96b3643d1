#!/usr/bin/env bash
# test_rd_bad_input_flood.sh - the two flood rows of issue 19's bad-input
# table (the other rows: test_rd_bad_input.sh, test_tcp_abuse.sh), each on
# its own processes, with three registrations made before (good1, good2 and
# the registrant alice) whose lookups must come out unchanged:
# - 10,000 tokens in flight from one client: one socket sends 10,000 CON
#   GETs, each under its own token, for an endpoint that never answers
#   (udp_flood.py hole), so every forwarded one stays in flight. With the
#   default max_inflight_per_source (1024; the rate and per-endpoint limits
#   off, so this limit is the one that bounds it) exactly 1024 stay in
#   flight and the other 8976 get 5.03 "too many requests in flight from
#   this source" (cut to 3x of the request for this unverified source); the
#   relay holds at most 1024 exchanges for it; meanwhile another client
#   (127.0.0.2) is served through the proxy (alice) and by the RD, and the
#   registrations are unchanged.
# - 100,000 datagrams per second of garbage for 5 s (udp_flood.py garbage:
#   random bytes, truncated headers, TKL 9..15, option delta 15, a payload
#   marker with no payload; the CON ones draw a RST): during the flood
#   another client's requests through the proxy and to the RD are answered
#   (coap-client retransmits as any CoAP client does), and afterwards too;
#   the registrations are unchanged, every process lives. The rate the
#   sender reached is printed (no timing assertion; docs/benchmarks.md).
# ctest: TIMEOUT 400
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_ctl.sh"

FLOOD="python3 $(dirname "$0")/udp_flood.py"

# snap: both lookups as 127.0.0.2 sees them (127.0.0.1 may be the flooder)
snap() {
    local ep
    coap -a 127.0.0.2 -m get "$(rd_uri /rd-lookup/ep)"
    ep="$CODE $PAYLOAD"
    coap -a 127.0.0.2 -m get "$(rd_uri /rd-lookup/res)"
    printf '%s\n%s %s\n' "$ep" "$CODE" "$PAYLOAD"
}
# others_served WHAT: 127.0.0.2 is served by alice through the proxy and by
# the RD, and the registrations are those of BASELINE
others_served() {
    pcoap "alice.$RR_DOMAIN" -a 127.0.0.2 -m get /hello
    assert_code 2.05 "$1: another client (127.0.0.2) is served through the proxy"
    assert_eq hello "$PAYLOAD" "$1: ... with alice's answer"
    local now
    now=$(snap)
    assert_eq "$BASELINE" "$now" "$1: the RD answers 127.0.0.2 and every registration is unchanged"
}
# setup NAME [flags...]: part NAME, fresh processes, the three registrations
setup() {
    t_section "$1"
    shift
    RR_PORT="" RR_EXTRA_ARGS=("$@")
    rr_start_all
    rd_register 'ep=good1&d=dom' '</g>;rt=good'
    assert_code 2.01 "$T_SECTION: register good1"
    rd_register 'ep=good2' '</h>;rt=good'
    assert_code 2.01 "$T_SECTION: register good2"
    reg_start alice --ep alice --lt 3600
}

# ---- 10,000 tokens in flight from one client
setup "10000 tokens" --proxy-rate-source 0 --proxy-rate-endpoint 0 --max-inflight-per-endpoint 0 --upstream-timeout-ms 120000
$FLOOD hole 127.0.0.1 "$RR_PORT" hole 300 >"$T_DIR/hole.out" 2>&1 &
T_BG_PIDS+=($!)
wait_until 15 grep -q '^registered' "$T_DIR/hole.out" || die "the black-hole endpoint did not register"
_hole_routed() { COAP_TIMEOUT=2 pcoap "nobody.$RR_DOMAIN" -a 127.0.0.2 -m get /x; grep -q 'hole.proxy' "$T_DIR/udp.log"; }
wait_until 15 _hole_routed || die "relay-udp has no route for the black hole"
BASELINE=$(snap)
assert_contains "$BASELINE" 'ep="hole"' "the black-hole endpoint is registered"

out=$($FLOOD tokens 127.0.0.1 "$RR_PORT" "hole.$RR_DOMAIN" 10000)
echo "# tokens: $out"
assert_match '^sent 10000 ' "$out" "10,000 requests sent from one socket"
assert_eq 8976 "$(sed -E 's/.* c503 ([0-9]+).*/\1/' <<<"$out")" \
    "the 8976 over max_inflight_per_source (1024) got 5.03"
assert_eq 8976 "$(sed -E 's/.* diag ([0-9]+).*/\1/' <<<"$out")" \
    "... each saying 'too many requests in flight from this source' (or the part of it 3x allows)"
assert_eq 0 "$(sed -E 's/.* other ([0-9]+).*/\1/' <<<"$out")" "no other answer: the 1024 are still in flight"
wait_until 15 ctl_counter_is exchanges_down 1024 udp
assert_eq 1024 "$(ctl_relay_counter exchanges_down udp)" "relay-udp holds exactly 1024 exchanges for the client"
ctl_assert_counted limit_inflight_source udp "limit_inflight_source is counted"
assert_match '^(8976|89[89][0-9]|9[0-9]{3})$' "$(ctl_relay_counter limit_inflight_source udp)" \
    "... once for each refused request"
others_served "10000 tokens"

# ---- 100,000 datagrams per second of garbage for 5 s
setup "garbage flood"
BASELINE=$(snap)
# The RD client below keeps one source port, verified (RFC 9175 Echo) before
# the flood: a challenge is per address and port, and each coap-client run
# would otherwise be challenged anew, its Echo retry one more datagram the
# flood can cost (the kernel drops a share of everything arriving).
CPORT=$(rr_free_port u) || die "no free port"
coap -a 127.0.0.2 -p "$CPORT" -m get "$(rd_uri /rd-lookup/ep?ep=good1)"
assert_eq 2.05 "$CODE" "garbage flood: the RD client's source (127.0.0.2:$CPORT) is verified before the flood"
$FLOOD garbage 127.0.0.1 "$RR_PORT" 100000 5 >"$T_DIR/garbage.out" 2>&1 &
FP=$!
T_BG_PIDS+=($FP)
served=0 rounds=0
for ((i = 0; i < 100; i++)); do
    kill -0 "$FP" 2>/dev/null || break
    rounds=$((rounds + 1))
    pcoap "alice.$RR_DOMAIN" -a 127.0.0.2 -m get /hello
    c1=$CODE
    coap -a 127.0.0.2 -p "$CPORT" -m get "$(rd_uri /rd-lookup/ep?ep=good1)"
    [ "$c1" == 2.05 ] && [ "$CODE" == 2.05 ] && served=$((served + 1))
    echo "# during the flood: proxy $c1, RD $CODE"
done
bg_wait "$FP" 30 || fail "the garbage sender did not end"
flood=$(cat "$T_DIR/garbage.out")
echo "# garbage: $flood"
assert_match '^sent [0-9]+ seconds ' "$flood" "the garbage sender ran"
[ "$rounds" -ge 1 ] && assert_eq "$rounds" "$served" "during the flood every proxy and RD request of 127.0.0.2 was answered 2.05 ($served rounds)" ||
    fail "no request was made during the flood"
for name in frontend udp alice; do
    rr_alive "$name" && ok "$name lives after the flood" || fail "$name died in the flood"
done
others_served "after the garbage flood"
ctl_assert_counted rx_bad udp "relay-udp counts the garbage (rx_bad)"
echo "# relay-udp: rx_bad $(ctl_relay_counter rx_bad udp) rx $(ctl_relay_counter rx udp) tx $(ctl_relay_counter tx udp)"
t_done
