#!/usr/bin/env bash
# test_port_migrate.sh - a database from before port-based hosting (issue
# 18): rd-frontend, started with port_hosting_range on a registrations
# table without the port column, migrates it (its rows intact), gives the
# proxied registration it holds a hosting port at once, and a client
# reaches that registrant on the port; the port is in the database
# afterwards and stays across a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_port.sh"

command -v sqlite3 >/dev/null || die "sqlite3 is not installed (tools/setup-deps.sh)"
RR_PORT=$(rr_free_port tu) || die "no free port"
RANGE=$(port_range_free 2) || die "no free port range"
PLO=${RANGE%-*}
reg_start_noreg alice # serves /hello; the old registration below points at it
AP=$(reg_port alice)
DB=$T_STATE/rdrelay.sqlite
exp=$(($(date +%s) * 1000 + 3600000))
sqlite3 "$DB" <<SQL || die "could not make the old database"
CREATE TABLE registrations (id INTEGER PRIMARY KEY AUTOINCREMENT,
  ep TEXT NOT NULL, d TEXT NOT NULL, lt INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  base TEXT NOT NULL, base_explicit INTEGER NOT NULL, attrs TEXT NOT NULL, links TEXT NOT NULL,
  proxy INTEGER NOT NULL, host TEXT NOT NULL, transport INTEGER NOT NULL, relay TEXT NOT NULL,
  remote TEXT NOT NULL, local TEXT NOT NULL, conn_id INTEGER NOT NULL, ka INTEGER NOT NULL,
  UNIQUE (ep, d));
INSERT INTO registrations (ep, d, lt, expires_at, base, base_explicit, attrs, links, proxy,
  host, transport, relay, remote, local, conn_id, ka)
  VALUES ('alice', '', 3600, $exp, 'coap://alice.$RR_DOMAIN', 0, '', '</hello>', 1,
  'alice.$RR_DOMAIN', 1, 'udp', '127.0.0.1:$AP', '127.0.0.1:$RR_PORT', 0, 0);
SQL
ok "an old database (no port column) with alice's proxied registration"

RR_EXTRA_ARGS=(--port-hosting-range "$RANGE")
rr_start_all
assert_contains "$(cat "$T_DIR/frontend.log")" "migrating: adding registrations.port" \
    "rd-frontend says it migrates the database"
rd_lookup_ep "ep=alice"
assert_contains "$PAYLOAD" "base=\"coap://alice.$RR_DOMAIN\"" "alice's registration survived the migration"
assert_eq "$PLO" "$(port_of alice)" "alice got hosting port $PLO at start"
assert_eq "$PLO" "$(sqlite3 "$DB" "SELECT port FROM registrations WHERE ep='alice'")" \
    "the port is in the database"
wait_until 10 _hcoap_ok "$PLO" /hello
hcoap "$PLO" -m get /hello
assert_code 2.05 "coap://127.0.0.1:$PLO/hello reaches alice"

rr_stop frontend KILL
rr_start_frontend
rr_wait_ready
assert_eq "$PLO" "$(port_of alice)" "the same port after an rd-frontend kill -9"
t_done
