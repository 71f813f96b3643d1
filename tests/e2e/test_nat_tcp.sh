#!/usr/bin/env bash
# test_nat_tcp.sh - the NAT test of the relay-tcp issue (BRIEF §5 "A real
# NAT"), the topology of test_nat_udp.sh (lib_nat.sh) with the registrant
# in site A registered over ONE TCP connection to rdrelay-tcp: site B
# cannot reach site A directly, over UDP or TCP, IPv4 or IPv6; it reaches
# A by name through rdrelay as a UDP client (cross-transport) and as a TCP
# client, over both families; router A's conntrack forgets idle TCP flows
# after 10 s, and relay-tcp's keepalive Pings (--nat-keepalive 3) keep the
# connection through the NAT alive for several of those timeouts; a closed
# connection -> 5.02 at once; the registrant reconnects from a new NAT port
# and is reachable again.
#
# Needs root (namespaces, nftables): exits 77 (CTest skip) otherwise.
# ctest: TIMEOUT 600
# ctest: LABELS root nat
if [ "$(id -u)" -ne 0 ]; then
    echo "test_nat_tcp: needs root for network namespaces; skipped"
    exit 77
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
NAT_TCP=1
. "$(dirname "$0")/lib_nat.sh"

for b in rr-registrant rdrelay-tcp; do
    [ -x "$RDRELAY_BIN/$b" ] || die "$b is not built"
done
build_topology || die "could not build the namespace topology"
ok "topology built (namespaces $N*)"
nat_short_tcp_bindings

start_rdrelay
nat_wait_rd coap+tcp
ok "site B reaches rdrelay's RD over TCP through NAT B"
coap_ns "$NS_SB" -m get "coap+tcp://[$RD6]/.well-known/core"
assert_code 2.05 "site B reaches rdrelay's RD over TCP and IPv6 through firewall B"

# ---------------------------------------------------------------- IPv4

nat_reg alice --transport tcp --listen $A4:5683 --rd "coap+tcp://$RD4:5683/rd" --ep alice --lt 3600
assert_eq 1 "$(reg_count alice connected)" "alice registered over one TCP connection"
local_port=$(treg_local_port alice)
mport=$(mapped_port "$local_port" tcp)
assert_match '^[0-9]+$' "$mport" "router A tracks alice's connection (public port $mport)"

COAP_TIMEOUT=3 coap_ns "$NS_SB" -m get "coap+tcp://$A4:5683/hello"
assert_code timeout "B -> A's inside address over TCP directly: no answer (firewall A)"
COAP_TIMEOUT=3 coap_ns "$NS_SB" -m get "coap://$A4:5683/hello"
assert_code timeout "B -> A's inside address over UDP directly: no answer"
COAP_TIMEOUT=3 coap_ns "$NS_SB" -m get "coap+tcp://$RA4:$mport/hello"
assert_code timeout "B -> A's public NAT binding $RA4:$mport directly: no answer"

for tr in tcp udp; do
    via_relay_x $tr alice.$DOMAIN /hello
    assert_code 2.05 "B ($tr client) -> alice.$DOMAIN (TCP registrant behind NAT A) -> 2.05"
    assert_eq hello "$PAYLOAD" "B ($tr) gets alice's /hello"
    via_relay_x $tr alice.$DOMAIN /hello "$RD6"
    assert_code 2.05 "B ($tr client, IPv6) -> alice (IPv4 TCP registration) -> 2.05"
done
coap_ns "$NS_SB" -O "3,alice.$DOMAIN" -m get -b 64 "coap://$RD4/large"
assert_code 2.05 "B (UDP, Block2 64) -> alice's /large over her TCP connection -> 2.05"
"$RDRELAY_BIN/rr-registrant" --print-large >"$T_DIR/large.expected"
cmp -s "$T_DIR/coap.body" "$T_DIR/large.expected" && ok "/large arrives byte-identical through both NATs" ||
    fail "/large through both NATs differs"

# ---------------------------------------------------------------- IPv6 (firewall, no NAT)

nat_reg alice6 --transport tcp --listen "[$A6]:5683" --rd "coap+tcp://[$RD6]:5683/rd" --ep alice6 --lt 3600
COAP_TIMEOUT=3 coap_ns "$NS_SB" -m get "coap+tcp://[$A6]:5683/hello"
assert_code timeout "B -> [$A6] over TCP directly: no answer (firewall A, IPv6)"
for tr in tcp udp; do
    via_relay_x $tr alice6.$DOMAIN /hello "$RD6"
    assert_code 2.05 "B ($tr, IPv6) -> alice6 (IPv6 TCP registrant) -> 2.05"
    via_relay_x $tr alice6.$DOMAIN /hello "$RD4"
    assert_code 2.05 "B ($tr, IPv4) -> alice6 (IPv6 TCP registrant) -> 2.05"
done

# ---------------------------------------------------------------- keepalive through the NAT

echo "# waiting 35 s: 3.5 TCP conntrack timeouts of router A"
sleep 35
assert_eq "$mport" "$(mapped_port "$local_port" tcp)" "alice's NAT binding is still there ($mport)"
for tr in udp tcp; do
    via_relay_x $tr alice.$DOMAIN /hello
    assert_code 2.05 "after 35 s without requests ($tr client): alice still reachable (relay-tcp keepalive)"
done
via_relay_x tcp alice6.$DOMAIN /hello "$RD6"
assert_code 2.05 "after 35 s: alice6 (IPv6 firewall pinhole) still reachable"
assert_eq 1 "$(reg_count alice connected)" "alice's connection never dropped"

# ---------------------------------------------------------------- close, reconnect

kill -USR1 "${T_PIDS[alice]}"
reg_wait_word alice disconnected 1 5 || die "alice did not close her connection"
rt_wait_route_closed "alice.$DOMAIN" 1 || fail "relay-tcp did not notice alice's closed connection"
t0=$(($(date +%s%N) / 1000000))
via_relay_x udp alice.$DOMAIN /hello
t1=$(($(date +%s%N) / 1000000))
if [ "$CODE" == 5.02 ] && [ $((t1 - t0)) -lt 1000 ]; then
    ok "alice's connection closed: B (UDP) gets 5.02 in $((t1 - t0)) ms"
else
    fail "alice's connection closed: expected 5.02 within 1 s, got '$CODE $PAYLOAD' after $((t1 - t0)) ms"
fi
via_relay_x tcp alice.$DOMAIN /hello
assert_code 5.02 "alice's connection closed: B (TCP) gets 5.02"
kill -USR2 "${T_PIDS[alice]}"
reg_wait_registered alice 2 20 || fail "alice did not register again through router A"
local_port2=$(treg_local_port alice)
assert_ne "$local_port" "$local_port2" "alice reconnected from a new port ($local_port2)"
if poll_relay_x 10 2.05 udp alice.$DOMAIN /hello; then
    ok "after reconnecting and registering again alice is reachable (B, UDP)"
else
    fail "alice not reachable after reconnecting: $CODE $PAYLOAD"
fi
via_relay_x tcp alice.$DOMAIN /hello
assert_code 2.05 "... and from B over TCP"

t_done
