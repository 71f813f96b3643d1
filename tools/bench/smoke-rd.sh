#!/bin/sh
# tools/bench/smoke-rd.sh - CTest smoke test of rdrelay-bench's Resource
# Directory scenarios (no timing assertions): against rd-frontend and
# relay-udp on loopback (own temp state dir), --preload registers every
# endpoint and reports a rate, --rss-pid reads rd-frontend's RSS, and
# --lookups prints one result per scenario whose answers are all 2.05 with
# sane latency fields; --observers registers every observer and times
# notifications; restart-relay.sh reports each relay's restart to ready;
# rdrelay-lookup-micro reports a rate and every
# scenario. Stops every process it started by PID.
# usage: smoke-rd.sh BINDIR [PORT]
set -eu
BIN=$1
PORT=${2:-15797}
command -v coap-client-notls >/dev/null || { echo "SKIP: no coap-client-notls"; exit 77; }
TMP=$(mktemp -d /tmp/rdrelay-smoke-rd.XXXXXX)
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; cat "$TMP/out" "$TMP/err" 2>/dev/null; exit 1; }

. "$(dirname "$0")/lib-rd.sh"
rd_start "$BIN" "$TMP/state" "$PORT" --proxy-domain proxy.localhost || fail "the RD did not answer"

"$BIN/rdrelay-bench" --target "127.0.0.1:$PORT" --preload 300 --links 10 -n 8 --rss-pid "$FE" \
    --lookups -d 0.2 -w 0 --json >"$TMP/out" 2>"$TMP/err" || fail "bench exited non-zero"
grep -q '^{"scenario":"preload","registrations":300,"failed":0,"links":10,' "$TMP/out" ||
    fail "preload did not report 300 registrations"
grep -qE '"rate":[1-9][0-9.]*,"rss_before_kb":[1-9][0-9]*,"rss_after_kb":[1-9]' "$TMP/out" ||
    fail "preload rate or RSS missing"
n=$(grep -c '^{"label":"lookup:' "$TMP/out" || true)
[ "$n" -ge 15 ] || fail "expected at least 15 lookup scenarios, got $n"
for s in ep d et base href-path href-uri anchor rt rt-prefix if-prefix and-3 no-filter; do
    line=$(grep "^{\"label\":\"lookup:$s\"," "$TMP/out") || fail "no scenario $s"
    echo "$line" | grep -qE '"responses":([1-9][0-9]*),"ok":\1,' || fail "$s: not every answer 2.xx"
    echo "$line" | grep -qE '"p50":[0-9]+\.[0-9]{3},"p90":[0-9]+\.[0-9]{3},"p99":[0-9]+\.[0-9]{3}' ||
        fail "$s: latency fields"
    echo "$line" | grep -q '"codes":{"2.05":' || fail "$s: answers are not 2.05"
done
# a scenario with a filter that selects something answers with a payload:
# the bench cannot see it, so check one by hand
# (bounded retries: on a loaded machine one try can time out, and
# coap-client-notls then exits 0 with nothing printed)
found=0
for _ in 1 2 3 4 5; do
    coap-client-notls -B 5 "coap://127.0.0.1:$PORT/rd-lookup/ep?et=et-42&count=10" >"$TMP/lk" 2>&1 ||
        fail "lookup by hand"
    if grep -q 'ep="b0000042"' "$TMP/lk"; then
        found=1
        break
    fi
done
[ "$found" = 1 ] || fail "et=et-42 does not find b0000042; got: $(head -c 600 "$TMP/lk")"

# Observe at scale (--observers): every observer registered, changes sent
# and answered, notifications timed, latency and CPU fields present
"$BIN/rdrelay-bench" --target "127.0.0.1:$PORT" --observers 50 --obs-rate 200 -d 0.5 \
    --rss-pid "$FE" --json >"$TMP/out" 2>"$TMP/err" || fail "bench --observers exited non-zero"
line=$(grep '^{"scenario":"observe",' "$TMP/out") || fail "no observe result"
echo "$line" | grep -q '"observers":50,"registered":50,' || fail "observe: not all 50 registered"
echo "$line" | grep -qE '"changes":([1-9][0-9]*),"changes_ok":\1,' || fail "observe: changes not all 2.xx"
echo "$line" | grep -qE '"notifications":[1-9][0-9]*,"timed":[1-9][0-9]*,"missed":[0-9]+,' ||
    fail "observe: no notifications timed"
echo "$line" | grep -qE '"p50":[0-9]+\.[0-9]{3},"p99":[0-9]+\.[0-9]{3},"max":[0-9]+\.[0-9]{3},"cpu_us_per_change":[0-9.]+\}' ||
    fail "observe: latency or CPU fields"

# a relay's restart to ready (restart-relay.sh), small: each relay reports
# a time, CPU and RSS for its first start and one restart after kill -9
if command -v sqlite3 >/dev/null; then
    N=2000 ROUNDS=1 RELAYS="udp tcp" PORT=$((PORT + 4)) \
        "$(dirname "$0")/restart-relay.sh" "$BIN" >"$TMP/out" 2>"$TMP/err" ||
        fail "restart-relay.sh exited non-zero"
    for relay in udp tcp; do
        n=$(grep -cE "^relay-$relay (first start|restart 1 \(after kill -9\)): ready with 2000 routes in [0-9]+\.[0-9]{3} s; CPU [0-9]+ ms; VmRSS [1-9][0-9]* kB$" "$TMP/out" || true)
        [ "$n" -eq 2 ] || fail "restart-relay: relay-$relay did not report two sane rounds"
    done
fi

# the in-process tool: a registration rate, every scenario, the tick, Observe
"$BIN/rdrelay-lookup-micro" -n 200 --iters 5 --json >"$TMP/out" 2>"$TMP/err" ||
    fail "rdrelay-lookup-micro exited non-zero"
grep -qE '^\{"scenario":"register","n":200,"links":10,.*"rate":[1-9]' "$TMP/out" ||
    fail "micro: no registration rate"
n=$(grep -cE '"p50_us":[0-9.]+,"p99_us":[0-9.]+,"max_us":[0-9.]+' "$TMP/out" || true)
[ "$n" -ge 22 ] || fail "micro: expected at least 22 timed scenarios, got $n"
grep -q '^{"scenario":"observe",' "$TMP/out" || fail "micro: no Observe scenario"
echo "PASS"
