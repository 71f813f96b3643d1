#!/bin/sh
# tools/bench/run-lookups.sh - reproduces "Lookups at scale" in
# docs/benchmarks.md: for each registration count, a fresh rd-frontend and
# relay-udp (own temp state dir, loopback), rdrelay-bench --preload N
# (registrations/s, rd-frontend's RSS before/after), then --lookups (every
# scenario, lookups/s and p50/p99), and optionally an exact ?ep= lookup
# while a second bench re-registers at STALL_RATE/s (STALL=1). Results as
# JSON lines in
# $OUT (default lookups.jsonl). MICRO=1 (default) also runs
# rdrelay-lookup-micro at each count (service time in process, no network,
# RSS per registration). With PLOT=1 and gnuplot installed it draws
# docs/lookup-latency.png (client p99 per scenario against registrations)
# and docs/lookup-service.png (in-process p99 service time).
# Owns every process it starts (stopped by PID) and a temp dir.
#
# usage: tools/bench/run-lookups.sh [BINDIR]   (default /tmp/build-rel-rd/bin)
# env:   COUNTS="1000 10000 100000"  DUR=2 (s per scenario)  INFLIGHT=32
#        PORT=15799  OUT=lookups.jsonl  STALL=0|1  STALL_RATE=2000  PLOT=0|1  MICRO=1|0
#        LOOKUPS=1|0 (0: preload and STALL only)
set -eu
BIN=${1:-/tmp/build-rel-rd/bin}
COUNTS=${COUNTS:-"1000 10000 100000"}
DUR=${DUR:-2}
INFLIGHT=${INFLIGHT:-32}
PORT=${PORT:-15799}
OUT=${OUT:-lookups.jsonl}
STALL=${STALL:-0}
PLOT=${PLOT:-0}
MICRO=${MICRO:-1}
STALL_RATE=${STALL_RATE:-2000}
LOOKUPS=${LOOKUPS:-1}
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
. "$(dirname "$0")/lib-rd.sh"

: >"$OUT"
for n in $COUNTS; do
    rm -rf "$TMP/state"
    rd_start "$BIN" "$TMP/state" "$PORT" || { echo "run-lookups: the RD did not answer" >&2; exit 1; }
    echo "== $n registrations" >&2
    "$BIN/rdrelay-bench" --target "127.0.0.1:$PORT" --preload "$n" -n "$INFLIGHT" \
        --rss-pid "$FE" $([ "$LOOKUPS" = 1 ] && echo --lookups) -d "$DUR" -w 0.3 --json | sed "s/^{/{\"n\":$n,/" >>"$OUT"
    if [ "$STALL" = 1 ]; then
        # exact ?ep= lookups while another bench re-registers (and so
        # updates) the same endpoints at STALL_RATE per second
        "$BIN/rdrelay-bench" --target "127.0.0.1:$PORT" --preload "$n" --rate "$STALL_RATE" \
            -n 16 >"$TMP/bg" 2>&1 &
        BG=$!
        sleep 0.5
        "$BIN/rdrelay-bench" --target "127.0.0.1:$PORT" --path "/rd-lookup/ep?ep=b0000007" \
            -n 1 -d "$DUR" -w 0 --json | sed "s/^{/{\"n\":$n,\"scenario\":\"ep-during-registrations\",\"rate\":$STALL_RATE,/" >>"$OUT"
        kill "$BG" 2>/dev/null || true
        wait "$BG" 2>/dev/null || true
    fi
    stop_all
    if [ "$MICRO" = 1 ]; then
        "$BIN/rdrelay-lookup-micro" -n "$n" --iters 2000 --json | sed 's/^{/{"micro":1,/' >>"$OUT"
    fi
done
echo "run-lookups: results in $OUT" >&2

if [ "$PLOT" = 1 ] && command -v gnuplot >/dev/null; then
    dat=$TMP/p99.dat
    # one column per scenario: rows n, p99 ms
    for s in ep d et base href-path href-uri anchor rt rt-prefix if if-prefix and-3 no-filter res-page; do
        grep "\"label\":\"lookup:$s\"" "$OUT" |
            sed -E 's/^\{"n":([0-9]+),.*"p99":([0-9.]+).*/\1 \2/' >"$TMP/$s.dat"
        grep "^{\"micro\":1,\"scenario\":\"$s\"," "$OUT" |
            sed -E 's/.*"n":([0-9]+),.*"p99_us":([0-9.]+).*/\1 \2/' >"$TMP/$s.micro"
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
set output "docs/lookup-service.png"
set title "rd-frontend lookup service time p99, in process (rdrelay-lookup-micro)"
set ylabel "p99 service time (us)"
set logscale y
plot for [s in "ep d et base href-path href-uri anchor rt rt-prefix if if-prefix and-3 no-filter res-page"] \
    "$TMP/".s.".micro" using 1:2 with linespoints title s
EOF
    echo "run-lookups: docs/lookup-latency.png docs/lookup-service.png" >&2
fi
