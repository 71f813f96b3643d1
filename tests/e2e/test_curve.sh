#!/usr/bin/env bash
# test_curve.sh - ZeroMQ CURVE between rd-frontend and relays over tcp://
# (issue 20), on loopback: rd-frontend's ctl and route endpoints are
# tcp:// with CURVE; a relay whose key is in curve_authorized syncs its
# routes and carries RD traffic; a relay with another key is refused, and
# the refusal is logged on both sides (rd-frontend names the key, the relay
# says its key was refused) and it never gets an answer from the RD;
# rdrelayctl needs an authorised pair too; a malformed key is a
# configuration error (exit 2).
. "$(dirname "$0")/lib.sh"

CTL=$RDRELAY_BIN/rdrelayctl
key() { # json field
    sed -nE "s/.*\"$2\": \"([^\"]+)\".*/\1/p" <<<"$1"
}
pair() { "$CTL" keygen --json | tr -d '\n'; }
S=$(pair)
A=$(pair)
B=$(pair)
C=$(pair)
S_PUB=$(key "$S" public)
A_PUB=$(key "$A" public)
C_PUB=$(key "$C" public)
assert_eq 40 "${#S_PUB}" "keygen: a 40-character public key"

out=$("$RDRELAY_BIN/rdrelay-frontend" --state-dir "$T_DIR/bad" --curve-server-secret 'not-a-key' 2>&1)
assert_eq 2 "$?" "a malformed CURVE key is a configuration error (exit 2)"
assert_contains "$out" "curve_server_secret" "the error names the setting"

P_CTL=$(rr_free_port tu) || die "no free port"
P_PUB=$(rr_free_port tu) || die "no free port"
RR_EXTRA_ARGS=(--ctl-endpoint "tcp://127.0.0.1:$P_CTL" --pub-endpoint "tcp://127.0.0.1:$P_PUB"
    --curve-server-public "$S_PUB")
RR_PORT=$(rr_free_port) || die "no free UDP port"

rr_start_frontend --curve-server-secret "$(key "$S" secret)" --curve-authorized "$A_PUB, $C_PUB"
rr_start_udp --curve-public "$A_PUB" --curve-secret "$(key "$A" secret)"
rr_wait_ready
ok "the authorised relay carries RD traffic over tcp:// with CURVE"
assert_match 'CURVE on tcp://127\.0\.0\.1:[0-9]+: 2 authorised' "$(cat "$T_DIR/frontend.log")" \
    "rd-frontend logs CURVE on its tcp:// endpoints"
rd_register 'ep=sealed&proxy=yes' '</s>'
assert_code 2.01 "register through the authorised relay"
wait_until 10 grep -q 'route sealed.proxy.localhost' "$T_DIR/udp.log"
assert_eq 0 "$?" "the authorised relay receives the route over the CURVE PUB"

# ---- a relay with a key rd-frontend does not know
P2=$(rr_free_port) || die "no free UDP port"
rr_common_args
rr_start rogue rdrelay-udp "${RR_ARGS[@]}" --udp-listen "127.0.0.1:$P2" --udp-relay-name rogue \
    --curve-public "$(key "$B" public)" --curve-secret "$(key "$B" secret)"
wait_until 10 udp_bound "$P2"
COAP_TIMEOUT=3 coap -m get "coap://127.0.0.1:$P2/.well-known/core"
assert_ne 2.05 "$CODE" "the relay with an unknown key gets no answer from the RD"
B_PUB=$(key "$B" public)
refused_fe() { grep -F "refused client key $B_PUB" "$T_DIR/frontend.log"; }
refused_relay() { grep -E 'CURVE: rd-frontend.* refused our key' "$T_DIR/rogue.log"; }
wait_until 10 refused_fe >/dev/null
assert_eq 0 "$?" "rd-frontend logs the refused key"
wait_until 10 refused_relay >/dev/null
assert_eq 0 "$?" "the refused relay logs that its key was refused"
grep -q 'route sealed.proxy.localhost' "$T_DIR/rogue.log"
assert_ne 0 "$?" "the refused relay never learns a route"
assert_match "accepted our key" "$(cat "$T_DIR/udp.log")" "the authorised relay logs its handshake"

# ---- rdrelayctl over tcp:// with CURVE
ctl() { "$CTL" "${RR_EXTRA_ARGS[@]}" --timeout-ms 2000 "$@" status --json 2>&1; }
out=$(ctl --curve-public "$C_PUB" --curve-secret "$(key "$C" secret)")
assert_eq 0 "$?" "rdrelayctl with an authorised pair is answered"
assert_match '"name": ?"udp"' "$out" "status lists the authorised relay"
assert_not_contains "$out" '"rogue"' "the refused relay never reached rd-frontend"
out=$(ctl --curve-public "$B_PUB" --curve-secret "$(key "$B" secret)")
assert_eq 1 "$?" "rdrelayctl with an unknown key gets no answer (exit 1)"
out=$(ctl)
assert_eq 1 "$?" "rdrelayctl without a pair of its own exits 1"
assert_contains "$out" "curve_public" "... and says it needs curve_public"

t_done
