#!/bin/sh
# tools/bench/cpu-per-req.sh - CPU time per request of the relay and of
# the origins (issue 21: "the relay's CPU time per proxied request at most
# half the libcoap origin's CPU time per direct request").
#
# Role: starts on loopback rd-frontend, rdrelay-udp, two origins registered
# with proxy=yes (rr-registrant, coap-server-notls registered from its own
# port) and rdrelay-udp-floor (the kernel's floor: a forwarder with the
# relay's system calls and no CoAP). For each origin and each in-flight
# count of INFLIGHT it runs rdrelay-bench for DUR seconds (no warm-up, so
# every request sent is counted) direct, through rdrelay-udp and through
# the floor forwarder, and reads the CPU time each process spent meanwhile
# from /proc/PID/schedstat (nanoseconds on the CPU, exact; /proc/PID/stat's
# 10 ms ticks are too coarse for short windows). Each line gives requests/s
# and CPU per request (µs) of the origin and of the forwarder in between;
# the last column is the forwarder's CPU per proxied request over the
# origin's per direct request of the same origin in the same run (medians
# over ROUNDS). Each line also gives the CPU time the hypervisor stole
# meanwhile (/proc/stat), which inflates every figure on a shared VM.
# With SYSCALLS=1, perf stat also counts the forwarder's system calls per
# request (needs perf and the raw_syscalls tracepoint).
# Owns: every process it starts (stopped by PID on exit) and a temp dir.
#
# usage: tools/bench/cpu-per-req.sh [BINDIR]      (default build-rel/bin)
# env:   DUR=4 (s per run)  ROUNDS=2  INFLIGHT="16 64"  BASE_PORT=17780
#        (uses BASE_PORT..BASE_PORT+3)  SYSCALLS=0|1  SMOKE=1 (tiny runs)
set -eu

BIN=${1:-build-rel/bin}
DUR=${DUR:-4}
ROUNDS=${ROUNDS:-2}
INFLIGHT=${INFLIGHT:-16 64}
SYSCALLS=${SYSCALLS:-0}
BASE_PORT=${BASE_PORT:-17780}
RELAY=$BASE_PORT
ORIGIN=$((BASE_PORT + 1))
REG=$((BASE_PORT + 2))
FLOOR=$((BASE_PORT + 3))
DOMAIN=proxy.localhost
COUNT=""
if [ "${SMOKE:-0}" = 1 ]; then
    DUR=2 ROUNDS=1 INFLIGHT=4 SYSCALLS=0 COUNT="-c 300"
fi

. "$(dirname "$0")/lib-rd.sh"
bench_require cpu-per-req "$BIN" rdrelay-frontend rdrelay-udp rr-registrant rdrelay-bench rdrelay-udp-floor || exit 2

TMP=$(mktemp -d /tmp/rdrelay-cpu.XXXXXX)
PIDS=""
trap rd_cleanup EXIT
trap 'exit 1' INT TERM

BENCH_RUN=""
bench_proxy_start cpu-per-req "$BIN" "$RELAY" "$ORIGIN" "$REG" "$DOMAIN" || exit 1

# ns PID: nanoseconds PID has run on a CPU
ns() { cut -d' ' -f1 "/proc/$1/schedstat"; }
# steal: the hypervisor's share of all CPUs' time (/proc/stat, ticks): on a
# shared VM it inflates every figure, so each line gives it
stat_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print $9, t}' /proc/stat; }
la() { cut -d' ' -f1-3 /proc/loadavg; }

