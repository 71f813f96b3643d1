#!/usr/bin/env bash
# test_proxy_methods.sh - name-based reverse proxying over UDP (issue 11,
# BRIEF §3.3) seen by coap-client-notls: a registrant (rr-registrant, which
# registers with proxy=yes from the socket it serves on) is reached through
# rdrelay with Uri-Host <ep>.proxy.localhost. GET/PUT/POST/DELETE, Block2
# and Block1 passing through unchanged, every option but Uri-Host/Uri-Port
# and the payload arriving byte-identical (checked with the fixture's /echo),
# Hop-Limit added, IPv6 clients, a sector name, and RIOT's upper-case
# endpoint name with proxy=on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

px_start_alice

# ---------------------------------------------------------------- methods

pcoap $H -m get /hello
assert_code 2.05 "GET /hello via $H -> 2.05"
assert_eq hello "$PAYLOAD" "GET /hello payload through the relay"
assert_contains "$RESP" "Content-Format:text/plain" "Content-Format of the answer passes"

pcoap $H -m put -e put-body /echo
assert_code 2.04 "PUT /echo -> 2.04"
assert_eq 0.03 "$(echo_field "$PAYLOAD" code)" "the endpoint saw a PUT"
assert_eq "$(printf put-body | od -An -v -tx1 | tr -d ' \n')" "$(echo_field "$PAYLOAD" payload)" \
    "the PUT body arrived unchanged"

pcoap $H -m post -e post-body /echo
assert_code 2.01 "POST /echo -> 2.01"
assert_eq 0.02 "$(echo_field "$PAYLOAD" code)" "the endpoint saw a POST"

pcoap $H -m delete /echo
assert_code 2.02 "DELETE /echo -> 2.02"
assert_eq 0.04 "$(echo_field "$PAYLOAD" code)" "the endpoint saw a DELETE"

pcoap $H -m get /no-such-resource
assert_code 4.04 "GET of a resource the endpoint lacks -> the endpoint's 4.04"

# NON requests are forwarded as NON (the answer comes back as NON).
pcoap $H -N -m get /hello
assert_code 2.05 "NON GET /hello -> 2.05"
assert_match '^v:1 t:NON ' "$RESP" "a NON request gets a NON answer"

# ---------------------------------------------------------------- options and payload

# Uri-Host and Uri-Port are removed; Hop-Limit is added; everything else,
# including an unregistered safe-to-forward option (65000: elective, safe;
# experimental range) with a binary value, ETag and Accept, arrives
# byte-identical, in order, as does a binary payload.
px_post_options $H
assert_code 2.01 "POST /echo with extra options -> 2.01"
assert_eq "$(echo_opt "$PAYLOAD" 11)" "6563686f" "Uri-Path arrives unchanged"

# The same request sent directly: the option list the endpoint sees differs
# only in Uri-Port (7) and Hop-Limit (16).
opts_proxied=$(grep -E '^opt:' <<<"$PAYLOAD" | grep -vE '^opt:(7|16):')
coap -m post -f "$T_DIR/bin.dat" "${PX_ECHO_OPTS[@]}" "$(reg_uri alice "$PX_ECHO_PATH")"
opts_direct=$(grep -E '^opt:' <<<"$PAYLOAD" | grep -vE '^opt:(7|16):')
assert_eq "$opts_direct" "$opts_proxied" "options seen via the relay == options seen directly"

# A 500-byte option value passes too (long option encoding).
long=$(head -c 500 /dev/zero | tr '\0' 'a' | od -An -v -tx1 | tr -d ' \n')
pcoap $H -m get -O "65000,0x$long" /echo
assert_code 2.05 "GET /echo with a 500-byte safe option -> 2.05"
assert_eq "$long" "$(echo_opt "$PAYLOAD" 65000)" "a 500-byte option value arrives unchanged"

# ---------------------------------------------------------------- block-wise

"$RDRELAY_BIN/rr-registrant" --print-large >"$T_DIR/large.expected"
pcoap $H -m get /large
assert_code 2.05 "GET /large (Block2) -> 2.05"
cmp -s "$T_DIR/coap.body" "$T_DIR/large.expected" && ok "/large reassembled through the relay is byte-identical ($(wc -c <"$T_DIR/large.expected") bytes)" ||
    fail "/large through the relay differs from the endpoint's body"
