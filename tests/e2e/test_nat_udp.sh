#!/usr/bin/env bash
# test_nat_udp.sh - the NAT test of issue 11 (BRIEF §5 "A real NAT"): rdrelay
# reaches a CoAP server behind a masquerading, stateful firewall from a
# client behind another one, by name, over UDP, IPv4 and IPv6.
#
# Topology (network namespaces, documentation addresses only):
#
#   site A  192.0.2.2     2001:db8:a::2     rr-registrant(s)
#      |  lan
#   router A  lan 192.0.2.1 / 2001:db8:a::1, wan 203.0.113.2 / 2001:db8::2
#      |        nftables: IPv4 masquerade (ports 20000-20999), stateful
#      |        firewall: new inbound flows dropped (IPv4 and IPv6);
#      |        conntrack UDP timeouts 10 s
#   "internet" bridge 203.0.113.0/24, 2001:db8::/64
#      |                                   |
#   rd host 203.0.113.10, 2001:db8::10     router B wan 203.0.113.3 / 2001:db8::3
#   rdrelay-frontend + rdrelay-udp           |  same rules, masquerade
#                                          site B 198.51.100.2, 2001:db8:b::2
#                                          coap-client-notls
#
# Shown: B cannot reach A directly (A's inside address, and A's public NAT
# binding); B reaches A through rdrelay by name; after A's NAT mapping
# changes (new port range + conntrack flush) the registrant's next refresh
# makes it reachable again; with 10 s conntrack timeouts and lt=3600 the
# relay's keepalive (--nat-keepalive 3) keeps the path open for several
# timeouts (a ka=0 registration beside it loses its path), and once the
# registrant is stopped the relay answers 5.02 at once; IPv6 (firewall, no
# NAT) works the same, also across families. Port-based hosting (issue 18):
# B, using only coap://<rd IPv4>:<alice's hosting port>/hello (no Uri-Host,
# no name), reaches alice too.
#
# Needs root (namespaces, nftables): exits 77 (CTest skip) otherwise.
# ctest: TIMEOUT 600
# ctest: LABELS root nat
if [ "$(id -u)" -ne 0 ]; then
    echo "test_nat_udp: needs root for network namespaces; skipped"
    exit 77
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_nat.sh"

[ -x "$RDRELAY_BIN/rr-registrant" ] || die "rr-registrant is not built"
# port-based hosting on a small range (inside the rd host's namespace)
NAT_RD_ARGS+=(--port-hosting-range 5701-5709)
build_topology || die "could not build the namespace topology"
ok "topology built (namespaces $N*)"

# Sanity of the topology itself, before any rdrelay: the inside can go out.
nat_start probe "$NS_RD" "$(command -v coap-server-notls)" -A :: -p 5699
wait_until 5 udp_bound 5699 "$NS_RD" || die "the probe server did not bind port 5699"
coap_ns "$NS_SA" -m get "coap://$RD4:5699/.well-known/core"
assert_code 2.05 "site A reaches a server on the public host (inside-out works through NAT A)"
coap_ns "$NS_SB" -m get "coap://[$RD6]:5699/.well-known/core"
assert_code 2.05 "site B reaches a server on the public host over IPv6 (firewall B lets it out)"
rr_stop probe

start_rdrelay
nat_wait_rd coap
ok "site B reaches rdrelay's RD through NAT B"

# ---------------------------------------------------------------- IPv4: basic

nat_reg alice --listen $A4:5683 --rd "coap://$RD4:5683/rd" --ep alice --lt 10
mport=$(mapped_port 5683)
assert_match '^20[0-9]{3}$' "$mport" "alice's registration left router A from a masqueraded port ($mport)"

# B cannot reach A directly: not at its inside address (routed, but router
# A drops new inbound flows) and not at its public NAT binding (the binding
# only admits the RD's address: conntrack NAT is address-and-port dependent).
COAP_TIMEOUT=3 coap_ns "$NS_SB" -m get "coap://$A4:5683/hello"
assert_code timeout "B -> A's inside address 192.0.2.2 directly: no answer (firewall A)"
COAP_TIMEOUT=3 coap_ns "$NS_SB" -m get "coap://$RA4:$mport/hello"
assert_code timeout "B -> A's public binding $RA4:$mport directly: no answer"

via_relay alice.$DOMAIN /hello
assert_code 2.05 "B -> alice.$DOMAIN through rdrelay -> 2.05"
assert_eq hello "$PAYLOAD" "B gets alice's /hello through rdrelay"

