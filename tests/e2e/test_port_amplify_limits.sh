#!/usr/bin/env bash
# test_port_amplify_limits.sh - a hosting port (issue 18) gets the same
# protection as name-based proxying (issue 19): the port path ends in the
# same proxy_request as a Uri-Host request (relay-core/porthost.c), so the
# amplification limit, the unsafe-method pre-challenge, the token buckets
# and the in-flight limits hold there too. Over relay-udp's hosting port of
# alice, with no Uri-Host:
# - amplification: a raw GET /large from a new source gets 4.01 + Echo
#   (at most 3x the request); repeated with that Echo it is served (2.05);
#   coap-client-notls answers the challenge by itself and gets all of /large;
# - pre-challenge: a raw POST /count from a new source gets 4.01 + Echo and
#   does not reach alice (her counter stays); repeated with the Echo it
#   runs once (2.04, count 1);
# - rate limit per source (1/s, burst 3): of 8 GETs some get 5.03 with
#   Max-Age, counted (limit_rate_source); 127.0.0.2 is served meanwhile;
# - in flight (per source 2, per endpoint 3): with two /slow requests from
#   127.0.0.1 a third gets 5.03 "from this source"; with one more from
#   127.0.0.2, a request from 127.0.0.3 gets 5.03 Max-Age 1 "to this
#   endpoint"; bob is served by name meanwhile; once the slow answers came
#   nothing is counted in flight and alice's port serves again;
# - the stream relays' hosting port (relay-tcp, alice on UDP: the request
#   goes on over XFWD): over the per-source bucket 5.03 with Max-Age,
#   counted by relay-tcp; 127.0.0.2 is served meanwhile.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_port.sh"
. "$(dirname "$0")/lib_ctl.sh"

RAW="python3 $(dirname "$0")/udp_raw.py"
field() { sed -E "s/.*$1=([^ ]*).*/\1/" <<<"$2"; }

# port_start NAME [flags...]: part NAME on fresh processes with a hosting
# range and those flags, alice registered; P is her hosting port.
# PORT_START: rr_start_all (relay-udp) or rt_start_all (relay-tcp too).
PORT_START=rr_start_all
port_start() {
    t_section "$1"
    shift
    RR_PORT=""
    RR_PORT=$(rr_free_port tu) || die "no free port"
    RR_EXTRA_ARGS=(--port-hosting-range "$(port_range_free 3)" "$@")
    $PORT_START
    reg_start alice --ep alice
    wait_until 15 _port_is_set alice || die "alice got no hosting port"
    P=$(port_of alice)
    wait_until 15 _hcoap_ok "$P" /hello || die "alice's hosting port $P does not serve"
}
_port_is_set() { [ -n "$(port_of "$1")" ]; }

# said_prefix DIAG MESSAGE: the last answer's diagnostic is DIAG or, to an
# unverified source, DIAG cut to 3x of the (small: no Uri-Host) request.
said_prefix() {
    [ -n "$PAYLOAD" ] && [[ "$1" == "$PAYLOAD"* ]] && ok "$2 ('$PAYLOAD')" ||
        fail "$2: diagnostic '$PAYLOAD' is no prefix of '$1'"
}

# ---- amplification limit and pre-challenge (defaults: limit 3)
port_start "amplification"
SP=$(rr_free_port) || die "no free port"
out=$($RAW 127.0.0.1 "$P" "$SP" CON /large)
assert_eq 4.01 "$(field code "$out")" "hosting port: GET /large from a new source -> 4.01 ($out)"
echo=$(field echo "$out")
assert_eq 16 "${#echo}" "... with an 8-byte Echo"
[ "$(field resp "$out")" -le $((3 * $(field req "$out"))) ] &&
    ok "... at most 3x the request ($out)" || fail "the challenge is more than 3x the request ($out)"
out=$($RAW 127.0.0.1 "$P" "$SP" CON /large "" "$echo")
assert_eq 2.05 "$(field code "$out")" "repeated with the Echo -> 2.05 ($out)"
[ "$(field resp "$out")" -gt $((3 * $(field req "$out"))) ] &&
    ok "... the full answer, more than 3x ($out)" || fail "the answer is not over 3x: proves nothing ($out)"

"$RDRELAY_BIN/rr-registrant" --print-large >"$T_DIR/large.expected"
hcoap "$P" -m get /large
assert_code 2.05 "coap-client-notls: GET /large on the hosting port -> 2.05"
cmp -s "$T_DIR/coap.body" "$T_DIR/large.expected" && ok "... the whole of /large, byte-identical" ||
    fail "/large over the hosting port differs"
dump=$(timeout 10 coap-client-notls -v 8 -B 3 "coap://127.0.0.1:$P/large" 2>&1)
assert_match 't:ACK c:4\.01 [^]]*Echo:0x' "$dump" "coap-client-notls is challenged with 4.01 + Echo there"
assert_match 'c:GET [^]]*Echo:0x' "$dump" "... and repeats with the Echo"

