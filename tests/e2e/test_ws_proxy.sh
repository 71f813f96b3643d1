#!/usr/bin/env bash
# test_ws_proxy.sh - relay-ws (issue 17): the RD and the proxy over CoAP
# over WebSockets, cross-transport in both directions. A registrant that
# registers with proxy=yes over a WebSocket is reached over that WebSocket
# from UDP, TCP and WebSocket clients (IPv4 and IPv6); a WebSocket client
# reaches endpoints registered over UDP and TCP; Observe and a slow
# (separate) answer pass; when the registrant's WebSocket closes the next
# request gets 5.02 at once (not 5.04 after the upstream timeout), and a
# new registration over a new WebSocket takes the route over; after
# rdrelay-ws is killed and restarted the old route gets 5.02 until the
# endpoint registers again.
# Clients and registrants: coap-client-notls (UDP, TCP), rr-registrant
# (UDP, TCP), node `ws` (node/ws_tool.js) for WebSocket.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_ws.sh"

D=$RR_DOMAIN
# a long upstream timeout: a 5.02 that only came after it would be 5.04
RR_EXTRA_ARGS+=(--upstream-timeout-ms 30000)
ws_start_all
ok "the RD answers over coap+ws on IPv4 and IPv6 (GET /.well-known/core -> 2.05)"

# ---- registration over a WebSocket
wsreg_start bob bob
assert_match '^2.01 registered /reg/' "$(grep '^2.01' "$T_DIR/bob.log")" "bob registers over a WebSocket (2.01)"
rd_lookup_ep "ep=bob"
assert_contains "$PAYLOAD" 'base="coap://bob.'"$D"'"' "bob's lookup entry shows its proxy name as base"
assert_match "route bob.$D -> .* via ws conn" "$(grep "route bob.$D" "$T_DIR/ws.log")" \
    "rdrelay-ws holds bob's route on its connection"

# ---- X -> WS
xcoap udp 4 bob.$D -m get /hello
assert_code 2.05 "UDP client (IPv4) -> WebSocket registrant: 2.05"
assert_eq "hello from bob" "$PAYLOAD" "UDP -> WS payload"
xcoap udp 6 bob.$D -m get /hello
assert_code 2.05 "UDP client (IPv6) -> WebSocket registrant: 2.05"
xcoap tcp 4 bob.$D -m get /hello
assert_code 2.05 "TCP client -> WebSocket registrant: 2.05"
assert_eq "hello from bob" "$PAYLOAD" "TCP -> WS payload"
wscoap 4 /hello bob.$D
assert_code 2.05 "WebSocket client -> WebSocket registrant (same relay): 2.05"
assert_eq "hello from bob" "$PAYLOAD" "WS -> WS payload"
wscoap 6 /hello bob.$D
assert_code 2.05 "WebSocket client over IPv6 -> WebSocket registrant: 2.05"
xcoap udp 4 bob.$D -m get /nothing
assert_code 4.04 "the registrant's own 4.04 comes back through the relay"
assert_eq 6 "$(grep -c '^request 0.01 /' "$T_DIR/bob.log")" "bob saw the 6 GETs, over its own WebSocket"

# ---- WS -> UDP, WS -> TCP
xreg_start alice udp 4 --ep alice --lt 600 --obs-interval 300
xreg_start carol tcp 4 --ep carol --lt 600
wscoap 4 /hello alice.$D
assert_code 2.05 "WebSocket client -> UDP registrant: 2.05"
assert_eq hello "$PAYLOAD" "WS -> UDP payload"
wscoap 4 /hello carol.$D
assert_code 2.05 "WebSocket client -> TCP registrant: 2.05"
assert_eq hello "$PAYLOAD" "WS -> TCP payload"
wscoap 6 "/slow?ms=1200" alice.$D
assert_code 2.05 "WebSocket client -> UDP registrant, answer after 1.2 s (separate on the UDP side): 2.05"
assert_eq "slow 1200" "$PAYLOAD" "the slow answer's payload"
wscoap 4 /hello nobody.$D
assert_code 5.05 "WebSocket client, unknown name -> 5.05"

# ---- Observe across transports (WS client, UDP registrant)
obs=$(cd "$NODE_DIR" && timeout 20 node ws_tool.js observe "$(ws_uri 4)" /obs alice.$D 3 2>&1)
assert_eq 3 "$(grep -cE '^2\.05 [0-9]+ ' <<<"$obs")" "Observe over a WebSocket: the answer and 2 notifications came"
if [ "$(awk '{print $2}' <<<"$obs" | sort -n | uniq | wc -l)" -eq 3 ]; then
    ok "each notification has its own Observe number"
else
    fail "Observe numbers: $obs"
fi

# ---- the registrant's WebSocket closes: 5.02 at once
rr_stop bob KILL
wait_until 10 _ws_route_closed bob.$D 1 || fail "rdrelay-ws did not see bob's WebSocket close"
t0=$(ms_now)
xcoap udp 4 bob.$D -m get /hello
t1=$(ms_now)
assert_code 5.02 "bob's WebSocket closed: a UDP client gets 5.02 (after $((t1 - t0)) ms, upstream timeout 30 s)"
assert_contains "$PAYLOAD" "unreachable" "the 5.02 diagnostic says the registrant is unreachable"
wscoap 4 /hello bob.$D
assert_code 5.02 "bob's WebSocket closed: a WebSocket client gets 5.02"
assert_contains "$PAYLOAD" "its WebSocket closed" "rdrelay-ws's own 5.02 diagnostic says since when and why"
xcoap tcp 4 bob.$D -m get /hello
assert_code 5.02 "bob's WebSocket closed: a TCP client gets 5.02"

# ---- reconnect and re-register: the new WebSocket takes the route over
wsreg_start bob2 bob
xcoap udp 4 bob.$D -m get /hello
assert_code 2.05 "bob registered again over a new WebSocket: reachable again from UDP"
wscoap 4 /hello bob.$D
assert_code 2.05 "... and from a WebSocket client"
assert_eq 2 "$(grep -c '^request 0.01 /hello' "$T_DIR/bob2.log")" "the requests went over the new WebSocket"

# ---- other clients unaffected by all of this
xcoap udp 4 alice.$D -m get /hello
assert_code 2.05 "alice (UDP) still reachable"

# ---- rdrelay-ws killed and restarted: its connections are gone with it
rr_stop ws KILL
wait_until 10 grep -q '^closed' "$T_DIR/bob2.log" || fail "bob2 did not see its WebSocket end"
ws_start
ws_wait_ready
xcoap udp 4 bob.$D -m get /hello
assert_code 5.02 "after rdrelay-ws restarted, bob's old route -> 5.02 at once (its WebSocket died with the relay)"
xcoap udp 4 alice.$D -m get /hello
assert_code 2.05 "alice (UDP registrant) never noticed"
wsreg_start bob3 bob
xcoap udp 4 bob.$D -m get /hello
assert_code 2.05 "bob registered again over the restarted relay: reachable"
t_done
