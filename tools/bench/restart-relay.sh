#!/usr/bin/env bash
# tools/bench/restart-relay.sh - a relay's restart to ready with N routes
# (issue 21, target < 1 s each): rd-frontend holds N proxied registrations
# (written straight into its SQLite store, as tests/e2e/test_snapshot_scale.sh
# does); each relay in RELAYS is started, then ROUNDS times killed -9 and
# started again; "ready" is its "routes synced ... count=N" log line (the
# whole table swapped in: it serves every route from then on). Prints the
# restart-to-ready time of each round, the relay's CPU time (utime+stime,
# /proc) until then and its VmRSS with N routes.
# usage: [N=100000] [ROUNDS=3] [RELAYS="udp tcp"] [PORT=15801] restart-relay.sh BINDIR
# Stops every process it started by PID.
set -eu
BIN=${1:?usage: restart-relay.sh BINDIR}
N=${N:-100000}
ROUNDS=${ROUNDS:-3}
RELAYS=${RELAYS:-udp tcp}
PORT=${PORT:-15801}
command -v sqlite3 >/dev/null || { echo "sqlite3 (the CLI) is needed to fill the store" >&2; exit 1; }
TMP=$(mktemp -d /tmp/rdrelay-restart-relay.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
ARGS=(--state-dir "$TMP/state" --udp-listen "127.0.0.1:$PORT" --tcp-listen "127.0.0.1:$PORT"
    --proxy-domain proxy.localhost --metrics-listen "" --max-regs-per-source 0
    --max-registrations 0)
mkdir -p "$TMP/state"
now_ns() { date +%s%N; }
# wait_for SECONDS CMD...: poll CMD every 10 ms, bounded
wait_for() {
    local end=$(($(now_ns) + $1 * 1000000000))
    shift
    until "$@"; do
        [ "$(now_ns)" -lt "$end" ] || return 1
        sleep 0.01
    done
}
fe_status() { "$BIN/rdrelayctl" --state-dir "$TMP/state" --timeout-ms 2000 status --json 2>/dev/null; }
fe_loaded() { fe_status | tr -d ' \n' | grep -q "\"registrations\":$N[,}]"; }
start_fe() {
    "$BIN/rdrelay-frontend" "${ARGS[@]}" --log-level warn >>"$TMP/fe.log" 2>&1 &
    FE=$!
    PIDS+=("$FE")
}

# the store: schema from rd-frontend itself, rows from sqlite3
start_fe
wait_for 20 fe_status >/dev/null || { echo "rd-frontend did not answer" >&2; exit 1; }
kill "$FE"
wait "$FE" 2>/dev/null || true
now_ms=$(($(date +%s) * 1000))
sqlite3 "$TMP/state/rdrelay.sqlite" <<SQL
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO registrations (ep, d, lt, expires_at, base, base_explicit, attrs, links, proxy,
    host, transport, relay, remote, local, conn_id, ka)
SELECT 's' || i, '', 86400, $now_ms + 86400000, 'coap://192.0.2.1:5683', 0, '', '</a>;rt=a', 1,
    's' || i || '.proxy.localhost', 1, 'udp', '192.0.2.1:5683', '127.0.0.1:$PORT', 0, 0
FROM n;
COMMIT;
SQL
start_fe
wait_for 60 fe_loaded || { echo "rd-frontend did not load $N registrations" >&2; exit 1; }
echo "rd-frontend: $N registrations loaded (VmRSS $(awk '/VmRSS/ {print $2}' /proc/$FE/status) kB)"

synced() { [ "$(grep -c "routes synced: .* count=$N" "$TMP/$1.log")" -ge "$2" ]; }
cpu_ms() { awk -v t="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); print int(($12 + $13) * 1000 / t)}' "/proc/$1/stat"; }
for relay in $RELAYS; do
    : >"$TMP/$relay.log"
    for ((r = 0; r <= ROUNDS; r++)); do
        t0=$(now_ns)
        "$BIN/rdrelay-$relay" "${ARGS[@]}" --log-level info >>"$TMP/$relay.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        wait_for 30 synced "$relay" $((r + 1)) || { echo "relay-$relay not synced in 30 s" >&2; exit 1; }
        t1=$(now_ns)
        cpu=$(cpu_ms "$pid")
        rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
        if [ "$r" -eq 0 ]; then
            what="first start"
        else
            what="restart $r (after kill -9)"
        fi
        printf 'relay-%s %s: ready with %d routes in %.3f s; CPU %d ms; VmRSS %d kB\n' "$relay" \
            "$what" "$N" "$(echo "($t1 - $t0) / 1000000000" | bc -l)" "$cpu" "$rss"
        kill -9 "$pid"
        wait "$pid" 2>/dev/null || true
    done
done
