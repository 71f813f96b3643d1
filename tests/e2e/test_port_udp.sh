#!/usr/bin/env bash
# test_port_udp.sh - port-based virtual hosting over UDP (issue 18, BRIEF
# §3.4): a proxied registration gets a hosting port from
# port_hosting_range, shown in the endpoint lookup (port="N"), and
# coap-client-notls with an IP-literal URI and no Uri-Host reaches the
# endpoint on that port (IPv4 and IPv6): GET, Block2, Observe, a slow
# (separate) answer; Uri-Host is ignored there and removed, the RD is never
# reachable there, Hop-Limit is added. The port survives an update, a
# re-registration, an rd-frontend kill -9 and a relay kill -9; a port whose
# endpoint is gone answers 5.02 (or 5.04), and its listener closes with
# the route.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_port.sh"

RR_PORT=$(rr_free_port tu) || die "no free port"
RANGE=$(port_range_free 3) || die "no free port range"
PLO=${RANGE%-*}
RR_EXTRA_ARGS=(--port-hosting-range "$RANGE" --upstream-timeout-ms 3000)
rr_start_all
reg_start alice --ep alice --lt 8

P=$(port_of alice)
assert_eq "$PLO" "$P" "alice got the first hosting port of $RANGE (lookup shows port=\"$PLO\")"
wait_until 10 udp_bound "$P" || fail "relay-udp listens on hosting port $P"
lst=$("$RDRELAY_BIN/rdrelayctl" --state-dir "$T_STATE" list --json)
assert_eq "$P" "$(jq -r '.[] | select(.ep=="alice") | .port' <<<"$lst")" "rdrelayctl list shows the port"
wait_until 10 _hcoap_ok "$P" /hello

# ---------------------------------------------------------------- requests

hcoap "$P" -m get /hello
assert_code 2.05 "GET coap://127.0.0.1:$P/hello (no Uri-Host) -> alice"
assert_eq hello "$PAYLOAD" "alice's /hello through its hosting port"
hcoap6 "$P" -m get /hello
assert_code 2.05 "GET coap://[::1]:$P/hello (IPv6, no Uri-Host) -> alice"

# The RD is never reachable on a hosting port, whatever Uri-Host says.
hcoap "$P" -m get /.well-known/core
assert_code 2.05 "GET /.well-known/core on the hosting port -> 2.05"
assert_contains "$PAYLOAD" "</hello>" "that is alice's discovery document"
assert_not_contains "$PAYLOAD" "core.rd" "not the RD's"
hcoap "$P" -O "3,bob.$RR_DOMAIN" -m get /echo
assert_code 2.05 "GET /echo with Uri-Host of another name -> still alice"
assert_eq "" "$(echo_opt "$PAYLOAD" 3)" "Uri-Host removed before forwarding"
assert_ne "" "$(echo_opt "$PAYLOAD" 16)" "Hop-Limit added"
hcoap "$P" -O 16,0x01 -m get /echo
assert_code 5.08 "Hop-Limit 1 on the hosting port -> 5.08 (forwarding rules hold)"

# Block2: the whole body, block by block, the same as directly.
port_check_block2 "$P" /large "coap://127.0.0.1:$(reg_port alice)/large" "on the hosting port"

# A slow answer: empty ACK, then a separate response.
COAP_TIMEOUT=15 hcoap "$P" -m get "/slow?ms=1500"
assert_code 2.05 "slow (separate) answer through the hosting port"

# Observe: notifications keep coming through the hosting port.
port_check_observe "coap://127.0.0.1:$P/obs" "on the hosting port"

# ---------------------------------------------------------------- the port stays

reg_wait_renewed alice 1 || fail "alice renewed"
assert_eq "$P" "$(port_of alice)" "an update keeps the port"

rr_stop frontend KILL
hcoap "$P" -m get /hello
assert_code 2.05 "rd-frontend killed: the hosting port keeps serving"
rr_start_frontend
rr_wait_ready
assert_eq "$P" "$(port_of alice)" "after rd-frontend kill -9 the port is the same"

rr_stop udp KILL
rr_start_udp
rr_wait_ready
wait_until 10 _hcoap_ok "$P" /hello
hcoap "$P" -m get /hello
assert_code 2.05 "relay-udp killed and restarted: the hosting port serves again"

rr_stop alice TERM
reg_start alice --ep alice --lt 8
assert_eq "$P" "$(port_of alice)" "a re-registration of the same ep keeps the port"
hcoap "$P" -m get /hello
assert_code 2.05 "the re-registered alice on the same port"

# A second registration gets another port; both ports work side by side.
reg_start bob --ep bob --lt 600
PB=$(port_of bob)
assert_ne "" "$PB" "bob got a hosting port"
assert_ne "$P" "$PB" "bob's port differs from alice's"
wait_until 10 _hcoap_ok "$PB" /hello
hcoap "$PB" -m get /echo
assert_code 2.05 "bob on his port"
hcoap "$P" -m get /hello
assert_code 2.05 "alice on hers"

# ---------------------------------------------------------------- path down

rr_stop bob KILL
hcoap "$PB" -m get /hello
assert_match '^5\.0[24]$' "$CODE" "bob killed: his port answers 5.02 (path gone) or 5.04, got $CODE"

# A deleted registration's route and listener go.
coap -m delete "$(rd_uri "$(reg_location alice)")"
assert_code 2.02 "DELETE alice's registration"
_udp_free() { ! udp_bound "$1"; }
wait_until 10 _udp_free "$P" || fail "the listener on $P closes with the route"
assert_eq "" "$(port_of alice)" "no lookup shows alice's port any more"
t_done
