#!/usr/bin/env bash
# test_rd_restart.sh - independent restarts (issue 2, BRIEF §3.1): relay-udp
# killed and restarted while rd-frontend keeps running, and rd-frontend
# killed and restarted while relay-udp keeps running. Registrations and
# lookups keep working, and an update or registration sent while rd-frontend
# is down still succeeds once it is back (relay-udp holds and re-sends it:
# RIOT cord_ep never re-registers after a failed update). A TERM stops each
# process cleanly (exit status 0).
. "$(dirname "$0")/lib.sh"

rr_start_all

rd_register 'ep=rs1&d=x' '</a>;rt=a'
assert_code 2.01 "register rs1 -> 2.01"
P1=$LOCATION

# ---- relay-udp: kill -9, restart
rr_stop udp KILL
rr_start_udp
rr_wait_ready 30
rd_lookup_ep
assert_eq "rs1" "$(lf_eps "$PAYLOAD")" "after relay-udp kill -9 + restart: lookup still lists rs1"
coap -m post "$(rd_uri "$P1?lt=1000")"
assert_code 2.04 "after relay-udp restart: update rs1 -> 2.04"
rd_register 'ep=rs2' '</b>;rt=b'
assert_code 2.01 "after relay-udp restart: register rs2 -> 2.01"
P2=$LOCATION

# ---- relay-udp: TERM is a clean stop
rr_stop udp TERM
assert_eq 0 "$RR_EXIT" "relay-udp exits 0 on SIGTERM"
rr_start_udp
rr_wait_ready 30
coap -m get "$(rd_uri6 /rd-lookup/ep)"
assert_eq "rs1 rs2" "$(lf_eps "$PAYLOAD")" "after relay-udp TERM + restart: IPv6 lookup lists rs1 rs2"

# ---- rd-frontend: kill -9 while relay-udp keeps running; requests sent
# meanwhile are answered once it is back.
rr_stop frontend KILL
UPD=$T_DIR/bg_update
REG=$T_DIR/bg_register
coap_bg "$UPD" -B 50 -m post "$(rd_uri "$P2?lt=2000")"
UPD_PID=$BG_PID
coap_bg "$REG" -B 50 -m post -t 40 -e '</c>;rt=c' "$(rd_uri '/rd?ep=rs3')"
REG_PID=$BG_PID
# Both requests must have left while rd-frontend is down (-v 6 dumps them).
_sent() { grep -qE "^v:1 t:CON c:POST " "$1"; }
wait_until 10 _sent "$UPD" || fail "the update was not sent while rd-frontend was down"
wait_until 10 _sent "$REG" || fail "the registration was not sent while rd-frontend was down"
rr_start_frontend
rr_wait_ready 60
bg_wait "$UPD_PID" 50 || fail "update sent while rd-frontend was down got no answer within 50 s"
bg_wait "$REG_PID" 50 || fail "registration sent while rd-frontend was down got no answer within 50 s"
assert_eq "2.04" "$(bg_code "$UPD")" "update sent while rd-frontend was down -> 2.04 after its restart"
assert_eq "2.01" "$(bg_code "$REG")" "registration sent while rd-frontend was down -> 2.01 after its restart"
rd_lookup_ep
assert_eq "rs1 rs2 rs3" "$(lf_eps "$PAYLOAD")" "after rd-frontend restart: lookup lists rs1 rs2 rs3"
coap -m post "$(rd_uri "$P1")"
assert_code 2.04 "after rd-frontend restart: update rs1 -> 2.04"
coap -m delete "$(rd_uri "$P2")"
assert_code 2.02 "after rd-frontend restart: delete rs2 -> 2.02"

# ---- rd-frontend: TERM is a clean stop, restart keeps serving
rr_stop frontend TERM
assert_eq 0 "$RR_EXIT" "rd-frontend exits 0 on SIGTERM"
rr_start_frontend
rr_wait_ready 60
rd_lookup_ep
assert_eq "rs1 rs3" "$(lf_eps "$PAYLOAD")" "after rd-frontend TERM + restart: lookup lists rs1 rs3"

# ---- both restarted, in the other order (relay first)
rr_stop udp KILL
rr_stop frontend KILL
rr_start_udp
wait_until 10 udp_bound "$RR_PORT" || die "relay-udp did not bind port $RR_PORT"
rr_start_frontend
rr_wait_ready 60
coap -m post "$(rd_uri "$P1")"
assert_code 2.04 "after both restarted (relay first): update rs1 -> 2.04"
rd_lookup_ep
assert_eq "rs1 rs3" "$(lf_eps "$PAYLOAD")" "after both restarted: lookup lists rs1 rs3"

t_done
