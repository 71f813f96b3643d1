#!/usr/bin/env bash
# test_rd_simple.sh - simple registration (issue 2, RFC 9176 §5.1): a POST
# to /.well-known/rd?ep=... with no payload, sent from the server's own
# socket (the registrant fixture, a libcoap server), makes the RD fetch
# /.well-known/core from where the request came from and register those
# links; the answer is 2.04. The deprecated spelling POST /.well-known/core
# works the same way. base= is refused there (issue 15 item 3; checked in
# test_rd_rfc9176_fixes.sh).
. "$(dirname "$0")/lib.sh"

rr_start_all

# start_simple NAME EP RD-PATH: a registrant doing simple registration; sets
# ORIGIN to the address it serves (and registered) from.
start_simple() {
    rr_start "$1" rr-registrant --rd "$(rd_uri "$3")" --listen 127.0.0.1:0 --ep "$2" \
        --simple --proxy "" --lt 600
    if wait_until 30 grep -q '^registered simple' "$T_DIR/$1.log"; then
        ok "simple registration POST $3?ep=$2 -> 2.04"
    else
        fail "simple registration POST $3?ep=$2 was not answered 2.04 within 30 s"
    fi
    ORIGIN="coap://127.0.0.1:$(sed -nE 's/^listening 127\.0\.0\.1:([0-9]+)$/\1/p' "$T_DIR/$1.log" | head -n 1)"
}

start_simple simple1 simple1 /.well-known/rd
O1=$ORIGIN
rd_lookup_ep 'ep=simple1'
assert_eq "simple1" "$(lf_eps "$PAYLOAD")" "simple1 is registered"
l=$(lf_ep_link "$PAYLOAD" simple1)
assert_eq "$O1" "$(lf_attr "$l" base)" "simple1's base is the address it registered from"

rd_lookup_res 'ep=simple1'
assert_contains "$PAYLOAD" "<$O1/hello>" "the origin's /hello link was fetched and registered"
assert_contains "$PAYLOAD" "<$O1/large>" "the origin's /large link was registered"
assert_contains "$PAYLOAD" "<$O1/obs>;obs;ct=0" "the fetched links keep their attributes (/obs: obs, ct=0)"

start_simple simple2 simple2 /.well-known/core
rd_lookup_ep 'ep=simple*'
assert_eq "simple1 simple2" "$(lf_eps "$PAYLOAD")" "both simple registrations are listed"

# Repeating a simple registration refreshes it, it does not duplicate it.
rr_stop simple1 TERM
rr_start simple1b rr-registrant --rd "$(rd_uri /.well-known/rd)" --listen "${O1#coap://}" \
    --ep simple1 --simple --proxy "" --lt 600
if wait_until 30 grep -q '^registered simple' "$T_DIR/simple1b.log"; then
    ok "repeated simple registration -> 2.04"
else
    fail "repeated simple registration was not answered 2.04 within 30 s"
fi
rd_lookup_ep 'ep=simple1'
assert_eq 1 "$(lf_count "$PAYLOAD")" "simple1 is registered once"

# Simple registration needs ep like any other registration.
COAP_TIMEOUT=20 coap -m post "$(rd_uri "/.well-known/rd")"
assert_code 4.00 "simple registration without ep -> 4.00"

t_done
