#!/usr/bin/env bash
# test_rd_observe.sh - Observe on the lookups (issue 2, RFC 9176 §7 with
# RFC 7641): an observer of the endpoint lookup (IPv4) and one of a filtered
# resource lookup (IPv6), both coap-client-notls -s, get a notification
# that shows a new registration, and one that shows it gone after DELETE.
. "$(dirname "$0")/lib.sh"

rr_start_all

rd_register 'ep=obs0' '</a>;rt=first'
assert_code 2.01 "register obs0 -> 2.01"

EP_OBS=$T_DIR/obs_ep
RES_OBS=$T_DIR/obs_res
coap_bg "$EP_OBS" -s 60 -B 60 "$(rd_uri /rd-lookup/ep)"
coap_bg "$RES_OBS" -s 60 -B 60 "$(rd_uri6 '/rd-lookup/res?rt=obs-rt')"

n_notes() { grep -cE '^v:1 t:(CON|NON|ACK) c:2\.05 .*Observe:' "$1" 2>/dev/null; }
has_first() { [ "$(n_notes "$1")" -ge 1 ]; }
notes_above() { [ "$(n_notes "$1")" -gt "$2" ]; } # file count
# observer_sees DUMP MESSAGE CHECK...: within 10 s CHECK succeeds (ok
# MESSAGE), else fail MESSAGE with the observer's dump DUMP.
observer_sees() {
    local dump=$1 msg=$2
    shift 2
    if wait_until 10 "$@"; then
        ok "$msg"
    else
        fail "$msg"
        echo "    observer output:"
        sed 's/^/    /' "$dump"
    fi
}

wait_until 10 has_first "$EP_OBS" || die "no first Observe answer on /rd-lookup/ep: $(cat "$EP_OBS")"
ok "endpoint lookup answers an Observe registration with the Observe option"
wait_until 10 has_first "$RES_OBS" || die "no first Observe answer on /rd-lookup/res: $(cat "$RES_OBS")"
ok "resource lookup (IPv6, filtered) answers an Observe registration with the Observe option"
# coap-client writes the body file apart from its PDU dump: wait for it too.
body_of() { cat "$1.body" 2>/dev/null; }
assert_contains "$(wait_match 5 'ep="obs0"' body_of "$EP_OBS")" 'ep="obs0"' \
    "first endpoint lookup answer lists obs0"
assert_not_contains "$(cat "$RES_OBS.body" 2>/dev/null)" "/b>" "first filtered resource lookup answer is empty"

ep_before=$(n_notes "$EP_OBS")
res_before=$(n_notes "$RES_OBS")

rd_register 'ep=obsnew' '</b>;rt=obs-rt'
assert_code 2.01 "register obsnew -> 2.01"
NEWP=$LOCATION

sees_new() { grep -q 'obsnew' "$EP_OBS.body" 2>/dev/null; }
observer_sees "$EP_OBS" "endpoint lookup observer is notified of the new registration" sees_new
# The body file and the PDU dump are written apart: wait for the dump too.
wait_until 5 notes_above "$EP_OBS" "$ep_before"
assert_ne "$ep_before" "$(n_notes "$EP_OBS")" "a new notification arrived on the endpoint lookup"

res_sees() { grep -q '/b>' "$RES_OBS.body" 2>/dev/null; }
observer_sees "$RES_OBS" "filtered resource lookup observer sees the new matching link" res_sees
wait_until 5 notes_above "$RES_OBS" "$res_before"
assert_ne "$res_before" "$(n_notes "$RES_OBS")" "a new notification arrived on the resource lookup"

# Removal is a change too.
before=$(n_notes "$EP_OBS")
coap -m delete "$(rd_uri "$NEWP")"
assert_code 2.02 "DELETE obsnew -> 2.02"
if wait_until 10 notes_above "$EP_OBS" "$before"; then
    ok "endpoint lookup observer is notified of the deletion"
    last=$(grep -E '^v:1 t:(CON|NON|ACK) c:2\.05 .*Observe:' "$EP_OBS" | tail -n 1)
    assert_not_contains "$last" "obsnew" "the latest notification no longer lists obsnew"
else
    fail "endpoint lookup observer is notified of the deletion"
fi

t_done
