#!/usr/bin/env bash
# test_rd_register_lookup.sh - registration and both lookups through
# relay-udp (issue 2, RFC 9176 §5, §7): 2.01 with Location-Path /reg/N,
# default base from the registrant's real address (IPv4 and IPv6), GET on the
# registration resource, re-registration keeps the path, and lookups filtered
# by ep, d, et, rt, if, base, href (path form and full URI form), trailing *
# wildcards, several filters ANDed, page/count alone and with filters.
. "$(dirname "$0")/lib.sh"

rr_start_all

# ---- registrations
rd_register 'ep=node1&d=home&et=sensor' \
    '</sensors/temp>;rt=temperature;if=sensor,</sensors/light>;rt=light-lux;ct=0'
assert_code 2.01 "register node1 -> 2.01"
assert_match '^/reg/[0-9]+$' "$LOCATION" "node1 gets Location-Path reg/N"
P1=$LOCATION

rd_register 'ep=node2&d=home' '</act/lamp>;rt=light-act;if=actuator'
assert_code 2.01 "register node2 -> 2.01"
P2=$LOCATION

rd_register 'ep=other3&d=office&lt=3000' '</sensors/temp>;rt=temperature'
assert_code 2.01 "register other3 -> 2.01"
P3=$LOCATION

coap -m post -t 40 -e '</x>;rt=foo' "$(rd_uri6 '/rd?ep=node4')"
assert_code 2.01 "register node4 over IPv6 -> 2.01"
P4=$LOCATION

paths=$(printf '%s\n' "$P1" "$P2" "$P3" "$P4" | sort -u | grep -c /reg/)
assert_eq 4 "$paths" "four registrations get four different paths"

# ---- registration resource
coap -m get "$(rd_uri "$P1")"
assert_code 2.05 "GET $P1 -> 2.05"
assert_contains "$PAYLOAD" '</sensors/temp>' "GET $P1 returns the registered links"
assert_contains "$PAYLOAD" '</sensors/light>' "GET $P1 returns every registered link"
coap -m get "$(rd_uri "$P1/")"
assert_code 2.05 "GET $P1/ (trailing slash) is the same resource"
coap -m get "$(rd_uri /reg/999999)"
assert_code 4.04 "GET an unknown registration -> 4.04"

# ---- endpoint lookup
rd_lookup_ep
assert_code 2.05 "endpoint lookup -> 2.05"
assert_contains "$RESP" "Content-Format:application/link-format" "endpoint lookup is link-format"
assert_eq "node1 node2 node4 other3" "$(lf_eps "$PAYLOAD")" "endpoint lookup lists every endpoint"
ALL_EP=$PAYLOAD
l1=$(lf_ep_link "$ALL_EP" node1)
l4=$(lf_ep_link "$ALL_EP" node4)
assert_eq "$P1" "$(path_norm "$(lf_targets "$l1")")" "node1's link points at its registration resource"
assert_eq "home" "$(lf_attr "$l1" d)" "node1's link carries d"
assert_eq "sensor" "$(lf_attr "$l1" et)" "node1's link carries the extra attribute et"
assert_match '^coap://127\.0\.0\.1:[0-9]+$' "$(lf_attr "$l1" base)" \
    "node1's default base is its real IPv4 source"
assert_match '^coap://\[::1\]:[0-9]+$' "$(lf_attr "$l4" base)" \
    "node4's default base is its real IPv6 source"
B1=$(lf_attr "$l1" base)
l2=$(lf_ep_link "$ALL_EP" node2)
B2=$(lf_attr "$l2" base)

rd_lookup_ep 'ep=node1'
assert_eq "node1" "$(lf_eps "$PAYLOAD")" "?ep=node1"
rd_lookup_ep 'd=home'
assert_eq "node1 node2" "$(lf_eps "$PAYLOAD")" "?d=home"
rd_lookup_ep 'ep=node*'
assert_eq "node1 node2 node4" "$(lf_eps "$PAYLOAD")" "?ep=node* (wildcard)"
rd_lookup_ep 'ep=*'
assert_eq "node1 node2 node4 other3" "$(lf_eps "$PAYLOAD")" "?ep=* matches every endpoint"
rd_lookup_ep 'd=home&ep=node2'
assert_eq "node2" "$(lf_eps "$PAYLOAD")" "?d=home&ep=node2 (AND)"
rd_lookup_ep 'd=office&ep=node1'
assert_eq "" "$(lf_eps "$PAYLOAD")" "?d=office&ep=node1 matches nothing (AND)"
rd_lookup_ep 'et=sensor'
assert_eq "node1" "$(lf_eps "$PAYLOAD")" "?et=sensor (registration attribute)"
rd_lookup_ep 'rt=light-act'
assert_eq "node2" "$(lf_eps "$PAYLOAD")" "?rt=light-act (endpoints with a matching resource)"
rd_lookup_ep 'rt=temperature'
assert_eq "node1 other3" "$(lf_eps "$PAYLOAD")" "?rt=temperature"
rd_lookup_ep 'rt=temperature&d=office'
assert_eq "other3" "$(lf_eps "$PAYLOAD")" "?rt=temperature&d=office (AND of resource and endpoint filters)"
rd_lookup_ep "base=$B1"
assert_eq "node1" "$(lf_eps "$PAYLOAD")" "?base=<node1's base>"
rd_lookup_ep 'base=coap://[::1]*'
assert_eq "node4" "$(lf_eps "$PAYLOAD")" "?base=coap://[::1]* (wildcard on base)"

