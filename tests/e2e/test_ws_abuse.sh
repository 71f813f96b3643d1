#!/usr/bin/env bash
# test_ws_abuse.sh - relay-ws (issue 17) under misbehaving WebSocket peers,
# each while a normal client is served: bad handshakes (another path, no or
# another subprotocol, plain HTTP to /.well-known/coap, not HTTP at all)
# get a clear HTTP status and text; a text frame, a CoAP message with a
# Length nibble, a 16 MiB frame, a peer that never sends its CSM and one
# that never answers a Ping get a WebSocket close with a status code and a
# reason; a request whose every byte is its own TCP segment, one in three
# fragments and a 9000-byte one are answered;
# 1,000 idle connections stay open and cost the others nothing. The relay
# never crashes (the harness fails the test on a sanitizer report).
# Peers: node `ws` and raw node sockets (node/ws_abuse.js).
# ctest: TIMEOUT 400
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_ws.sh"

D=$RR_DOMAIN
# keepalive every second and a short Pong wait: the silent peer is found
# in seconds (defaults 25 s / 20 s); a CSM is due within 3 s
RR_EXTRA_ARGS+=(--nat-keepalive 1 --tcp-pong-timeout-ms 1500 --tcp-timeout-ms 3000)
# the 1,000 idle connections all come from 127.0.0.1: no per-source limit
# here (max_conns_per_source is test_relay_limits.sh's)
RR_EXTRA_ARGS+=(--max-conns-per-source 0)
ws_start_all
wsreg_start bob bob

abuse() { (cd "$NODE_DIR" && timeout 60 node ws_abuse.js "$@" 2>&1); }
served() { # what
    wscoap 4 /hello bob.$D
    assert_eq "2.05 hello from bob" "$CODE $PAYLOAD" "after $1: a normal WebSocket client is served"
    rr_alive ws || die "rdrelay-ws died after $1"
}

# ---- handshakes
out=$(abuse handshake 127.0.0.1 "$WS_PORT" /other coap)
assert_match '^status 404 .*/.well-known/coap' "$out" "upgrade to another path -> 404 naming /.well-known/coap"
out=$(abuse handshake 127.0.0.1 "$WS_PORT" /.well-known/coap)
assert_match '^status 400 .*subprotocol coap' "$out" "upgrade without a subprotocol -> 400 asking for coap"
out=$(abuse handshake 127.0.0.1 "$WS_PORT" /.well-known/coap mqtt)
assert_match '^status 400 .*subprotocol coap' "$out" "upgrade with another subprotocol -> 400"
out=$(abuse plain 127.0.0.1 "$WS_PORT" /.well-known/coap)
assert_match '^status 426 .*upgrade' "$out" "plain HTTP GET /.well-known/coap -> 426 Upgrade Required"
abuse garbage 127.0.0.1 "$WS_PORT" >/dev/null
served "bad handshakes"

# ---- frames
out=$(abuse text "$(ws_uri 4)")
assert_match '^close 1003 .*binary' "$out" "a text frame -> close 1003 with a reason"
served "a text frame"
out=$(abuse length "$(ws_uri 4)")
assert_match '^close 1002 .*Length' "$out" "a CoAP message with a Length nibble -> close 1002 with a reason"
served "a Length nibble"
out=$(abuse big "$(ws_uri 4)" 16)
assert_match '^close 1009 .*Max-Message-Size' "$out" "a 16 MiB frame -> close 1009 (message too big)"
served "a 16 MiB frame"
out=$(abuse fragments "$(ws_uri 4)")
assert_eq "code 2.05" "$out" "a request in three WebSocket fragments is joined and answered (2.05)"
out=$(cd "$NODE_DIR" && WS_PAYLOAD_BYTES=9000 timeout 10 node ws_tool.js get "$(ws_uri 4)" /hello bob.$D 2>&1)
assert_eq "2.05 hello from bob (9000 bytes)" "$out" \
    "a 9000-byte message (more than libwebsockets' 2 KiB receive buffer) reaches the registrant whole"
out=$(abuse split 127.0.0.1 "$WS_PORT")
assert_match '^code 2.05 ' "$out" "handshake, CSM and a GET, every byte its own TCP segment -> 2.05"
served "1-byte segments"

# ---- silent peers
out=$(abuse nocsm 127.0.0.1 "$WS_PORT")
assert_match 'close 1008 .*CSM' "$out" "a peer that never sends its CSM is closed (1008, reason names the CSM)"
out=$(abuse silent 127.0.0.1 "$WS_PORT")
assert_contains "$out" "ping" "a silent peer gets keepalive Pings"
assert_match 'close 1008 .*Pong' "$out" "a peer that never answers a Ping is closed (1008, reason names the Pong)"
served "silent peers"

# ---- 1,000 idle connections
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(cd "$NODE_DIR" && timeout 120 node ws_abuse.js idle "$(ws_uri 4)" 1000 6 >"$T_DIR/idle.out" 2>&1) &
T_BG_PIDS+=($!)
wait_until 60 grep -q '^open ' "$T_DIR/idle.out" || fail "the 1,000 connections did not open"
assert_eq "open 1000" "$(grep '^open ' "$T_DIR/idle.out")" "1,000 WebSocket connections are open and idle"
served "1,000 idle connections (while they are open)"
xcoap udp 4 bob.$D -m get /hello
assert_code 2.05 "a UDP client reaches the WebSocket registrant while 1,000 idle connections are open"
wait_until 60 grep -q '^still ' "$T_DIR/idle.out" || fail "the idle client did not finish"
assert_eq "still 1000" "$(grep '^still ' "$T_DIR/idle.out")" \
    "the idle connections (answering Pings) were all kept"
served "1,000 idle connections"
t_done
