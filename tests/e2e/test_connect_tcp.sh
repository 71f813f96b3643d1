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
# Uses lib.sh (processes, coap(), assertions), lib_proxy.sh (pcoap),
# lib_tcp.sh (rt_start_all, xcoap, tcp_estab_count) and lib_connect.sh
# (serve's start, checks and restarts).
# ctest: TIMEOUT 300
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_connect.sh"

out=$("$CONNECT" serve --help)
assert_contains "$out" "RFC 8323" "serve --help documents the TCP transport"
"$CONNECT" serve --rd coap://127.0.0.1:5683 --ep alice --transport sctp coap://127.0.0.1:5683 2>/dev/null
assert_eq 2 $? "serve with an unknown transport exits 2"

# ------------------------------------------------------------ setup

rt_start_all
start_origin
cn_serve_start "coap+tcp://127.0.0.1:$RR_PORT" TCP "^coap\+tcp://127\.0\.0\.1:$RR_PORT/reg/[0-9]+$"
# Counts and log lines settle a moment after the event: wait for them.
assert_eq 1 "$(wait_output 5 1 tcp_estab_count "$RR_PORT")" "serve holds one TCP connection to rdrelay-tcp"
cn_serve_csm rdrelay-tcp

cn_lookup_alice
rd_lookup_res "ep=alice&rt=ticks"
assert_contains "$PAYLOAD" "/time" "the local server's links were registered"

# ------------------------------------------------------------ by name, both transports

cn_by_name_suites "TCP connection"
# pings (--ping 2) answered with Pong, a refresh before lt (20 s)
cn_keepalive "TCP connection" rdrelay-tcp
assert_eq 1 "$(wait_output 5 1 tcp_estab_count "$RR_PORT")" "still one connection after idle pings"

# a registration removed behind serve's back: the next update is answered
# 4.04 and serve registers again
REG_PATH=/${REG#coap+tcp://*/}
coap -m delete "$(rd_uri "$REG_PATH")"
assert_code 2.02 "the registration is removed from outside"
wait_until 25 grep -q 'is gone (4.04)' "$T_DIR/serve.log"
assert_eq 0 $? "serve's next update is answered 4.04"
cn_wait_printed 2 10
assert_eq 0 $? "serve registered again after the 4.04"
wait_until 10 cn_by_name_is tcp 2.05
assert_eq 0 $? "requests by name work after the re-registration"

# ------------------------------------------------------------ kill -9 of rdrelay-tcp

cn_kill_relay tcp "TCP connection"
rt_start_tcp
rt_wait_ready
cn_wait_reregistered "TCP connection"
wait_until 15 cn_by_name_is udp 2.05
assert_eq 0 $? "after kill -9 of rdrelay-tcp, requests by name (UDP client) work again"
wait_until 15 cn_by_name_is tcp 2.05
assert_eq 0 $? "after kill -9 of rdrelay-tcp, requests by name (TCP client) work again"
assert_eq 1 "$(wait_output 5 1 tcp_estab_count "$RR_PORT")" "again one TCP connection"
cn_wait_printed 3 5
assert_eq "alice.$RR_DOMAIN" "$(cn_serve_json | jq -r .host)" "the same host name after reconnecting"

# ------------------------------------------------------------ SIGTERM

cn_stop_serve TCP

t_done
