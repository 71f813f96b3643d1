#!/bin/sh
# tools/bench/restart-rd.sh - rd-frontend restart to ready: preload N
# registrations (10 links) through relay-udp, then ROUNDS times kill -9
# rd-frontend, start it again and time until an exact ?ep= lookup answers
# through relay-udp (polled every 20 ms, bounded). Owns the processes it
# starts (stopped by PID) and a temp dir. PERF=1 records the first restart
# with perf (perf.data in the temp dir, report printed).
#
# usage: tools/bench/restart-rd.sh [BINDIR]   (default /tmp/build-rel-rd/bin)
# env:   N=100000  ROUNDS=3  PORT=15798  PERF=0|1
#        STATE=DIR (kept: preloaded only when DIR/state does not exist yet)
set -eu
BIN=${1:-/tmp/build-rel-rd/bin}
N=${N:-100000}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-15798}
PERF=${PERF:-0}
TMP=$(mktemp -d /tmp/rdrelay-restart.XXXXXX)
STATE=${STATE:-$TMP}
PIDS=""
. "$(dirname "$0")/lib-rd.sh"
trap rd_cleanup EXIT
trap 'exit 1' INT TERM

fresh=1
[ -d "$STATE/state" ] && fresh=0
rd_start "$BIN" "$STATE/state" "$PORT" || { echo "restart-rd: the RD did not answer" >&2; exit 1; }
[ "$fresh" = 0 ] || "$BIN/rdrelay-bench" --target "127.0.0.1:$PORT" --preload "$N" -n 128 --json >/dev/null
ms() { date +%s%3N; }
r=1
while [ "$r" -le "$ROUNDS" ]; do
    kill -9 "$FE"
    wait "$FE" 2>/dev/null || true
    PIDS=$(echo "$PIDS" | sed "s/ $FE\b//")
    t0=$(ms)
    if [ "$PERF" = 1 ] && [ "$r" = 1 ]; then
        perf record -g -o "$TMP/perf.data" -- "$BIN/rdrelay-frontend" --state-dir "$STATE/state" \
            --udp-listen "127.0.0.1:$PORT" --log-level warn >"$TMP/fe.log" 2>&1 &
    else
        "$BIN/rdrelay-frontend" --state-dir "$STATE/state" --udp-listen "127.0.0.1:$PORT" \
            --log-level warn >"$TMP/fe.log" 2>&1 &
    fi
    FE=$!
    PIDS="$PIDS $FE"
    i=0
    until coap-client-notls -B 1 "coap://127.0.0.1:$PORT/rd-lookup/ep?ep=b0000007" 2>/dev/null |
        grep -q b0000007; do
        i=$((i + 1))
        [ $i -lt 1000 ] || { echo "restart-rd: not ready after 20 s" >&2; exit 1; }
        sleep 0.02
    done
    echo "{\"registrations\":$N,\"round\":$r,\"ready_ms\":$(($(ms) - t0))}"
    if [ "$PERF" = 1 ] && [ "$r" = 1 ]; then
        kill -INT "$FE"
        wait "$FE" 2>/dev/null || true
        PIDS=$(echo "$PIDS" | sed "s/ $FE\b//")
        perf report -i "$TMP/perf.data" --no-children --percent-limit 1.5 --stdio -g none 2>/dev/null |
            grep -v '^$' | grep '%' | head -25 >&2
        "$BIN/rdrelay-frontend" --state-dir "$STATE/state" --udp-listen "127.0.0.1:$PORT" \
            --log-level warn >"$TMP/fe.log" 2>&1 &
        FE=$!
        PIDS="$PIDS $FE"
    fi
    r=$((r + 1))
done
