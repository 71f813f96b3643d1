#!/usr/bin/env bash
# test_xport_options.sh - OSCORE (option 9) and EDHOC (option 21) pass the
# UDP proxy byte-identical (BRIEF §3.3): both are critical, safe to forward,
# and a plugtest's protected messages break if a proxy touches them. The
# registrant fixture registers 9 and 21 as known options, so its /echo shows
# them exactly as they arrived; the same request sent directly shows the
# same option list (apart from Uri-Port and Hop-Limit). The TCP and
# cross-transport pairs check the same options in xport_suite (lib_tcp.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

px_start_alice

# An OSCORE option as RFC 8613 §6.1 builds it: flag byte (h=1, k=1, n=1 ->
# 0x19), Partial IV 0x05, kid context length 2 + "ab", kid 0x2a.
oscore=0x1905026162
printf '\x44\x01\x5d\x1f\x00\x39\x74\x39\x6c' >"$T_DIR/ct.bin" # opaque "ciphertext"
ct_hex=$(od -An -v -tx1 "$T_DIR/ct.bin" | tr -d ' \n')

for fam in 4 6; do
    p=pcoap
    [ $fam == 6 ] && p=pcoap6
    $p $H -m post -f "$T_DIR/ct.bin" -O "9,$oscore" -O 21, /echo
    assert_code 2.01 "IPv$fam: POST with OSCORE and EDHOC options -> 2.01 (not 4.02)"
    assert_eq 1905026162 "$(echo_opt "$PAYLOAD" 9)" "IPv$fam: OSCORE (9) arrives byte-identical"
    assert_eq "opt:21:" "$(grep -E '^opt:21:' <<<"$PAYLOAD")" "IPv$fam: EDHOC (21, empty) arrives byte-identical"
    assert_eq "$ct_hex" "$(echo_field "$PAYLOAD" payload)" "IPv$fam: the protected payload arrives byte-identical"
done

# An OSCORE value at its largest useful size and with every byte value.
long=$(for i in $(seq 0 39); do printf '%02x' $(((i * 37 + 255) % 256)); done)
pcoap $H -m get -O "9,0x$long" /echo
assert_code 2.05 "GET with a 40-byte OSCORE option -> 2.05"
assert_eq "$long" "$(echo_opt "$PAYLOAD" 9)" "a 40-byte OSCORE value arrives byte-identical"

# Option order and values as seen directly and through the relay.
pcoap $H -m post -f "$T_DIR/ct.bin" -O "9,$oscore" -O 21, -O 4,0x01 /echo
opts_proxied=$(grep -E '^opt:' <<<"$PAYLOAD" | grep -vE '^opt:(7|16):')
coap -m post -f "$T_DIR/ct.bin" -O "9,$oscore" -O 21, -O 4,0x01 "$(reg_uri alice /echo)"
opts_direct=$(grep -E '^opt:' <<<"$PAYLOAD" | grep -vE '^opt:(7|16):')
assert_eq "$opts_direct" "$opts_proxied" "the endpoint sees the same options via the relay as directly"

# OSCORE with Block2 (an OSCORE server's large answer is block-wise outside).
pcoap $H -m get -b 64 -O "9,$oscore" /large
assert_code 2.05 "GET /large with OSCORE in 64-byte blocks -> 2.05"
"$RDRELAY_BIN/rr-registrant" --print-large >"$T_DIR/large.expected"
cmp -s "$T_DIR/coap.body" "$T_DIR/large.expected" && ok "/large with OSCORE on every block is byte-identical" ||
    fail "/large with OSCORE differs"

t_done
