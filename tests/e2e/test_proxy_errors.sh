#!/usr/bin/env bash
# test_proxy_errors.sh - how the UDP proxy says no (issue 11, BRIEF §3.3):
# unknown proxy name -> 5.05, forward-proxy requests -> 5.05, an unknown
# unsafe option in a request -> 4.02 (unless the operator lists it in
# extra_options), in a response -> 5.02, known options in responses (Max-Age)
# pass, Hop-Limit is decremented and 1 ends in 5.08, a forwarding loop
# (a registrant that forwards back to rdrelay) ends in 5.08 after a bounded
# number of hops, and an endpoint that does not answer -> 5.04.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

H=alice.$RR_DOMAIN
# Short upstream timeout for the 5.04 case; keepalive off so that a dead
# endpoint is found by the timeout, not by the keepalive (test_nat_udp).
RR_EXTRA_ARGS=(--upstream-timeout-ms 2000 --nat-keepalive 0)
rr_start_all
reg_start alice --ep alice --lt 600

# ---------------------------------------------------------------- names

pcoap nobody.$RR_DOMAIN -m get /hello
assert_code 5.05 "unknown name nobody.$RR_DOMAIN -> 5.05"
assert_contains "$PAYLOAD" "no registration with that name" "5.05 diagnostic names the reason"

pcoap nobody.$RR_DOMAIN -m post -e x /echo
assert_code 5.05 "unknown name, POST -> 5.05"

pcoap $H -m get -O "35,coap://example.org/x" /hello
assert_code 5.05 "a Proxy-Uri request (forward proxying) -> 5.05"
coap -m get -O "35,coap://example.org/x" "$(rd_uri /hello)"
assert_code 5.05 "a Proxy-Uri request without Uri-Host -> 5.05"
# (Proxy-Scheme: coap-client then sends to port 5683 whatever the URI says;
# node/proxy_basic.test.js sends that one.)

# ---------------------------------------------------------------- options

# 65002: elective (even) but unsafe to forward (bit 1 set), unregistered.
# The endpoint itself would ignore it (elective), so a 4.02 can only come
# from the relay.
coap -m get -O 65002,0x01 "coap://127.0.0.1:$(reg_port alice)/echo"
assert_code 2.05 "sent directly, the endpoint ignores elective option 65002"
pcoap $H -m get -O 65002,0x01 /echo
assert_code 4.02 "unknown unsafe option 65002 in a request -> 4.02 from the relay"
assert_diagnostic "4.02 carries a diagnostic"
pcoap $H -m get -O 65000,0x01 /echo
assert_code 2.05 "unknown safe option 65000 -> forwarded (2.05)"

# In a response from the endpoint.
pcoap $H -m get "/echo?ropt=65002"
assert_code 5.02 "unknown unsafe option 65002 in the endpoint's response -> 5.02"
pcoap $H -m get "/echo?ropt=65000"
assert_code 2.05 "unknown safe option 65000 in the response passes"
assert_contains "$RESP" "65000:" "the response still carries option 65000"
pcoap $H -m get "/echo?ropt=14"
assert_code 2.05 "Max-Age in the response passes (2.05)"
assert_contains "$RESP" "Max-Age:1" "the response carries Max-Age unchanged"

# ---------------------------------------------------------------- Hop-Limit

pcoap $H -m get -O 16,0x05 /echo
assert_code 2.05 "Hop-Limit 5 -> forwarded"
# relay: 5 -> 4; the endpoint (libcoap) decrements once more before /echo.
assert_eq 03 "$(echo_opt "$PAYLOAD" 16)" "the relay decremented Hop-Limit (5 -> 4, endpoint saw 3 after its own hop)"
pcoap $H -m get -O 16,0x01 /echo
assert_code 5.08 "Hop-Limit 1 -> 5.08 from the relay (nothing left to forward with)"

# A registrant that is itself a reverse proxy pointing back at rdrelay with
# Uri-Host loop.<domain> (a misconfigured rdrelay-connect): a loop that only
# Hop-Limit ends.
reg_start loop --ep loop --forward "coap://127.0.0.1:$RR_PORT" --forward-host "loop.$RR_DOMAIN"
COAP_TIMEOUT=30 pcoap loop.$RR_DOMAIN -m get /hello
assert_code 5.08 "a forwarding loop through rdrelay ends in 5.08"
px_assert_loop_bounded loop

# ---------------------------------------------------------------- endpoint gone

# An endpoint that does not answer (stopped: its socket stays open, so no
# ICMP error comes back) -> 5.04 after the upstream timeout.
kill -STOP "${T_PIDS[alice]}"
pcoap $H -m get /hello
assert_code 5.04 "endpoint stopped (no answer): the relay answers 5.04 after --upstream-timeout-ms"
assert_diagnostic "5.04 carries a diagnostic"
kill -CONT "${T_PIDS[alice]}"
# An endpoint whose socket is gone: the ICMP port unreachable tells the
# relay at once (5.02); a relay that ignores ICMP would time out (5.04).
rr_stop alice KILL
pcoap $H -m get /hello
assert_match '^5\.0[24]$' "$CODE" "endpoint killed: 5.02 (path gone) or 5.04 (timeout), got $CODE"

# ---------------------------------------------------------------- extra_options

rr_stop udp
RR_EXTRA_ARGS+=(--extra-options 65002)
rr_start_udp
rr_wait_ready
reg_start alice2 --ep alice2 --lt 600
pcoap alice2.$RR_DOMAIN -m get -O 65002,0x2a /echo
assert_code 2.05 "with extra_options=65002 the operator's option is forwarded"
assert_eq 2a "$(echo_opt "$PAYLOAD" 65002)" "option 65002 arrives unchanged"

t_done
