#!/usr/bin/env bash
# test_rd_source_address.sh - answers leave from the address the request
# was sent to (BRIEF §1.2: RIOT cord_ep adopts the answer's source as the
# RD's address; coap-client-notls drops answers from any other address).
# relay-udp listens on the IPv4 and IPv6 wildcards; requests go to
# 127.0.0.1, 127.0.0.2, 127.0.0.3 and ::1 on the same port.
. "$(dirname "$0")/lib.sh"

RR_PORT=$(rr_free_port) || die "no free UDP port"
RR_EXTRA_ARGS=(--udp-listen "0.0.0.0:$RR_PORT,[::]:$RR_PORT")
rr_start_all

for host in 127.0.0.1 127.0.0.2 127.0.0.3 '[::1]'; do
    coap -m get "coap://$host:$RR_PORT/.well-known/core?rt=core.rd"
    assert_code 2.05 "GET to $host through the wildcard socket is answered (from $host)"
done

coap -m post -t 40 -e '</s>' "coap://127.0.0.2:$RR_PORT/rd?ep=src1"
assert_code 2.01 "registration sent to 127.0.0.2 -> 2.01"
P=$LOCATION
coap -m post "coap://127.0.0.3:$RR_PORT$P"
assert_code 2.04 "update sent to 127.0.0.3 -> 2.04"
coap -m get "coap://127.0.0.3:$RR_PORT/rd-lookup/ep?ep=src1"
assert_eq "src1" "$(lf_eps "$PAYLOAD")" "lookup sent to 127.0.0.3 finds src1"

t_done
