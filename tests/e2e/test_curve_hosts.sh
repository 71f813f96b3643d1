#!/usr/bin/env bash
# test_curve_hosts.sh - rd-frontend and relays on different hosts over
# tcp:// with ZeroMQ CURVE (issue 20), hosts modelled as network
# namespaces on one bridge (documentation addresses only):
#   fe    203.0.113.10  rd-frontend: ctl tcp://203.0.113.10:5690, routes :5691
#   ra    203.0.113.20  rdrelay-udp "udp-a" (authorised key), a registrant
#   rb    203.0.113.40  rdrelay-udp "udp-b" (authorised key), a client
#   rogue 203.0.113.30  rdrelay-udp "udp-r" (a key rd-frontend does not know)
# The relay on ra serves the RD to its clients (registration, lookup) and
# receives routes; two relays of one transport on two hosts serve one proxy
# domain: a client of udp-b reaches the endpoint registered through udp-a
# (cross-transport forwarding over tcp:// + CURVE, xfwd_endpoints); the
# rogue relay is refused, logged on both hosts, and its clients get no RD
# answers; rdrelayctl on the fe host (authorised) sees only udp-a and
# udp-b.
# ctest: LABELS root
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
N="rc$$x$((RANDOM % 1000))"
NS_PUB=${N}pub NS_FE=${N}fe NS_RA=${N}ra NS_RB=${N}rb NS_RO=${N}ro
ALL_NS=("$NS_FE" "$NS_RA" "$NS_RB" "$NS_RO" "$NS_PUB")
FE4=203.0.113.10 RA4=203.0.113.20 RB4=203.0.113.40 RO4=203.0.113.30
RR_DOMAIN=proxy.example
del_ns() {
    local ns
    for ns in "${ALL_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
}
T_AFTER_STOP+=(del_ns)
nsx() { # ns command...
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}
ns_start() { # name ns program args...
    local name=$1 ns=$2
    shift 2
    rr_start "$name" "$(command -v ip)" netns exec "$ns" "$@"
}

for ns in "${ALL_NS[@]}"; do
    ip netns add "$ns" || die "ip netns add $ns"
    ip -n "$ns" link set lo up
done
ip -n "$NS_PUB" link add br0 type bridge && ip -n "$NS_PUB" link set br0 up || die "bridge"
for pair in "$NS_FE:$FE4" "$NS_RA:$RA4" "$NS_RB:$RB4" "$NS_RO:$RO4"; do
    ns=${pair%%:*}
    ip -n "$NS_PUB" link add "p-${ns: -2}" type veth peer name wan netns "$ns" &&
        ip -n "$NS_PUB" link set "p-${ns: -2}" master br0 up &&
        ip -n "$ns" link set wan up && ip -n "$ns" addr add "${pair#*:}/24" dev wan ||
        die "veth for $ns"
done
# (reachability is proven below: the relay on ra serves the RD through fe)

CTL=$RDRELAY_BIN/rdrelayctl
key() { sed -nE "s/.*\"$2\": \"([^\"]+)\".*/\1/p" <<<"$1"; }
pair() { "$CTL" keygen --json | tr -d '\n'; }
S=$(pair)
A=$(pair)
B=$(pair)
R=$(pair)
C=$(pair)
S_PUB=$(key "$S" public)
CURVE=(--ctl-endpoint "tcp://$FE4:5690" --pub-endpoint "tcp://$FE4:5691"
    --curve-server-public "$S_PUB" --proxy-domain "$RR_DOMAIN" --log-level debug
    --metrics-listen "")
mkdir -p "$T_DIR/fe" "$T_DIR/ra" "$T_DIR/rb" "$T_DIR/ro"
# the relays' cross-transport endpoints on their hosts, with their keys;
# each lets in the other's key
XF=(--xfwd-endpoints "udp-a=tcp://$RA4:5700;$(key "$A" public),udp-b=tcp://$RB4:5700;$(key "$B" public)"
    --xfwd-peers udp-a,udp-b --curve-authorized "$(key "$A" public),$(key "$B" public)")

ns_start frontend "$NS_FE" "$RDRELAY_BIN/rdrelay-frontend" "${CURVE[@]}" --state-dir "$T_DIR/fe" \
    --curve-server-secret "$(key "$S" secret)" \
    --curve-authorized "$(key "$A" public),$(key "$B" public),$(key "$C" public)"
ns_start relay "$NS_RA" "$RDRELAY_BIN/rdrelay-udp" "${CURVE[@]}" "${XF[@]}" --state-dir "$T_DIR/ra" \
    --udp-listen "$RA4:5683" --udp-relay-name udp-a \
    --curve-public "$(key "$A" public)" --curve-secret "$(key "$A" secret)"
