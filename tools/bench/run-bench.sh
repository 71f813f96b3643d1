#!/bin/sh
# tools/bench/run-bench.sh - reproduces the figures in docs/benchmarks.md.
#
# Role: starts, on loopback only, an origin (coap-server-notls), rd-frontend
# and relay-udp (own state dir), and rr-registrant registered with proxy=yes
# from its serving socket; registers coap-server-notls too, from its own port
# (coap-client-notls -p shares the port: libcoap binds with SO_REUSEADDR);
# then runs rdrelay-bench --compare (direct vs. through the relay) for both
# origins, at 16 and at 1 request in flight, and for rr-registrant through
# its hosting port too (port-based hosting, no Uri-Host routing: the range
# is BASE_PORT+4..+5), prints the CPU each process used,
# and with PERF=1 profiles rdrelay-udp under proxied load (perf record --call-graph dwarf).
# Owns: every process it starts (stopped by PID on exit) and a temp dir.
#
# usage: tools/bench/run-bench.sh [BINDIR]      (default build/bin)
# env:   DUR=5 (s per run)  ROUNDS=3 (direct/proxied alternations)
#        PERF=0|1  PERF_OUT=FILE (perf report text, default $TMP/perf.txt)
#        BASE_PORT=15780 (uses BASE_PORT..BASE_PORT+5)
#        NICE=N  run every process with nice -n N (e.g. -10 as root on a shared
#                machine, so other jobs disturb direct and proxied runs less)
set -eu

BIN=${1:-build/bin}
DUR=${DUR:-5}
ROUNDS=${ROUNDS:-3}
PERF=${PERF:-0}
BASE_PORT=${BASE_PORT:-15780}
RELAY=$BASE_PORT
ORIGIN=$((BASE_PORT + 1))
REG=$((BASE_PORT + 2))
DOMAIN=proxy.localhost
NICE=${NICE:-0}
N="nice -n $NICE"

. "$(dirname "$0")/lib-rd.sh"
bench_require run-bench "$BIN" rdrelay-frontend rdrelay-udp rr-registrant rdrelay-bench || exit 2

TMP=$(mktemp -d /tmp/rdrelay-bench.XXXXXX)
PIDS=""
trap rd_cleanup EXIT
trap 'exit 1' INT TERM

BENCH_RUN=$N
HOSTING="$((BASE_PORT + 4))-$((BASE_PORT + 5))"
bench_proxy_start run-bench "$BIN" "$RELAY" "$ORIGIN" "$REG" "$DOMAIN" \
    --port-hosting-range "$HOSTING" || exit 1
ORIGIN_PID=$CS_PID

echo "# $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(uname -r)"
echo "# nice $NICE; relay 127.0.0.1:$RELAY, rr-registrant 127.0.0.1:$REG, coap-server-notls 127.0.0.1:$ORIGIN"

# bench LABEL ARGS...: run rdrelay-bench, then the CPU each process used
bench() {
    label=$1; shift
    echo "## $label (loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
    echo "\$ rdrelay-bench $*"
    u0=$(ticks $UDP_PID); f0=$(ticks $FE_PID); o0=$(ticks $ORIGIN_PID); r0=$(ticks $REG_PID)
    t0=$(date +%s.%N)
    $N "$BIN/rdrelay-bench" "$@"
    t1=$(date +%s.%N)
    hz=$(getconf CLK_TCK)
    awk -v u="$(( $(ticks $UDP_PID) - u0 ))" -v f="$(( $(ticks $FE_PID) - f0 ))" \
        -v o="$(( $(ticks $ORIGIN_PID) - o0 ))" -v r="$(( $(ticks $REG_PID) - r0 ))" \
        -v hz="$hz" -v t="$(echo "$t1 - $t0" | bc)" \
        'BEGIN { printf "cpu over %.1f s (both phases): rdrelay-udp %.0f%%, rdrelay-frontend %.0f%%, coap-server-notls %.0f%%, rr-registrant %.0f%%\n", t, 100*u/hz/t, 100*f/hz/t, 100*o/hz/t, 100*r/hz/t }'
}

bench "rr-registrant /hello, 16 in flight" --compare --target "127.0.0.1:$REG" \
    --via "127.0.0.1:$RELAY" --host "benchreg.$DOMAIN" --path /hello -n 16 -d "$DUR" --rounds "$ROUNDS"
bench "rr-registrant /hello, 1 in flight (unloaded latency)" --compare --target "127.0.0.1:$REG" \
    --via "127.0.0.1:$RELAY" --host "benchreg.$DOMAIN" --path /hello -n 1 -d "$DUR" --rounds "$ROUNDS"
# rr-registrant registered first: the first hosting port is its
HPORT=$((BASE_PORT + 4))
hosted_get() { coap-client-notls -B 2 -v 0 "coap://127.0.0.1:$HPORT/hello" 2>&1 | grep -q hello; }
bench_wait_for hosted_get || { echo "run-bench: GET on hosting port $HPORT does not work" >&2; exit 1; }
bench "rr-registrant /hello through its hosting port $HPORT, 16 in flight" --compare \
    --target "127.0.0.1:$REG" --via "127.0.0.1:$HPORT" --host "ignored.$DOMAIN" --path /hello \
    -n 16 -d "$DUR" --rounds "$ROUNDS"
bench "rr-registrant /hello through its hosting port $HPORT, 1 in flight" --compare \
    --target "127.0.0.1:$REG" --via "127.0.0.1:$HPORT" --host "ignored.$DOMAIN" --path /hello \
    -n 1 -d "$DUR" --rounds "$ROUNDS"
bench "coap-server-notls /time, 16 in flight" --compare --target "127.0.0.1:$ORIGIN" \
    --via "127.0.0.1:$RELAY" --host "benchorigin.$DOMAIN" --path /time -n 16 -d "$DUR" --rounds "$ROUNDS"
bench "coap-server-notls /time, 1 in flight (unloaded latency)" --compare --target "127.0.0.1:$ORIGIN" \
    --via "127.0.0.1:$RELAY" --host "benchorigin.$DOMAIN" --path /time -n 1 -d "$DUR" --rounds "$ROUNDS"

if [ "$PERF" = 1 ]; then
    out=${PERF_OUT:-$TMP/perf.txt}
    echo "## perf: rdrelay-udp under proxied load (rr-registrant /hello, 16 in flight)"
    $N "$BIN/rdrelay-bench" --target "127.0.0.1:$RELAY" --host "benchreg.$DOMAIN" --path /hello \
        -n 16 -d 5 -w 0.5 &
    BPID=$!
    sleep 1
    perf record -q -F 999 --call-graph dwarf -p "$UDP_PID" -o "$TMP/perf.data" -- sleep 3 >/dev/null 2>&1 || true
    wait "$BPID"
    perf report -i "$TMP/perf.data" --stdio --no-children --sort dso,symbol -g none 2>/dev/null |
        grep -E '^ +[0-9]+\.[0-9]+%' | head -30 >"$out"
    # where the time goes, by the relay function that made the call (self + callees)
    perf report -i "$TMP/perf.data" --stdio --children --sort symbol -g none 2>/dev/null |
        grep -E '^ +[0-9]+\.[0-9]+%' | head -40 >"$out.children"
    echo "# self time, top symbols:"
    cat "$out"
    echo "# children (inclusive) time, top symbols:"
    cat "$out.children"
fi
