#!/bin/sh
# tools/bench/run-observe.sh - Observe on lookups at scale (issue 21): a
# fresh rd-frontend + relay-udp on loopback, N registrations preloaded,
# then OBSERVERS Observe lookups with their own filters and RATE
# re-registrations per second for DUR seconds (rdrelay-bench --observers):
# notification latency p50/p99/max and rd-frontend's CPU per change.
# usage: [N=100000] [OBSERVERS=1000] [RATE=1000] [DUR=10] [PORT=15799] run-observe.sh BINDIR
# Stops every process it started by PID.
set -eu
BIN=${1:?usage: run-observe.sh BINDIR}
N=${N:-100000}
OBSERVERS=${OBSERVERS:-1000}
RATE=${RATE:-1000}
DUR=${DUR:-10}
PORT=${PORT:-15799}
TMP=$(mktemp -d /tmp/rdrelay-observe.XXXXXX)
PIDS=""
. "$(dirname "$0")/lib-rd.sh"
trap rd_cleanup EXIT
rd_start "$BIN" "$TMP/state" "$PORT" || { echo "the RD did not answer" >&2; exit 1; }
"$BIN/rdrelay-bench" --target "127.0.0.1:$PORT" --preload "$N" -n 128 --rss-pid "$FE" \
    --observers "$OBSERVERS" --obs-rate "$RATE" -d "$DUR" ${JSON:+--json}
