#!/usr/bin/env bash
# test_udp_amplify.sh - relay-udp is no traffic amplifier (issue 19, RFC
# 9175 §2.4): an answer to an unverified source is at most 3x its request,
# a larger one is 4.01 with an Echo; the request repeated with that Echo is
# served in full and verifies the source (address and port) for later
# requests; an Echo does not verify another port; RIOT cord_ep's
# GET /.well-known/core?rt=core.rd fits within 3x without a challenge;
# coap-client-notls (libcoap 4.3.1) answers the challenge by itself; and
# amplification_limit = 0 turns it off (for node-coap).
. "$(dirname "$0")/lib.sh"

RAW="python3 $(dirname "$0")/udp_raw.py"
field() { sed -E "s/.*$1=([^ ]*).*/\1/" <<<"$2"; }

rr_start_all

SP=$(rr_free_port) || die "no free port"
out=$($RAW 127.0.0.1 "$RR_PORT" "$SP" NON /.well-known/core)
assert_eq 4.01 "$(field code "$out")" "plain NON GET /.well-known/core from a new source -> 4.01 ($out)"
echo=$(field echo "$out")
assert_eq 16 "${#echo}" "the 4.01 carries an 8-byte Echo"
req=$(field req "$out")
resp=$(field resp "$out")
if [ "$resp" -le $((3 * req)) ]; then
    ok "the challenge ($resp bytes) is at most 3x the request ($req bytes)"
else
    fail "the challenge ($resp bytes) is more than 3x the request ($req bytes)"
fi

out=$($RAW 127.0.0.1 "$RR_PORT" "$SP" NON /.well-known/core "" "$echo")
assert_eq 2.05 "$(field code "$out")" "the request repeated with the Echo -> 2.05 ($out)"
if [ "$(field resp "$out")" -gt $((3 * $(field req "$out"))) ]; then
    ok "the verified source gets the full answer ($(field resp "$out") bytes)"
else
    fail "the full answer is not larger than 3x: the test proves nothing ($out)"
fi
out=$($RAW 127.0.0.1 "$RR_PORT" "$SP" CON /.well-known/core)
assert_eq 2.05 "$(field code "$out")" "a later request from the verified source -> 2.05 without Echo"

SP2=$(rr_free_port) || die "no free port"
out=$($RAW 127.0.0.1 "$RR_PORT" "$SP2" NON /.well-known/core "" "$echo")
assert_eq 4.01 "$(field code "$out")" "another port presenting that Echo is not verified -> 4.01"
out=$($RAW 127.0.0.1 "$RR_PORT" "$SP2" NON /.well-known/core "" 00112233445566ff)
assert_eq 4.01 "$(field code "$out")" "a made-up Echo -> 4.01"

SP3=$(rr_free_port) || die "no free port"
out=$($RAW 127.0.0.1 "$RR_PORT" "$SP3" CON /.well-known/core rt=core.rd)
assert_eq 2.05 "$(field code "$out")" \
    "cord_ep's CON GET /.well-known/core?rt=core.rd from a new source -> 2.05 at once ($out)"
out6=$($RAW ::1 "$RR_PORT" "$SP3" NON /.well-known/core)
assert_eq 4.01 "$(field code "$out6")" "over IPv6 the same: plain discovery -> 4.01"

coap -m get "$(rd_uri /.well-known/core)"
assert_code 2.05 "coap-client-notls answers the Echo itself -> 2.05"
assert_contains "$PAYLOAD" "</rd-lookup/res>" "coap-client-notls gets the whole discovery document"
# -v 8 (debug) shows every PDU, the 4.01 and the repeated request too
dump=$(timeout 10 coap-client-notls -v 8 -B 3 "$(rd_uri /.well-known/core)" 2>&1)
assert_match 't:ACK c:4\.01 [^]]*Echo:0x' "$dump" "coap-client-notls is challenged with 4.01 + Echo"
assert_match 'c:GET [^]]*Echo:0x' "$dump" "coap-client-notls repeats the request with the Echo"
assert_match 't:ACK c:2\.05 [^]]*\] :: .*</rd-lookup/res>' "$dump" "... and then gets the whole document"
log=$(wait_match 5 'amplification limit: answer to unverified' cat "$T_DIR/udp.log")
assert_contains "$log" "replaced by 4.01 + Echo" "the challenge is logged"

# amplification_limit = 0: off
t_stop_all
RR_EXTRA_ARGS=(--amplification-limit 0)
rr_start_all
out=$($RAW 127.0.0.1 "$RR_PORT" "$(rr_free_port)" NON /.well-known/core)
assert_eq 2.05 "$(field code "$out")" "amplification_limit = 0: the full answer at once ($out)"

t_done
