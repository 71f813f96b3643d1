#!/usr/bin/env bash
# test_connect_ws.sh - the CoAP-over-WebSocket client side on loopback
# (issue 17), real peers: an unmodified coap-server-notls with
# `rdrelay-connect serve --rd coap+ws://` beside it, registered over ONE
# WebSocket to rdrelay-ws (role reversal: requests for the name come back
# over it). Clients reach it by name over UDP (coap-client-notls), TCP
# (coap-client-notls coap+tcp://) and WebSocket (rr-wsclient, and
# coap-client-notls through rr-wsclient --bridge): GET, Block2, Observe, a
# separate response. Connection loss: kill -9 of rdrelay-ws -> clients get
# 5.02, serve reconnects and registers again -> reachable again. The
# registrant fixture over WebSocket (rr-registrant --rd coap+ws://):
# registered, reachable, SIGUSR1 closes its WebSocket -> 5.02, SIGUSR2 ->
# registered and reachable again. A handshake with a non-WebSocket server
# fails cleanly. `list --rd coap+ws://` asks over a WebSocket, `reach --rd
# coap+ws://` forwards a local UDP client over one (GET, Block2, a separate
# answer, Observe). coaps+ws://
# (TLS, a self-signed certificate made here): rr-wsclient, serve, list and
# the registrant with --ca; without it the certificate is refused. SIGTERM
# of serve: DELETE over the WebSocket, exit 0.
# Uses lib.sh, lib_proxy.sh, lib_tcp.sh (rt_start_all, xcoap) and
# lib_connect.sh (serve's start, checks and restarts).
# ctest: TIMEOUT 300
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_connect.sh"

WSC=$RDRELAY_BIN/rr-wsclient
[ -x "$WSC" ] || die "rr-wsclient is not built"
[ -x "$RDRELAY_BIN/rdrelay-ws" ] || die "rdrelay-ws is not built"

out=$("$CONNECT" serve --help)
assert_contains "$out" "coap+ws://" "serve --help documents the WebSocket transport"
assert_contains "$("$WSC" --help)" "coap[s]+ws://" "rr-wsclient --help"
"$CONNECT" serve --rd coap+ws://127.0.0.1:8683 --transport tcp --ep alice coap://127.0.0.1:5683 2>/dev/null
assert_eq 2 $? "serve with --transport tcp and a coap+ws:// --rd exits 2"

# ------------------------------------------------------------ setup

WS_PORT=$(rr_free_port t) || die "no free TCP port"
WSS_PORT=$(rr_free_port t) || die "no free TCP port"
RR_EXTRA_ARGS+=(--ws-listen "127.0.0.1:$WS_PORT,[::1]:$WS_PORT")
# coaps+ws: a self-signed certificate for 127.0.0.1 (and its own CA)
command -v openssl >/dev/null || die "openssl is not installed"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T_DIR/key.pem" -out "$T_DIR/cert.pem" \
    -days 2 -subj "/CN=localhost" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    >/dev/null 2>&1 || die "openssl could not make a certificate"
rt_start_all
ws_start() {
    rr_common_args
    rr_start ws rdrelay-ws "${RR_ARGS[@]}" --ws-tls-listen "127.0.0.1:$WSS_PORT" \
        --ws-tls-cert "$T_DIR/cert.pem" --ws-tls-key "$T_DIR/key.pem"
}
ws_uri() { echo "coap+ws://127.0.0.1:$WS_PORT$1"; }

# wsreq [rr-wsclient options...] PATH: one request over WebSocket; sets
# WS_OUT (everything it printed), CODE (the last "code" line) and BODY
# (the "payload" of the last answer, or the Block2 "body").
wsreq() {
    local path=${*: -1}
    WS_OUT=$(timeout 20 "$WSC" -w 5000 "${@:1:$#-1}" "$(ws_uri "$path")" 2>"$T_DIR/wsc.err")
    CODE=$(grep -E '^code ' <<<"$WS_OUT" | tail -n 1 | cut -d' ' -f2)
    [ -n "$CODE" ] || CODE=timeout
    if grep -q '^body-len ' <<<"$WS_OUT"; then
        BODY=$(sed -n '/^body /,/^body-len /p' <<<"$WS_OUT" | sed '1s/^body //;$d')
    else
        BODY=$(grep -E '^payload ' <<<"$WS_OUT" | tail -n 1 | cut -d' ' -f2-)
    fi
}
_ws_ready() { wsreq /.well-known/core; [ "$CODE" == 2.05 ]; }
ws_start
wait_until 20 _ws_ready || die "rdrelay-ws did not answer over WebSocket within 20 s"
assert_contains "$BODY" "rt=core.rd" "rr-wsclient: discovery over WebSocket"

ws_estab_count() { ss -Htn state established "( dport = :$WS_PORT )" 2>/dev/null | grep -c . || true; }

