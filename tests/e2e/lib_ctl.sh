# shellcheck shell=bash
# lib_ctl.sh - the operator tool's view for e2e tests, on top of lib.sh:
# rd-frontend's `rdrelayctl status --json` of this test's state dir, and
# the counters each relay reports in it (RELAY_STATUS). Talks to
# rdrelayctl only.
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/lib_ctl.sh"
#   ctl_assert_counted limit_rate_source udp "rdrelayctl status counts it"

CTL=$RDRELAY_BIN/rdrelayctl

# ctl_status_json: rdrelayctl status --json (empty when it got no answer).
ctl_status_json() { "$CTL" --state-dir "$T_STATE" --timeout-ms 3000 status --json 2>/dev/null; }

# ctl_relay_counter COUNTER [RELAY]: that relay's (default udp) counter, ""
# when the relay or the counter is not reported.
ctl_relay_counter() {
    ctl_status_json | tr -d ' \n' | grep -oE "\"name\":\"${2:-udp}\"[^]]*" |
        grep -oE "\"$1\":[0-9]+" | head -n 1 | cut -d: -f2
}

# ctl_counter_positive COUNTER [RELAY]; ctl_counter_is COUNTER VALUE RELAY
# (for wait_until).
ctl_counter_positive() { [ "$(ctl_relay_counter "$1" "${2:-udp}")" -gt 0 ] 2>/dev/null; }
ctl_counter_is() { [ "$(ctl_relay_counter "$1" "$3")" == "$2" ]; }

# ctl_assert_counted COUNTER RELAY MESSAGE: within 15 s RELAY reports
# COUNTER, and not 0 (RELAY_STATUS comes every few seconds).
ctl_assert_counted() {
    wait_until 15 ctl_counter_positive "$1" "$2"
    assert_match '^[1-9][0-9]*$' "$(ctl_relay_counter "$1" "$2")" "$3"
}
