#!/usr/bin/env bash
# ws-conns.sh [N] - relay-ws scale benchmark (issue 17, BRIEF §6: one relay
# holds 10,000 concurrent WebSocket registrants): rd-frontend + rdrelay-ws
# from a release build (BUILD, default build-bench), N (default 10000)
# registrants over their own WebSocket each (tools/bench/ws-conns.js, node
# `ws` from tests/e2e/node), registered with proxy=yes; reports rdrelay-ws's
# resident memory before and with the N connections and the difference per
# connection, and that a sample of them is reachable through the relay.
# Raises RLIMIT_NOFILE to the hard limit (both sides need N descriptors).
# Not a CTest test: the numbers go to docs/benchmarks.md.
set -euo pipefail
N=${1:-10000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BUILD:-$ROOT/build-bench}/bin
[ -x "$BIN/rdrelay-ws" ] || { echo "build $BIN/rdrelay-ws first (cmake --build build-bench --target rdrelay-ws rdrelay-frontend)" >&2; exit 2; }
ulimit -n "$(ulimit -Hn)"
T=$(mktemp -d /tmp/ws-conns.XXXXXX)
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
UPORT=$(python3 -c 'import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
common=(--state-dir "$T" --udp-listen "127.0.0.1:$UPORT" --log-level warn --ws-max-conns $((N + 100))
    --max-regs-per-source 0 --max-registrations 0 --max-conns-per-source 0) # every registrant is on loopback
"$BIN/rdrelay-frontend" "${common[@]}" >"$T/fe.log" 2>&1 &
pids+=($!)
"$BIN/rdrelay-ws" "${common[@]}" --ws-listen "127.0.0.1:$PORT" >"$T/ws.log" 2>&1 &
WS=$!
pids+=($WS)
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done
sleep 1
before=$(rss $WS)
coproc LOAD { node "$ROOT/tools/bench/ws-conns.js" "ws://127.0.0.1:$PORT" "$N" 2>&1; }
pids+=($LOAD_PID)
read -r line <&"${LOAD[0]}"
echo "$line"
read -r line2 <&"${LOAD[0]}"
echo "$line2"
sleep 1
with=$(rss $WS)
conns=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
echo "rdrelay-ws RSS: $before KiB idle, $with KiB with $conns connections"
echo "per connection: $(( (with - before) * 1024 / N )) bytes"
exec {LOAD[1]}>&-
