#!/usr/bin/env bash
# test_rd_bad_input.sh - every bad input of issue 2 gets its 4.xx with a
# short diagnostic payload and changes nothing (both lookups compared
# before and after each request): missing ep, repeated parameters, bad lt,
# bad ep/d, a payload that is not link-format (4.15), malformed link-format,
# ep/d in an update, a payload over max_payload (4.13, --max-payload 300),
# page without count; and the processes survive all of it.
# The bad-input table of issue 19 (RD rows) follows: raw datagrams no CoAP
# library sends (tests/e2e/node/raw_send.js: truncated headers, TKL 9-15,
# option delta/length 15, a payload marker with no payload, an unknown
# critical option, Uri-Host bytes that are no host name, a 255-byte
# Uri-Host, Hop-Limit 0) and requests with bad names (ep with '/' as a
# proxy name, NUL, non-UTF-8), lt far above 2^32 and 10,000 links; every
# row asserts its answer and that the other clients' registrations (both
# lookups) are unchanged.
. "$(dirname "$0")/lib.sh"

RR_EXTRA_ARGS=(--max-payload 300)
rr_start_all

rd_register 'ep=good1&d=dom&et=keep' '</g>;rt=good'
assert_code 2.01 "register good1 -> 2.01"
G=$LOCATION
rd_register 'ep=good2' '</h>;rt=good'
assert_code 2.01 "register good2 -> 2.01"
BASELINE=$(rd_snapshot)

# expect CODE description coap-args...: CODE with a diagnostic, nothing changed
expect() { rd_refused "$@"; }

LF=(-t 40 -e '</x>;rt=bad')
LONG64=$(printf 'e%.0s' $(seq 1 64))

# ---- registration parameters
expect 4.00 "registration without ep" -m post "${LF[@]}" "$(rd_uri '/rd?d=dom')"
expect 4.00 "registration without any query" -m post "${LF[@]}" "$(rd_uri /rd)"
expect 4.00 "repeated ep" -m post "${LF[@]}" "$(rd_uri '/rd?ep=bad1&ep=bad2')"
expect 4.00 "repeated lt" -m post "${LF[@]}" "$(rd_uri '/rd?ep=bad1&lt=60&lt=70')"
expect 4.00 "repeated d" -m post "${LF[@]}" "$(rd_uri '/rd?ep=bad1&d=a&d=b')"
expect 4.00 "repeated base" -m post "${LF[@]}" "$(rd_uri '/rd?ep=bad1&base=coap://192.0.2.1&base=coap://192.0.2.2')"
expect 4.00 "non-numeric lt" -m post "${LF[@]}" "$(rd_uri '/rd?ep=bad1&lt=abc')"
expect 4.00 "lt=0" -m post "${LF[@]}" "$(rd_uri '/rd?ep=bad1&lt=0')"
expect 4.00 "lt=4294967296 (out of range)" -m post "${LF[@]}" "$(rd_uri '/rd?ep=bad1&lt=4294967296')"
expect 4.00 "lt=-5" -m post "${LF[@]}" "$(rd_uri '/rd?ep=bad1&lt=-5')"
expect 4.00 "lt=12x" -m post "${LF[@]}" "$(rd_uri '/rd?ep=bad1&lt=12x')"
expect 4.00 "empty lt" -m post "${LF[@]}" "$(rd_uri '/rd?ep=bad1&lt=')"
expect 4.00 "ep of 64 bytes" -m post "${LF[@]}" "$(rd_uri "/rd?ep=$LONG64")"
expect 4.00 "d of 64 bytes" -m post "${LF[@]}" "$(rd_uri "/rd?ep=bad1&d=$LONG64")"
expect 4.00 "ep with a control character" -m post "${LF[@]}" "$(rd_uri '/rd?ep=bad%01x')"
expect 4.00 "empty ep" -m post "${LF[@]}" "$(rd_uri '/rd?ep=')"

# ---- payload
expect 4.15 "text/plain payload" -m post -t 0 -e '</x>' "$(rd_uri '/rd?ep=bad1')"
expect 4.15 "application/json payload" -m post -t 50 -e '{"a":1}' "$(rd_uri '/rd?ep=bad1')"
expect 4.00 "malformed link-format (unclosed <)" -m post -t 40 -e '</x;rt=a' "$(rd_uri '/rd?ep=bad1')"
expect 4.00 "malformed link-format (unterminated quote)" -m post -t 40 -e '</x>;rt="a' "$(rd_uri '/rd?ep=bad1')"
expect 4.00 "malformed link-format (no <target>)" -m post -t 40 -e 'garbage' "$(rd_uri '/rd?ep=bad1')"
BIG="</$(printf 'p%.0s' $(seq 1 400))>"
expect 4.13 "payload over max_payload (${#BIG} > 300 bytes)" -m post -t 40 -e "$BIG" "$(rd_uri '/rd?ep=bad1')"

