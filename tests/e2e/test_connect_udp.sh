#!/usr/bin/env bash
# test_connect_udp.sh - rdrelay-connect on loopback (issue 12), real peers:
# an unmodified coap-server-notls with `rdrelay-connect serve` beside it,
# coap-client-notls reaching it by name through rdrelay (GET /time and /,
# Block2 on /example_data, Observe on /time, a separate response on
# /async?2), a second name in the same process whose local server is silent
# (5.04 once it is gone), a client without Uri-Host through `rdrelay-connect reach`,
# `rdrelay-connect list`, kill -9 of rdrelay-udp and then rdrelay-frontend
# while serve runs (requests work again, same registration, refreshes keep
# succeeding), and SIGTERM of serve (registration gone).
# Uses lib.sh (processes, coap(), assertions) and lib_proxy.sh (pcoap).
# ctest: TIMEOUT 300
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

CONNECT=$RDRELAY_BIN/rdrelay-connect
[ -x "$CONNECT" ] || die "rdrelay-connect is not built"

# ------------------------------------------------------------ the modes' CLI

out=$("$CONNECT" --help)
assert_contains "$out" "serve" "rdrelay-connect --help names the modes"
for mode in serve reach list; do
    out=$("$CONNECT" "$mode" --help)
    assert_eq 0 $? "rdrelay-connect $mode --help exits 0"
    assert_contains "$out" "usage: rdrelay-connect $mode" "$mode --help shows its usage"
