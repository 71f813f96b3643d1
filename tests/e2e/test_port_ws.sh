#!/usr/bin/env bash
# test_port_ws.sh - port-based virtual hosting over WebSockets (issue 18):
# rdrelay-ws opens every route's hosting port as a coap+ws listener on its
# ws_listen addresses that tcp_listen does not also use (one TCP port has
# one listener per address; there the listener is relay-tcp's, which hands
# coap+ws connections over: test_port_samenum.sh), here 127.0.0.2. The WebSocket test client (node ws_tool.js) sends no Uri-Host
# to ws://127.0.0.2:<port> and reaches a UDP registrant: GET, a slow
# answer, Observe (no Block2: the test client does not do block-wise);
# across to a WebSocket registrant too; relay-ws kill -9 reopens the port.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_ws.sh"
. "$(dirname "$0")/lib_port.sh"

[ -x "$RDRELAY_BIN/$WS_PROG" ] || die "$WS_PROG is not built"
ws_need_node
RR_PORT=$(rr_free_port tu) || die "no free port"
WS_PORT=$(rr_free_port t) || die "no free port"
RANGE=$(port_range_free 3) || die "no free port range"
RR_EXTRA_ARGS=(--port-hosting-range "$RANGE")
rt_start_all
# relay-ws on 127.0.0.2 (its own address) and on 127.0.0.1 (shared with
# relay-tcp: no hosting ports there)
ws_start_own() {
    rr_common_args
    rr_start ws "$WS_PROG" "${RR_ARGS[@]}" --ws-listen "127.0.0.2:$WS_PORT,127.0.0.1:$WS_PORT"
}
ws_start_own
wsget() { # URI PATH [HOST]
    local out
    out=$(cd "$NODE_DIR" && timeout 10 node ws_tool.js get "$1" "$2" "${3:-}" 2>&1)
    CODE=${out%% *}
    PAYLOAD=${out#* }
}
_ws_rd_ok() { wsget "ws://127.0.0.2:$WS_PORT" /.well-known/core; [ "$CODE" == 2.05 ]; }
wait_until 30 _ws_rd_ok || die "rdrelay-ws did not answer on 127.0.0.2:$WS_PORT"
assert_contains "$(cat "$T_DIR/ws.log")" "no coap+ws hosting ports there" \
    "relay-ws leaves the address it shares with tcp_listen to relay-tcp"

reg_start alice --ep alice --lt 600 --obs-interval 300
P=$(port_of alice)
assert_ne "" "$P" "alice got hosting port $P"
_ws_ok() { wsget "ws://127.0.0.2:$1" /hello; [ "$CODE" == 2.05 ]; }
wait_until 10 _ws_ok "$P" || fail "relay-ws serves alice's port $P on 127.0.0.2"
wsget "ws://127.0.0.2:$P" /hello
assert_code 2.05 "coap+ws://127.0.0.2:$P/hello (no Uri-Host) -> alice (over UDP)"
assert_eq hello "$PAYLOAD" "alice's /hello over the WebSocket hosting port"
wsget "ws://127.0.0.2:$P" /.well-known/core "rd.example"
assert_not_contains "$PAYLOAD" "core.rd" "the RD is not reachable on the WebSocket hosting port"
assert_contains "$PAYLOAD" "</hello>" "/.well-known/core there is alice's"
hcoap_tcp "$P" -m get /hello
assert_code 2.05 "coap+tcp://127.0.0.1:$P/hello: relay-tcp has that address's port"
wsget "ws://127.0.0.1:$P" /hello
assert_code 2.05 "coap+ws://127.0.0.1:$P/hello too: relay-tcp hands it to relay-ws"
assert_eq hello "$PAYLOAD" "alice's /hello through the handoff"

wsget "ws://127.0.0.2:$P" "/slow?ms=1200"
assert_code 2.05 "a slow answer through the WebSocket hosting port"
assert_eq "slow 1200" "$PAYLOAD" "the slow answer's payload"

out=$(cd "$NODE_DIR" && timeout 20 node ws_tool.js observe "ws://127.0.0.2:$P" /obs "" 3 2>&1)
assert_eq 3 "$(grep -c '^2.05 ' <<<"$out")" "Observe over the WebSocket hosting port: 3 answers"

# A WebSocket registrant gets a port too; a UDP client reaches it there.
wsreg_start bob bob
PB=$(port_of bob)
assert_ne "" "$PB" "bob (over a WebSocket) got hosting port $PB"
wait_until 10 _hcoap_ok "$PB" /hello
hcoap "$PB" -m get /hello
assert_code 2.05 "coap://127.0.0.1:$PB/hello -> bob over his WebSocket"

rr_stop ws KILL
ws_start_own
wait_until 30 _ws_ok "$P"
wsget "ws://127.0.0.2:$P" /hello
assert_code 2.05 "relay-ws killed and restarted: alice's WebSocket hosting port serves again"
t_done