# ---- updates
expect 4.00 "ep in an update" -m post "$(rd_uri "$G?ep=other")"
expect 4.00 "d in an update" -m post "$(rd_uri "$G?d=other")"
expect 4.00 "bad lt in an update" -m post "$(rd_uri "$G?lt=zero")"
expect 4.00 "lt=0 in an update" -m post "$(rd_uri "$G?lt=0")"
expect 4.00 "repeated lt in an update" -m post "$(rd_uri "$G?lt=5&lt=6")"

# ---- lookups
expect 4.00 "endpoint lookup with page but no count" -m get "$(rd_uri '/rd-lookup/ep?page=1')"
expect 4.00 "resource lookup with page but no count" -m get "$(rd_uri '/rd-lookup/res?page=0')"
expect 4.00 "endpoint lookup with a non-numeric count" -m get "$(rd_uri '/rd-lookup/ep?count=x')"

# ---- names, lifetimes, sizes (issue 19 bad-input table)
expect 4.00 "ep with '/' as a proxy name" -m post "${LF[@]}" "$(rd_uri '/rd?ep=a/b&proxy=yes')"
expect 4.00 "ep with a NUL byte" -m post "${LF[@]}" "$(rd_uri '/rd?ep=bad%00x')"
expect 4.00 "ep that is not UTF-8 (Latin-1 e-acute)" -m post "${LF[@]}" "$(rd_uri '/rd?ep=caf%E9')"
expect 4.00 "d that is not UTF-8 (lone continuation byte)" -m post "${LF[@]}" \
    "$(rd_uri '/rd?ep=bad1&d=x%80')"
expect 4.00 "lt=99999999999 (far above 2^32)" -m post "${LF[@]}" "$(rd_uri '/rd?ep=bad1&lt=99999999999')"
LINKS10K=$T_DIR/links10k
for ((i = 0; i < 10000; i++)); do printf '</%d>,' "$i"; done | sed 's/,$//' >"$LINKS10K"
expect 4.13 "a registration with 10,000 links ($(wc -c <"$LINKS10K") bytes, Block1)" -m post -t 40 \
    -b 1024 -f "$LINKS10K" "$(rd_uri '/rd?ep=bad1')"

# ---- raw datagrams: description | expected answer | hex (message id
# replaced per row by raw_send.js). "none": no answer at all.
hx() { printf '%s' "$1" | od -v -An -tx1 | tr -d ' \n'; }
WKC="bb$(hx .well-known)04$(hx core)"    # Uri-Path .well-known, core
HOST255=$(printf 'a%.0s' $(seq 1 239)).proxy.localhost
RAW_ROWS=(
    "truncated header (2 bytes)|none|4001"
    "truncated header (3 bytes)|none|400112"
    "TKL 9|RST|49011234$(printf '%018d' 0)"
    "TKL 15|RST|4f011234$(printf '%030d' 0)"
    "option delta 15 without a payload marker|RST|40011234f0"
    "option length 15|RST|40011234bf"
    "option delta 14 with a truncated extension|RST|40011234e0ff"
    "payload marker with no payload|RST|40011234${WKC}ff"
    "unknown critical option 65013 to the RD|4.02|40011234${WKC}e1fcdd01"
    "Uri-Host with a control byte and 0xff|4.00|4001123435$(hx $'\x01')ff2e6578${WKC/#bb/8b}"
    "Uri-Host with a blank|4.00|400112343b$(hx 'a b.example')${WKC/#bb/8b}"
    "255-byte Uri-Host|5.05|400112343df2$(hx "$HOST255")${WKC/#bb/8b}"
    "Hop-Limit 0 to the RD (elective: ignored by an origin)|2.05|40011234${WKC}4a$(hx 'rt=core.rd')1100"
)
# (the Hop-Limit row asks ?rt=core.rd: its answer stays within 3x of the
# request, so this raw client, which cannot answer an Echo, gets it; RFC 9175)
for row in "${RAW_ROWS[@]}"; do
    IFS='|' read -r what want hex <<<"$row"
    got=$(node "$RDRELAY_SRC/tests/e2e/node/raw_send.js" "$RR_PORT" "$hex")
    case "$want" in
        none | RST) [ "$got" == "$want" ] ;;
        *) [[ "$got" == "ACK $want"* ]] ;;
    esac && ok "raw: $what -> $want" || fail "raw: $what -> $want (got: ${got:0:120})"
    if [[ "$want" == [45].* ]]; then
        [ ${#got} -gt 9 ] && ok "raw: $what: $want carries a diagnostic" ||
            fail "raw: $what: $want carries a diagnostic (got: $got)"
    fi
    rd_unchanged "raw: $what"
done

# ---- still alive and serving
rr_alive frontend && ok "rd-frontend survived every bad input" || fail "rd-frontend died"
rr_alive udp && ok "relay-udp survived every bad input" || fail "relay-udp died"
coap -m post "$(rd_uri "$G")"
assert_code 2.04 "a correct update of good1 still succeeds"
rd_register 'ep=good3' '</k>'
assert_code 2.01 "a correct registration still succeeds"

t_done