ns_start relayb "$NS_RB" "$RDRELAY_BIN/rdrelay-udp" "${CURVE[@]}" "${XF[@]}" --state-dir "$T_DIR/rb" \
    --udp-listen "$RB4:5683" --udp-relay-name udp-b \
    --curve-public "$(key "$B" public)" --curve-secret "$(key "$B" secret)"
ns_start rogue "$NS_RO" "$RDRELAY_BIN/rdrelay-udp" "${CURVE[@]}" --state-dir "$T_DIR/ro" \
    --udp-listen "$RO4:5683" --udp-relay-name udp-r \
    --curve-public "$(key "$R" public)" --curve-secret "$(key "$R" secret)"

ncoap() { # ns [coap args...]
    local ns=$1
    shift
    # coap() runs coap-client-notls; run it in the namespace through a
    # wrapper of the same name on PATH
    PATH="$T_DIR/nsbin:$PATH" COAP_NS=$ns coap "$@"
}
mkdir -p "$T_DIR/nsbin"
printf '#!/bin/sh\nexec ip netns exec "$COAP_NS" %s "$@"\n' "$(command -v coap-client-notls)" \
    >"$T_DIR/nsbin/coap-client-notls"
chmod +x "$T_DIR/nsbin/coap-client-notls"

ra_ready() {
    COAP_TIMEOUT=1 ncoap "$NS_RA" -m get "coap://$RA4/.well-known/core"
    [ "$CODE" == 2.05 ]
}
wait_until 30 ra_ready || die "the relay on ra does not serve the RD over tcp:// + CURVE"
ok "a client on host ra reaches the RD through relay udp-a (tcp:// + CURVE to host fe)"
ncoap "$NS_RA" -m post -t 40 -e '</t>;rt=temp' "coap://$RA4/rd?ep=far&proxy=yes"
assert_code 2.01 "registration through udp-a"
wait_until 10 grep -q "route far.$RR_DOMAIN" "$T_DIR/relay.log"
assert_eq 0 "$?" "udp-a receives the route over the CURVE route PUB"
ncoap "$NS_RA" -m get "coap://$RA4/rd-lookup/ep?ep=far"
assert_code 2.05 "lookup through udp-a"
assert_contains "$PAYLOAD" 'ep="far"' "the lookup finds the registration"

# ---- two UDP relays on two hosts, one proxy domain
ns_start alice "$NS_RA" "$RDRELAY_BIN/rr-registrant" --rd "coap://$RA4/rd" --listen "$RA4:0" \
    --ep alice
reg_wait_registered alice 1 || die "the registrant on ra did not register through udp-a"
rb_alice() {
    COAP_TIMEOUT=2 ncoap "$NS_RB" -O "3,alice.$RR_DOMAIN" -m get "coap://$RB4/hello"
    [ "$CODE" == 2.05 ]
}
wait_until 15 rb_alice
assert_code 2.05 "a client of udp-b (host rb) reaches alice, registered through udp-a (host ra)"
assert_match 'cross-transport endpoint tcp://203\.0\.113\.20:5700' "$(cat "$T_DIR/relay.log")" \
    "udp-a binds its cross-transport endpoint on tcp://"
assert_match 'CURVE: relay udp-a at tcp://203\.0\.113\.20:5700 accepted our key' \
    "$(cat "$T_DIR/relayb.log")" "udp-b's link to udp-a is CURVE-authenticated"
ncoap "$NS_RA" -O "3,alice.$RR_DOMAIN" -m get "coap://$RA4/hello"
assert_code 2.05 "a client of udp-a reaches alice too"

COAP_TIMEOUT=3 ncoap "$NS_RO" -m get "coap://$RO4/.well-known/core"
assert_ne 2.05 "$CODE" "a client of the refused relay gets no RD answer"
R_PUB=$(key "$R" public)
wait_until 10 grep -qF "refused client key $R_PUB from $RO4" "$T_DIR/frontend.log"
assert_eq 0 "$?" "rd-frontend (host fe) logs the refused key and the rogue host's address"
wait_until 10 grep -qE 'CURVE: rd-frontend.* refused our key' "$T_DIR/rogue.log"
assert_eq 0 "$?" "the refused relay (host rogue) logs that its key was refused"
grep -q "route far.$RR_DOMAIN" "$T_DIR/rogue.log"
assert_ne 0 "$?" "the refused relay never learns a route"

out=$(nsx "$NS_FE" "$CTL" "${CURVE[@]}" --state-dir "$T_DIR/fe" --curve-public "$(key "$C" public)" \
    --curve-secret "$(key "$C" secret)" status --json 2>&1)
assert_eq 0 "$?" "rdrelayctl (authorised key) answers over tcp:// + CURVE"
assert_match '"name": ?"udp-a"' "$out" "status lists udp-a"
assert_match '"name": ?"udp-b"' "$out" "status lists udp-b"
assert_not_contains "$out" '"udp-r"' "the refused relay never reached rd-frontend"

t_done
