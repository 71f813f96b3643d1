#!/usr/bin/env bash
# test_sig_term.sh - SIGTERM drain (issue 20), rdrelay-tcp and rdrelay-ws
# (rdrelay-udp at the end: answer in flight delivered, new requests not taken):
# a client's proxied request is in flight to a slow endpoint (rr-registrant
# /slow, separate answer after 1.5 s, registered over the same transport)
# when the relay gets SIGTERM. The client still gets its answer; a
# connected idle client (rr-tcp-abuse prints every message) gets a Release
# (7.04); a new connection is refused; busy connections are Released only
# after the answer; the relay exits 0 before stop_deadline_ms.
# WebSocket peers take part through lib_ws.sh's TCP<->WebSocket bridge.
# "In flight" is read from the relay's own counter of requests sent to
# endpoints (proxied, rdrelay_proxied_total on its metrics page, which is
# live; rdrelayctl status would lag by up to 5 s, longer than the answer).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_ws.sh"

declare -A MPORT
for tr in udp tcp ws; do
    MPORT[$tr]=$(rr_free_port tu) || die "no free port"
done
RR_EXTRA_ARGS=(--metrics-listen "udp=127.0.0.1:${MPORT[udp]},tcp=127.0.0.1:${MPORT[tcp]},ws=127.0.0.1:${MPORT[ws]}")

# proxied RELAY: the requests RELAY has sent to endpoints ("" when its page does not answer)
proxied() {
    curl -s -m 2 "http://127.0.0.1:${MPORT[$1]}/metrics" |
        awk '$1 ~ /^rdrelay_proxied_total([{]|$)/ { print $NF; exit }'
}
_proxied_over() { local v; v=$(proxied "$1"); [ -n "$v" ] && [ "$v" -gt "$2" ]; }

# sig_term_case RELAY (tcp|ws): everything above against that relay
sig_term_case() {
    local tr=$1 out abuse idle_pid port sent_line rel_line before
    port=$RR_PORT
    [ "$tr" == ws ] && port=$(ws_bridge_port 4)
    treg_start slow$tr 4 --rd "$(rd_uri_x "$tr" 4 /rd)" --ep slow$tr --lt 600
    abuse=$T_DIR/idle$tr.out
    "$RDRELAY_BIN/rr-tcp-abuse" idle 127.0.0.1 "$port" 1 30 >"$abuse" 2>&1 &
    T_BG_PIDS+=($!)
    idle_pid=$!
    wait_until 10 grep -q '^recv 7.01' "$abuse" || die "$tr: the idle client got no CSM"
    out=$T_DIR/slow$tr.out
    before=$(proxied "$tr")
    [ -n "$before" ] || die "$tr: no metrics page"
    coap_bg "$out" -B 20 -O "3,slow$tr.$RR_DOMAIN" -m get "$(rd_uri_x "$tr" 4 '/slow?ms=1500')"
    # the request reached the endpoint: the relay holds an exchange in flight
    wait_until 10 _proxied_over "$tr" "$before" ||
        die "$tr: the proxied request did not reach the endpoint"
    sent_line=$(wc -l <"$T_DIR/$tr.log")
    kill -s TERM "${T_PIDS[$tr]}"
    wait_until 10 grep -q 'Release sent on' "$T_DIR/$tr.log" || fail "$tr: no Release logged"
    if [ "$tr" == tcp ]; then
        COAP_TIMEOUT=2 coap -m get "$(rd_uri_tcp /.well-known/core)"
        assert_eq timeout "$CODE" "tcp: after SIGTERM a new connection gets no answer (listener closed)"
    fi
    bg_wait "$BG_PID" 20 || fail "$tr: the client did not finish"
    assert_contains "$(cat "$out.body" 2>/dev/null)" "slow 1500" \
        "$tr: the request in flight got its answer after SIGTERM"
    rr_stop "$tr" TERM
    assert_eq 0 "$RR_EXIT" "$tr: the relay exits 0 after the drain"
    bg_wait "$idle_pid" 10
    assert_match "recv 7\\.04" "$(cat "$abuse")" "$tr: a connected client received a Release (7.04)"
    rel_line=$(grep -n 'Release sent on' "$T_DIR/$tr.log" | tail -n 1 | cut -d: -f1)
    if [ -n "$rel_line" ] && [ "$rel_line" -gt "$sent_line" ] &&
        grep -q 'Release sent on 2 connection' "$T_DIR/$tr.log"; then
        ok "$tr: the busy connections were Released after the request in flight ended"
    else
        fail "$tr: no separate Release of the busy connections"
    fi
    if grep -q 'stop deadline' "$T_DIR/$tr.log"; then
        fail "$tr: the drain ran into the deadline although the answer came"
    else
        ok "$tr: the drain ended when nothing was in flight"
    fi
}

# rdrelay-udp: the request in flight is answered, a new one is not taken
# (a CON client retransmits to the next instance), exit 0
sig_term_udp() {
    local out before
    xreg_start slowudp udp 4 --ep slowudp --lt 600
    out=$T_DIR/slowudp.out
    before=$(proxied udp)
    [ -n "$before" ] || die "udp: no metrics page"
    coap_bg "$out" -B 20 -O "3,slowudp.$RR_DOMAIN" -m get "$(rd_uri '/slow?ms=1500')"
    wait_until 10 _proxied_over udp "$before" ||
        die "udp: the proxied request did not reach the endpoint"
    kill -s TERM "${T_PIDS[udp]}"
    wait_until 10 grep -q 'signal 15: stopping' "$T_DIR/udp.log" || fail "udp: no stop logged"
    COAP_TIMEOUT=1 coap -m get "$(rd_uri /.well-known/core)"
    assert_eq timeout "$CODE" "udp: after SIGTERM a new request is not taken"
    bg_wait "$BG_PID" 20 || fail "udp: the client did not finish"
    assert_contains "$(cat "$out.body" 2>/dev/null)" "slow 1500" \
        "udp: the request in flight got its answer after SIGTERM"
    rr_stop udp TERM
    assert_eq 0 "$RR_EXIT" "udp: the relay exits 0 after the drain"
}

WS_PORT=$(rr_free_port t) || die "no free port"
rt_start_all --stop-deadline-ms 5000
ws_start --stop-deadline-ms 5000
ws_bridges_start
wait_until 10 grep -q 'listening on ws' "$T_DIR/ws.log" || die "rdrelay-ws did not start"
sig_term_case tcp
sig_term_case ws
sig_term_udp
t_done
