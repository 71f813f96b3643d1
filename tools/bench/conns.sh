#!/bin/sh
# tools/bench/conns.sh - connection scale on one relay (issue 21, BRIEF §6:
# one relay holds 10,000 concurrent TCP and 10,000 WebSocket registrants,
# each reachable by name; memory per connection documented).
#
# Role: for each transport in XPORTS (default "tcp ws") starts a fresh
# rd-frontend and that relay (release build, own state dir, loopback), then
# rdrelay-bench --registrants N: N connections, each registered with
# proxy=yes and serving GET /hello, then every REACH_EVERY-th of them
# (default 1: all N) reached by name through the relay over one more
# connection (pipelined, 64 in flight) and its answer checked; the RSS
# (VmRSS from /proc) of the relay and of rd-frontend before the first
# connection and with all registered -> bytes per connection and per
# registration. Raises the open-file limit to the hard limit (the relay and
# the load tool each hold N descriptors). Prints the load average with
# every figure (the machine is shared).
# Owns: every process it starts (stopped by PID) and a temp dir.
#
# usage: tools/bench/conns.sh [BINDIR] [N]      (default build-rel/bin 10000)
# env:   XPORTS="tcp ws"  REACH_EVERY=1  BASE_PORT=16790 (uses +0..+2)  JSON=0|1
set -eu

BIN=${1:-build-rel/bin}
N=${2:-10000}
XPORTS=${XPORTS:-tcp ws}
REACH_EVERY=${REACH_EVERY:-1}
BASE_PORT=${BASE_PORT:-16790}
JSON=${JSON:-0}
for b in rdrelay-frontend rdrelay-tcp rdrelay-ws rdrelay-bench; do
    [ -x "$BIN/$b" ] || { echo "conns: $BIN/$b missing (build first)" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((N + 200)) ] ||
    { echo "conns: open-file limit $(ulimit -n) too low for $N connections" >&2; exit 2; }

TMP=$(mktemp -d /tmp/rdrelay-conns.XXXXXX)
PIDS=""
stop_all() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    PIDS=""
}
trap 'stop_all; rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM
la() { cut -d' ' -f1-3 /proc/loadavg; }

rc=0
for x in $XPORTS; do
    rm -rf "${TMP:?}/$x"; mkdir -p "$TMP/$x"
    UDP=$BASE_PORT PORT=$((BASE_PORT + 1))
    COMMON="--state-dir $TMP/$x --udp-listen 127.0.0.1:$UDP --log-level warn"
    COMMON="$COMMON --max-regs-per-source 0 --max-registrations 0 --max-conns-per-source 0"
    COMMON="$COMMON --proxy-rate-source 0 --proxy-rate-endpoint 0"
    if [ "$x" = tcp ]; then
        COMMON="$COMMON --tcp-listen 127.0.0.1:$PORT --tcp-max-conns $((N + 100))" URI="coap+tcp://127.0.0.1:$PORT"
    else
        COMMON="$COMMON --ws-listen 127.0.0.1:$PORT --ws-max-conns $((N + 100))" URI="coap+ws://127.0.0.1:$PORT"
    fi
    # shellcheck disable=SC2086
    "$BIN/rdrelay-frontend" $COMMON >"$TMP/$x/fe.log" 2>&1 &
    FE=$!; PIDS="$PIDS $FE"
    # shellcheck disable=SC2086
    "$BIN/rdrelay-$x" $COMMON >"$TMP/$x/relay.log" 2>&1 &
    RELAY=$!; PIDS="$PIDS $RELAY"
    i=0
    until "$BIN/rdrelay-bench" --target "$URI" --path /.well-known/core -n 1 -c 1 -d 1 -w 0 \
        --timeout-ms 200 >/dev/null 2>&1; do
        i=$((i + 1)); [ $i -lt 50 ] || { echo "conns: the RD does not answer over $URI" >&2
            cat "$TMP/$x"/*.log >&2; exit 1; }
        sleep 0.2
    done
    echo "## $x: $N registrants on one rdrelay-$x, every $REACH_EVERY-th reached by name (load $(la))"
    echo "\$ rdrelay-bench --target $URI --registrants $N --reach-every $REACH_EVERY -n 64 --host proxy.localhost --rss-pid RELAY --rss-pid2 FRONTEND"
    J=""; [ "$JSON" = 1 ] && J=--json
    "$BIN/rdrelay-bench" --target "$URI" --registrants "$N" --reach-every "$REACH_EVERY" -n 64 \
        --host proxy.localhost --rss-pid "$RELAY" --rss-pid2 "$FE" $J || rc=1
    echo "# (load $(la))"
    stop_all
done
exit $rc
