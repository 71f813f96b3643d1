#!/usr/bin/env bash
# test_relay_limits_xfwd.sh - max_inflight_per_endpoint holds whichever
# relay a client reached (issue 19): the relay holding the endpoint counts
# the requests other relays forward to it over XFWD as well as its own
# clients'. alice registers over UDP (relay-udp holds her route); a client
# of relay-tcp sends two /slow requests for her (forwarded to relay-udp);
# with max_inflight_per_endpoint 2 a third one, over TCP or over UDP, gets
# 5.03 with Max-Age 1 and the diagnostic, bob (another endpoint) is served
# meanwhile, the hit is logged and counted at relay-udp; once the two slow
# answers came, relay-udp counts no endpoint in flight any more
# (inflight_endpoints 0) and alice is served again over TCP.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_ctl.sh"

RR_EXTRA_ARGS=(--max-inflight-per-endpoint 2 --upstream-timeout-ms 30000)
rt_start_all
reg_start alice --ep alice
reg_start bob --ep bob
H=alice.$RR_DOMAIN

# the route is in relay-tcp's table before we count on it
_tcp_alice_ok() { COAP_TIMEOUT=3 xcoap tcp 4 "$H" -m get /hello && [ "$CODE" == 2.05 ]; }
wait_until 15 _tcp_alice_ok || fail "relay-tcp does not reach alice (registered over UDP)"
wait_until 15 ctl_counter_is exchanges_up 0 udp
assert_eq 0 "$(ctl_relay_counter exchanges_up udp)" "relay-udp reports nothing in flight before the test"

# two slow requests from a relay-tcp client: XFWD to relay-udp, which holds
# them upstream at alice for 12 s
for k in 1 2; do
    coap_bg "$T_DIR/slow$k" -B 30 -O "3,$H" "$(rd_uri_tcp '/slow?ms=12000')"
    eval "SLOW$k=$BG_PID"
done
wait_until 15 ctl_counter_is exchanges_up 2 udp ||
    fail "relay-udp does not hold the two forwarded requests ($(ctl_relay_counter exchanges_up udp))"
assert_eq 1 "$(ctl_relay_counter inflight_endpoints udp)" "relay-udp counts one endpoint (alice) in flight"

xcoap tcp 4 "$H" -m get /hello
assert_code 5.03 "a third request for alice through relay-tcp (XFWD) gets 5.03"
assert_contains "$RESP" "Max-Age:1" "... with Max-Age 1"
assert_contains "$PAYLOAD" "too many requests in flight to this endpoint" "... saying why"
coap -a 127.0.0.2 -O "3,$H" -m get "$(rd_uri /hello)"
assert_code 5.03 "a request for alice from a relay-udp client (127.0.0.2) is limited by the same count"
xcoap tcp 4 "bob.$RR_DOMAIN" -m get /hello
assert_code 2.05 "bob (another endpoint) is served through relay-tcp meanwhile"
assert_eq hello "$PAYLOAD" "... with bob's answer"
log=$(wait_match 5 'more than 2 exchanges in flight to it' cat "$T_DIR/udp.log")
assert_contains "$log" "alice" "relay-udp logs the hit for alice"
ctl_assert_counted limit_inflight_endpoint udp "relay-udp counts limit_inflight_endpoint"

bg_wait "$SLOW1" 30 || fail "the first slow request did not end"
bg_wait "$SLOW2" 30 || fail "the second slow request did not end"
for k in 1 2; do
    assert_match 't:(ACK|CON) c:2\.05 ' "$(cat "$T_DIR/slow$k")" "slow request $k over XFWD was answered 2.05"
done
wait_until 15 ctl_counter_is inflight_endpoints 0 udp ||
    fail "relay-udp still counts an endpoint in flight ($(ctl_relay_counter inflight_endpoints udp))"
assert_eq 0 "$(ctl_relay_counter inflight_endpoints udp)" "after the answers relay-udp counts 0 endpoints in flight"
assert_eq 0 "$(ctl_relay_counter exchanges_up udp)" "... and no exchange upstream"
xcoap tcp 4 "$H" -m get /hello
assert_code 2.05 "alice is served through relay-tcp again"
t_done