start_origin
cn_serve_start "$(ws_uri "")" WebSocket "^coap\+ws://127\.0\.0\.1:$WS_PORT/reg/[0-9]+$"
assert_eq 1 "$(wait_output 5 1 ws_estab_count)" "serve holds one WebSocket connection to rdrelay-ws"
assert_contains "$(wait_match 5 "connected to rdrelay over WebSocket" cat "$T_DIR/serve.log")" \
    "over WebSocket" "serve says it is connected over WebSocket"
cn_serve_csm rdrelay-ws

cn_lookup_alice
out=$(timeout 20 "$CONNECT" list --rd "$(ws_uri "")")
assert_match "alice +- +alice\.$RR_DOMAIN" "$out" "list --rd coap+ws:// shows alice and its host name"

# ------------------------------------------------------------ by name, every transport

cn_by_name_suites WebSocket

# WebSocket clients: rr-wsclient
wsreq -H "$HOST" /time
assert_eq 2.05 "$CODE" "ws client: GET /time by name (WS -> WS)"
assert_match '[0-9]{2}:[0-9]{2}:[0-9]{2}' "$BODY" "ws client: /time answers the origin's clock"
wsreq -H "$HOST" -b 2 /example_data
assert_eq 2.05 "$CODE" "ws client: GET /example_data with Block2 (szx 2) by name"
assert_eq "$DIRECT" "$BODY" "ws client: the Block2 body is identical to direct"
blocks=$(grep -c '^opt 23 ' <<<"$WS_OUT" || true)
assert_match '^([2-9]|[1-9][0-9]+)$' "$blocks" "ws client: the body came in several blocks ($blocks)"
wsreq -H "$HOST" '/async?2'
assert_eq "done" "$BODY" "ws client: the separate answer arrives over WebSocket"
wsreq -H "$HOST" -s 2 /time
assert_eq 2 "$(grep -c '^notification ' <<<"$WS_OUT")" "ws client: Observe /time, 2 notifications after the first"
assert_contains "$WS_OUT" "opt 6 hex:" "ws client: notifications carry Observe"
assert_contains "$WS_OUT" "cancel" "ws client: the observation is cancelled"
wsreq -H "nobody.$RR_DOMAIN" /time
assert_eq 5.05 "$CODE" "ws client: an unknown name gets 5.05"

# coap-client-notls as a WebSocket client through the bridge
BR_PORT=$(rr_free_port t) || die "no free TCP port"
rr_start bridge "$WSC" --bridge "127.0.0.1:$BR_PORT" "$(ws_uri "")"
wait_until 10 grep -q '^bridge listening' "$T_DIR/bridge.log" || die "the bridge did not start"
coap -m get -O "3,$HOST" "coap+tcp://127.0.0.1:$BR_PORT/example_data"
assert_code 2.05 "coap-client through rr-wsclient --bridge: GET /example_data by name"
assert_eq "$DIRECT" "$PAYLOAD" "coap-client through the bridge: the body is identical to direct"
rr_stop bridge

cn_keepalive WebSocket rdrelay-ws

# ------------------------------------------------------------ reach over WebSocket

REACH_PORT=$(rr_free_port) || die "no free UDP port"
rr_start reach "$CONNECT" reach --rd "$(ws_uri "")" --host "$HOST" --listen "127.0.0.1:$REACH_PORT" \
    --log-level debug
wait_until 10 grep -q 'connected to rdrelay over WebSocket' "$T_DIR/reach.log" ||
    die "reach did not connect over WebSocket"
coap -m get "coap://127.0.0.1:$REACH_PORT/time"
assert_code 2.05 "reach --rd coap+ws://: a client without Uri-Host gets /time through one WebSocket"
coap -m get "coap://127.0.0.1:$REACH_PORT/example_data"
assert_eq "$DIRECT" "$PAYLOAD" "reach over WebSocket: the Block2 body is identical to direct"
coap -m get "coap://127.0.0.1:$REACH_PORT/async?2"
assert_eq "done" "$PAYLOAD" "reach over WebSocket: the separate answer arrives"
cn_observe "$T_DIR/obs_reach.out" "reach over WebSocket: Observe /time, at least 3 notifications" \
    "coap://127.0.0.1:$REACH_PORT/time"
rr_stop reach

# ------------------------------------------------------------ a bad handshake

out=$(timeout 10 "$WSC" -w 3000 "coap+ws://127.0.0.1:$RR_PORT/x" 2>&1)
assert_eq 1 "$(timeout 10 "$WSC" -w 3000 "coap+ws://127.0.0.1:$RR_PORT/x" >/dev/null 2>&1; echo $?)" \
    "rr-wsclient against a non-WebSocket server (relay-tcp's port) exits 1"
assert_contains "$out" "error" "rr-wsclient reports the failed handshake"

# ------------------------------------------------------------ connection loss

