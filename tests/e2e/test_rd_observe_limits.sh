#!/usr/bin/env bash
# test_rd_observe_limits.sh - lookup observations per client source (issue
# 19, max_lookup_observe_per_client, rd-frontend's counterpart of the
# relays' max_observe_per_client): with the limit at 2, two observers of
# /rd-lookup/ep from 127.0.0.1 are on the list; a third from 127.0.0.1 gets
# the lookup (2.05) without Observe, i.e. it is not on the list (RFC 7641
# §3.1); 127.0.0.2 observes meanwhile; the refusal is logged and counted
# (rdrelayctl status limits.observers_full); a new registration is
# notified to the two observers on the list and to 127.0.0.2's.
# coap-client's first Observe request is challenged (4.01 + Echo, RFC
# 9175) after rd-frontend put it on the list; relay-udp then takes it off
# again (OBSERVE_GONE), else that stale entry would hold one of the two
# places and observer 2 would be refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_ctl.sh"

RR_EXTRA_ARGS=(--max-lookup-observe-per-client 2)
rr_start_all
rd_register 'ep=first' '</a>'
assert_code 2.01 "register first -> 2.01"

n_obs() { grep -cE '^v:1 t:(CON|NON|ACK) c:2\.05 .*Observe:' "$1" 2>/dev/null || true; }
_has_obs() { [ "$(n_obs "$1")" -ge "$2" ]; }

coap_bg "$T_DIR/obs1" -s 60 -B 60 "$(rd_uri /rd-lookup/ep)"
wait_until 10 _has_obs "$T_DIR/obs1" 1 || fail "observer 1 (127.0.0.1) is not on the list"
coap_bg "$T_DIR/obs2" -s 60 -B 60 "$(rd_uri /rd-lookup/ep)"
wait_until 10 _has_obs "$T_DIR/obs2" 1 || fail "observer 2 (127.0.0.1) is not on the list"
assert_eq 1 "$(n_obs "$T_DIR/obs2")" "two observers from 127.0.0.1 are on the list"

# the third from the same source: one plain answer, no Observe
coap -m get -s 3 "$(rd_uri /rd-lookup/ep)"
assert_code 2.05 "a third lookup observation from 127.0.0.1 is answered (2.05)"
assert_not_contains "$RESP" "Observe:" "... without Observe (not on the list)"
assert_contains "$PAYLOAD" 'ep="first"' "... with the lookup's content"
coap_bg "$T_DIR/obs3" -a 127.0.0.2 -s 60 -B 60 "$(rd_uri /rd-lookup/ep)"
wait_until 10 _has_obs "$T_DIR/obs3" 1 || fail "an observer from 127.0.0.2 is not on the list"
assert_eq 1 "$(n_obs "$T_DIR/obs3")" "another source (127.0.0.2) observes meanwhile"

log=$(wait_match 5 'limit observers_full' cat "$T_DIR/frontend.log")
assert_contains "$log" "127.0.0.1" "rd-frontend logs the refusal with the source"
_counted() { [[ "$(ctl_status_json | tr -d ' \n')" =~ \"observers_full\":[1-9] ]]; }
wait_until 10 _counted
assert_match '"observers_full":[1-9]' "$(ctl_status_json | tr -d ' \n')" \
    "rdrelayctl status counts observers_full"

rd_register 'ep=second' '</b>'
assert_code 2.01 "register second -> 2.01"
for k in 1 2 3; do
    wait_until 10 _has_obs "$T_DIR/obs$k" 2
    assert_eq 2 "$(n_obs "$T_DIR/obs$k")" "observer $k is notified of the new registration"
done
t_done