SP2=$(rr_free_port) || die "no free port"
out=$($RAW 127.0.0.1 "$P" "$SP2" CON /count "" "" POST)
assert_eq 4.01 "$(field code "$out")" "hosting port: POST /count from a new source -> 4.01 before forwarding ($out)"
coap -m get "$(reg_uri alice /count)"
assert_eq "count 0" "$PAYLOAD" "... the POST did not reach alice"
out=$($RAW 127.0.0.1 "$P" "$SP2" CON /count "" "$(field echo "$out")" POST)
assert_eq 2.04 "$(field code "$out")" "repeated with the Echo -> 2.04 ($out)"
coap -m get "$(reg_uri alice /count)"
assert_eq "count 1" "$PAYLOAD" "... and it ran once at alice"
ctl_assert_counted amp_challenged udp "relay-udp counts the challenges (amp_challenged)"

# ---- token bucket per source
port_start "rate limit" --proxy-rate-source 1 --proxy-burst-source 3 --proxy-rate-endpoint 0
burst8 hcoap "$P" -m get /hello
[ "$LIMITED" -ge 1 ] && ok "hosting port: $LIMITED of 8 GETs got 5.03 with Max-Age ($OKS served)" ||
    fail "hosting port: no 5.03 with Max-Age among 8 GETs at 1/s, burst 3 ($OKS served)"
# the readiness probe of port_start took one token of the burst of 3
[ "$OKS" -ge 2 ] && ok "... the rest of the burst was served ($OKS)" || fail "only $OKS of 8 served"
hcoap "$P" -a 127.0.0.2 -m get /hello
assert_code 2.05 "another source (127.0.0.2) is served on the hosting port meanwhile"
assert_contains "$(wait_match 5 'rate limit per source' cat "$T_DIR/udp.log")" "5.03 Max-Age" \
    "the hit is logged"
ctl_assert_counted limit_rate_source udp "rdrelayctl status counts limit_rate_source"

# ---- exchanges in flight per source and per endpoint
port_start "in flight" --max-inflight-per-source 2 --max-inflight-per-endpoint 3 \
    --upstream-timeout-ms 30000
reg_start bob --ep bob
coap_bg "$T_DIR/slow1" -B 30 "coap://127.0.0.1:$P/slow?ms=15000"
S1=$BG_PID
coap_bg "$T_DIR/slow2" -B 30 "coap://127.0.0.1:$P/slow?ms=15000"
S2=$BG_PID
wait_until 15 ctl_counter_is exchanges_up 2 udp || fail "relay-udp does not hold the two slow requests"
hcoap "$P" -m get /hello
assert_code 5.03 "hosting port: a third request from 127.0.0.1 -> 5.03"
said_prefix "too many requests in flight from this source" "... saying why"
coap_bg "$T_DIR/slow3" -B 30 -a 127.0.0.2 "coap://127.0.0.1:$P/slow?ms=15000"
S3=$BG_PID
wait_until 15 ctl_counter_is exchanges_up 3 udp || fail "relay-udp does not hold the third slow request"
hcoap "$P" -a 127.0.0.3 -m get /hello
assert_code 5.03 "hosting port: a fourth request for alice (127.0.0.3) -> 5.03"
assert_contains "$RESP" "Max-Age:1" "... with Max-Age 1"
said_prefix "too many requests in flight to this endpoint" "... saying why"
pcoap "bob.$RR_DOMAIN" -a 127.0.0.3 -m get /hello
assert_code 2.05 "bob is served by name meanwhile"
ctl_assert_counted limit_inflight_source udp "rdrelayctl status counts limit_inflight_source"
ctl_assert_counted limit_inflight_endpoint udp "rdrelayctl status counts limit_inflight_endpoint"
for pid in "$S1" "$S2" "$S3"; do
    bg_wait "$pid" 40 || fail "a slow request did not end"
done
for k in 1 2 3; do
    assert_eq 2.05 "$(bg_code "$T_DIR/slow$k")" "slow request $k on the hosting port was answered"
done
wait_until 15 ctl_counter_is inflight_endpoints 0 udp
assert_eq 0 "$(ctl_relay_counter inflight_endpoints udp)" "afterwards no endpoint is counted in flight"
hcoap "$P" -m get /hello
assert_code 2.05 "alice's hosting port serves 127.0.0.1 again"

# ---- the same bucket on relay-tcp's hosting port
PORT_START=rt_start_all
port_start "rate limit over TCP" --proxy-rate-source 1 --proxy-burst-source 3 --proxy-rate-endpoint 0
_tcp_port_ok() { COAP_TIMEOUT=2 hcoap_tcp "$P" -m get /hello && [ "$CODE" == 2.05 ]; }
wait_until 15 _tcp_port_ok || die "relay-tcp's hosting port $P does not serve alice"
burst8 hcoap_tcp "$P" -m get /hello
[ "$LIMITED" -ge 1 ] && ok "TCP hosting port: $LIMITED of 8 GETs got 5.03 with Max-Age ($OKS served)" ||
    fail "TCP hosting port: no 5.03 with Max-Age among 8 GETs at 1/s, burst 3 ($OKS served)"
hcoap_tcp "$P" -a 127.0.0.2 -m get /hello
assert_code 2.05 "another source (127.0.0.2) is served on the TCP hosting port meanwhile"
ctl_assert_counted limit_rate_source tcp "rdrelayctl status counts limit_rate_source at relay-tcp"
t_done
