#!/usr/bin/env bash
# test_xport_blockwise.sh - block-wise transfers across transports (issue 15
# item 4; common/blockwise.h, docs/architecture.md "Block-wise across
# transports"): a UDP client fetches every block of a body that a TCP
# registrant sends whole, sees an ETag change between blocks, uploads with
# Block1 to a TCP origin that wants the body whole; a TCP client's body
# larger than a datagram reaches a UDP registrant in Block1 blocks, or gets
# 4.13 with Size1 when the registrant refuses block-wise.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"

rt_start_all
# a minimal TCP origin: no block-wise support at all (libcoap's off)
treg_start tmin --ep tmin --no-block
H=tmin.proxy.localhost

"$RDRELAY_BIN/rr-registrant" --print-whole 1 >"$T_DIR/whole1"
"$RDRELAY_BIN/rr-registrant" --print-whole 2 >"$T_DIR/whole2"

# the reference: a TCP client through rdrelay-tcp gets the body whole
xcoap tcp 4 $H -m get /whole
assert_code 2.05 "TCP client: GET /whole -> 2.05"
cp "$T_DIR/coap.body" "$T_DIR/whole.tcp" 2>/dev/null || : >"$T_DIR/whole.tcp"
cmp -s "$T_DIR/whole.tcp" "$T_DIR/whole1" && ok "TCP client gets the 3000-byte body" ||
    fail "TCP client's body differs from the origin's"

# 1. UDP client, Block2 of an unblocked 3000-byte answer
xcoap udp 4 $H -m get /whole
assert_code 2.05 "UDP client: GET /whole -> 2.05 (every block served)"
cmp -s "$T_DIR/coap.body" "$T_DIR/whole.tcp" &&
    ok "UDP client's body is byte-identical to the TCP client's" ||
    fail "UDP client's body differs ($(wc -c <"$T_DIR/coap.body" 2>/dev/null) bytes)"
blocks=$(grep -cE '^v:1 t:ACK c:2\.05 .*Block2' "$T_DIR/coap.out")
[ "$blocks" -ge 3 ] && ok "/whole came in $blocks Block2 answers" ||
    fail "/whole came in $blocks Block2 answers, expected at least 3"

# the client's own block size (64 bytes: 47 blocks)
xcoap udp 4 $H -m get -b 64 /whole
assert_code 2.05 "UDP client: GET /whole in 64-byte blocks -> 2.05"
cmp -s "$T_DIR/coap.body" "$T_DIR/whole.tcp" && ok "64-byte blocks are byte-identical" ||
    fail "64-byte blocks differ"

# IPv6 too
xcoap udp 6 $H -m get /whole
assert_code 2.05 "UDP client over IPv6: GET /whole -> 2.05"
cmp -s "$T_DIR/coap.body" "$T_DIR/whole.tcp" && ok "IPv6: byte-identical" || fail "IPv6: body differs"

# a POST whose answer is larger than a datagram runs once at the origin:
# the later blocks come from the relay's copy of that answer
xcoap udp 4 $H -m post -e run-once /whole
assert_code 2.05 "UDP client: POST /whole (3000-byte answer) -> 2.05"
cmp -s "$T_DIR/coap.body" "$T_DIR/whole1" && ok "POST answer: all 3000 bytes" ||
    fail "POST answer differs ($(wc -c <"$T_DIR/coap.body" 2>/dev/null) bytes)"
xcoap tcp 4 $H -m get /count
assert_eq "count 1" "$PAYLOAD" "the origin ran the POST once, not once per block"

# 2. the representation changes between block 0 and block 1: each block
# carries the origin's ETag of that moment, so the client sees the change
# (RFC 7959 §2.4), starts over, and gets every block of the new version
# (a new source's first large answer is challenged with 4.01 + Echo, RFC
# 9175, and the repeat would make the origin move on one version: verify
# this client's port first, then fetch from it)
VP=$(rr_free_port) || die "no free port"
xcoap udp 4 $H -p "$VP" -m get /whole
assert_code 2.05 "UDP client on a fixed port: verified with one GET /whole"
COAP_TIMEOUT=3 xcoap udp 4 $H -p "$VP" -m get /whole-changing
grep -E '^v:1 t:ACK c:2\.05 ' "$T_DIR/coap.out" | sed -E 's/ :: .*//' >"$T_DIR/changing.hdr"
assert_match 'ETag:0x7631.*Block2:0/M/1024' "$(sed -n 1p "$T_DIR/changing.hdr")" "block 0 carried ETag v1"
assert_match 'ETag:0x7632' "$(sed -n 2p "$T_DIR/changing.hdr")" "the next block carried the changed ETag v2"
assert_contains "$(cat "$T_DIR/coap.out" "$T_DIR/coap.err")" "Data body updated during receipt" \
    "the client noticed the change and started over"
