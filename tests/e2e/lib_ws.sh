# shellcheck shell=bash
# lib_ws.sh - helpers for the CoAP over WebSockets (RFC 8323 §4) e2e tests
# (relay-ws issue), on top of lib.sh, lib_proxy.sh and lib_tcp.sh.
# Owns: starting rdrelay-ws beside rd-frontend, relay-udp and relay-tcp
# (WebSocket on its own free TCP port, 127.0.0.1 and ::1), WebSocket
# clients and registrants (node `ws` through node/ws_tool.js), and the
# relay's status counters. Talks to lib.sh (processes, assertions) and
# lib_tcp.sh (rt_start_all).
#
#   . lib.sh; . lib_proxy.sh; . lib_tcp.sh; . lib_ws.sh
#   ws_start_all                        # frontend + udp + tcp + ws, all ready
#   wsreg_start bob bob                 # registers over a WebSocket, serves /hello
#   wscoap 4 /hello bob.proxy.localhost # CODE=2.05 PAYLOAD="hello from bob"

WS_PROG=rdrelay-ws
WS_PORT=""

ws_uri() { # [FAMILY]
    if [ "${1:-4}" == 6 ]; then echo "ws://[::1]:$WS_PORT"; else echo "ws://127.0.0.1:$WS_PORT"; fi
}

ws_need_node() {
    command -v node >/dev/null || die "node is not installed (tools/setup-deps.sh)"
    [ -d "$NODE_DIR/node_modules/ws" ] ||
        die "node ws missing: run 'npm ci' in $NODE_DIR (tools/run-tests.sh does)"
}

# wscoap FAMILY PATH [HOST]: one GET over a WebSocket; sets CODE, PAYLOAD.
wscoap() {
    local out
    out=$(cd "$NODE_DIR" && timeout "${COAP_TIMEOUT:-10}" node ws_tool.js get "$(ws_uri "$1")" "$2" "${3:-}" 2>&1)
    CODE=${out%% *}
    PAYLOAD=${out#* }
    [ "$CODE" == "$out" ] && PAYLOAD=""
    echo "$out" >"$T_DIR/wscoap.out"
}

ws_answers() {
    local saved=${COAP_TIMEOUT:-10}
    COAP_TIMEOUT=2
    wscoap 4 /.well-known/core
    [ "$CODE" == 2.05 ] && wscoap 6 /.well-known/core
    COAP_TIMEOUT=$saved
    [ "$CODE" == 2.05 ]
}

# ws_start [flags...]: start rdrelay-ws with this test's common flags.
ws_start() {
    rr_common_args
    rr_start ws "$WS_PROG" "${RR_ARGS[@]}" --ws-listen "127.0.0.1:$WS_PORT,[::1]:$WS_PORT" "$@"
}

ws_wait_ready() {
    wait_until "${1:-30}" ws_answers || die "rdrelay-ws did not answer GET /.well-known/core within ${1:-30}s"
}

# ws_start_all [rdrelay-ws flags...]: frontend, udp, tcp (lib_tcp.sh) and ws.
ws_start_all() {
    [ -x "$RDRELAY_BIN/$WS_PROG" ] || die "$WS_PROG is not built"
    ws_need_node
    WS_PORT=$(rr_free_port t) || die "no free port"
    rt_start_all
    ws_start "$@"
    ws_wait_ready
}

# wsreg_start NAME EP [FAMILY]: a node registrant that registers EP with
# proxy=yes over its own WebSocket and serves /hello on it.
wsreg_start() {
    local name=$1 ep=$2 fam=${3:-4}
    rr_start "$name" "$(command -v node)" "$NODE_DIR/ws_tool.js" register "$(ws_uri "$fam")" "$ep"
    wait_until 15 grep -q '^2.01 registered' "$T_DIR/$name.log" ||
        die "WebSocket registrant $name did not register within 15 s"
}

# How many times rdrelay-ws logged that HOST's route lost its connection.
ws_route_closed_count() { # host
    grep -c "route $1 unreachable: its WebSocket closed" "$T_DIR/ws.log" 2>/dev/null || true
}
_ws_route_closed() { [ "$(ws_route_closed_count "$1")" -ge "$2" ]; }

# ---------------------------------------------------------------- bridges

# ws_bridges_start: two TCP<->WebSocket bridges (rr-wsclient --bridge) on
# 127.0.0.1, one to rdrelay-ws over IPv4, one over IPv6, so libcoap peers
# (coap-client-notls, rr-registrant) take part over WebSockets: every TCP
# connection to a bridge is one WebSocket at the relay (rd_uri_x ws ...).
WS_BR4="" WS_BR6=""
ws_bridges_start() {
    WS_BR4=$(rr_free_port t) || die "no free port"
    rr_start br4 rr-wsclient --bridge "127.0.0.1:$WS_BR4" "coap+ws://127.0.0.1:$WS_PORT"
    WS_BR6=$(rr_free_port t) || die "no free port"
    rr_start br6 rr-wsclient --bridge "127.0.0.1:$WS_BR6" "coap+ws://[::1]:$WS_PORT"
    wait_until 10 grep -q '^bridge listening' "$T_DIR/br4.log" || die "bridge to IPv4 did not start"
    wait_until 10 grep -q '^bridge listening' "$T_DIR/br6.log" || die "bridge to IPv6 did not start"
}
ws_bridge_port() { if [ "$1" == 6 ]; then echo "$WS_BR6"; else echo "$WS_BR4"; fi; }
