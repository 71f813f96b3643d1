#!/usr/bin/env bash
# test_rd_discovery.sh - RD discovery through relay-udp (issue 2, RFC 9176
# §4.3): GET /.well-known/core lists the three RD interfaces exactly, query
# filters (including the trailing * wildcard) work, and the ?rt=core.rd
# answer is short with the registration interface first (RIOT cord_ep takes
# the first link and rejects answers over 128 bytes). Over IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"

WKC='</rd>;rt=core.rd;ct=40,</rd-lookup/ep>;rt=core.rd-lookup-ep;ct=40;obs,</rd-lookup/res>;rt=core.rd-lookup-res;ct=40;obs'

rr_start_all

coap -m get "$(rd_uri /.well-known/core)"
assert_code 2.05 "GET /.well-known/core over IPv4 -> 2.05"
assert_eq "$WKC" "$PAYLOAD" "discovery document is exactly the three RD interfaces"
assert_contains "$RESP" "Content-Format:application/link-format" "discovery answer is link-format"

coap -m get "$(rd_uri6 /.well-known/core)"
assert_code 2.05 "GET /.well-known/core over IPv6 -> 2.05"
assert_eq "$WKC" "$PAYLOAD" "IPv6 discovery document is the same"

coap -m get "$(rd_uri '/.well-known/core?rt=core.rd')"
assert_code 2.05 "?rt=core.rd -> 2.05"
assert_eq '</rd>;rt=core.rd;ct=40' "$PAYLOAD" "?rt=core.rd gives only the registration interface"
first=$(lf_split "$PAYLOAD" | head -n 1)
assert_eq '/rd' "$(lf_targets "$first")" "the first link of ?rt=core.rd is the registration interface"
if [ ${#PAYLOAD} -le 128 ]; then
    ok "?rt=core.rd answer is at most 128 bytes (${#PAYLOAD})"
else
    fail "?rt=core.rd answer is ${#PAYLOAD} bytes, RIOT cord_ep rejects more than 128"
fi

coap -m get "$(rd_uri6 '/.well-known/core?rt=core.rd')"
assert_eq '</rd>;rt=core.rd;ct=40' "$PAYLOAD" "?rt=core.rd over IPv6"

coap -m get "$(rd_uri '/.well-known/core?rt=core.rd*')"
assert_code 2.05 "?rt=core.rd* -> 2.05"
assert_eq "$WKC" "$PAYLOAD" "?rt=core.rd* matches all three interfaces"

coap -m get "$(rd_uri '/.well-known/core?rt=core.rd-lookup-*')"
assert_eq '/rd-lookup/ep /rd-lookup/res' "$(lf_targets "$PAYLOAD" | tr '\n' ' ' | sed 's/ $//')" \
    "?rt=core.rd-lookup-* matches both lookup interfaces"

coap -m get "$(rd_uri '/.well-known/core?rt=core.rd-lookup-ep')"
assert_eq '</rd-lookup/ep>;rt=core.rd-lookup-ep;ct=40;obs' "$PAYLOAD" "?rt=core.rd-lookup-ep"

coap -m get "$(rd_uri '/.well-known/core?rt=core.rd-lookup-res')"
assert_eq '</rd-lookup/res>;rt=core.rd-lookup-res;ct=40;obs' "$PAYLOAD" "?rt=core.rd-lookup-res"

coap -m get "$(rd_uri '/.well-known/core?href=/rd-lookup/ep')"
assert_eq '</rd-lookup/ep>;rt=core.rd-lookup-ep;ct=40;obs' "$PAYLOAD" "?href=/rd-lookup/ep"

coap -m get "$(rd_uri '/.well-known/core?rt=no-such-type')"
assert_eq "" "$(lf_targets "$PAYLOAD")" "a filter matching nothing lists no link (code $CODE)"

# Requests the RD does not serve get a clean error, not silence.
coap -m get "$(rd_uri /no/such/resource)"
assert_code 4.04 "GET /no/such/resource -> 4.04"
coap -m put -e x "$(rd_uri /.well-known/core)"
assert_code 4.05 "PUT /.well-known/core -> 4.05"

# Non-confirmable requests are answered too.
coap -N -m get "$(rd_uri '/.well-known/core?rt=core.rd')"
assert_eq '</rd>;rt=core.rd;ct=40' "$PAYLOAD" "NON GET ?rt=core.rd is answered"

t_done
