#!/bin/sh
# tools/bench/smoke-xport.sh - CTest smoke test (label bench) of the
# transport and connection-scale scenarios (issue 21), no timing
# assertions: run-transports.sh with tiny counts must report every row
# (UDP, TCP, WebSocket, the cross-transport pairs) with every answer a 2.xx
# and a CPU figure; conns.sh with a few registrants per transport must
# register and reach every one by name and report RSS per connection;
# cpu-per-req.sh must give every process's CPU per request and the ratios;
# rdrelay-bench documents the new targets in --help and refuses
# --registrants over UDP. The scripts stop every process they start by PID.
# usage: smoke-xport.sh BINDIR [BASE_PORT]
set -eu
BIN=$1
PORT=${2:-15800}
D=$(dirname "$0")
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
fail() { echo "FAIL: $*"; cat "$OUT"; exit 1; }

"$BIN/rdrelay-bench" --help >"$OUT"
for w in coap+tcp:// coap+ws:// --registrants --reach-every --rss-pid2; do
    grep -q -- "$w" "$OUT" || fail "--help does not mention $w"
done
rc=0; "$BIN/rdrelay-bench" --target 127.0.0.1:5683 --registrants 1 >"$OUT" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "--registrants over UDP: exit $rc, want 2"

SMOKE=1 BASE_PORT=$PORT sh "$D/run-transports.sh" "$BIN" >"$OUT" 2>&1 || fail "run-transports.sh failed"
for r in "udp->udp" "tcp->tcp" "ws->ws" "tcp->udp" "ws->udp" "udp->tcp" "tcp->ws"; do
    line=$(grep -F "$r (" "$OUT") || fail "no row $r"
    echo "$line" | grep -qE 'direct +[1-9][0-9]* proxied +[1-9][0-9]* ratio [0-9.]+ ' ||
        fail "row $r: no rates"
    echo "$line" | grep -q 'ok 200/200 failed 0 ' || fail "row $r: not 200 answers, all 2.xx"
    echo "$line" | grep -qE 'cpu +[0-9.]+ us/req' || fail "row $r: no CPU per request"
    echo "$line" | grep -qE 'load [0-9.]+ [0-9.]+ [0-9.]+' || fail "row $r: no load average"
done

XPORTS="tcp ws" BASE_PORT=$((PORT + 6)) sh "$D/conns.sh" "$BIN" 40 >"$OUT" 2>&1 || fail "conns.sh failed"
for x in tcp ws; do
    grep -qE "^registrants $x: 40 connected in [0-9.]+ s, 40 registered in [0-9.]+ s .*, 0 failed, 0 closed" "$OUT" ||
        fail "$x: not 40 connected and registered"
done
[ "$(grep -c '^reached 40/40 by name (every 1-th) .*, 0 wrong or failed$' "$OUT")" -eq 2 ] ||
    fail "not every registrant reached by name on both transports"
[ "$(grep -cE '^relay pid [0-9]+ RSS: [1-9][0-9]* KiB before, [1-9][0-9]* KiB with 40 registrants: -?[0-9]+ bytes per connection$' "$OUT")" -eq 2 ] ||
    fail "relay RSS per connection missing"
[ "$(grep -cE '^rd-frontend pid [0-9]+ RSS: [1-9][0-9]* KiB before' "$OUT")" -eq 2 ] ||
    fail "rd-frontend RSS missing"
# CPU per request of the relay, the floor forwarder and both origins
SMOKE=1 BASE_PORT=$((PORT + 12)) sh "$D/cpu-per-req.sh" "$BIN" >"$OUT" 2>&1 || fail "cpu-per-req.sh failed"
for o in rr-registrant coap-server-notls; do
    for v in "direct" "via rdrelay-udp" "via rdrelay-udp-floor"; do
        grep -qE "^$o $v +n= 4 +[1-9][0-9]* req/s ok 300/300 forwarder +[0-9.]+ us/req origin +[0-9.]+ us/req steal [0-9.]+% " "$OUT" ||
            fail "cpu-per-req: no sane line for $o $v"
    done
    for v in "via rdrelay-udp" "via rdrelay-udp-floor"; do
        grep -qE "^$o $v +n= 4 +[0-9.]+ us / +[0-9.]+ us = [0-9.]+$" "$OUT" || fail "cpu-per-req: no ratio for $o $v"
    done
done
echo "PASS"
