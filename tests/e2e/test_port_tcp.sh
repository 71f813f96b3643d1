#!/usr/bin/env bash
# test_port_tcp.sh - port-based virtual hosting over TCP (issue 18):
# relay-tcp opens the hosting port of every route on its tcp_listen
# addresses, relay-udp the same number on its udp_listen addresses, and
# coap-client-notls with coap+tcp://<IP literal>:<port>/ and no Uri-Host
# reaches the endpoint: GET, Block2, Observe, a slow answer; across
# transports too (a UDP client on the port of a TCP registrant, a TCP
# client on the port of a UDP registrant). A connection to a hosting port
# ends with the registration. The port survives a relay-tcp
# kill -9 (the registrant reconnects and re-registers); a registrant whose
# connection is gone makes its port answer 5.02.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_port.sh"

RR_PORT=$(rr_free_port tu) || die "no free port"
RANGE=$(port_range_free 3) || die "no free port range"
RR_EXTRA_ARGS=(--port-hosting-range "$RANGE" --upstream-timeout-ms 5000)
rt_start_all
treg_start alice --ep alice --lt 600 --obs-interval 400 --reconnect-ms 500
P=$(port_of alice)
assert_ne "" "$P" "alice (over TCP) got hosting port $P"
_tcp_listens() { ss -Htln "( sport = :$1 )" 2>/dev/null | grep -q .; }
wait_until 10 _tcp_listens "$P" || fail "relay-tcp listens on hosting port $P"
wait_until 10 udp_bound "$P" || fail "relay-udp listens on hosting port $P too"

hcoap_tcp "$P" -m get /hello
assert_code 2.05 "GET coap+tcp://127.0.0.1:$P/hello (no Uri-Host) -> alice"
assert_eq hello "$PAYLOAD" "alice's /hello over the TCP hosting port"
coap -m get "coap+tcp://[::1]:$P/hello"
assert_code 2.05 "the same over IPv6"
hcoap_tcp "$P" -m get /.well-known/core
assert_not_contains "$PAYLOAD" "core.rd" "the RD is not reachable on the TCP hosting port"
hcoap_tcp "$P" -O "3,bob.$RR_DOMAIN" -m get /echo
assert_code 2.05 "Uri-Host of another name: still alice"
assert_eq "" "$(echo_opt "$PAYLOAD" 3)" "Uri-Host removed"

"$RDRELAY_BIN/rr-registrant" --print-large >"$T_DIR/large.expected"
hcoap_tcp "$P" -m get /large
assert_code 2.05 "Block2 GET /large over the TCP hosting port"
cmp -s "$T_DIR/coap.body" "$T_DIR/large.expected" && ok "/large arrives byte-identical" ||
    fail "/large differs from the endpoint's body"

COAP_TIMEOUT=15 hcoap_tcp "$P" -m get "/slow?ms=1500"
assert_code 2.05 "slow answer over the TCP hosting port"

port_check_observe "coap+tcp://127.0.0.1:$P/obs" "over the TCP hosting port"

# Across transports: the same number on relay-udp reaches the TCP registrant.
hcoap "$P" -m get /hello
assert_code 2.05 "UDP client on alice's port -> alice over her TCP connection"

reg_start bob --ep bob --lt 600
PB=$(port_of bob)
assert_ne "" "$PB" "bob (over UDP) got hosting port $PB"
wait_until 10 _tcp_listens "$PB" || fail "relay-tcp listens on bob's port too"
hcoap_tcp "$PB" -m get /hello
assert_code 2.05 "TCP client on bob's port -> bob over UDP"

# A client connected to bob's hosting port when his registration goes: the
# connection is closed with the listener (after the quarantine the number
# may be another endpoint's).
coap_bg "$T_DIR/obsb" -s 60 -m get "coap+tcp://127.0.0.1:$PB/obs"
_estab_is() { [ "$(tcp_estab_count "$1")" -ge "$2" ]; }
wait_until 10 _estab_is "$PB" 1 || fail "the observer holds a connection to $PB"
coap -m delete "$(rd_uri "$(reg_location bob)")"
assert_code 2.02 "bob's registration deleted"
_estab_none() { [ "$(tcp_estab_count "$1")" == 0 ]; }
wait_until 10 _estab_none "$PB"
assert_eq 0 "$(tcp_estab_count "$PB")" "the client's connection to bob's hosting port was closed"
_tcp_free() { ! _tcp_listens "$1"; }
wait_until 10 _tcp_free "$PB"
_tcp_listens "$PB" && fail "relay-tcp still listens on $PB" || ok "relay-tcp closed bob's hosting port"

# relay-tcp kill -9: alice reconnects, re-registers, keeps her port.
rr_stop tcp KILL
rt_start_tcp
rt_wait_ready
reg_wait_registered alice 2 20 || fail "alice registered again after relay-tcp's restart"
assert_eq "$P" "$(port_of alice)" "alice keeps her port across a relay-tcp kill -9"
_tcp_ok() { COAP_TIMEOUT=2 hcoap_tcp "$1" -m get /hello; [ "$CODE" == 2.05 ]; }
wait_until 10 _tcp_ok "$P"
hcoap_tcp "$P" -m get /hello
assert_code 2.05 "the TCP hosting port serves again after the restart"

# alice's connection closed and held closed: her port answers 5.02.
kill -USR1 "${T_PIDS[alice]}"
reg_wait_word alice disconnected 2 || fail "alice closed her connection"
hcoap_tcp "$P" -m get /hello
assert_code 5.02 "alice's connection gone: her port answers 5.02"
assert_diagnostic "5.02 carries a diagnostic"
t_done
