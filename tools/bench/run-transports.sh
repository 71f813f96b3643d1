#!/bin/sh
# tools/bench/run-transports.sh - proxied GET over every transport in one run
# (issue 21, BRIEF §6: TCP and WebSocket proxied throughput within 2x of
# UDP's, the relay's CPU per proxied request for each transport, a perf
# profile of rdrelay-tcp and rdrelay-ws).
#
# Role: starts on loopback rd-frontend, rdrelay-udp, rdrelay-tcp and
# rdrelay-ws (own state dir), and three rr-registrants registered with
# proxy=yes: ureg over UDP (from its serving socket), treg over one TCP
# connection, wreg over one WebSocket (rr-registrant's built-in TCP<->WS
# bridge thread: libcoap 4.3.1 has no WebSocket). Then, at each in-flight
# count of INFLIGHT (default "16 64"), rdrelay-bench --compare runs the
# origin directly (UDP for ureg; TCP on the registrant's --listen for treg
# and wreg) and through the relay of the same transport, and the cross
# transports (client TCP or WS -> UDP registrant, client UDP -> TCP
# registrant, client TCP -> WS registrant). Around every run it reads
# utime+stime of each relay from /proc/PID/stat, so each line ends with the
# relays' CPU per proxied request (µs; the relays are idle in the direct
# phases). With PERF=1 it profiles rdrelay-tcp and rdrelay-ws under proxied
# load at 16 in flight (perf record -g, perf report: top symbols).
# Every figure line carries the load average (the machine is shared).
# Owns: every process it starts (stopped by PID on exit) and a temp dir.
#
# usage: tools/bench/run-transports.sh [BINDIR]      (default build-rel/bin)
# env:   DUR=5 (s per phase)  WARM=0.5  ROUNDS=1  INFLIGHT="16 64"  PERF=0|1
#        BASE_PORT=16780 (uses BASE_PORT..BASE_PORT+5)  CROSS=1 (0: skip the cross rows)
#        SMOKE=1: tiny counts, no perf (the CTest smoke test: fields only)
set -eu

BIN=${1:-build-rel/bin}
DUR=${DUR:-5}
WARM=${WARM:-0.5}
ROUNDS=${ROUNDS:-1}
INFLIGHT=${INFLIGHT:-16 64}
PERF=${PERF:-0}
CROSS=${CROSS:-1}
SMOKE=${SMOKE:-0}
BASE_PORT=${BASE_PORT:-16780}
UDP=$BASE_PORT
TCP=$((BASE_PORT + 1))
WS=$((BASE_PORT + 2))
REGU=$((BASE_PORT + 3))
REGT=$((BASE_PORT + 4))
REGW=$((BASE_PORT + 5))
DOMAIN=proxy.localhost
COUNT=""
if [ "$SMOKE" = 1 ]; then
    DUR=5 WARM=0 PERF=0 COUNT="-c 200" INFLIGHT=${INFLIGHT_SMOKE:-4}
fi

. "$(dirname "$0")/lib-rd.sh"
bench_require run-transports "$BIN" rdrelay-frontend rdrelay-udp rdrelay-tcp rdrelay-ws rr-registrant rdrelay-bench || exit 2

TMP=$(mktemp -d /tmp/rdrelay-xport.XXXXXX)
PIDS=""
trap rd_cleanup EXIT
trap 'exit 1' INT TERM

la() { cut -d' ' -f1-3 /proc/loadavg; }


COMMON="--state-dir $TMP --udp-listen 127.0.0.1:$UDP --tcp-listen 127.0.0.1:$TCP"
COMMON="$COMMON --ws-listen 127.0.0.1:$WS --proxy-domain $DOMAIN --log-level ${LOG:-warn}"
COMMON="$COMMON --max-regs-per-source 0 --max-registrations 0 --max-conns-per-source 0"
COMMON="$COMMON --amplification-limit 0 --proxy-rate-source 0 --proxy-rate-endpoint 0"
# shellcheck disable=SC2086
"$BIN/rdrelay-frontend" $COMMON >"$TMP/fe.log" 2>&1 &
FE_PID=$!; PIDS="$PIDS $FE_PID"
# shellcheck disable=SC2086
"$BIN/rdrelay-udp" $COMMON >"$TMP/udp.log" 2>&1 &
UDP_PID=$!; PIDS="$PIDS $UDP_PID"
# shellcheck disable=SC2086
"$BIN/rdrelay-tcp" $COMMON >"$TMP/tcp.log" 2>&1 &
TCP_PID=$!; PIDS="$PIDS $TCP_PID"
# shellcheck disable=SC2086
"$BIN/rdrelay-ws" $COMMON >"$TMP/ws.log" 2>&1 &
WS_PID=$!; PIDS="$PIDS $WS_PID"

