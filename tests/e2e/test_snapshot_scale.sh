#!/usr/bin/env bash
# test_snapshot_scale.sh - route snapshots at scale and across a relay
# restart (issue 16, "Snapshot under load and outages"): rd-frontend holds
# 100,000 proxied registrations (written straight into its SQLite store,
# which it loads at start); relay-udp is killed -9 while its snapshot is
# being sent and started again. Afterwards the relay holds all 100,000
# routes (rdrelayctl status), rd-frontend runs no snapshot any more and
# dropped none to a high-water mark, and a request through the relay by
# proxy name reaches the origin behind one of the routes.
# ctest: TIMEOUT 400
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_ctl.sh"

N=100000
DB=$T_STATE/rdrelay.sqlite
command -v sqlite3 >/dev/null || die "sqlite3 (the CLI) is needed to fill the store"

fe_field() { ctl_status_json | tr -d ' \n' | grep -oE "\"$1\":[0-9]+" | head -n 1 | cut -d: -f2; }
relay_has_all() { [ "$(ctl_relay_counter routes)" == "$N" ] && [ "$(ctl_relay_counter synced)" == 1 ]; }
fe_loaded() { [ "$(fe_field registrations)" == "$N" ]; }
fe_idle() { [ "$(fe_field snapshots_active)" == 0 ]; }

RR_PORT=$(rr_free_port) || die "no free UDP port"
start_origin

# ---- the store: schema from rd-frontend itself, rows from sqlite3
rr_start_frontend
wait_until 20 ctl_status_json >/dev/null || die "rd-frontend did not answer rdrelayctl"
rr_stop frontend TERM
[ -f "$DB" ] || die "rd-frontend created no store at $DB"
now_ms=$(($(date +%s) * 1000))
# ep s1 is the origin (coap-server-notls); the others point at an unused
# documentation-range peer. ka=0: no NAT keepalive for 100,000 fake peers.
sqlite3 "$DB" <<SQL || die "cannot fill the store"
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO registrations (ep, d, lt, expires_at, base, base_explicit, attrs, links, proxy,
    host, transport, relay, remote, local, conn_id, ka)
SELECT 's' || i, '', 86400, $now_ms + 86400000,
    CASE i WHEN 1 THEN 'coap://127.0.0.1:$ORIGIN_PORT' ELSE 'coap://192.0.2.1:5683' END, 0, '',
    '</a>;rt=a', 1, 's' || i || '.$RR_DOMAIN', 1, 'udp',
    CASE i WHEN 1 THEN '127.0.0.1:$ORIGIN_PORT' ELSE '192.0.2.1:5683' END,
    '127.0.0.1:$RR_PORT', 0, 0
FROM n;
COMMIT;
SQL
assert_eq "$N" "$(sqlite3 "$DB" 'SELECT count(*) FROM registrations')" "store holds $N registrations"

rr_start_frontend
wait_until 60 fe_loaded || die "rd-frontend did not load $N registrations within 60 s"
ok "rd-frontend loaded $N registrations"

# ---- relay-udp: killed -9 while its snapshot is on the way
rr_start_udp
# polled every 20 ms (bounded: 30 s), so the kill lands while the routes flow
for ((i = 0; i < 1500; i++)); do
    grep -q 'snapshot [0-9]* requested' "$T_DIR/udp.log" && break
    sleep 0.02
done
grep -q 'snapshot [0-9]* requested' "$T_DIR/udp.log" || die "relay-udp asked for no snapshot within 30 s"
rr_stop udp KILL
ok "relay-udp killed -9 right after asking for its snapshot"
first_run=$(awk '/^=== start/ {n++} n == 1' "$T_DIR/udp.log")
assert_not_contains "$first_run" "routes synced" "the killed relay had not got its whole table yet"
rr_start_udp
wait_until 120 relay_has_all || fail "relay-udp did not hold all $N routes within 120 s"
assert_eq "$N" "$(ctl_relay_counter routes)" "after the restart relay-udp holds $N routes"
assert_eq 1 "$(ctl_relay_counter synced)" "relay-udp is in sync"
# What rd-frontend saw of the killed relay's snapshot: usually it was still
# sending and stopped (relay gone) or restarted it for the new relay; on a
# slow machine all of it may have been queued before the kill.
fe_log=$(cat "$T_DIR/frontend.log")
echo "# rd-frontend: $(grep -oE 'snapshot [0-9]+ to udp( abandoned after [0-9]+ routes| replaces [0-9]+ \([0-9]+ routes sent\)|: [0-9]+ routes)' \
    <<<"$fe_log" | tr '\n' ';')"
assert_match "snapshot [0-9]+ to udp: $N routes" "$fe_log" "rd-frontend sent a whole snapshot of $N routes"
wait_until 10 fe_idle || fail "rd-frontend still runs a snapshot"
assert_eq 0 "$(fe_field router_eagain)" "no message to a relay dropped at the high-water mark"
assert_match "routes synced: epoch=[0-9a-f]+ seq=[0-9]+ count=$N" "$(cat "$T_DIR/udp.log")" \
    "relay-udp logged the synced table of $N routes"

# ---- the routes serve
pcoap "s1.$RR_DOMAIN" -m get /.well-known/core
assert_code 2.05 "GET through the relay by proxy name reaches the origin"
assert_contains "$PAYLOAD" "</time>" "the origin's own links came back"
pcoap "S1.$RR_DOMAIN" -m get /.well-known/core
assert_code 2.05 "the proxy name is case-insensitive at scale too"

t_done
