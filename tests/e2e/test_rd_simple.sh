#!/usr/bin/env bash
# test_rd_simple.sh - simple registration (issue 2, RFC 9176 §5.1): a POST
# to /.well-known/rd?ep=...&base=coap://<origin> makes the RD fetch the
# origin's /.well-known/core (a real coap-server-notls) and register its
# links; the answer is 2.04. The deprecated spelling POST /.well-known/core
# works the same way.
. "$(dirname "$0")/lib.sh"

start_origin
rr_start_all
ORIGIN="coap://127.0.0.1:$ORIGIN_PORT"

COAP_TIMEOUT=20 coap -m post "$(rd_uri "/.well-known/rd?ep=simple1&base=$ORIGIN")"
assert_code 2.04 "simple registration POST /.well-known/rd?ep=simple1&base=... -> 2.04"

rd_lookup_ep 'ep=simple1'
assert_eq "simple1" "$(lf_eps "$PAYLOAD")" "simple1 is registered"
l=$(lf_ep_link "$PAYLOAD" simple1)
assert_eq "$ORIGIN" "$(lf_attr "$l" base)" "simple1's base is the origin"

rd_lookup_res 'ep=simple1'
assert_contains "$PAYLOAD" "<$ORIGIN/time>" "the origin's /time link was fetched and registered"
assert_contains "$PAYLOAD" "<$ORIGIN/example_data>" "the origin's /example_data link was registered"
rd_lookup_res 'ep=simple1&rt=ticks'
assert_eq "$ORIGIN/time" "$(lf_targets "$PAYLOAD")" "the fetched links keep their attributes (?rt=ticks)"

COAP_TIMEOUT=20 coap -m post "$(rd_uri "/.well-known/core?ep=simple2&base=$ORIGIN&lt=600")"
assert_code 2.04 "simple registration via POST /.well-known/core -> 2.04"
rd_lookup_ep 'ep=simple*'
assert_eq "simple1 simple2" "$(lf_eps "$PAYLOAD")" "both simple registrations are listed"

# Repeating a simple registration refreshes it, it does not duplicate it.
COAP_TIMEOUT=20 coap -m post "$(rd_uri "/.well-known/rd?ep=simple1&base=$ORIGIN")"
assert_code 2.04 "repeated simple registration -> 2.04"
rd_lookup_ep 'ep=simple1'
assert_eq 1 "$(lf_count "$PAYLOAD")" "simple1 is registered once"

# Simple registration needs ep like any other registration.
COAP_TIMEOUT=20 coap -m post "$(rd_uri "/.well-known/rd?base=$ORIGIN")"
assert_code 4.00 "simple registration without ep -> 4.00"

t_done
