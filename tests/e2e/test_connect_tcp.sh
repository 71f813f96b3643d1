#!/usr/bin/env bash
# test_connect_tcp.sh - `rdrelay-connect serve --transport tcp` on loopback
# (issue 12, TCP mode), real peers: an unmodified coap-server-notls with
# serve beside it, registered over ONE RFC 8323 connection to rdrelay-tcp
# (role reversal: requests for the name come back over that connection).
# coap-client-notls reaches it by name through rdrelay-udp (coap://) and
# through rdrelay-tcp (coap+tcp://): GET /time, Block2 /example_data,
# Observe /time (>= 3 notifications), a separate response /async?2.
# kill -9 of rdrelay-tcp and a restart: serve reconnects, registers again
# and requests work again within a bounded wait. SIGTERM of serve: DELETE
# over the connection, exit 0, the name is gone from lookups.
# Uses lib.sh (processes, coap(), assertions), lib_proxy.sh (pcoap) and
# lib_tcp.sh (rt_start_all, xcoap, tcp_estab_count).
# ctest: TIMEOUT 300
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_connect.sh"

CONNECT=$RDRELAY_BIN/rdrelay-connect
[ -x "$CONNECT" ] || die "rdrelay-connect is not built"

out=$("$CONNECT" serve --help)
assert_contains "$out" "RFC 8323" "serve --help documents the TCP transport"
"$CONNECT" serve --rd coap://127.0.0.1:5683 --ep alice --transport sctp coap://127.0.0.1:5683 2>/dev/null
assert_eq 2 $? "serve with an unknown transport exits 2"

# ------------------------------------------------------------ setup

rt_start_all
start_origin
rr_start serve "$CONNECT" serve --rd "coap+tcp://127.0.0.1:$RR_PORT" --lt 20 --json \
    --ping 2 --log-level debug --ep "alice=coap://127.0.0.1:$ORIGIN_PORT"

serve_json() { grep -E '^\{"ep":"alice"' "$T_DIR/serve.log" | tail -n 1; }
_printed() { [ "$(grep -cE '^\{"ep":"alice"' "$T_DIR/serve.log")" -ge "$1" ]; }
wait_until 20 _printed 1 || die "serve printed no host name within 20 s"
HOST=$(serve_json | jq -r .host)
REG=$(serve_json | jq -r .registration)
assert_eq "alice.$RR_DOMAIN" "$HOST" "serve over TCP prints the host name clients must use"
assert_match "^coap\+tcp://127\.0\.0\.1:$RR_PORT/reg/[0-9]+$" "$REG" "serve prints its registration"
# Counts and log lines settle a moment after the event: wait for them.
assert_eq 1 "$(wait_output 5 1 tcp_estab_count "$RR_PORT")" "serve holds one TCP connection to rdrelay-tcp"
assert_contains "$(wait_match 5 "rdrelay's CSM" cat "$T_DIR/serve.log")" "rdrelay's CSM" \
    "serve received rdrelay-tcp's CSM"

rd_lookup_ep "ep=alice"
link=$(lf_ep_link "$PAYLOAD" alice)
assert_eq "coap://$HOST" "$(lf_attr "$link" base)" "the lookup shows base=coap://$HOST"
assert_eq "yes" "$(lf_attr "$link" proxy)" "the registration says proxy=yes"
rd_lookup_res "ep=alice&rt=ticks"
assert_contains "$PAYLOAD" "/time" "the local server's links were registered"

# ------------------------------------------------------------ by name, both transports

coap -m get "coap://127.0.0.1:$ORIGIN_PORT/example_data"
direct=$PAYLOAD
_by_name_ok() { COAP_TIMEOUT=2 xcoap "$1" 4 "$HOST" -m get /time; [ "$CODE" == "2.05" ]; }
cn_origin_suite udp "$HOST" "$direct" "TCP connection"
cn_origin_suite tcp "$HOST" "$direct" "TCP connection"
assert_eq 0 "$(grep -c 'connection to rdrelay lost' "$T_DIR/serve.log")" "the connection stayed up"

# pings: serve pings when idle (--ping 2), rdrelay answers with Pong
_pongs() { [ "$(grep -c 'Pong from rdrelay' "$T_DIR/serve.log")" -ge 1 ]; }
wait_until 10 _pongs
assert_eq 0 $? "serve sends RFC 8323 Pings when idle and rdrelay-tcp answers them"
assert_eq 1 "$(wait_output 5 1 tcp_estab_count "$RR_PORT")" "still one connection after idle pings"

# refresh before lt (20 s), and a registration removed behind serve's back:
# the next update is answered 4.04 and serve registers again
_refreshed() { grep -q 'refreshed' "$T_DIR/serve.log"; }
wait_until 20 _refreshed
assert_eq 0 $? "serve refreshes its registration over TCP before lt runs out"
REG_PATH=/${REG#coap+tcp://*/}
coap -m delete "$(rd_uri "$REG_PATH")"
assert_code 2.02 "the registration is removed from outside"
wait_until 25 grep -q 'is gone (4.04)' "$T_DIR/serve.log"
assert_eq 0 $? "serve's next update is answered 4.04"
wait_until 10 _printed 2
assert_eq 0 $? "serve registered again after the 4.04"
wait_until 10 _by_name_ok tcp
assert_eq 0 $? "requests by name work after the re-registration"

# ------------------------------------------------------------ kill -9 of rdrelay-tcp

regs_before=$(grep -c 'registered at /reg/' "$T_DIR/serve.log")
rr_stop tcp KILL
wait_until 10 grep -q 'connection to rdrelay lost' "$T_DIR/serve.log"
assert_eq 0 $? "serve notices that the connection is gone"
rt_start_tcp
rt_wait_ready
_reregistered() { [ "$(grep -c 'registered at /reg/' "$T_DIR/serve.log")" -gt "$regs_before" ]; }
wait_until 40 _reregistered
assert_eq 0 $? "serve reconnected and registered again over the new connection"
wait_until 15 _by_name_ok udp
assert_eq 0 $? "after kill -9 of rdrelay-tcp, requests by name (UDP client) work again"
wait_until 15 _by_name_ok tcp
assert_eq 0 $? "after kill -9 of rdrelay-tcp, requests by name (TCP client) work again"
assert_eq 1 "$(wait_output 5 1 tcp_estab_count "$RR_PORT")" "again one TCP connection"
wait_until 5 _printed 3
assert_eq "alice.$RR_DOMAIN" "$(serve_json | jq -r .host)" "the same host name after reconnecting"

# ------------------------------------------------------------ SIGTERM

cn_stop_serve TCP

t_done