# href: the registration resource, as a path (with and without the
# trailing slash the lookup shows) and as a full URI.
T1=$(lf_targets "$l1")
rd_lookup_ep "href=$T1"
assert_eq "node1" "$(lf_eps "$PAYLOAD")" "?href=$T1 (path form)"
rd_lookup_ep "href=$P1/"
assert_eq "node1" "$(lf_eps "$PAYLOAD")" "?href=$P1/ (path form with slash)"
rd_lookup_ep "href=coap://127.0.0.1:$RR_PORT$P1/"
assert_eq "node1" "$(lf_eps "$PAYLOAD")" "?href=coap://127.0.0.1:$RR_PORT$P1/ (full URI form)"
rd_lookup_ep "href=/reg/999999/"
assert_eq "" "$(lf_eps "$PAYLOAD")" "?href of an unknown registration matches nothing"

# paging: pages of 2 are disjoint and together give the whole list in order
rd_lookup_ep 'count=2'
assert_eq 2 "$(lf_count "$PAYLOAD")" "?count=2 gives 2 endpoints"
rd_lookup_ep 'page=0&count=2'
pg0=$(lf_split "$PAYLOAD")
assert_eq 2 "$(lf_count "$PAYLOAD")" "?page=0&count=2 gives 2 endpoints"
rd_lookup_ep 'page=1&count=2'
pg1=$(lf_split "$PAYLOAD")
assert_eq 2 "$(lf_count "$PAYLOAD")" "?page=1&count=2 gives 2 endpoints"
rd_lookup_ep 'page=2&count=2'
assert_eq 0 "$(lf_count "$PAYLOAD")" "?page=2&count=2 is empty (code $CODE)"
assert_eq "$(lf_split "$ALL_EP")" "$(printf '%s\n%s' "$pg0" "$pg1")" \
    "pages 0 and 1 of 2 are the full list, in order"
rd_lookup_ep 'ep=node*&page=1&count=2'
assert_eq 1 "$(lf_count "$PAYLOAD")" "?ep=node*&page=1&count=2: paging applies after filtering"
rd_lookup_ep 'd=home&count=1'
assert_eq 1 "$(lf_count "$PAYLOAD")" "?d=home&count=1"

# ---- resource lookup
rd_lookup_res
assert_code 2.05 "resource lookup -> 2.05"
assert_eq 5 "$(lf_count "$PAYLOAD")" "resource lookup lists all 5 links"
ALL_RES=$PAYLOAD
assert_contains "$ALL_RES" "<$B1/sensors/temp>" "resource links are resolved against the base"
assert_contains "$ALL_RES" "<$B2/act/lamp>" "node2's resource is resolved against its base"

rd_lookup_res 'rt=temperature'
assert_eq 2 "$(lf_count "$PAYLOAD")" "?rt=temperature gives 2 links"
rd_lookup_res 'ep=node1'
assert_eq "$B1/sensors/light $B1/sensors/temp" "$(lf_targets "$PAYLOAD" | sort | tr '\n' ' ' | sed 's/ $//')" \
    "?ep=node1 gives node1's links (resolved)"
rd_lookup_res 'd=office&rt=temperature'
assert_eq 1 "$(lf_count "$PAYLOAD")" "?d=office&rt=temperature (AND)"
rd_lookup_res 'rt=light*'
assert_eq 2 "$(lf_count "$PAYLOAD")" "?rt=light* (wildcard) gives light-lux and light-act"
rd_lookup_res 'if=actuator'
assert_eq "$B2/act/lamp" "$(lf_targets "$PAYLOAD")" "?if=actuator"
rd_lookup_res "href=$B2/act/lamp"
assert_eq "$B2/act/lamp" "$(lf_targets "$PAYLOAD")" "?href=<full URI> on resource lookup"
rd_lookup_res 'href=coap://127.0.0.1*'
assert_eq 4 "$(lf_count "$PAYLOAD")" "?href=coap://127.0.0.1* (wildcard) gives the 4 IPv4 links"
rd_lookup_res 'rt=temperature&ep=nobody'
assert_eq 0 "$(lf_count "$PAYLOAD")" "?rt=temperature&ep=nobody matches nothing"
rd_lookup_res 'count=2&page=2'
assert_eq 1 "$(lf_count "$PAYLOAD")" "?count=2&page=2 gives the 5th link"
rd_lookup_res 'rt=temperature&count=1&page=1'
assert_eq 1 "$(lf_count "$PAYLOAD")" "?rt=temperature&count=1&page=1"

# ---- re-registration of the same (ep, d) replaces it and keeps the path
rd_register 'ep=node1&d=home' '</new/thing>;rt=new'
assert_code 2.01 "re-register node1 -> 2.01"
assert_eq "$P1" "$LOCATION" "re-registration keeps the registration path"
# (sent from another client port: the default base follows the new source)
rd_lookup_ep 'ep=node1&d=home'
NB1=$(lf_attr "$(lf_ep_link "$PAYLOAD" node1)" base)
assert_match '^coap://127\.0\.0\.1:[0-9]+$' "$NB1" "re-registered node1 has a base"
rd_lookup_res 'ep=node1'
assert_eq "$NB1/new/thing" "$(lf_targets "$PAYLOAD")" "re-registration replaced node1's links"
rd_lookup_ep
assert_eq "node1 node2 node4 other3" "$(lf_eps "$PAYLOAD")" "still four endpoints"

# same ep in another sector is another registration
rd_register 'ep=node1&d=office' '</y>'
assert_code 2.01 "register node1 in sector office -> 2.01"
assert_ne "$P1" "$LOCATION" "(node1, office) is a new registration"
rd_lookup_ep 'ep=node1'
assert_eq 2 "$(lf_count "$PAYLOAD")" "?ep=node1 now finds both sectors"

t_done
