#!/usr/bin/env bash
# test_rd_lifetime.sh - lifetimes (issue 2, BRIEF §1.2): a registration with
# a short lt leaves every lookup when lt runs out; an update with a new lt
# keeps a registration past its first expiry; a late refresh within the
# grace period (--expiry-grace) brings it back under the same path; after
# the grace period it is gone (4.04). Margins are wide on purpose: the test
# must hold on a loaded machine with sanitizer builds.
. "$(dirname "$0")/lib.sh"

RR_EXTRA_ARGS=(--expiry-grace 12)
rr_start_all

rd_register 'ep=short1&lt=2' '</a>;rt=short'
assert_code 2.01 "register short1 with lt=2 -> 2.01"
S1=$LOCATION
rd_register 'ep=short2&lt=2' '</b>;rt=short'
assert_code 2.01 "register short2 with lt=2 -> 2.01"
S2=$LOCATION
rd_register 'ep=renewed&lt=5' '</c>;rt=short'
assert_code 2.01 "register renewed with lt=5 -> 2.01"
R=$LOCATION
coap -m post "$(rd_uri "$R?lt=3600")"
assert_code 2.04 "update renewed to lt=3600 -> 2.04"
rd_register 'ep=long' '</d>;rt=long'
assert_code 2.01 "register long with the default lt -> 2.01"
T0=$SECONDS

rd_lookup_ep 'ep=short*'
assert_eq "short1 short2" "$(lf_eps "$PAYLOAD")" "short registrations are listed before expiry"

gone() {
    rd_lookup_ep 'rt=short'
    [ -z "$(lf_eps "$PAYLOAD" | tr ' ' '\n' | grep short)" ]
}
if wait_until 15 gone; then
    ok "expired registrations left the endpoint lookup (after $((SECONDS - T0)) s)"
else
    fail "expired registrations left the endpoint lookup within 10 s: $(lf_eps "$PAYLOAD")"
fi
rd_lookup_res 'rt=short'
assert_eq "/c" "$(lf_targets "$PAYLOAD" | sed -E 's|^coap://[^/]*||')" \
    "expired registrations left the resource lookup; the renewed one stayed"
rd_lookup_ep
assert_eq "long renewed" "$(lf_eps "$PAYLOAD")" "renewed and long registrations are still there"

# Within the grace period (expired at ~2 s, grace 12 s), a refresh revives
# short1 under the same path.
coap -m post "$(rd_uri "$S1")"
assert_code 2.04 "late refresh of short1 within the grace period -> 2.04"
rd_lookup_ep 'ep=short1'
assert_eq "short1" "$(lf_eps "$PAYLOAD")" "short1 is back in the lookup"
assert_eq "$S1" "$(path_norm "$(lf_targets "$PAYLOAD")")" "short1 is back under the same path"
coap -m post "$(rd_uri "$S1?lt=3600")"
assert_code 2.04 "short1 takes a long lifetime"

# short2 was not refreshed: after lt + grace (2 + 12 s) it is gone for good.
while [ $((SECONDS - T0)) -lt 17 ]; do
    sleep 0.5
done
rd_lookup_ep 'ep=renewed'
assert_eq "renewed" "$(lf_eps "$PAYLOAD")" "renewed (updated to lt=3600) outlived its first lt=5"
coap -m post "$(rd_uri "$S2")"
assert_code 4.04 "refresh of short2 after the grace period -> 4.04"
coap -m get "$(rd_uri "$S2")"
assert_code 4.04 "GET short2 after the grace period -> 4.04"

rd_register 'ep=short2' '</b>'
assert_code 2.01 "short2 registers anew -> 2.01"
assert_ne "$S2" "$LOCATION" "and gets a new path, not the expired one"

rd_lookup_ep
assert_eq "long renewed short1 short2" "$(lf_eps "$PAYLOAD")" "final endpoint list"

t_done
