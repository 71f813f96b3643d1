#!/usr/bin/env bash
# test_rd_ctl.sh - operating rdrelay (issue 2): rdrelayctl status / list
# (JSON and human form) against the running processes; routes of proxied
# registrations reach relay-udp and survive a restart of either side (the
# relay logs "routes synced: ... count=N"); every binary answers --help and
# --version; a missing rd-frontend makes rdrelayctl fail fast and clearly.
. "$(dirname "$0")/lib.sh"

CTL=$RDRELAY_BIN/rdrelayctl

for b in rdrelay-frontend rdrelay-udp rdrelayctl; do
    out=$("$RDRELAY_BIN/$b" --version 2>&1)
    assert_match "^$b [0-9]+\.[0-9]+" "$out" "$b --version"
    out=$("$RDRELAY_BIN/$b" --help 2>&1)
    rc=$?
    assert_eq 0 "$rc" "$b --help exits 0"
    assert_contains "$out" "--state-dir" "$b --help lists the shared settings"
done

rr_start_all

# relay-udp's HELLO may reach rd-frontend after the first answer went
# through: wait (bounded) until the relay is listed, then read status.
ctl_status() { "$CTL" --state-dir "$T_STATE" status --json 2>&1; }
wait_match 10 '"name": ?"udp"' ctl_status >/dev/null
out=$(ctl_status)
assert_eq 0 "$?" "rdrelayctl status --json exits 0"
assert_match '"registrations": ?0' "$out" "status: no registrations yet"
assert_match '"name": ?"udp"' "$out" "status lists relay udp"

rd_register 'ep=ctl1&d=lab' '</a>'
assert_code 2.01 "register ctl1 -> 2.01"
P1=$LOCATION
rd_register 'ep=Routed1&proxy=yes' '</b>'
assert_code 2.01 "register Routed1 with proxy=yes -> 2.01"

out=$("$CTL" --state-dir "$T_STATE" list --json 2>&1)
assert_eq 0 "$?" "rdrelayctl list --json exits 0"
assert_contains "$out" '"ctl1"' "list --json shows ctl1"
assert_contains "$out" "\"$P1\"" "list --json shows ctl1's path"
assert_contains "$out" '"routed1.proxy.localhost"' "list --json shows the proxy host name"

out=$("$CTL" --state-dir "$T_STATE" list 2>&1)
assert_eq 0 "$?" "rdrelayctl list exits 0"
assert_match '(^|[[:space:]])ep[[:space:]]' "$out" "human list has a header row"
assert_match "ctl1[[:space:]]+lab[[:space:]]+$P1" "$out" "human list has a row for ctl1"

out=$("$CTL" --state-dir "$T_STATE" status 2>&1)
assert_match '(^|[[:space:]])registrations: 2' "$out" "human status shows 2 registrations"

out=$("$CTL" --ctl-endpoint "ipc://$T_STATE/ctl.sock" status --json 2>&1)
assert_match '"registrations": ?2' "$out" "--ctl-endpoint reaches the same rd-frontend"

printf 'state_dir = %s\n' "$T_STATE" >"$T_DIR/ctl.conf"
out=$(RDRELAY_CONFIG=$T_DIR/ctl.conf "$CTL" status --json 2>&1)
assert_match '"registrations": ?2' "$out" "\$RDRELAY_CONFIG names the state dir"
out=$("$CTL" --config "$T_DIR/ctl.conf" status --json 2>&1)
assert_match '"registrations": ?2' "$out" "--config names the state dir"

out=$("$CTL" --state-dir "$T_STATE" no-such-command 2>&1)
assert_eq 1 "$?" "an unknown command exits 1"
assert_contains "$out" "unknown command" "an unknown command is explained"

start=$SECONDS
out=$("$CTL" --state-dir "$T_DIR/nowhere" status 2>&1)
assert_eq 1 "$?" "rdrelayctl without an rd-frontend exits 1"
assert_contains "$out" "no answer" "rdrelayctl without an rd-frontend says so"
if [ $((SECONDS - start)) -le 6 ]; then
    ok "rdrelayctl gives up within its bounded wait"
else
    fail "rdrelayctl took $((SECONDS - start)) s without an rd-frontend"
fi
"$CTL" status extra too-many >/dev/null 2>&1
assert_eq 2 "$?" "a usage error exits 2"

# ---- routes reach relay-udp and survive restarts
synced() { grep -E "routes synced: .*count=$1\b" "$T_DIR/udp.log" | tail -n 1; }
has_synced() { [ "$(grep -cE "routes synced: .*count=$1\b" "$T_DIR/udp.log")" -ge "$2" ]; }

rr_stop udp KILL
rr_start_udp
rr_wait_ready 30
if wait_until 10 has_synced 1 1; then
    ok "restarted relay-udp synced the proxied route: $(synced 1)"
else
    fail "restarted relay-udp logs 'routes synced: ... count=1'"
fi

n_before=$(grep -cE 'routes synced: .*count=1\b' "$T_DIR/udp.log")
rr_stop frontend KILL
rr_start_frontend
rr_wait_ready 60
if wait_until 15 has_synced 1 $((n_before + 1)); then
    ok "relay-udp resynced after rd-frontend's restart (new epoch): $(synced 1)"
else
    fail "relay-udp logs a new 'routes synced: ... count=1' after rd-frontend's restart"
fi
out=$(wait_match 15 '"proxied": ?1.*"name": ?"udp"' ctl_status)
assert_match '"proxied": ?1' "$out" "status counts 1 proxied registration after the restart"
assert_match '"name": ?"udp"' "$out" "the relay reconnected to the restarted rd-frontend"

t_done
