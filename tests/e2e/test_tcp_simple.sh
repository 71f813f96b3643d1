#!/usr/bin/env bash
# test_tcp_simple.sh - simple registration with proxy=yes (RFC 9176 §5.1,
# relay-tcp issue): the registrant sends POST /.well-known/rd?ep=...&proxy=yes
# without payload, and rd-frontend fetches its /.well-known/core through the
# registrant's own path: over its TCP connection (IPv4, IPv6), and for
# comparison through its UDP binding. The fetched links appear in resource
# lookup, and the endpoint is reachable by name from UDP and TCP clients.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"

rt_start_all
n=0
for tr in tcp udp; do
    for fam in 4 6; do
        n=$((n + 1))
        ep=simple$tr$fam
        rr_start "$ep" rr-registrant --rd "$(rd_uri_x $tr $fam /rd)" \
            --listen "$([ $fam == 6 ] && echo '[::1]:0' || echo 127.0.0.1:0)" --ep $ep --simple --lt 600
        if wait_until 30 grep -q '^registered simple' "$T_DIR/$ep.log"; then
            ok "$tr IPv$fam: simple registration with proxy=yes -> 2.04"
        else
            fail "$tr IPv$fam: simple registration was not answered 2.04 within 30 s"
            continue
        fi
        coap -m get "$(rd_uri "/rd-lookup/res?ep=$ep")"
        assert_contains "$PAYLOAD" "/hello>" "$tr IPv$fam: the RD fetched /.well-known/core through the registrant's own path (/hello listed)"
        assert_contains "$PAYLOAD" "/obs>" "$tr IPv$fam: ... /obs listed too"
        coap -m get "$(rd_uri_tcp "/rd-lookup/ep?ep=$ep")"
        assert_match "^coap(\\+tcp)?://$ep\\.proxy\\.localhost\$" "$(lf_attr "$PAYLOAD" base)" \
            "$tr IPv$fam: the simple registration's base is its proxy name"
        for ctr in udp tcp; do
            xcoap $ctr $fam $ep.$RR_DOMAIN -m get /hello
            assert_code 2.05 "$tr IPv$fam registrant: a $ctr client reaches $ep by name"
        done
    done
done
for ep in simpletcp4 simpletcp6; do
    assert_eq 1 "$(reg_count_word $ep connected)" "$ep did it all over one connection"
done

t_done
