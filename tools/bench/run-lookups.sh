#!/bin/sh
# tools/bench/run-lookups.sh - reproduces "Lookups at scale" in
# docs/benchmarks.md: for each registration count, a fresh rd-frontend and
# relay-udp (own temp state dir, loopback), rdrelay-bench --preload N
# (registrations/s, rd-frontend's RSS before/after), then --lookups (every
# scenario, lookups/s and p50/p99), and optionally an exact ?ep= lookup
# while a second bench registers (STALL=1). Results as JSON lines in
# $OUT (default lookups.jsonl); with PLOT=1 and gnuplot installed draws
# docs/lookup-latency.png (p99 per scenario against registrations).
# Owns every process it starts (stopped by PID) and a temp dir.
#
# usage: tools/bench/run-lookups.sh [BINDIR]   (default /tmp/build-rel-rd/bin)
# env:   COUNTS="1000 10000 100000"  DUR=2 (s per scenario)  INFLIGHT=32
#        PORT=15799  OUT=lookups.jsonl  STALL=0|1  PLOT=0|1
set -eu
BIN=${1:-/tmp/build-rel-rd/bin}
COUNTS=${COUNTS:-"1000 10000 100000"}
DUR=${DUR:-2}
INFLIGHT=${INFLIGHT:-32}
PORT=${PORT:-15799}
OUT=${OUT:-lookups.jsonl}
STALL=${STALL:-0}
PLOT=${PLOT:-0}
TMP=$(mktemp -d /tmp/rdrelay-lookups.XXXXXX)
PIDS=""
stop_all() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    PIDS=""
}
cleanup() {
    stop_all
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

: >"$OUT"
for n in $COUNTS; do
    rm -rf "$TMP/state"
    ARGS="--state-dir $TMP/state --udp-listen 127.0.0.1:$PORT --log-level warn"
    "$BIN/rdrelay-frontend" $ARGS >"$TMP/fe.log" 2>&1 &
    FE=$!
    PIDS="$FE"
    "$BIN/rdrelay-udp" $ARGS >"$TMP/udp.log" 2>&1 &
    PIDS="$PIDS $!"
    i=0
    until coap-client-notls -B 1 "coap://127.0.0.1:$PORT/.well-known/core" 2>/dev/null | grep -q rd; do
        i=$((i + 1))
        [ $i -lt 50 ] || { echo "run-lookups: the RD did not answer" >&2; exit 1; }
        sleep 0.2
    done
    echo "== $n registrations" >&2
    "$BIN/rdrelay-bench" --target "127.0.0.1:$PORT" --preload "$n" -n "$INFLIGHT" \
        --rss-pid "$FE" --lookups -d "$DUR" -w 0.3 --json | sed "s/^{/{\"n\":$n,/" >>"$OUT"
    if [ "$STALL" = 1 ]; then
        # exact ?ep= lookups while another bench registers 100000 more
        "$BIN/rdrelay-bench" --target "127.0.0.1:$PORT" --preload 100000 -n 16 >"$TMP/bg" 2>&1 &
        BG=$!
        sleep 0.5
        "$BIN/rdrelay-bench" --target "127.0.0.1:$PORT" --path "/rd-lookup/ep?ep=b0000007" \
            -n 1 -d "$DUR" -w 0 --json | sed "s/^{/{\"n\":$n,\"scenario\":\"ep-during-registrations\",/" >>"$OUT"
        kill "$BG" 2>/dev/null || true
        wait "$BG" 2>/dev/null || true
    fi
    stop_all
done
echo "run-lookups: results in $OUT" >&2

if [ "$PLOT" = 1 ] && command -v gnuplot >/dev/null; then
    dat=$TMP/p99.dat
    # one column per scenario: rows n, p99 ms
    for s in ep d et base href-path href-uri anchor rt rt-prefix if if-prefix and-3 no-filter res-page; do
        grep "\"label\":\"lookup:$s\"" "$OUT" |
            sed -E 's/^\{"n":([0-9]+),.*"p99":([0-9.]+).*/\1 \2/' >"$TMP/$s.dat"
    done
    gnuplot <<EOF
set terminal png size 900,560
set output "docs/lookup-latency.png"
set title "rd-frontend lookup latency p99 (release, loopback, 10 links per registration)"
set logscale x
set xlabel "registrations"
set ylabel "p99 latency (ms, client side)"
set key outside right
set grid
plot for [s in "ep d et base href-path href-uri anchor rt rt-prefix if if-prefix and-3 no-filter res-page"] \
    "$TMP/".s.".dat" using 1:2 with linespoints title s
EOF
    echo "run-lookups: docs/lookup-latency.png" >&2
fi
