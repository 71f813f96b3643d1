#!/usr/bin/env bash
# test_rd_bad_input.sh - every bad input of issue 2 gets its 4.xx with a
# short diagnostic payload and changes nothing (both lookups compared
# before and after each request): missing ep, repeated parameters, bad lt,
# bad ep/d, a payload that is not link-format (4.15), malformed link-format,
# ep/d in an update, a payload over max_payload (4.13, --max-payload 300),
# page without count; and the processes survive all of it.
. "$(dirname "$0")/lib.sh"

RR_EXTRA_ARGS=(--max-payload 300)
rr_start_all

rd_register 'ep=good1&d=dom&et=keep' '</g>;rt=good'
assert_code 2.01 "register good1 -> 2.01"
G=$LOCATION
rd_register 'ep=good2' '</h>;rt=good'
assert_code 2.01 "register good2 -> 2.01"
BASELINE=$(rd_snapshot)

# expect CODE description coap-args...: the request gets CODE with a
# diagnostic, and the store is unchanged afterwards.
expect() {
    local code=$1 what=$2 snap
    shift 2
    coap "$@"
    assert_code "$code" "$what -> $code"
    assert_diagnostic "$what: $code carries a diagnostic"
    snap=$(rd_snapshot)
    if [ "$snap" == "$BASELINE" ]; then
        ok "$what: store unchanged"
    else
        fail "$what: store unchanged"
        diff <(echo "$BASELINE") <(echo "$snap") | sed 's/^/    /'
    fi
}

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

# ---- still alive and serving
rr_alive frontend && ok "rd-frontend survived every bad input" || fail "rd-frontend died"
rr_alive udp && ok "relay-udp survived every bad input" || fail "relay-udp died"
coap -m post "$(rd_uri "$G")"
assert_code 2.04 "a correct update of good1 still succeeds"
rd_register 'ep=good3' '</k>'
assert_code 2.01 "a correct registration still succeeds"

t_done