done
"$CONNECT" --version >/dev/null
assert_eq 0 $? "rdrelay-connect --version exits 0"
err=$("$CONNECT" serve --rd coap://127.0.0.1:5683 --ep alice --transport sctp \
    coap://127.0.0.1:5683 2>&1)
assert_eq 2 $? "serve --transport with an unknown transport exits 2"
assert_contains "$err" "unknown transport" "serve --transport says why"
"$CONNECT" serve --rd coap://127.0.0.1:5683 --ep 'not a label' coap://127.0.0.1:5683 2>/dev/null
assert_eq 2 $? "serve with an endpoint name that is no DNS label exits 2"
"$CONNECT" frobnicate 2>/dev/null
assert_eq 2 $? "an unknown mode exits 2"

# ------------------------------------------------------------ setup

rr_start_all
start_origin
# bob's local server: serves its links at registration, then goes away
BOB_PORT=$(rr_free_port) || die "no free UDP port"
rr_start origin2 "$(command -v coap-server-notls)" -A 127.0.0.1 -p "$BOB_PORT"
_bob_up() { COAP_TIMEOUT=1 coap -m get "coap://127.0.0.1:$BOB_PORT/.well-known/core"; [ "$CODE" == 2.05 ]; }
wait_until 10 _bob_up || die "second coap-server-notls did not start"

# alice: the origin; bob: a server that will be silent.
# lt 10: refreshes every few seconds, so the restarts below happen while
# refreshes are due.
rr_start serve "$CONNECT" serve --rd "coap://127.0.0.1:$RR_PORT" --lt 10 --json \
    --timeout 2000 --ping 3 --log-level debug \
    --ep "alice=coap://127.0.0.1:$ORIGIN_PORT" --ep "bob=coap://127.0.0.1:$BOB_PORT"

serve_json() { # ep: the JSON line serve printed for it
    grep -E '^\{"ep":"'"$1"'"' "$T_DIR/serve.log" | tail -n 1
}
_serve_printed() { [ -n "$(serve_json "$1")" ]; }
wait_until 20 _serve_printed alice || die "serve printed no host name for alice within 20 s"
wait_until 20 _serve_printed bob || die "serve printed no host name for bob within 20 s"

HOST=$(serve_json alice | jq -r .host)
REG=$(serve_json alice | jq -r .registration)
assert_eq "alice.$RR_DOMAIN" "$HOST" "serve prints the host name clients must use"
assert_match "^coap://127\.0\.0\.1:$RR_PORT/reg/[0-9]+$" "$REG" "serve prints its registration"
REG_PATH=/${REG#coap://*/}
assert_eq "bob.$RR_DOMAIN" "$(serve_json bob | jq -r .host)" "a second --ep gets its own name"

rd_lookup_ep "ep=alice"
assert_code 2.05 "endpoint lookup for alice"
link=$(lf_ep_link "$PAYLOAD" alice)
assert_eq "coap://$HOST" "$(lf_attr "$link" base)" "the lookup shows base=coap://$HOST"
assert_eq "$REG_PATH" "$(path_norm "$(lf_targets "$link")")" "the lookup shows serve's registration"
rd_lookup_res "ep=alice&rt=ticks"
assert_contains "$PAYLOAD" "/time" "the local server's links were registered"

# ------------------------------------------------------------ by name

pcoap "$HOST" -m get /time
assert_code 2.05 "GET /time by name through rdrelay and serve"
assert_match '[0-9]{2}:[0-9]{2}:[0-9]{2}' "$PAYLOAD" "/time answers the origin's clock"

pcoap "$HOST" -m get /
assert_code 2.05 "GET / by name"
assert_contains "$PAYLOAD" "libcoap" "GET / answers the origin's greeting"

coap -m get "coap://127.0.0.1:$ORIGIN_PORT/example_data"
direct=$PAYLOAD
pcoap "$HOST" -m get /example_data
assert_code 2.05 "GET /example_data (Block2) by name"
assert_eq "${#direct}" "${#PAYLOAD}" "the Block2 body is as long as direct"
assert_eq "$direct" "$PAYLOAD" "the Block2 body is identical to direct"
blocks=$(grep -cE '^v:1 t:ACK c:2\.05 .*Block2:' "$T_DIR/coap.out" || true)
assert_match '^([2-9]|[1-9][0-9]+)$' "$blocks" "the body came in several blocks ($blocks)"

pcoap "$HOST" -m get '/async?2'
assert_code 2.05 "GET /async?2 by name"
assert_eq "done" "$PAYLOAD" "the delayed answer arrives"
assert_match "^v:1 t:(CON|NON) c:2\\.05 " "$RESP" "the delayed answer is a separate response"

coap_bg "$T_DIR/obs.out" -B 8 -s 6 -O "3,$HOST" "$(rd_uri /time)"
OBS_PID=$BG_PID
_notifications() { [ "$(grep -cE '^v:1 t:(CON|NON|ACK) c:2\.05 .*Observe:' "$T_DIR/obs.out")" -ge "$1" ]; }
wait_until 12 _notifications 3
assert_eq 0 $? "Observe /time by name: at least 3 notifications"
bg_wait "$OBS_PID" 15

pcoap "bob.$RR_DOMAIN" -m get /time
assert_code 2.05 "a second name served by the same process"
rr_stop origin2 KILL
pcoap "bob.$RR_DOMAIN" -m get /time
assert_code 5.04 "a silent local server gets the client 5.04"
assert_diagnostic "the 5.04 says why"

# ------------------------------------------------------------ reach

REACH_PORT=$(rr_free_port) || die "no free UDP port"
rr_start reach "$CONNECT" reach --rd "coap://127.0.0.1:$RR_PORT" --host "$HOST" \
    --listen "127.0.0.1:$REACH_PORT" --log-level debug
wait_until 10 grep -q '^listening on ' "$T_DIR/reach.log" || die "reach did not start"

coap -m get "coap://127.0.0.1:$REACH_PORT/time"
assert_code 2.05 "GET /time through reach (no Uri-Host from the client)"
coap -m get "coap://127.0.0.1:$REACH_PORT/example_data"
assert_eq "$direct" "$PAYLOAD" "Block2 through reach: identical body"
coap -m get "coap://127.0.0.1:$REACH_PORT/async?1"
assert_eq "done" "$PAYLOAD" "a separate response through reach"
coap_bg "$T_DIR/obs2.out" -B 9 -s 7 "coap://127.0.0.1:$REACH_PORT/time"
OBS2_PID=$BG_PID
_notifications2() { [ "$(grep -cE '^v:1 t:(CON|NON|ACK) c:2\.05 .*Observe:' "$T_DIR/obs2.out")" -ge 3 ]; }
wait_until 14 _notifications2
assert_eq 0 $? "Observe through reach: at least 3 notifications"
bg_wait "$OBS2_PID" 15
# Observe on a block-wise resource: each notification's remaining blocks are
# fetched with the observation's token; they must not end the observation.
head -c 1200 /dev/urandom | base64 -w0 >"$T_DIR/put1.txt"
head -c 1300 /dev/urandom | base64 -w0 >"$T_DIR/put2.txt"
coap_bg "$T_DIR/obs3.out" -v 7 -B 15 -s 12 "coap://127.0.0.1:$REACH_PORT/example_data"
OBS3_PID=$BG_PID
_obs3() { [ "$(grep -cE '^v:1 t:(CON|NON|ACK) c:2\.05 .*Observe:.*Block2:0/M' "$T_DIR/obs3.out")" -ge "$1" ]; }
wait_until 8 _obs3 1 || fail "the Observe registration on /example_data was not answered"
coap -m put -f "$T_DIR/put1.txt" "coap://127.0.0.1:$ORIGIN_PORT/example_data"
wait_until 5 _obs3 2
coap -m put -f "$T_DIR/put2.txt" "coap://127.0.0.1:$ORIGIN_PORT/example_data"
wait_until 5 _obs3 3
kill "$OBS3_PID" 2>/dev/null
bg_wait "$OBS3_PID" 5
n=$(grep -cE '^v:1 t:(CON|NON|ACK) c:2\.05 .*Observe:.*Block2:0/M' "$T_DIR/obs3.out" || true)
b=$(grep -cE '^v:1 t:(CON|NON|ACK) c:2\.05 .*Block2:1/' "$T_DIR/obs3.out" || true)
assert_match '^([3-9]|[1-9][0-9]+)$' "$n" "Observe + Block2 through reach: 3 notifications ($n)"
assert_match '^([3-9]|[1-9][0-9]+)$' "$b" "each notification's second block was fetched ($b)"

# two clients through reach at once (different sockets, maybe equal tokens)
coap_bg "$T_DIR/par1.out" -B 5 "coap://127.0.0.1:$REACH_PORT/"
P1=$BG_PID
coap -m get "coap://127.0.0.1:$REACH_PORT/time"
assert_code 2.05 "a second client through reach meanwhile"
bg_wait "$P1" 10
assert_eq 2.05 "$(bg_code "$T_DIR/par1.out")" "the first client got its own answer"

# ------------------------------------------------------------ list

out=$("$CONNECT" list --rd "coap://127.0.0.1:$RR_PORT")
assert_eq 0 $? "list exits 0"
assert_match "alice +- +$HOST" "$out" "list shows alice and its host name"
assert_contains "$out" "bob.$RR_DOMAIN" "list shows bob"
out=$("$CONNECT" list --rd "coap://127.0.0.1:$RR_PORT" --ep 'ali*' --json)
assert_eq "$HOST" "$(jq -r '.[] | select(.ep=="alice") | .host' <<<"$out")" "list --json shows the host"
assert_eq 1 "$(jq length <<<"$out")" "list --ep filters"

# ------------------------------------------------------------ restarts

regs_before=$(grep -c 'registered at /reg/' "$T_DIR/serve.log")
_by_name_ok() { COAP_TIMEOUT=2 pcoap "$HOST" -m get /time; [ "$CODE" == "2.05" ]; }

rr_stop udp KILL
rr_start_udp
wait_until 15 _by_name_ok
assert_eq 0 $? "after kill -9 of rdrelay-udp, requests by name work again"

rr_stop frontend KILL
refreshes_before=$(grep -c 'refreshed' "$T_DIR/serve.log")
sleep 1
rr_start_frontend
wait_until 15 _by_name_ok
assert_eq 0 $? "after kill -9 of rdrelay-frontend, requests by name work again"
_refreshed_since() { [ "$(grep -c 'refreshed' "$T_DIR/serve.log")" -gt "$refreshes_before" ]; }
wait_until 20 _refreshed_since
assert_eq 0 $? "serve's refreshes succeed after the restarts"
rd_lookup_ep "ep=alice"
link=$(lf_ep_link "$PAYLOAD" alice)
assert_eq "$REG_PATH" "$(path_norm "$(lf_targets "$link")")" "the registration path is unchanged"
assert_eq "$regs_before" "$(grep -c 'registered at /reg/' "$T_DIR/serve.log")" \
    "serve never had to register again"
assert_eq 0 "$(grep -c 'is gone (4.04)' "$T_DIR/serve.log")" "no refresh was answered 4.04"

# ------------------------------------------------------------ SIGTERM

rr_stop serve TERM
assert_eq 0 "$RR_EXIT" "serve exits 0 on SIGTERM"
rd_lookup_ep "ep=alice"
assert_eq "" "$(lf_ep_link "$PAYLOAD" alice)" "after SIGTERM alice is gone from lookups"
rd_lookup_ep "ep=bob"
assert_eq "" "$(lf_ep_link "$PAYLOAD" bob)" "after SIGTERM bob is gone from lookups"
pcoap "$HOST" -m get /time
assert_code 5.05 "after SIGTERM the name is unknown"

t_done
