#!/usr/bin/env bash
# test_nat_ws.sh - the NAT test of the relay-ws issue (BRIEF §5 "A real
# NAT"), the topology of test_nat_udp.sh (lib_nat.sh) with the registrant in
# site A registered over ONE WebSocket to rdrelay-ws (node `ws`,
# node/ws_tool.js, which answers the relay's Pings): site B cannot reach
# site A directly; it reaches A by name through rdrelay as a UDP, a TCP and
# a WebSocket client, over IPv4 and IPv6; router A's conntrack forgets idle
# TCP flows after 10 s and relay-ws's keepalive Pings (--nat-keepalive 3)
# keep the WebSocket through the NAT alive; a closed WebSocket -> 5.02 at
# once; a new registration over a new WebSocket is reachable again.
#
# Needs root (namespaces, nftables): exits 77 (CTest skip) otherwise.
# ctest: TIMEOUT 600
# ctest: LABELS root nat
if [ "$(id -u)" -ne 0 ]; then
    echo "test_nat_ws: needs root for network namespaces; skipped"
    exit 77
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_ws.sh"
NAT_TCP=1
NAT_WS=1
. "$(dirname "$0")/lib_nat.sh"

ws_need_node
[ -x "$RDRELAY_BIN/rdrelay-ws" ] || die "rdrelay-ws is not built"
build_topology || die "could not build the namespace topology"
ok "topology built (namespaces $N*)"
nat_short_tcp_bindings
start_rdrelay
nat_wait_rd coap

# ws_ns NS URI PATH [HOST]: one GET over a WebSocket from inside NS.
ws_ns() {
    local out
    out=$(cd "$NODE_DIR" && timeout 10 ip netns exec "$1" node ws_tool.js get "$2" "$3" "${4:-}" 2>&1)
    CODE=${out%% *}
    PAYLOAD=${out#* }
}
_ws_ns_ready() { ws_ns "$NS_SB" "ws://$RD4:8683" /.well-known/core; [ "$CODE" == 2.05 ]; }
wait_until 20 _ws_ns_ready || die "site B does not reach rdrelay-ws"
ok "site B reaches rdrelay's RD over a WebSocket through NAT B"

# wsreg_ns NAME EP URI: a WebSocket registrant inside site A.
wsreg_ns() {
    nat_start "$1" "$NS_SA" "$(command -v node)" "$NODE_DIR/ws_tool.js" register "$3" "$2"
    wait_until 20 grep -q '^2.01 registered' "$T_DIR/$1.log" || die "$1 did not register through router A"
}

# ---------------------------------------------------------------- IPv4 (NAT)
wsreg_ns alice alice "ws://$RD4:8683"
ok "alice registered over a WebSocket from behind NAT A"
COAP_TIMEOUT=3 coap_ns "$NS_SB" -m get "coap://$A4:5683/hello"
assert_code timeout "B -> A's inside address directly: no answer (NAT/firewall A)"
for tr in udp tcp; do
    via_relay_x $tr alice.$DOMAIN /hello
    assert_code 2.05 "B ($tr client) -> alice.$DOMAIN (WebSocket registrant behind NAT A) -> 2.05"
    assert_eq "hello from alice" "$PAYLOAD" "B ($tr) gets alice's /hello"
    via_relay_x $tr alice.$DOMAIN /hello "$RD6"
    assert_code 2.05 "B ($tr client, IPv6) -> alice (IPv4 WebSocket registration) -> 2.05"
done
ws_ns "$NS_SB" "ws://$RD4:8683" /hello alice.$DOMAIN
assert_eq "2.05 hello from alice" "$CODE $PAYLOAD" "B (WebSocket client) -> alice -> 2.05"
ws_ns "$NS_SB" "ws://[$RD6]:8683" /hello alice.$DOMAIN
assert_code 2.05 "B (WebSocket client, IPv6) -> alice -> 2.05"

# ---------------------------------------------------------------- IPv6 (firewall)
wsreg_ns alice6 alice6 "ws://[$RD6]:8683"
for tr in udp tcp; do
    via_relay_x $tr alice6.$DOMAIN /hello "$RD6"
    assert_code 2.05 "B ($tr, IPv6) -> alice6 (IPv6 WebSocket registrant) -> 2.05"
done
ws_ns "$NS_SB" "ws://$RD4:8683" /hello alice6.$DOMAIN
assert_code 2.05 "B (WebSocket, IPv4) -> alice6 (IPv6 WebSocket registrant) -> 2.05"

# ---------------------------------------------------------------- keepalive through the NAT
echo "# waiting 25 s: 2.5 TCP conntrack timeouts of router A"
sleep 25
via_relay_x udp alice.$DOMAIN /hello
assert_code 2.05 "after 25 s without requests: alice still reachable (relay-ws keepalive Pings)"
assert_eq 0 "$(grep -c '^closed' "$T_DIR/alice.log")" "alice's WebSocket never closed"

# ---------------------------------------------------------------- close, re-register
rr_stop alice KILL
wait_until 10 _ws_route_closed "alice.$DOMAIN" 1 || fail "relay-ws did not notice alice's WebSocket close"
via_relay_x udp alice.$DOMAIN /hello
assert_code 5.02 "alice's WebSocket closed: B (UDP) gets 5.02"
ws_ns "$NS_SB" "ws://$RD4:8683" /hello alice.$DOMAIN
assert_code 5.02 "alice's WebSocket closed: B (WebSocket) gets 5.02"
wsreg_ns alice2 alice "ws://$RD4:8683"
via_relay_x udp alice.$DOMAIN /hello
assert_code 2.05 "alice registered again over a new WebSocket: reachable (B, UDP)"
via_relay_x tcp alice.$DOMAIN /hello
assert_code 2.05 "... and from B over TCP"
t_done
