#!/usr/bin/env bash
# test_connect_nat.sh - rdrelay-connect through real NATs (issue 12): an
# unmodified coap-server-notls in site A behind a masquerading router with a
# stateful firewall, `rdrelay-connect serve` beside it; clients in site B
# (behind another such router) reach it by name through rdrelay: GET /time
# and /, Block2 on /example_data, Observe on /time, a separate response on
# /async?5; `reach` and `list` inside site B. rdrelay's own NAT keepalive is
# off (--nat-keepalive 0) and router A forgets UDP flows after 10 s, so the
# path stays open only because serve pings. When router A's mapping changes
# (new port range, conntrack flushed) serve's route check notices and its
# refresh moves the route: the name works again under the same registration.
# Registration over TCP: rdrelay-tcp runs on the rd host too, and a second
# unmodified coap-server-notls in site A has `rdrelay-connect serve
# --transport tcp` beside it (one RFC 8323 connection through router A);
# coap-client-notls in site B reaches it by name over UDP and over TCP (GET
# /time, Block2 /example_data). A node-coap client in site B
# (node/connect_nat_client.js) GETs /time by name from the UDP-registered one.
#
# Topology: lib_nat.sh's (documentation addresses only; IPv4 used here):
#   site A 192.0.2.2 -- router A (lan .1, wan 203.0.113.2) --+
#                                                            bridge -- rd host 203.0.113.10
#   site B 198.51.100.2 -- router B (lan .1, wan 203.0.113.3) --+
# Both routers: IPv4 masquerade (router A: UDP to ports 20000-20999), forward
# and input policy drop except established/related and from the lan.
#
# Needs root (namespaces, nftables): exits 77 (CTest skip) otherwise.
# ctest: TIMEOUT 400
# ctest: LABELS root nat
if [ "$(id -u)" -ne 0 ]; then
    echo "test_connect_nat: needs root for network namespaces; skipped"
    exit 77
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
NAT_TCP=1
. "$(dirname "$0")/lib_nat.sh"

CONNECT=$RDRELAY_BIN/rdrelay-connect
[ -x "$CONNECT" ] || die "rdrelay-connect is not built"
[ -x "$RDRELAY_BIN/rdrelay-tcp" ] || die "rdrelay-tcp is not built"
node_need_coap

HOST=alice.$DOMAIN
HOST2=bob.$DOMAIN # the origin registered over TCP
A_PORT2=5693      # its port in site A

# by_name PATH [coap-client options...]: from site B through rdrelay.
by_name() {
    local path=$1
    shift
    coap_ns "$NS_SB" -O "3,$HOST" "$@" "coap://$RD4$path"
}
_by_name_ok() { COAP_TIMEOUT=2 by_name /time; [ "$CODE" == 2.05 ]; }

build_topology || die "could not build the namespace topology"
ok "topology built (namespaces $N*)"

# rdrelay's own NAT keepalive off: only serve's pings may hold the path.
NAT_RD_ARGS=(--nat-keepalive 0)
start_rdrelay
nat_wait_rd coap 20
nat_wait_rd coap+tcp 20

nat_start origin "$NS_SA" "$(command -v coap-server-notls)" -A $A4 -p 5683
_origin_up() { COAP_TIMEOUT=1 coap_ns "$NS_SA" -m get "coap://$A4/.well-known/core"; [ "$CODE" == 2.05 ]; }
wait_until 10 _origin_up || die "coap-server-notls did not start in site A"

nat_start serve "$NS_SA" "$CONNECT" serve --rd "coap://$RD4" --ep alice --lt 3600 --ping 3 \
    --probe 4 --json --log-level debug "coap://$A4:5683"
_printed() { [ "$(grep -c '^{"ep":"alice"' "$T_DIR/serve.log")" -ge 1 ]; }
wait_until 20 _printed || die "serve did not register through router A within 20 s"
assert_eq "$HOST" "$(grep '^{"ep":"alice"' "$T_DIR/serve.log" | tail -n 1 | jq -r .host)" \
    "serve prints the host name"