assert_contains "$RESP" "Block2:" "the last answer carried Block2 (block-wise, not reassembled by the relay)"
blocks=$(grep -cE '^v:1 t:ACK c:2\.05 .*Block2:' "$T_DIR/coap.out")
if [ "$blocks" -ge 3 ]; then
    ok "/large came as $blocks Block2 answers"
else
    fail "/large came as $blocks Block2 answers, expected at least 3"
fi

pcoap $H -m get -b 64 /large
assert_code 2.05 "GET /large with client-chosen 64-byte blocks -> 2.05"
cmp -s "$T_DIR/coap.body" "$T_DIR/large.expected" && ok "/large in 64-byte blocks is byte-identical" ||
    fail "/large in 64-byte blocks differs"
assert_contains "$(grep -m1 -E '^v:1 t:ACK c:2\.05' "$T_DIR/coap.out")" "Block2:0/M/64" \
    "the client's block size (SZX) reached the endpoint and came back"

head -c 5000 /dev/urandom >"$T_DIR/upload.bin"
pcoap $H -m put -b 256 -f "$T_DIR/upload.bin" /echo
assert_code 2.04 "PUT 5000 bytes to /echo in 256-byte Block1 blocks -> 2.04"
assert_eq 5000 "$(echo_field "$PAYLOAD" len)" "the endpoint reassembled all 5000 bytes"
assert_eq "$(fnv1a64 "$T_DIR/upload.bin")" "$(echo_field "$PAYLOAD" fnv1a64)" \
    "the uploaded body arrived byte-identical (FNV-1a 64)"
# coap-client prints every block only at -v 7: count the Block1 requests
# it sent and the 2.31 Continue answers that came back through the relay.
timeout 30 coap-client-notls -v 7 -B 10 -b 256 -m put -f "$T_DIR/upload.bin" -O "3,$H" \
    "$(rd_uri /echo)" >"$T_DIR/block1.out" 2>&1
px_assert_block1 "$T_DIR/block1.out" ACK

# ---------------------------------------------------------------- IPv6, names

pcoap6 $H -m get /hello
assert_code 2.05 "GET /hello via the relay's IPv6 address (IPv4 registrant) -> 2.05"
assert_eq hello "$PAYLOAD" "IPv6 client gets the IPv4 registrant's /hello"

pcoap ALICE.Proxy.LocalHost -m get /hello
assert_code 2.05 "Uri-Host in other letter case reaches the same endpoint"

reg_start bob6 --ep bob --d lab --rd "coap://[::1]:$RR_PORT/rd" --listen '[::1]:0'
pcoap bob.lab.$RR_DOMAIN -m get /hello
assert_code 2.05 "IPv6 registrant with sector: bob.lab.$RR_DOMAIN via IPv4 -> 2.05"
pcoap6 bob.lab.$RR_DOMAIN -m get /echo
assert_code 2.05 "bob.lab.$RR_DOMAIN via IPv6 -> 2.05"
pcoap bob.$RR_DOMAIN -m get /hello
assert_code 5.05 "bob without his sector is not a registered name -> 5.05"

# RIOT cord_ep: upper-case default name, proxy=on.
reg_start riot --ep RIOT-0123ABCD --proxy on
pcoap riot-0123abcd.$RR_DOMAIN -m get /hello
assert_code 2.05 "RIOT-0123ABCD registered with proxy=on is reachable as riot-0123abcd.$RR_DOMAIN"
assert_eq hello "$PAYLOAD" "riot-0123abcd answers its own /hello"
rd_lookup_ep "ep=RIOT-0123ABCD"
assert_contains "$PAYLOAD" 'base="coap://riot-0123abcd.proxy.localhost"' \
    "endpoint lookup shows base coap://riot-0123abcd.$RR_DOMAIN"

# The registration came from the very socket the registrant serves on.
rport=$(reg_port alice)
socks=$(ss -Huanp | grep -c "127.0.0.1:$rport ")
assert_eq 2 "$socks" "alice has two sockets on port $rport (the server and the RD session)"
assert_contains "$(ss -Huanp | grep "127.0.0.1:$rport ")" "127.0.0.1:$RR_PORT" \
    "alice's RD session is bound to its serving port $rport and connected to the relay"

t_done
