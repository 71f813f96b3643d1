#!/usr/bin/env bash
# test_rd_update_delete.sh - the registration resource (issue 2, RFC 9176
# §5.3): POST with no payload updates lt, base and extra attributes (exactly
# 2.04, which RIOT cord_ep insists on), with or without a trailing slash;
# DELETE removes the registration (2.02) from every lookup; unknown or
# deleted paths give 4.04; paths are never reused.
. "$(dirname "$0")/lib.sh"

rr_start_all

rd_register 'ep=upd1&et=a&lt=100' '</s/one>;rt=one,</s/two>;rt=two'
assert_code 2.01 "register upd1 -> 2.01"
P=$LOCATION
rd_register 'ep=keep2' '</k>;rt=keep'
assert_code 2.01 "register keep2 -> 2.01"
K=$LOCATION

# ---- updates
coap -m post "$(rd_uri "$P?lt=200")"
assert_code 2.04 "update lt -> 2.04"

coap -m post "$(rd_uri "$P?base=coap://192.0.2.10:5683")"
assert_code 2.04 "update base -> 2.04"
rd_lookup_ep 'ep=upd1'
l=$(lf_ep_link "$PAYLOAD" upd1)
assert_eq "coap://192.0.2.10:5683" "$(lf_attr "$l" base)" "endpoint lookup shows the new base"
rd_lookup_res 'ep=upd1'
assert_eq "coap://192.0.2.10:5683/s/one coap://192.0.2.10:5683/s/two" \
    "$(lf_targets "$PAYLOAD" | sort | tr '\n' ' ' | sed 's/ $//')" \
    "resource lookup resolves against the new base"

coap -m post "$(rd_uri "$P?et=b")"
assert_code 2.04 "update extra attribute et -> 2.04"
rd_lookup_ep 'ep=upd1'
assert_eq "b" "$(lf_attr "$(lf_ep_link "$PAYLOAD" upd1)" et)" "endpoint lookup shows et=b"
rd_lookup_ep 'et=a'
assert_eq "" "$(lf_eps "$PAYLOAD")" "?et=a no longer matches"
rd_lookup_ep 'et=b'
assert_eq "upd1" "$(lf_eps "$PAYLOAD")" "?et=b matches"
assert_eq "coap://192.0.2.10:5683" "$(lf_attr "$(lf_ep_link "$PAYLOAD" upd1)" base)" \
    "an update without base keeps the explicit base"

coap -m post "$(rd_uri "$P")"
assert_code 2.04 "plain refresh (no query, no payload) -> 2.04"
coap -m post "$(rd_uri "$P/")"
assert_code 2.04 "refresh of $P/ (trailing slash) -> 2.04"
coap -m post "$(rd_uri "$P/?lt=300")"
assert_code 2.04 "update of $P/?lt=300 -> 2.04"

rd_lookup_res 'ep=upd1'
assert_eq 2 "$(lf_count "$PAYLOAD")" "updates kept the links"

coap -m post "$(rd_uri /reg/999999)"
assert_code 4.04 "update of an unknown registration -> 4.04"
assert_diagnostic "4.04 carries a diagnostic"

# ---- delete
coap -m delete "$(rd_uri "$P")"
assert_code 2.02 "DELETE $P -> 2.02"
rd_lookup_ep
assert_eq "keep2" "$(lf_eps "$PAYLOAD")" "deleted endpoint left the endpoint lookup"
rd_lookup_res
assert_eq "/k" "$(lf_targets "$PAYLOAD" | sed -E 's|^coap://[^/]*||')" \
    "deleted endpoint's links left the resource lookup"
coap -m get "$(rd_uri "$P")"
assert_code 4.04 "GET a deleted registration -> 4.04"
coap -m delete "$(rd_uri "$P")"
assert_code 4.04 "DELETE it again -> 4.04"
coap -m post "$(rd_uri "$P")"
assert_code 4.04 "update of a deleted registration -> 4.04"

coap -m delete "$(rd_uri "$K/")"
assert_code 2.02 "DELETE $K/ (trailing slash) -> 2.02"
rd_lookup_ep
assert_eq "" "$(lf_eps "$PAYLOAD")" "no endpoint left"

# ---- no reuse of paths
rd_register 'ep=upd1' '</s/one>'
assert_code 2.01 "register upd1 again -> 2.01"
assert_ne "$P" "$LOCATION" "a new registration never gets a deleted path"
assert_ne "$K" "$LOCATION" "nor the other deleted path"
n_old=${P##*/}
n_new=${LOCATION##*/}
if [ "$n_new" -gt "$n_old" ] 2>/dev/null; then
    ok "registration numbers grow ($n_old -> $n_new)"
else
    fail "registration numbers grow: old $n_old, new $n_new"
fi

t_done
