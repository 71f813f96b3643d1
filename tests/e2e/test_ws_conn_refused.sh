#!/usr/bin/env bash
# test_ws_conn_refused.sh - relay-ws's refusal of a connection over
# max_conns_per_source, as a real WebSocket client (node `ws`) sees it
# (issue 19; the unit tests check the stream layer only): with 3 allowed,
# three connections from 127.0.0.1 are held, the fourth gets our CSM, an
# Abort (7.05) naming the limit, each as one binary frame, then a close
# frame with status 1008 (policy violation) and the same reason; the three
# held connections are still served (Ping -> Pong), and once one goes a
# new connection is accepted again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_ws.sh"

ws_start_all --max-conns-per-source 3

abuse() { (cd "$NODE_DIR" && timeout 60 node ws_abuse.js "$@" 2>&1); }

out=$(abuse refused "$(ws_uri 4)" 3)
assert_match '^held 3$' "$(grep '^held' <<<"$out")" "three connections from one source are held ($out)"
assert_eq "frames 7.01,7.05" "$(grep '^frames' <<<"$out")" \
    "the fourth gets our CSM, then an Abort, each its own binary frame"
assert_match '^abort too many connections from this source' "$(grep '^abort' <<<"$out")" \
    "the Abort's diagnostic names the limit"
assert_match '^close 1008 too many connections from this source' "$(grep '^close' <<<"$out")" \
    "then a close frame: 1008 with the reason"
assert_eq "pong 3" "$(grep '^pong' <<<"$out")" "the held connections are still served"

# the script ended them: once the relay saw the three go, the source is
# below its limit again
n=0
for ((i = 0; i < 50; i++)); do
    n=$(grep -c 'closed: closed by peer' "$T_DIR/ws.log" || true)
    [ "$n" -ge 3 ] && break
    sleep 0.1
done
[ "$n" -ge 3 ] || fail "the relay did not see the three held connections close ($n)"
out=$(abuse refused "$(ws_uri 4)" 3)
assert_match '^held 3$' "$(grep '^held' <<<"$out")" "after they closed, three new ones are held ($out)"
assert_eq "frames 7.01,7.05" "$(grep '^frames' <<<"$out")" "... and the fourth is refused again"
log=$(wait_match 5 'too many connections from this source' cat "$T_DIR/ws.log")
assert_contains "$log" "too many connections from this source" "the refusal is logged"
t_done