cn_kill_relay ws WebSocket
wait_until 10 cn_by_name_is udp 5.02
assert_eq 0 $? "while rdrelay-ws is down, requests by name get 5.02 (got $CODE)"
ws_start
wait_until 20 _ws_ready || die "rdrelay-ws did not come back"
cn_wait_reregistered WebSocket
wait_until 15 cn_by_name_is udp 2.05
assert_eq 0 $? "after the reconnect, requests by name (UDP client) work again"
wsreq -H "$HOST" /time
assert_eq 2.05 "$CODE" "after the reconnect, requests by name (WS client) work again"
assert_eq 1 "$(wait_output 5 1 ws_estab_count)" "again one WebSocket connection"

# ------------------------------------------------------------ the registrant fixture over WS

rr_start bob rr-registrant --rd "$(ws_uri /rd)" --ep bob --listen 127.0.0.1:0 --reconnect-ms 500
reg_wait_word bob registered 1 || die "rr-registrant over WebSocket did not register"
BOB=bob.$RR_DOMAIN
xcoap udp 4 "$BOB" -m get /hello
assert_code 2.05 "UDP client -> rr-registrant registered over WebSocket: /hello"
wsreq -H "$BOB" -m put -e wsbody -O 9,0x0102 /echo
assert_eq 2.04 "$CODE" "WS client -> WS registrant: PUT /echo"
assert_contains "$WS_OUT" "opt:9:0102" "the OSCORE option arrives byte-identical over two WebSockets"
assert_contains "$WS_OUT" "payload:$(printf wsbody | od -An -tx1 | tr -d ' \n')" \
    "the payload arrives unchanged"
kill -USR1 "${T_PIDS[bob]}"
reg_wait_word bob disconnected 1 || die "rr-registrant did not close its WebSocket"
_bob_code() { COAP_TIMEOUT=2 xcoap udp 4 "$BOB" -m get /hello; [ "$CODE" == "$1" ]; }
wait_until 10 _bob_code 5.02
assert_eq 0 $? "its WebSocket closed: requests for bob get 5.02 (got $CODE)"
kill -USR2 "${T_PIDS[bob]}"
reg_wait_word bob registered 2 || die "rr-registrant did not register again"
wait_until 10 _bob_code 2.05
assert_eq 0 $? "reconnected and registered again: bob is reachable"
rr_stop bob

# ------------------------------------------------------------ coaps+ws (TLS)

wss_uri() { echo "coaps+ws://127.0.0.1:$WSS_PORT$1"; }
out=$(timeout 20 "$WSC" -w 5000 --ca "$T_DIR/cert.pem" "$(wss_uri /.well-known/core)" 2>&1)
assert_contains "$out" "code 2.05" "rr-wsclient over coaps+ws:// (TLS, certificate checked): discovery"
out=$(timeout 20 "$WSC" -w 5000 "$(wss_uri /.well-known/core)" 2>&1)
assert_contains "$out" "certificate" "without --ca the self-signed certificate is refused (TLS is real)"
out=$(timeout 20 "$WSC" -w 5000 --ca "$T_DIR/cert.pem" \
    "coaps+ws://localhost:$WSS_PORT/.well-known/core" 2>&1)
assert_contains "$out" "code 2.05" "the certificate's DNS name is accepted too (localhost)"
rr_start carol "$CONNECT" serve --rd "$(wss_uri "")" --ca "$T_DIR/cert.pem" --log-level debug \
    --ep "carol=coap://127.0.0.1:$ORIGIN_PORT"
wait_until 20 grep -q '^carol: clients use' "$T_DIR/carol.log" || die "serve over coaps+ws did not register"
assert_contains "$(grep '^carol: clients use' "$T_DIR/carol.log")" "coaps+ws://127.0.0.1:$WSS_PORT/reg/" \
    "serve registers over coaps+ws://"
xcoap udp 4 "carol.$RR_DOMAIN" -m get /example_data
assert_code 2.05 "UDP client -> serve registered over TLS WebSocket: Block2 by name"
assert_eq "$DIRECT" "$PAYLOAD" "... the body is identical to direct"
out=$(timeout 20 "$CONNECT" list --rd "$(wss_uri "")" --ca "$T_DIR/cert.pem")
assert_match "carol +- +carol\.$RR_DOMAIN" "$out" "list --rd coaps+ws:// shows carol"
rr_stop carol TERM
assert_eq 0 "$RR_EXIT" "serve over coaps+ws exits 0 on SIGTERM"
rr_start dave rr-registrant --rd "$(wss_uri /rd)" --ca "$T_DIR/cert.pem" --ep dave --listen 127.0.0.1:0
reg_wait_word dave registered 1 || die "rr-registrant over coaps+ws did not register"
xcoap udp 4 "dave.$RR_DOMAIN" -m get /hello
assert_code 2.05 "UDP client -> rr-registrant registered over coaps+ws: /hello"
rr_stop dave

# ------------------------------------------------------------ SIGTERM

cn_stop_serve WebSocket

t_done