REG_PATH=$(grep -oE 'registered at /reg/[0-9]+' "$T_DIR/serve.log" | head -n 1 | awk '{print $3}')
MPORT=$(mapped_port "")
assert_match '^20[0-9]{3}$' "$MPORT" "serve's socket left router A masqueraded (port $MPORT)"

# ------------------------------------------------------------ site B cannot reach site A directly

COAP_TIMEOUT=2 coap_ns "$NS_SB" -m get "coap://$A4/time"
assert_eq timeout "$CODE" "site B cannot reach site A's inside address"
COAP_TIMEOUT=2 coap_ns "$NS_SB" -m get "coap://$RA4:$MPORT/time"
assert_eq timeout "$CODE" "site B cannot use serve's NAT binding directly"

# ------------------------------------------------------------ by name through rdrelay

by_name /time
assert_code 2.05 "GET /time by name from site B"
by_name /
assert_code 2.05 "GET / by name"
assert_contains "$PAYLOAD" "libcoap" "GET / is the origin's"
coap_ns "$NS_SA" -m get "coap://$A4/example_data"
direct=$PAYLOAD
by_name /example_data
assert_code 2.05 "GET /example_data (Block2) by name"
assert_eq "$direct" "$PAYLOAD" "the Block2 body is identical to a direct GET inside site A"
by_name '/async?5' -B 15
assert_code 2.05 "GET /async?5 by name"
assert_eq done "$PAYLOAD" "the separate response arrives"
_coap_ns_wrapper
COAP_NETNS=$NS_SB coap_bg "$T_DIR/obs.out" -B 8 -s 6 -O "3,$HOST" "coap://$RD4/time"
OBS_PID=$BG_PID
_notifications() { [ "$(grep -cE '^v:1 t:(CON|NON|ACK) c:2\.05 .*Observe:' "$T_DIR/obs.out")" -ge 3 ]; }
wait_until 12 _notifications
assert_eq 0 $? "Observe /time by name: at least 3 notifications"
bg_wait "$OBS_PID" 15

# ------------------------------------------------------------ reach and list in site B

nat_start reach "$NS_SB" "$CONNECT" reach --rd "coap://$RD4" --host "$HOST" --listen 127.0.0.1:5684
wait_until 10 grep -q '^listening on ' "$T_DIR/reach.log" || die "reach did not start in site B"
coap_ns "$NS_SB" -m get "coap://127.0.0.1:5684/time"
assert_code 2.05 "a client in site B without Uri-Host reaches alice through reach"
coap_ns "$NS_SB" -m get "coap://127.0.0.1:5684/example_data"
assert_eq "$direct" "$PAYLOAD" "Block2 through reach"
out=$(nsx "$NS_SB" "$CONNECT" list --rd "coap://$RD4")
assert_match "alice +- +$HOST" "$out" "list in site B shows alice and its host name"

# ------------------------------------------------------------ node-coap in site B

if RD_ADDR=$RD4 PROXY_HOST=$HOST timeout 30 ip netns exec "$NS_SB" node "$NODE_DIR/connect_nat_client.js" \
    >"$T_DIR/node.out" 2>&1; then
    ok "node-coap in site B: GET /time by name -> 2.05 with a payload"
else
    fail "node-coap in site B: GET /time by name"
fi
sed 's/^/    /' "$T_DIR/node.out"

# ------------------------------------------------------------ registration over TCP through router A

nat_start origin2 "$NS_SA" "$(command -v coap-server-notls)" -A $A4 -p $A_PORT2
_origin2_up() { COAP_TIMEOUT=1 coap_ns "$NS_SA" -m get "coap://$A4:$A_PORT2/.well-known/core"; [ "$CODE" == 2.05 ]; }
wait_until 10 _origin2_up || die "the second coap-server-notls did not start in site A"
coap_ns "$NS_SA" -m get "coap://$A4:$A_PORT2/example_data"
direct2=$PAYLOAD

