#!/usr/bin/env bash
# test_sig_term.sh - SIGTERM drain (issue 20): a TCP client's proxied
# request is in flight to a slow endpoint (rr-registrant /slow, separate
# answer after 1.5 s, registered over TCP) when rdrelay-tcp gets SIGTERM.
# The client still gets its answer, then a Release (7.04) from the relay,
# new connections are refused, and the relay exits 0 within stop_deadline_ms.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"

rt_start_all --stop-deadline-ms 5000
treg_start slowep 4 --ep slowep --lt 600
# an idle TCP client beside it: it reads what the relay sends (rr-tcp-abuse
# prints every message), so it sees the Release
abuse=$T_DIR/idle.out
"$RDRELAY_BIN/rr-tcp-abuse" idle 127.0.0.1 "$RR_PORT" 1 30 >"$abuse" 2>&1 &
T_BG_PIDS+=($!)
idle_pid=$!
wait_until 10 grep -q '^recv 7.01' "$abuse" || die "the idle client got no CSM"
out=$T_DIR/slow.out
coap_bg "$out" -B 20 -O "3,slowep.$RR_DOMAIN" -m get "$(rd_uri_x tcp 4 '/slow?ms=1500')"
# the request reached the endpoint: relay-tcp holds an exchange in flight
wait_until 10 grep -q 'request sent to slowep' "$T_DIR/tcp.log" ||
    die "the proxied request did not reach the endpoint"
kill -s TERM "${T_PIDS[tcp]}"
wait_until 10 grep -q 'Release sent on' "$T_DIR/tcp.log" ||
    fail "relay-tcp did not log its Releases"
COAP_TIMEOUT=2 coap -m get "$(rd_uri_tcp /.well-known/core)"
assert_eq timeout "$CODE" "after SIGTERM, a new TCP connection gets no answer (listener closed)"
bg_wait "$BG_PID" 20 || fail "the client did not finish"
assert_contains "$(cat "$out.body" 2>/dev/null)" "slow 1500" "the request in flight got its answer after SIGTERM"
rr_stop tcp TERM
assert_eq 0 "$RR_EXIT" "relay-tcp exits 0 after the drain"
bg_wait "$idle_pid" 10
assert_match "recv 7\.04" "$(cat "$abuse")" "a connected client received a Release (7.04)"
assert_match "closed 1 of 1" "$(cat "$abuse")" "... and its connection closed when the relay exited"
# the slow client's connection got its Release only after its answer
answer_line=$(grep -n 'request sent to slowep' "$T_DIR/tcp.log" | head -n 1 | cut -d: -f1)
rel_line=$(grep -n 'Release sent on' "$T_DIR/tcp.log" | tail -n 1 | cut -d: -f1)
[ -n "$rel_line" ] && [ "$rel_line" -gt "$answer_line" ] &&
    ok "the busy connections were released after the request in flight" ||
    fail "no Release after the request in flight"
grep -q 'stop deadline' "$T_DIR/tcp.log" &&
    fail "the drain hit the deadline although the answer came" || ok "the drain ended when nothing was in flight"
t_done
