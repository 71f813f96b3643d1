#!/usr/bin/env bash
# test_rd_ctl.sh - operating rdrelay (issues 2 and 20): rdrelayctl status /
# list (JSON and human form) against the running processes; status shows
# each relay's up since, epoch, sequence, routes and last resync; list
# TEXT / search, show, delete (the path is gone for the RD too), drain
# (a new registration through the relay gets 5.03, an existing one keeps
# refreshing and its route keeps working; the drain outlives a kill -9 of
# the relay and of rd-frontend) and undrain, config (rd-frontend's
# effective settings, and --local), keygen (a CURVE key pair); routes of proxied
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

# ---- issue 20: the operator commands
# the relay's fields come with its RELAY_STATUS (every 5 s)
out=$(wait_match 12 '"name": ?"udp"[^}]*"routes": ?1' ctl_status)
assert_match '"name": ?"udp"[^}]*"up_since": ?"20[0-9-]+T' "$out" "status: relay udp's up since"
assert_match '"name": ?"udp"[^}]*"epoch": ?"[0-9a-f]{16}"' "$out" "status: relay udp's epoch"
assert_match '"name": ?"udp"[^}]*"routes": ?1' "$out" "status: relay udp holds 1 route"
assert_match '"last_resync_reason": ?"none"' "$out" "status: no resync yet, and says so"
assert_match '"process": ?"rd-frontend",[^]]*"up_since": ?"20' "$out" "status: rd-frontend's up since"

out=$("$CTL" --state-dir "$T_STATE" list routed 2>&1)
assert_eq 0 "$?" "list TEXT exits 0"
assert_contains "$out" "routed1.proxy.localhost" "list routed finds Routed1 (case-insensitive)"
assert_not_contains "$out" "ctl1" "list routed leaves ctl1 out"
out=$("$CTL" --state-dir "$T_STATE" search lab --json 2>&1)
assert_contains "$out" '"ctl1"' "search lab finds ctl1 by its sector"
assert_not_contains "$out" 'Routed1' "search lab leaves Routed1 out"

out=$("$CTL" --state-dir "$T_STATE" show routed1.proxy.localhost 2>&1)
assert_eq 0 "$?" "show HOST exits 0"
assert_match '(^|
)links: </b>' "$out" "show prints the registered links"
assert_match '(^|
)peer: 127\.0\.0\.1:[0-9]+' "$out" "show prints the peer address"
out=$("$CTL" --state-dir "$T_STATE" show "$P1" --json 2>&1)
assert_contains "$out" '"ep": "ctl1"' "show PATH --json"
"$CTL" --state-dir "$T_STATE" show /reg/999 >/dev/null 2>&1
assert_eq 1 "$?" "show of a missing registration exits 1"

out=$("$CTL" --state-dir "$T_STATE" config --json 2>&1)
assert_eq 0 "$?" "config exits 0"
assert_contains "$out" "\"state_dir\": \"$T_STATE\"" "config shows rd-frontend's state_dir"
assert_contains "$out" '"proxy_domain": "proxy.localhost"' "config shows the proxy domain"
out=$("$CTL" --state-dir "$T_DIR/nowhere" --proxy-domain local.example config --local 2>&1)
assert_eq 0 "$?" "config --local needs no rd-frontend"
assert_contains "$out" "proxy_domain = local.example" "config --local shows rdrelayctl's own settings"

out=$("$CTL" keygen --json 2>&1)
assert_eq 0 "$?" "keygen exits 0"
assert_match '"public": "[^"]{40}"' "$out" "keygen: a 40-character Z85 public key"
assert_match '"secret": "[^"]{40}"' "$out" "keygen: a 40-character Z85 secret key"
k2=$("$CTL" keygen 2>&1)
assert_ne "$out" "$k2" "keygen makes a new pair each time"

# drain: no new registrations through udp; the existing ones keep working
out=$("$CTL" --state-dir "$T_STATE" drain udp --json 2>&1)
assert_eq 0 "$?" "drain udp exits 0"
assert_contains "$out" '"draining": true' "drain answers with the relay, draining"
rd_register 'ep=late' '</l>'
assert_code 5.03 "a new registration through the draining relay gets 5.03"
assert_contains "$PAYLOAD" "draining" "the 5.03 says why"
coap -m post "$(rd_uri "$P1")"
assert_code 2.04 "an existing registration still refreshes through the draining relay"
rd_register 'ep=ctl1&d=lab' '</a2>'
assert_code 2.01 "an existing endpoint re-registers through the draining relay"
assert_eq "$P1" "$LOCATION" "... and keeps its path"
rd_lookup_ep 'ep=ctl1'
assert_code 2.05 "lookups work while draining"
# the drain is kept in rd-frontend's store: it outlives a kill -9 of the
# relay and of rd-frontend
drained() { "$CTL" --state-dir "$T_STATE" status --json 2>/dev/null |
    jq -e '.relays[] | select(.name == "udp") | .draining' >/dev/null; }
for who in udp frontend; do
    rr_stop "$who" KILL
    "rr_start_$who"
    rr_wait_ready 60
    rd_register 'ep=late' '</l>'
    assert_code 5.03 "after a kill -9 of $who a new registration through udp still gets 5.03"
    drained
    assert_eq 0 "$?" "... and status still shows udp draining"
done
rd_lookup_ep 'ep=late'
assert_not_contains "$PAYLOAD" 'ep="late"' "nothing registered 'late' meanwhile"
"$CTL" --state-dir "$T_STATE" drain no-such-relay >/dev/null 2>&1
assert_eq 1 "$?" "drain of an unknown relay exits 1"
"$CTL" --state-dir "$T_STATE" undrain udp >/dev/null 2>&1
assert_eq 0 "$?" "undrain udp exits 0"
rd_register 'ep=late' '</l>'
assert_code 2.01 "after undrain a new registration succeeds"
PL=$LOCATION

# delete: the registration is gone for everyone
out=$("$CTL" --state-dir "$T_STATE" delete "$PL" --json 2>&1)
assert_eq 0 "$?" "delete PATH exits 0"
assert_contains "$out" '"deleted": true' "delete says it deleted"
coap -m get "$(rd_uri "$PL")"
assert_code 4.04 "the deleted registration's resource is gone (4.04)"
"$CTL" --state-dir "$T_STATE" delete "$PL" >/dev/null 2>&1
assert_eq 1 "$?" "deleting it again exits 1"

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