nat_start serve2 "$NS_SA" "$CONNECT" serve --transport tcp --rd "coap+tcp://$RD4" --ep bob --lt 3600 \
    --ping 3 --json --log-level debug "coap://$A4:$A_PORT2"
_printed2() { [ "$(grep -c '^{"ep":"bob"' "$T_DIR/serve2.log")" -ge 1 ]; }
wait_until 20 _printed2 || die "serve --transport tcp did not register through router A within 20 s"
assert_eq "$HOST2" "$(grep '^{"ep":"bob"' "$T_DIR/serve2.log" | tail -n 1 | jq -r .host)" \
    "serve over TCP prints the host name"
assert_match "^coap\+tcp://$RD4(:5683)?/reg/[0-9]+\$" \
    "$(grep '^{"ep":"bob"' "$T_DIR/serve2.log" | tail -n 1 | jq -r .registration)" \
    "serve over TCP registered with rdrelay-tcp"
tport=$(mapped_port "" tcp)
assert_match '^[0-9]+$' "$tport" "serve's TCP connection goes through router A (public port $tport)"

for tr in coap coap+tcp; do
    coap_ns "$NS_SB" -O "3,$HOST2" -m get "$tr://$RD4/time"
    assert_code 2.05 "GET /time by name $HOST2 from site B over $tr:// (registered over TCP)"
    assert_ne "" "$PAYLOAD" "GET /time over $tr:// has a payload"
    coap_ns "$NS_SB" -O "3,$HOST2" -m get "$tr://$RD4/example_data"
    assert_code 2.05 "GET /example_data (Block2) by name $HOST2 over $tr://"
    assert_eq "$direct2" "$PAYLOAD" "the Block2 body over $tr:// is identical to a direct GET inside site A"
done

# ------------------------------------------------------------ keepalive

echo "# waiting 25 s without client traffic: 2.5 conntrack UDP timeouts of router A"
sleep 25
by_name /time
assert_code 2.05 "still reachable after 2.5 NAT timeouts (serve's pings; relay keepalive off)"

# ------------------------------------------------------------ the NAT changes its mapping

nsx "$NS_RA" nft flush chain ip nat post
nsx "$NS_RA" nft add rule ip nat post oifname wan ip saddr 192.0.2.0/24 meta l4proto udp \
    masquerade to :21000-21999
nsx "$NS_RA" conntrack -D -f ipv4 -p udp >/dev/null 2>&1
ok "router A: masquerade range changed to 21000-21999, UDP conntrack flushed"
wait_until 40 _by_name_ok
assert_eq 0 $? "after the mapping change, the name works again"
assert_contains "$(cat "$T_DIR/serve.log")" "route check failed" "serve noticed the broken route"
MPORT2=$(mapped_port "")
assert_match '^21[0-9]{3}$' "$MPORT2" "serve's socket now leaves from the new range ($MPORT2)"
assert_contains "$(cat "$T_DIR/udp.log")" "$HOST -> $RA4:$MPORT2" "rdrelay's route moved to it"
assert_eq 1 "$(grep -c 'registered at /reg/' "$T_DIR/serve.log")" \
    "the route moved by a refresh, not a new registration"
coap_ns "$NS_SB" -m get "coap://$RD4/rd-lookup/ep?ep=alice"
assert_contains "$PAYLOAD" "<$REG_PATH" "the registration path is unchanged ($REG_PATH)"

# ------------------------------------------------------------ SIGTERM

rr_stop serve TERM
assert_eq 0 "$RR_EXIT" "serve exits 0 on SIGTERM"
coap_ns "$NS_SB" -m get "coap://$RD4/rd-lookup/ep?ep=alice"
assert_not_contains "$PAYLOAD" "ep=\"alice\"" "alice is gone from lookups"
assert_not_contains "$PAYLOAD" "ep=alice" "alice is gone from lookups (unquoted form)"

t_done