assert_match 'ETag:0x7632.*Block2:2/_/1024' "$(tail -n 1 "$T_DIR/changing.hdr")" \
    "the new version's last block (2) arrived under ETag v2"
[ "$(grep -c 'ETag:0x7632.*Block2:1/M/1024' "$T_DIR/changing.hdr")" -ge 1 ] &&
    ok "block 1 of the new version arrived" || fail "block 1 of the new version missing"

# 3. UDP client uploads 3000 bytes with Block1 to a TCP origin that knows
# nothing of block-wise: the relay collects the blocks (2.31 Continue) and
# forwards the body whole
head -c 3000 "$T_DIR/whole1" >"$T_DIR/up.bin"
want_hash=$(python3 -c 'import sys
h=0xcbf29ce484222325
for b in open(sys.argv[1],"rb").read():
    h^=b; h=(h*0x100000001b3)&0xffffffffffffffff
print("%016x"%h)' "$T_DIR/up.bin")
xcoap udp 4 $H -m post -b 1024 -f "$T_DIR/up.bin" /sink
assert_code 2.04 "UDP client: POST /sink with Block1 -> 2.04"
assert_contains "$PAYLOAD" "len:3000 fnv1a64:$want_hash" "the TCP origin received the whole body"
assert_match 'Block1:2/_/1024' "$RESP" "the final answer names the last block (Block1 2, RFC 7959 §2.3)"
xcoap udp 4 $H -m post -b 256 -f "$T_DIR/up.bin" /sink
assert_code 2.04 "UDP client: POST /sink in 256-byte Block1 blocks -> 2.04"
assert_contains "$PAYLOAD" "len:3000 fnv1a64:$want_hash" "256-byte blocks: whole body arrived"

# a block-aware TCP origin (libcoap's own Block2 sizes): the same bytes
treg_start tblk --ep tblk
"$RDRELAY_BIN/rr-registrant" --print-large >"$T_DIR/large.expected"
xcoap udp 4 tblk.proxy.localhost -m get -b 512 /large
assert_code 2.05 "UDP client: GET /large (block-aware TCP origin) in 512-byte blocks -> 2.05"
cmp -s "$T_DIR/coap.body" "$T_DIR/large.expected" && ok "/large is byte-identical" ||
    fail "/large differs"

# 4. TCP client POSTs 3000 bytes (one message) to a UDP registrant
reg_start ublk --ep ublk
xcoap tcp 4 ublk.proxy.localhost -m post -f "$T_DIR/up.bin" /sink
assert_code 2.04 "TCP client: POST 3000 bytes to a UDP registrant -> 2.04"
assert_contains "$PAYLOAD" "len:3000 fnv1a64:$want_hash" "the UDP registrant received the whole body (Block1)"
xcoap tcp 6 ublk.proxy.localhost -m post -f "$T_DIR/up.bin" /echo
assert_code 2.01 "TCP client over IPv6: POST 3000 bytes to /echo -> 2.01"
assert_contains "$PAYLOAD" "len:3000" "/echo saw 3000 bytes"

# ... and to a UDP registrant that refuses block-wise: 4.13 with Size1
reg_start unob --ep unob --no-block
xcoap tcp 4 unob.proxy.localhost -m post -f "$T_DIR/up.bin" /sink
assert_code 4.13 "TCP client: POST 3000 bytes to a block-refusing UDP registrant -> 4.13"
assert_match 'Size1:[0-9]+' "$RESP" "the 4.13 carries Size1"

# 5. the bound: relay-udp restarted with block_body_max 2048
rr_stop udp
rr_start_udp --block-body-max 2048
rr_wait_ready
_routes_back() {
    xcoap udp 4 $H -m get /hello
    [ "$CODE" == 2.05 ]
}
wait_until 20 _routes_back || fail "relay-udp did not serve tmin again after its restart"
# and relay-tcp's DEALER to the restarted relay-udp reconnects on its own
# time (ZMQ_IMMEDIATE: until then a forwarded request gets 5.02)
_tcp_to_udp_back() {
    xcoap tcp 4 ublk.proxy.localhost -m get /hello
    [ "$CODE" == 2.05 ]
}
wait_until 20 _tcp_to_udp_back || fail "relay-tcp did not reach relay-udp again after its restart"
xcoap udp 4 $H -m post -b 1024 -f "$T_DIR/up.bin" /sink
assert_code 4.13 "UDP client: 3000-byte Block1 upload over block_body_max 2048 -> 4.13"
assert_match 'Size1:2048' "$RESP" "the 4.13 carries Size1 2048"
xcoap tcp 4 ublk.proxy.localhost -m post -f "$T_DIR/up.bin" /sink
assert_code 4.13 "TCP client: 3000 bytes for a UDP registrant over block_body_max 2048 -> 4.13"
assert_match 'Size1:2048' "$RESP" "the 4.13 carries Size1 2048"
t_done
