#!/usr/bin/env bash
# test_rd_persistence.sh - persistence across a kill -9 of rd-frontend
# (issue 2): every acknowledged registration, update and deletion survives;
# the same paths come back; expiry times are absolute (a registration that
# expired while rd-frontend was down stays gone); numbers are never reused.
. "$(dirname "$0")/lib.sh"

rr_start_all

rd_register 'ep=pers1&d=site&et=thermo' '</t>;rt=temperature,</h>;rt=humidity'
assert_code 2.01 "register pers1 -> 2.01"
P1=$LOCATION
rd_register 'ep=pers2' '</x>'
assert_code 2.01 "register pers2 -> 2.01"
P2=$LOCATION
rd_register 'ep=pers3&lt=2' '</y>'
assert_code 2.01 "register pers3 with lt=2 -> 2.01"
P3=$LOCATION
T3=$SECONDS
coap -m post "$(rd_uri "$P1?base=coap://192.0.2.7:61616&lt=5000")"
assert_code 2.04 "update pers1's base -> 2.04"
coap -m delete "$(rd_uri "$P2")"
assert_code 2.02 "delete pers2 -> 2.02"
rd_lookup_ep 'ep=pers1'
BEFORE_P1=$PAYLOAD
rd_lookup_res 'ep=pers1'
BEFORE_RES=$PAYLOAD

rr_stop frontend KILL
# pers3 expires while rd-frontend is down.
while [ $((SECONDS - T3)) -lt 4 ]; do sleep 0.5; done
rr_start_frontend
rr_wait_ready 60

rd_lookup_ep
assert_eq "pers1" "$(lf_eps "$PAYLOAD")" "after kill -9 and restart exactly pers1 is registered"
rd_lookup_ep 'ep=pers1'
assert_eq "$BEFORE_P1" "$PAYLOAD" "pers1's endpoint link (path, d, et, updated base) is unchanged"
assert_eq "$P1" "$(path_norm "$(lf_targets "$PAYLOAD")")" "pers1 has the same path"
rd_lookup_res 'ep=pers1'
assert_eq "$BEFORE_RES" "$PAYLOAD" "pers1's resource links are unchanged"
coap -m get "$(rd_uri "$P2")"
assert_code 4.04 "deleted pers2 stays deleted"
rd_lookup_ep 'ep=pers3'
assert_eq "" "$(lf_eps "$PAYLOAD")" "pers3 expired while rd-frontend was down and is not listed"

coap -m post "$(rd_uri "$P1")"
assert_code 2.04 "update of pers1 after the restart -> 2.04"

rd_register 'ep=pers4' '</z>'
assert_code 2.01 "register pers4 after the restart -> 2.01"
n4=${LOCATION##*/}
for p in "$P1" "$P2" "$P3"; do
    if [ "$n4" -gt "${p##*/}" ] 2>/dev/null; then
        ok "new registration number $n4 is above the old $p"
    else
        fail "new registration number $n4 must be above the old $p (no reuse)"
    fi
done

# A second kill -9 straight after acknowledged changes: nothing is lost.
rd_register 'ep=pers5' '</w>'
assert_code 2.01 "register pers5 -> 2.01"
P5=$LOCATION
coap -m delete "$(rd_uri "$P1")"
assert_code 2.02 "delete pers1 -> 2.02"
rr_stop frontend KILL
rr_start_frontend
rr_wait_ready 60
rd_lookup_ep
assert_eq "pers4 pers5" "$(lf_eps "$PAYLOAD")" "second restart: the acknowledged register and delete survived"
assert_eq "$P5" "$(path_norm "$(lf_targets "$(lf_ep_link "$PAYLOAD" pers5)")")" "pers5 keeps its path"
if [ -f "$T_STATE/rdrelay.sqlite" ]; then
    ok "the store is $T_STATE/rdrelay.sqlite (state_dir default)"
else
    fail "the store is $T_STATE/rdrelay.sqlite: $(ls "$T_STATE")"
fi

t_done
