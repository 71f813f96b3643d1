#!/usr/bin/env bash
# test_port_limits.sh - how port-based hosting (issue 18) hands out its
# ports: the 2.01 of a proxied registration carries its port (and none
# when it gets none); the per-source limit (port_per_source, per IPv4
# address or IPv6 /64) and an exhausted port_hosting_range leave a
# registration with name-based hosting only, said in the operator log; a
# deleted registration's port is not given to another endpoint during its
# quarantine (port_quarantine, short here) and is afterwards.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_port.sh"

RR_PORT=$(rr_free_port tu) || die "no free port"
RANGE=$(port_range_free 3) || die "no free port range"
PLO=${RANGE%-*}
PHI=${RANGE#*-}
Q=8
RR_EXTRA_ARGS=(--port-hosting-range "$RANGE" --port-per-source 2 --port-quarantine "$Q")
rr_start_all

# From 127.0.0.1: two ports, then the per-source limit.
rd_register "ep=a1&proxy=yes&lt=600"
assert_code 2.01 "a1 registered"
assert_contains "$PAYLOAD" "port=\"$PLO\"" "the 2.01 carries a1's port ($PLO)"
A1=$LOCATION
rd_register "ep=a2&proxy=yes&lt=600"
assert_code 2.01 "a2 registered"
assert_eq "$((PLO + 1))" "$(port_of a2)" "a2 got the next port"
rd_register "ep=a3&proxy=yes&lt=600"
assert_code 2.01 "a3 over the per-source limit: still registered"
assert_not_contains "$PAYLOAD" "port=" "its 2.01 carries no port"
assert_eq "" "$(port_of a3)" "its lookup shows no port"
assert_contains "$(cat "$T_DIR/frontend.log")" "port_per_source reached" \
    "the operator log says why a3 has no port"
rd_lookup_ep "ep=a3"
assert_contains "$PAYLOAD" "base=\"coap://a3.$RR_DOMAIN\"" "a3 has name-based hosting"

# From ::1 (another source): the last port, then the range is exhausted.
coap -m post -t 40 -e '</x>' "$(rd_uri6 "/rd?ep=b1&proxy=yes&lt=600")"
assert_code 2.01 "b1 (from ::1) registered"
assert_eq "$PHI" "$(port_of b1)" "b1 got the last port"
coap -m post -t 40 -e '</x>' "$(rd_uri6 "/rd?ep=b2&proxy=yes&lt=600")"
assert_code 2.01 "b2: range exhausted, still registered"
assert_eq "" "$(port_of b2)" "b2 has no port"
assert_contains "$(cat "$T_DIR/frontend.log")" "port_hosting_range exhausted" \
    "the operator log says the range is exhausted"

# A registration that is not proxied never takes a port.
rd_register "ep=plain&lt=600"
assert_code 2.01 "a registration without proxy"
assert_not_contains "$PAYLOAD" "port=" "gets no port"

# Quarantine: a1 deleted; its port goes to nobody else for Q seconds.
coap -m delete "$(rd_uri "$A1")"
assert_code 2.02 "a1 deleted"
coap -m post -t 40 -e '</x>' "$(rd_uri6 "/rd?ep=b3&proxy=yes&lt=600")"
assert_code 2.01 "b3 registered while a1's port is in quarantine"
assert_eq "" "$(port_of b3)" "b3 does not get a1's quarantined port $PLO"
assert_contains "$(cat "$T_DIR/frontend.log")" "hosting port $PLO of ep=a1 d= released" \
    "the log says a1's port went to quarantine"

# After the quarantine a re-registration of b3 gets it (bounded wait).
_b3_gets_port() {
    coap -m post -t 40 -e '</x>' "$(rd_uri6 "/rd?ep=b3&proxy=yes&lt=600")" >/dev/null
    [ "$(port_of b3)" == "$PLO" ]
}
wait_until $((Q + 10)) _b3_gets_port
assert_eq "$PLO" "$(port_of b3)" "after the quarantine the port is given out again (to b3)"

# The quarantine survives an rd-frontend restart: delete b1, restart,
# and its port is still not handed out.
rd_lookup_ep "ep=b1"
B1=$(lf_targets "$PAYLOAD" | head -n 1)
coap -m delete "$(rd_uri6 "$B1")" # from its own address (takeover=same-address)
assert_code 2.02 "b1 deleted"
rr_stop frontend KILL
rr_start_frontend
rr_wait_ready
coap -m post -t 40 -e '</x>' "$(rd_uri "/rd?ep=c1&proxy=yes&lt=600")"
assert_code 2.01 "c1 registered after the restart"
assert_eq "" "$(port_of c1)" "b1's port is still in quarantine after an rd-frontend kill -9"
assert_eq "$PLO" "$(port_of b3)" "b3 kept its port across the restart"
t_done
