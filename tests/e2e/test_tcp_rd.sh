#!/usr/bin/env bash
# test_tcp_rd.sh - the Resource Directory over CoAP over TCP (RFC 8323,
# relay-tcp issue) with coap-client-notls coap+tcp:// URIs, IPv4 and IPv6:
# discovery (the exact /.well-known/core answer and its rt filter),
# registration (2.01 + Location-Path, default base coap+tcp://addr:port of
# the real peer), the registration resource (GET, update 2.04, DELETE),
# endpoint and resource lookup, a TCP registration seen from UDP and a UDP
# one from TCP, a TCP registrant with proxy=yes showing its proxy name, and
# a bad request answered 4.00 with a diagnostic over TCP.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"

WKC='</rd>;rt=core.rd;ct=40,</rd-lookup/ep>;rt=core.rd-lookup-ep;ct=40;obs,</rd-lookup/res>;rt=core.rd-lookup-res;ct=40;obs'
rt_start_all

# ---- discovery
for fam in 4 6; do
    coap -m get "$(rd_uri_x tcp $fam /.well-known/core)"
    assert_code 2.05 "IPv$fam TCP: GET /.well-known/core -> 2.05"
    assert_eq "$WKC" "$PAYLOAD" "IPv$fam TCP: discovery answers the RD's three links exactly"
    coap -m get "$(rd_uri_x tcp $fam '/.well-known/core?rt=core.rd')"
    assert_eq '</rd>;rt=core.rd;ct=40' "$PAYLOAD" "IPv$fam TCP: ?rt=core.rd gives the registration interface only"
done
coap -m get "$(rd_uri_tcp '/.well-known/core?rt=core.rd-lookup-*')"
assert_eq 2 "$(lf_count "$PAYLOAD")" "TCP: ?rt=core.rd-lookup-* (wildcard) gives both lookup interfaces"

# ---- registration over TCP, both families
coap -m post -t 40 -e '</sensors/temp>;rt=temperature;if=sensor' "$(rd_uri_tcp '/rd?ep=tnode4&d=lab&lt=600')"
assert_code 2.01 "IPv4 TCP: POST /rd?ep=tnode4 -> 2.01"
assert_match '^/reg/[0-9]+$' "$LOCATION" "IPv4 TCP: Location-Path reg/N"
P4=$LOCATION
coap -m post -t 40 -e '</act/lamp>;rt=light-act' "$(rd_uri6_tcp '/rd?ep=tnode6&lt=600')"
assert_code 2.01 "IPv6 TCP: POST /rd?ep=tnode6 -> 2.01"
P6=$LOCATION
assert_ne "$P4" "$P6" "two TCP registrations get two paths"
coap -m post -t 40 -e '</u>;rt=udp-thing' "$(rd_uri '/rd?ep=unode&lt=600')"
assert_code 2.01 "UDP: POST /rd?ep=unode -> 2.01 (beside relay-tcp)"

# ---- lookups over TCP
coap -m get "$(rd_uri_tcp /rd-lookup/ep)"
assert_code 2.05 "TCP: endpoint lookup -> 2.05"
assert_contains "$RESP" "Content-Format:application/link-format" "TCP: endpoint lookup is link-format"
assert_eq "tnode4 tnode6 unode" "$(lf_eps "$PAYLOAD")" "TCP: endpoint lookup lists the TCP and UDP registrations"
ALL=$PAYLOAD
assert_match '^coap\+tcp://127\.0\.0\.1:[0-9]+$' "$(lf_attr "$(lf_ep_link "$ALL" tnode4)" base)" \
    "tnode4's default base is coap+tcp:// and its real IPv4 peer"
assert_match '^coap\+tcp://\[::1\]:[0-9]+$' "$(lf_attr "$(lf_ep_link "$ALL" tnode6)" base)" \
    "tnode6's default base is coap+tcp:// and its real IPv6 peer"
assert_match '^coap://127\.0\.0\.1:[0-9]+$' "$(lf_attr "$(lf_ep_link "$ALL" unode)" base)" \
    "unode (UDP) keeps a coap:// base"
assert_eq lab "$(lf_attr "$(lf_ep_link "$ALL" tnode4)" d)" "tnode4's link carries d=lab"
coap -m get "$(rd_uri6_tcp '/rd-lookup/ep?ep=tnode*')"
assert_eq "tnode4 tnode6" "$(lf_eps "$PAYLOAD")" "IPv6 TCP: endpoint lookup ep=tnode* filters"
coap -m get "$(rd_uri_tcp '/rd-lookup/res?rt=temperature')"
assert_code 2.05 "TCP: resource lookup -> 2.05"
assert_contains "$PAYLOAD" 'coap+tcp://127.0.0.1:' "TCP: resource lookup resolves the link against the coap+tcp base"
assert_contains "$PAYLOAD" '/sensors/temp>' "TCP: resource lookup finds tnode4's resource"
rd_lookup_ep "ep=tnode4"
assert_eq tnode4 "$(lf_eps "$PAYLOAD")" "UDP: endpoint lookup sees the TCP registration"

# ---- the registration resource over TCP (from another connection)
coap -m get "$(rd_uri_tcp "$P4")"
assert_code 2.05 "TCP: GET $P4 -> 2.05"
assert_contains "$PAYLOAD" '</sensors/temp>' "TCP: GET $P4 returns the links"
coap -m post "$(rd_uri_tcp "$P4?lt=900")"
assert_code 2.04 "TCP: update POST $P4?lt=900 -> 2.04"
coap -m get "$(rd_uri_tcp "/rd-lookup/ep?ep=tnode4")"
assert_eq tnode4 "$(lf_eps "$PAYLOAD")" "tnode4 is still registered after its update"
coap -m delete "$(rd_uri6_tcp "$P6")"
assert_code 2.02 "IPv6 TCP: DELETE $P6 -> 2.02"
coap -m get "$(rd_uri_tcp "$P6")"
assert_code 4.04 "TCP: the deleted registration is gone (4.04)"
coap -m get "$(rd_uri_tcp "/rd-lookup/ep?ep=tnode6")"
assert_eq "" "$(lf_eps "$PAYLOAD")" "TCP: endpoint lookup no longer lists tnode6"

# ---- bad input over TCP
coap -m post -t 40 -e '</x>' "$(rd_uri_tcp '/rd?ep=bad&lt=0')"
assert_code 4.00 "TCP: lt=0 -> 4.00"
assert_diagnostic "TCP: the 4.00 carries a diagnostic"

# ---- a TCP registrant with proxy=yes (registers over its one connection)
treg_start pt --ep ptcp --lt 600
coap -m get "$(rd_uri_tcp '/rd-lookup/ep?ep=ptcp')"
assert_match '^coap(\+tcp)?://ptcp\.proxy\.localhost$' "$(lf_attr "$PAYLOAD" base)" \
    "a proxied TCP registration's base is its proxy name"
treg_start pt6 6 --ep ptcp6 --lt 600
coap -m get "$(rd_uri6_tcp '/rd-lookup/ep?ep=ptcp6')"
assert_match '^coap(\+tcp)?://ptcp6\.proxy\.localhost$' "$(lf_attr "$PAYLOAD" base)" \
    "a proxied TCP registration over IPv6 gets its proxy name too"
rport=$(treg_local_port pt)
assert_eq 1 "$(ss -Htn state established "( sport = :$rport and dport = :$RR_PORT )" | wc -l | tr -d ' ')" \
    "the registrant holds exactly one connection to relay-tcp (from port $rport)"

t_done