# the RD answers over each relay
rd_probe() { "$BIN/rdrelay-bench" --target "$1" --path /.well-known/core -n 1 -c 1 -d 1 -w 0 \
    --timeout-ms 200 >/dev/null 2>&1; }
for t in "127.0.0.1:$UDP" "coap+tcp://127.0.0.1:$TCP" "coap+ws://127.0.0.1:$WS"; do
    bench_wait_for rd_probe "$t" || { echo "run-transports: the RD does not answer over $t" >&2
        cat "$TMP"/*.log >&2; exit 1; }
done

"$BIN/rr-registrant" --rd "coap://127.0.0.1:$UDP/rd" --ep ureg --lt 3600 \
    --listen "127.0.0.1:$REGU" >"$TMP/ureg.out" 2>"$TMP/ureg.log" &
PIDS="$PIDS $!"
"$BIN/rr-registrant" --rd "coap+tcp://127.0.0.1:$TCP/rd" --ep treg --lt 3600 \
    --listen "127.0.0.1:$REGT" >"$TMP/treg.out" 2>"$TMP/treg.log" &
PIDS="$PIDS $!"
"$BIN/rr-registrant" --rd "coap+ws://127.0.0.1:$WS/rd" --ep wreg --lt 3600 \
    --listen "127.0.0.1:$REGW" >"$TMP/wreg.out" 2>"$TMP/wreg.log" &
PIDS="$PIDS $!"
for r in ureg treg wreg; do
    bench_wait_for grep -q registered "$TMP/$r.out" || {
        echo "run-transports: $r did not register" >&2; cat "$TMP/$r.out" "$TMP/$r.log" >&2; exit 1; }
done
proxied_ok() { "$BIN/rdrelay-bench" --target "$1" --host "$2.$DOMAIN" --path /hello -n 1 -c 1 \
    -d 1 -w 0 --timeout-ms 200 --json 2>/dev/null | grep -q '"ok":1,'; }
for p in "127.0.0.1:$UDP ureg" "coap+tcp://127.0.0.1:$TCP treg" "coap+ws://127.0.0.1:$WS wreg"; do
    # shellcheck disable=SC2086
    bench_wait_for proxied_ok $p || { echo "run-transports: proxied GET $p fails" >&2; exit 1; }
done

echo "# $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(uname -r)"
echo "# relays: udp 127.0.0.1:$UDP tcp :$TCP ws :$WS; registrants ureg :$REGU (udp), treg :$REGT (tcp), wreg :$REGW (ws via bridge)"
echo "# columns: scenario in-flight direct-rps proxied-rps ratio added-p50-ms proxied-p50/p99-ms relay-cpu-us/req loadavg"

# row NAME N RELAYPIDS ARGS...: one --compare run, its fields and the relays' CPU per proxied request
row() {
    name=$1 n=$2 rpids=$3; shift 3
    l0=$(la)
    c0=0; for p in $rpids; do c0=$((c0 + $(ticks "$p"))); done
    # shellcheck disable=SC2086
    "$BIN/rdrelay-bench" --compare "$@" --path /hello -n "$n" -d "$DUR" -w "$WARM" \
        --rounds "$ROUNDS" $COUNT --json >"$TMP/row.json" || { echo "run-transports: $name failed" >&2
        cat "$TMP/row.json" >&2; tail -n 20 "$TMP"/*.log "$TMP"/*.out >&2; exit 1; }
    c1=0; for p in $rpids; do c1=$((c1 + $(ticks "$p"))); done
    python3 - "$TMP/row.json" "$name" "$n" "$((c1 - c0))" "$(getconf CLK_TCK)" "$l0" "$(la)" "$WARM" <<'EOF'
import json, sys
f, name, n, dt, hz, l0, l1, warm = sys.argv[1:]
j = json.load(open(f))
d, p = j["direct"], j["proxied"]
# warm-up requests are not in the counts; estimate them at the window's rate
resp = p["responses"] + p["rps"] * float(warm) * j["rounds"]
cpu_us = int(dt) / int(hz) * 1e6 / resp if resp else 0
print(f'{name:28s} n={n:>2} direct {d["rps"]:9.0f} proxied {p["rps"]:9.0f} ratio {j["ratio"]:.3f} '
      f'added-p50 {j["added_p50_ms"]:.3f} p50/p99 {p["latency_ms"]["p50"]:.3f}/{p["latency_ms"]["p99"]:.3f} ms '
      f'cpu {cpu_us:5.1f} us/req  ok {p["ok"]}/{p["responses"]} failed {p["failed"]} '
      f'[client {p["transport"]}, direct {d["transport"]}] load {l0} .. {l1}')
EOF
}

for n in $INFLIGHT; do
    row "udp->udp (ureg)" "$n" "$UDP_PID" --target "127.0.0.1:$REGU" --via "127.0.0.1:$UDP" --host "ureg.$DOMAIN"
    row "tcp->tcp (treg)" "$n" "$TCP_PID" --target "coap+tcp://127.0.0.1:$REGT" --via "coap+tcp://127.0.0.1:$TCP" --host "treg.$DOMAIN"
    row "ws->ws (wreg)" "$n" "$WS_PID" --target "coap+tcp://127.0.0.1:$REGW" --via "coap+ws://127.0.0.1:$WS" --host "wreg.$DOMAIN"
    if [ "$CROSS" = 1 ]; then
        row "tcp->udp (ureg)" "$n" "$TCP_PID $UDP_PID" --target "127.0.0.1:$REGU" --via "coap+tcp://127.0.0.1:$TCP" --host "ureg.$DOMAIN"
        row "ws->udp (ureg)" "$n" "$WS_PID $UDP_PID" --target "127.0.0.1:$REGU" --via "coap+ws://127.0.0.1:$WS" --host "ureg.$DOMAIN"
        row "udp->tcp (treg)" "$n" "$UDP_PID $TCP_PID" --target "coap+tcp://127.0.0.1:$REGT" --via "127.0.0.1:$UDP" --host "treg.$DOMAIN"
        row "tcp->ws (wreg)" "$n" "$TCP_PID $WS_PID" --target "coap+tcp://127.0.0.1:$REGW" --via "coap+tcp://127.0.0.1:$TCP" --host "wreg.$DOMAIN"
    fi
done

if [ "$PERF" = 1 ]; then
    for x in tcp ws; do
        if [ $x = tcp ]; then pid=$TCP_PID via="coap+tcp://127.0.0.1:$TCP" host=treg
        else pid=$WS_PID via="coap+ws://127.0.0.1:$WS" host=wreg; fi
        echo "## perf: rdrelay-$x under proxied load ($host /hello, 16 in flight, load $(la))"
        "$BIN/rdrelay-bench" --target "$via" --host "$host.$DOMAIN" --path /hello -n 16 -d 5 -w 0.5 \
            >"$TMP/perf-$x.bench" &
        BPID=$!
        sleep 1
        perf record -q -F 999 -g -p "$pid" -o "$TMP/perf-$x.data" -- sleep 3 >/dev/null 2>&1 || true
        wait "$BPID"
        cat "$TMP/perf-$x.bench"
        echo "# self time, top symbols:"
        perf report -i "$TMP/perf-$x.data" --stdio --no-children --sort dso,symbol -g none 2>/dev/null |
            grep -E '^ +[0-9]+\.[0-9]+%' | head -25
        echo "# children (inclusive), top symbols:"
        perf report -i "$TMP/perf-$x.data" --stdio --children --sort symbol -g none 2>/dev/null |
            grep -E '^ +[0-9]+\.[0-9]+%' | head -25
    done
fi
echo "# done (load $(la))"
