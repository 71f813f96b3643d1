#!/usr/bin/env bash
# test_cord_ep_default.sh - RIOT's cord_ep against the DEFAULT configuration
# (amplification protection on, issue 19): tests/e2e/cord_ep_replay.py sends
# the exact datagrams cord_ep builds (discovery, registration, periodic
# update; see its header for the RIOT sources), from one port that never
# answers an Echo challenge (gcoap cannot). Every answer must be the one
# cord_ep needs (2.05 with a link to the registration interface, 2.01 with
# a Location-Path, 2.04) and at most 3x its request, with no 4.01; the
# registration then shows in an endpoint lookup. Over IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"

REPLAY="python3 $(dirname "$0")/cord_ep_replay.py"
field() { sed -E "s/.*$1=([^ ]*).*/\1/" <<<"$2"; }

rr_start_all

# one cord_ep run: EP LT HOST; asserts every step
cord_ep() {
    local ep=$1 lt=$2 host=$3 out line step
    out=$($REPLAY "$host" "$RR_PORT" "$ep" "$lt" 2>&1) ||
        fail "cord_ep replay of $ep over $host stopped: $out"
    for step in discover register update; do
        line=$(grep "^step=$step " <<<"$out") || {
            fail "$ep: no $step step ($out)"
            continue
        }
        local req resp
        req=$(field req "$line")
        resp=$(field resp "$line")
        if [ "$resp" -le $((3 * req)) ]; then
            ok "$ep $step: answer $resp bytes <= 3x the request's $req ($line)"
        else
            fail "$ep $step: answer $resp bytes > 3x the request's $req ($line)"
        fi
    done
    assert_eq 2.05 "$(field code "$(grep '^step=discover ' <<<"$out")")" "$ep: discovery 2.05"
    assert_eq /rd "$(field regif "$(grep '^step=discover ' <<<"$out")")" \
        "$ep: the first link of the discovery answer is the registration interface /rd"
    assert_eq 2.01 "$(field code "$(grep '^step=register ' <<<"$out")")" "$ep: registration 2.01"
    assert_match '^/reg/[0-9]+$' "$(field location "$(grep '^step=register ' <<<"$out")")" \
        "$ep: the 2.01 names the registration resource"
    assert_eq 2.04 "$(field code "$(grep '^step=update ' <<<"$out")")" "$ep: update 2.04"
}

EP4=RIOT-0123456789abcdef
EP6=RIOT-fedcba9876543210
cord_ep "$EP4" 60 127.0.0.1
cord_ep "$EP6" 86400 ::1

# the RD's lookups show both (coap-client answers the Echo by itself)
coap -m get "$(rd_uri "/rd-lookup/ep?ep=$EP4")"
assert_code 2.05 "endpoint lookup for $EP4"
assert_contains "$PAYLOAD" "ep=\"$EP4\"" "the lookup shows $EP4"
assert_contains "$PAYLOAD" "base=\"coap://127.0.0.1:" "... at the address it registered from"
coap -m get "$(rd_uri "/rd-lookup/res?ep=$EP6")"
assert_code 2.05 "resource lookup for $EP6"
assert_contains "$PAYLOAD" "/sense/temp>" "the resource lookup shows $EP6's links"

t_done
