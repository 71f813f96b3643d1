#!/bin/sh
# tools/bench/smoke-test.sh - CTest smoke test of rdrelay-bench (no timing
# targets): against coap-server-notls on loopback it must count every
# answer of a bounded run, report 4.04 by code, refuse a non-loopback target
# (exit 2) and exit 1 when nothing answers. Stops the server by PID.
# usage: smoke-test.sh BENCH [PORT]
set -eu
BENCH=$1
PORT=${2:-15795}
command -v coap-server-notls >/dev/null || { echo "SKIP: no coap-server-notls"; exit 77; }
OUT=$(mktemp)
coap-server-notls -A 127.0.0.1 -p "$PORT" >/dev/null 2>&1 &
SPID=$!
trap 'kill $SPID 2>/dev/null || true; wait $SPID 2>/dev/null || true; rm -f "$OUT"' EXIT
fail() { echo "FAIL: $*"; cat "$OUT"; exit 1; }

# wait (bounded) until the server answers
i=0
until coap-client-notls -B 1 "coap://127.0.0.1:$PORT/time" >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 25 ] || fail "coap-server-notls did not start"; sleep 0.2
done

"$BENCH" --target "127.0.0.1:$PORT" --path /time -n 8 -c 500 -d 30 -w 0 --json >"$OUT" ||
    fail "bounded run exited non-zero"
grep -q '"responses":500,"ok":500,' "$OUT" || fail "expected 500 answers, all 2.xx"
grep -q '"failed":0,' "$OUT" || fail "failures on loopback"

"$BENCH" --target "127.0.0.1:$PORT" --path /no/such -n 4 -c 100 -d 30 -w 0 >"$OUT" ||
    fail "4.04 run exited non-zero"
grep -q 'errors: 4.04=100' "$OUT" || fail "4.04 not counted by code"

"$BENCH" --compare --target "127.0.0.1:$PORT" --via "127.0.0.1:$PORT" --host x.example \
    --path /time -n 4 -c 200 -d 30 -w 0 >"$OUT" || fail "compare run exited non-zero"
grep -q '^ratio proxied/direct ' "$OUT" || fail "compare printed no ratio"

rc=0; "$BENCH" --target 192.0.2.1:5683 -c 1 >"$OUT" 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "non-loopback target: exit $rc, want 2"

# nothing listens on PORT+1: exit 1, no crash
rc=0; "$BENCH" --target "127.0.0.1:$((PORT + 1))" -n 2 -d 0.5 -w 0 --timeout-ms 100 >"$OUT" 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "dead target: exit $rc, want 1"
echo "PASS"