# Port-based hosting: B knows only the RD's IPv4 address and alice's port.
coap_ns "$NS_SB" -m get "coap://$RD4/rd-lookup/ep?ep=alice"
aport=$(lf_attr "$(lf_ep_link "$PAYLOAD" alice)" port)
assert_eq 5701 "$aport" "alice's lookup (seen from B) shows hosting port 5701"
wait_until 10 udp_bound 5701 "$NS_RD" || fail "relay-udp listens on 5701 in the rd host"
coap_ns "$NS_SB" -m get "coap://$RD4:5701/hello"
assert_code 2.05 "B -> coap://$RD4:5701/hello (no Uri-Host) -> alice's 2.05"
assert_eq hello "$PAYLOAD" "B gets alice's /hello through her hosting port"

# ---------------------------------------------------------------- IPv4: NAT rebinding

renewed=$(reg_count alice renewed)
nsx "$NS_RA" nft flush chain ip nat post
nsx "$NS_RA" nft add rule ip nat post oifname wan ip saddr 192.0.2.0/24 meta l4proto udp \
    masquerade to :30000-30999
nsx "$NS_RA" conntrack -D -f ipv4 -p udp >/dev/null 2>&1
ok "router A: masquerade range changed to 30000-30999, IPv4 UDP conntrack flushed"
reg_wait_renewed alice $((renewed + 1)) 20 || fail "alice did not refresh within 20 s after the rebinding"
mport2=$(mapped_port 5683)
assert_match '^30[0-9]{3}$' "$mport2" "alice's refresh left router A from a new port ($mport2)"
if poll_relay 15 2.05 alice.$DOMAIN /hello; then
    ok "after the NAT mapping changed, the refresh made alice reachable again (2.05)"
else
    fail "alice not reachable through rdrelay after its refresh from the new binding: $CODE $PAYLOAD"
fi
rr_stop alice

# ---------------------------------------------------------------- IPv6 (firewall, no NAT)

nat_reg alice6 --listen "[$A6]:5683" --rd "coap://[$RD6]:5683/rd" --ep alice6 --lt 3600
COAP_TIMEOUT=3 coap_ns "$NS_SB" -m get "coap://[$A6]:5683/hello"
assert_code timeout "B -> [$A6] directly: no answer (firewall A, IPv6)"
via_relay alice6.$DOMAIN /hello "$RD6"
assert_code 2.05 "B -> alice6.$DOMAIN through rdrelay over IPv6 -> 2.05"
assert_eq hello "$PAYLOAD" "B gets alice6's /hello over IPv6"
via_relay alice6.$DOMAIN /hello "$RD4"
assert_code 2.05 "B -> alice6 (IPv6 registration) through rdrelay's IPv4 address -> 2.05"

# ---------------------------------------------------------------- keepalive

# carol: long lifetime, the relay's keepalive is all that holds her binding.
# dave: the same with ka=0 (a sleepy device): nobody keeps his binding.
nat_reg carol --listen $A4:5683 --rd "coap://$RD4:5683/rd" --ep carol --lt 3600
nat_reg dave --listen $A4:5684 --rd "coap://$RD4:5683/rd" --ep dave --lt 3600 --ka 0
cport=$(mapped_port 5683)
via_relay carol.$DOMAIN /hello
assert_code 2.05 "carol reachable right after registering"
echo "# waiting 35 s: 3.5 conntrack UDP timeouts of router A"
sleep 35
pings=$(grep -c 'ping [0-9]* received' "$T_DIR/carol.log" || true)
if [ "$pings" -ge 3 ]; then
    ok "carol received $pings keepalive pings from the relay"
else
    fail "carol received $pings keepalive pings in 35 s (relay --nat-keepalive 3)"
fi
assert_eq "$cport" "$(mapped_port 5683)" "carol's NAT binding is still the same ($cport)"
via_relay carol.$DOMAIN /hello
assert_code 2.05 "carol still reachable after 35 s of silence with 10 s NAT timeouts (keepalive)"
via_relay alice6.$DOMAIN /hello "$RD6"
assert_code 2.05 "alice6 (IPv6 firewall pinhole) still reachable after 35 s (keepalive)"
via_relay dave.$DOMAIN /hello
assert_ne 2.05 "$CODE" "dave (ka=0, no keepalive) lost his binding after 35 s ($CODE)"

# Registrant stopped: the keepalive goes unanswered, the relay marks the
# path unreachable and answers 5.02 at once instead of timing out.
rr_stop carol KILL
if poll_relay 90 5.02 carol.$DOMAIN /hello; then
    ok "carol stopped: the relay answers 5.02"
    assert_contains "$PAYLOAD" "unreachable" "the 5.02 says the registrant is unreachable"
    via_relay carol.$DOMAIN /hello
    assert_code 5.02 "a further request for carol -> 5.02 again (not a 5.04 timeout)"
else
    fail "carol stopped: no 5.02 within 90 s (last: $CODE $PAYLOAD)"
fi

t_done