# run LABEL N TARGET HOST PATH FWD_PID ORIGIN_PID: one bench run, one line
run() {
    # sh has no local variables: r_ names are run's own
    r_label=$1 r_n=$2 r_target=$3 r_host=$4 r_path=$5 fpid=$6 r_opid=$7
    hostarg=""
    [ -n "$r_host" ] && hostarg="--host $r_host"
    f0=0; [ "$fpid" != - ] && f0=$(ns "$fpid")
    o0=$(ns "$r_opid")
    s0=$(stat_ticks)
    if [ "$SYSCALLS" = 1 ] && [ "$fpid" != - ]; then
        perf stat -x, -e raw_syscalls:sys_enter -p "$fpid" -o "$TMP/sys.txt" -- \
            sleep "$DUR" >/dev/null 2>&1 &
        SPID=$!
    fi
    # shellcheck disable=SC2086
    "$BIN/rdrelay-bench" --target "$r_target" $hostarg --path "$r_path" -n "$r_n" -d "$DUR" -w 0 \
        $COUNT --json >"$TMP/run.json" || { echo "cpu-per-req: $r_label failed" >&2; exit 1; }
    f1=0; [ "$fpid" != - ] && f1=$(ns "$fpid")
    o1=$(ns "$r_opid")
    s1=$(stat_ticks)
    steal=$(echo "$s0 $s1" | awk '{d = $4 - $2; printf "%.1f", (d > 0 ? 100 * ($3 - $1) / d : 0)}')
    sys=""
    if [ "$SYSCALLS" = 1 ] && [ "$fpid" != - ]; then
        wait "$SPID" || true
        sys=$(awk -F, '/raw_syscalls/ {print $1}' "$TMP/sys.txt")
    fi
    python3 - "$TMP/run.json" "$r_label" "$r_n" "$((f1 - f0))" "$((o1 - o0))" "$DUR" "$sys" "$(la)" \
        "$TMP/rows" "$steal" <<'EOF'
import json, sys
f, label, n, fns, ons, dur, sysc, load, rows, steal = sys.argv[1:]
j = json.load(open(f))["result"]
if j["ok"] < j["responses"]:
    sys.exit(f'cpu-per-req: {label}: not every answer a 2.xx: {j["codes"]}')
resp = j["responses"] + j["unfinished"]  # every request the origin answered, near enough
fwd = int(fns) / 1e3 / resp if resp else 0.0
org = int(ons) / 1e3 / resp if resp else 0.0
extra = ""
if sysc:
    extra = f' syscalls/req {float(sysc) / (j["rps"] * float(dur)):.2f}'
print(f'{label:34s} n={n:>2} {j["rps"]:8.0f} req/s ok {j["ok"]}/{j["responses"]} '
      f'forwarder {fwd:6.2f} us/req origin {org:6.2f} us/req{extra} steal {steal}% load {load}')
with open(rows, 'a') as out:
    out.write(f'{label}|{n}|{fwd:.3f}|{org:.3f}\n')
EOF
}

echo "# $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), $(uname -r)"
echo "# relay 127.0.0.1:$RELAY, floor 127.0.0.1:$FLOOR, rr-registrant :$REG, coap-server-notls :$ORIGIN"
: >"$TMP/rows"
for o in reg cs; do
    if [ $o = reg ]; then opid=$REG_PID oport=$REG path=/hello name=rr-registrant host=benchreg.$DOMAIN
    else opid=$CS_PID oport=$ORIGIN path=/time name=coap-server-notls host=benchorigin.$DOMAIN; fi
    "$BIN/rdrelay-udp-floor" "127.0.0.1:$FLOOR" "127.0.0.1:$oport" &
    FL_PID=$!; PIDS="$PIDS $FL_PID"
    for n in $INFLIGHT; do
        r=1
        while [ $r -le "$ROUNDS" ]; do
            run "$name direct" "$n" "127.0.0.1:$oport" "" "$path" - "$opid"
            run "$name via rdrelay-udp" "$n" "127.0.0.1:$RELAY" "$host" "$path" "$UDP_PID" "$opid"
            run "$name via rdrelay-udp-floor" "$n" "127.0.0.1:$FLOOR" "" "$path" "$FL_PID" "$opid"
            r=$((r + 1))
        done
    done
    kill "$FL_PID"; wait "$FL_PID" 2>/dev/null || true
done
# medians per (scenario, n), and the ratios the target asks for
python3 - "$TMP/rows" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, n, fwd, org = line.strip().split('|')
    rows.setdefault((label, n), []).append((float(fwd), float(org)))
med = {k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v)) for k, v in rows.items()}
print("# medians: forwarder CPU per proxied request / origin CPU per direct request (same origin)")
for (label, n), (fwd, org) in sorted(med.items()):
    if label.endswith(' direct'):
        continue
    origin = label.split(' via ')[0]
    direct = med.get((origin + ' direct', n))
    if direct and direct[1] > 0:
        print(f'{label:34s} n={n:>2} {fwd:6.2f} us / {direct[1]:6.2f} us = {fwd / direct[1]:.2f}')
EOF
echo "# done (load $(la))"
