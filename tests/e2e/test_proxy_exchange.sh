#!/usr/bin/env bash
# test_proxy_exchange.sh - the message layer of the UDP proxy (issue 11):
# piggybacked vs separate responses around EMPTY_ACK_DELAY (the endpoint's
# /slow?ms=N answers separately after N ms), two clients using the same
# token at the same time each getting their own answer, Observe through the
# relay (>= 3 notifications, and the client's cancellation reaching the
# endpoint), and --empty-ack-delay-ms 0 (always an empty ACK at once).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

px_start_alice --obs-interval 400

# ---------------------------------------------------------------- EMPTY_ACK_DELAY (100 ms)

pcoap_wire $H -m get "/slow?ms=10"
assert_code 2.05 "/slow?ms=10 -> 2.05"
assert_eq "slow 10" "$PAYLOAD" "/slow?ms=10 payload"
assert_eq piggybacked "$(wire_answer_kind)" \
    "endpoint answers (separately) after 10 ms < EMPTY_ACK_DELAY: the client gets it piggybacked"

pcoap_wire $H -m get "/slow?ms=0"
assert_eq piggybacked "$(wire_answer_kind)" "an immediate answer is piggybacked"

pcoap_wire $H -m get "/slow?ms=700"
assert_code 2.05 "/slow?ms=700 -> 2.05"
assert_eq "slow 700" "$PAYLOAD" "/slow?ms=700 payload"
assert_eq separate "$(wire_answer_kind)" \
    "endpoint answers after 700 ms > EMPTY_ACK_DELAY: an empty ACK of the request first, then a CON response"
assert_match '^v:1 t:CON c:2\.05 ' "$RESP" "the separate response is confirmable"

# ---------------------------------------------------------------- same token, two clients

# Two clients (two sockets) use token "cafe" at the same time. The slower
# one asked for 900 ms, the faster for 300 ms: each must get its own answer.
px_same_token $H
tokA=$(grep -m1 -E '^v:1 t:CON c:GET ' "$T_DIR/tokA" | grep -oE '\{[0-9a-f]*\}')
tokB=$(grep -m1 -E '^v:1 t:CON c:GET ' "$T_DIR/tokB" | grep -oE '\{[0-9a-f]*\}')
assert_eq "$tokA" "$tokB" "both clients really used the same token $tokA"
assert_contains "$(grep -m1 -E '^v:1 t:(CON|ACK) c:2\.05' "$T_DIR/tokA")" "$tokA" \
    "client A's answer carries that token"

# The same with the answers the other way round (fast first for A).
coap_bg "$T_DIR/tokC" -B 10 -T beef -O "3,$H" "$(rd_uri '/slow?ms=50')"
pidC=$BG_PID
coap_bg "$T_DIR/tokD" -B 10 -T beef -O "3,$H" "$(rd_uri '/echo')"
pidD=$BG_PID
wait "$pidC" "$pidD"
assert_eq "slow 50" "$(cat "$T_DIR/tokC.body" 2>/dev/null)" "client C (token beef, /slow) got its own answer"
assert_match '^code:0\.01' "$(cat "$T_DIR/tokD.body" 2>/dev/null)" "client D (token beef, /echo) got its own answer"

# ---------------------------------------------------------------- Observe

coap_bg "$T_DIR/obs" -B 20 -s 4 -O "3,$H" "$(rd_uri /obs)"
pidO=$BG_PID
wait "$pidO"
first=$(grep -E '^v:1 t:ACK c:2\.05 ' "$T_DIR/obs" | head -n 1)
assert_match 'Observe:[0-9]+' "$first" "the first answer to GET /obs (Observe: 0) carries Observe"
notes=$(grep -cE '^v:1 t:(CON|NON) c:2\.05 .*Observe:' "$T_DIR/obs")
if [ "$notes" -ge 3 ]; then
    ok "the observer got $notes notifications through the relay in 4 s (every 400 ms)"
else
    fail "the observer got $notes notifications through the relay in 4 s, expected >= 3"
fi
# Notification values increase ("obs N"), and coap-client's cancellation
# when -s runs out reaches the endpoint.
px_assert_obs_end "$T_DIR/obs" alice

# ---------------------------------------------------------------- --empty-ack-delay-ms 0

rr_stop udp
# --amplification-limit 0: every answer is a separate response now, and
# libcoap 4.3.1 repeats a request with an Echo only after a piggybacked
# 4.01, not after a separate one (docs/security.md)
RR_EXTRA_ARGS=(--empty-ack-delay-ms 0 --amplification-limit 0)
rr_start_udp
rr_wait_ready
pcoap_wire $H -m get /hello
assert_code 2.05 "after a relay restart with --empty-ack-delay-ms 0: /hello -> 2.05"
assert_eq separate "$(wire_answer_kind)" "with EMPTY_ACK_DELAY 0 even a fast answer is separate (empty ACK at once)"

t_done
