#!/usr/bin/env bash
# test_rd_rfc9176_fixes.sh - issue 15 items 1-3 with real clients
# (coap-client-notls, the registrant fixture):
#  1. a registration with et twice (RFC 9176 §9.3.1) and another repeated
#     attribute is accepted; endpoint lookup shows every value as its own
#     attribute; ?et= with either value finds it; the same after kill -9 and
#     a restart (reloaded from SQLite); an update with et replaces the set.
#  2. resource lookup resolves targets against the base and shows an anchor
#     only where one was registered (RFC 9176 §6.1); full URIs unmodified.
#  3. simple registration refuses base= with 4.00 and a diagnostic and
#     registers nothing (RFC 9176 §5.1); without base it still works, the
#     links fetched from where the request came from.
. "$(dirname "$0")/lib.sh"

rr_start_all

# ---- 1. repeated attributes
rd_register 'ep=multi&et=a.b&et=c.d&tag=1&tag=2' '</s>;rt=x'
assert_code 2.01 "registration with et=a.b&et=c.d -> 2.01"
P=$LOCATION
rd_register 'ep=single&et=a.b' '</t>'
assert_code 2.01 "registration with one et -> 2.01"
check_multi() { # when
    rd_lookup_ep 'ep=multi'
    assert_contains "$PAYLOAD" ';et="a.b";et="c.d";tag=1;tag=2' "$1: endpoint lookup shows both et and both tag values"
    rd_lookup_ep 'et=a.b'
    assert_eq "multi single" "$(lf_eps "$PAYLOAD")" "$1: ?et=a.b finds both endpoints"
    rd_lookup_ep 'et=c.d'
    assert_eq "multi" "$(lf_eps "$PAYLOAD")" "$1: ?et=c.d finds the endpoint with the second et"
    rd_lookup_ep 'et=a.b&et=c.d'
    assert_eq "multi" "$(lf_eps "$PAYLOAD")" "$1: ?et=a.b&et=c.d (ANDed) finds it"
    rd_lookup_ep 'tag=2'
    assert_eq "multi" "$(lf_eps "$PAYLOAD")" "$1: ?tag=2 (another repeated attribute) finds it"
}
check_multi "before restart"
rr_stop frontend KILL
rr_start_frontend
rr_wait_ready 60
check_multi "after kill -9 and restart"
coap -m post "$(rd_uri "$P?et=e.f&et=g.h")"
assert_code 2.04 "update with et twice -> 2.04"
rd_lookup_ep 'ep=multi'
assert_contains "$PAYLOAD" ';tag=1;tag=2;et="e.f";et="g.h"' "the update replaced both et values, tag kept"
assert_not_contains "$PAYLOAD" 'a.b' "the old et values are gone"
rd_register 'ep=twice&lt=60&lt=70' '</t>'
assert_code 4.00 "lt given twice is still 4.00"

# ---- 2. anchors in resource lookup
rd_register 'ep=anch&base=coap://[2001:db8::1]:61616' \
    '</sensors/temp>;rt=temperature-c,<http://www.example.com/t>;anchor="/sensors/temp";rel=describedby,</x>;anchor="coap://other.example/y"'
assert_code 2.01 "registration with relative, registered and full-URI anchors -> 2.01"
rd_lookup_res 'ep=anch'
mapfile -t L < <(lf_split "$PAYLOAD")
assert_eq '<coap://[2001:db8::1]:61616/sensors/temp>;rt="temperature-c"' "${L[0]:-}" \
    "a link registered without anchor comes back resolved, without an anchor"
assert_eq '<http://www.example.com/t>;rel=describedby;anchor="coap://[2001:db8::1]:61616/sensors/temp"' \
    "${L[1]:-}" "a full-URI target is unmodified; a registered relative anchor is resolved"
assert_eq '<coap://[2001:db8::1]:61616/x>;anchor="coap://other.example/y"' "${L[2]:-}" \
    "a full-URI anchor is unmodified"
rd_lookup_res 'rt=temperature-c'
assert_not_contains "$PAYLOAD" "anchor" "?rt= result has no anchor that was never registered"

# ---- 3. simple registration and base
before=$(rd_snapshot)
COAP_TIMEOUT=20 coap -m post "$(rd_uri "/.well-known/rd?ep=simplebase&base=coap://127.0.0.1:9")"
assert_code 4.00 "simple registration with base= -> 4.00"
assert_diagnostic "... with a diagnostic payload"
assert_contains "$PAYLOAD" "base" "... that names base"
COAP_TIMEOUT=20 coap -m post "$(rd_uri "/.well-known/core?ep=simplebase&base=coap://127.0.0.1:9")"
assert_code 4.00 "simple registration via /.well-known/core with base= -> 4.00"
assert_eq "$before" "$(rd_snapshot)" "nothing was registered"

rr_start simple rr-registrant --rd "$(rd_uri /rd)" --listen 127.0.0.1:0 --ep simpleok \
    --simple --proxy "" --lt 600
if wait_until 30 grep -q '^registered simple' "$T_DIR/simple.log"; then
    ok "simple registration without base (registrant fixture) -> 2.04"
else
    fail "simple registration without base was not answered 2.04 within 30 s"
fi
port=$(sed -nE 's/^listening 127\.0\.0\.1:([0-9]+)$/\1/p' "$T_DIR/simple.log" | head -n 1)
rd_lookup_ep 'ep=simpleok'
assert_eq "coap://127.0.0.1:$port" "$(lf_attr "$PAYLOAD" base)" "its base is the address the request came from"
rd_lookup_res 'ep=simpleok'
assert_contains "$PAYLOAD" "<coap://127.0.0.1:$port/hello>" "its /.well-known/core was fetched from there"

t_done
