#!/usr/bin/env bash
# test_sig_hup.sh - SIGHUP reload (issue 20): rd-frontend and rdrelay-udp
# re-read their configuration file. A changed log_level and a lowered
# max_regs_per_source are applied and logged (old -> new), and the limit
# takes effect (next registration 4.29); a changed setting that needs a
# restart is logged as not applied; a broken file changes nothing and the
# log says why.
. "$(dirname "$0")/lib.sh"

conf=$T_DIR/rdrelay.conf
printf 'log_level = info\nmax_regs_per_source = 100\n' >"$conf"
RR_PORT=$(rr_free_port) || die "no free UDP port"
# log_level from the file, not a flag: flags win over the file
args=(--config "$conf" --state-dir "$T_STATE" --udp-listen "127.0.0.1:$RR_PORT"
    --proxy-domain "$RR_DOMAIN" --metrics-listen "")
rr_start frontend rdrelay-frontend "${args[@]}"
rr_start udp rdrelay-udp "${args[@]}"
rr_wait_ready

for ep in hup1 hup2 hup3; do
    rd_register "ep=$ep"
    assert_code 2.01 "$ep registers under max_regs_per_source 100"
    [ $ep == hup1 ] && loc1=$LOCATION
done
assert_eq 0 "$(grep -c ' debug: ' "$T_DIR/frontend.log")" "no debug lines at log_level info"

printf 'log_level = debug\nmax_regs_per_source = 3\nheartbeat_ms = 2000\n' >"$conf"
kill -s HUP "${T_PIDS[frontend]}" "${T_PIDS[udp]}"
wait_until 10 grep -q 'SIGHUP: configuration reloaded' "$T_DIR/frontend.log" ||
    fail "rd-frontend did not log the reload"
wait_until 10 grep -q 'SIGHUP: configuration reloaded' "$T_DIR/udp.log" ||
    fail "rdrelay-udp did not log the reload"
log=$(cat "$T_DIR/frontend.log")
assert_contains "$log" "SIGHUP: max_regs_per_source: 100 -> 3" "rd-frontend logs the lowered limit"
assert_contains "$log" "SIGHUP: log_level: info -> debug" "rd-frontend logs the new log level"
assert_contains "$log" "SIGHUP: heartbeat_ms: 1000 -> 2000: needs a restart, not applied" \
    "a setting that needs a restart is logged as not applied"
assert_contains "$(cat "$T_DIR/udp.log")" "SIGHUP: log_level: info -> debug" \
    "rdrelay-udp logs the new log level"
rd_register "ep=hup4"
assert_code 4.29 "after SIGHUP, a 4th registration (hup4) from the same source -> 4.29 (limit 3)"
# room for one: a proxied endpoint; rd-frontend logs its route at debug level
coap -m delete "$(rd_uri "$loc1")"
assert_code 2.02 "hup1 deleted"
rr_start hupreg rr-registrant --rd "$(rd_uri /rd)" --listen 127.0.0.1:0 --ep hupreg --lt 600
if wait_until 10 grep -q ' debug: route updated hupreg' "$T_DIR/frontend.log"; then
    ok "rd-frontend logs debug lines after the reload"
else
    fail "rd-frontend logs no debug lines after the reload"
fi

# broken: a valid higher limit and an unknown setting: nothing is applied
printf 'log_level = info\nmax_regs_per_source = 100\nno_such_setting = 1\n' >"$conf"
kill -s HUP "${T_PIDS[frontend]}"
wait_until 10 grep -q 'SIGHUP: configuration unchanged:.*no_such_setting' "$T_DIR/frontend.log" ||
    fail "rd-frontend did not log why the broken file was refused"
rd_register "ep=hup5"
assert_code 4.29 "a broken file changed nothing: the limit is still 3"
rr_alive frontend && ok "rd-frontend still runs after a broken file" || fail "rd-frontend died"
t_done
