#!/usr/bin/env bash
# test_relay_limits.sh - relay-side rate limits (issue 19): proxied requests
# per source (IPv4 address) and per endpoint name are token buckets; over a
# bucket a request gets 5.03 with Max-Age, a log line and a counter in
# rdrelayctl status, while another source (127.0.0.2), or another
# endpoint, is served normally. Rates of 1/s with a burst of 3 and 8
# requests in a row: at least one finds the bucket empty unless the 8
# take more than 5 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

CTL=$RDRELAY_BIN/rdrelayctl
status_json() { "$CTL" --state-dir "$T_STATE" --timeout-ms 3000 status --json 2>/dev/null; }
relay_counter() {
    status_json | tr -d ' \n' | grep -oE "\"name\":\"udp\"[^]]*" |
        grep -oE "\"$1\":[0-9]+" | head -n 1 | cut -d: -f2
}
counter_positive() { [ "$(relay_counter "$1")" -gt 0 ] 2>/dev/null; }

# 8 GETs of /hello at NAME from this host; sets OKS and LIMITED (5.03 +
# Max-Age) counts and the first code
burst() {
    local name=$1 i
    OKS=0 LIMITED=0 FIRST=""
    for ((i = 0; i < 8; i++)); do
        pcoap "$name.$RR_DOMAIN" -m get /hello
        [ -z "$FIRST" ] && FIRST=$CODE
        if [ "$CODE" == 2.05 ]; then
            OKS=$((OKS + 1))
        elif [ "$CODE" == 5.03 ] && [[ "$RESP" == *Max-Age:* ]]; then
            LIMITED=$((LIMITED + 1))
        fi
    done
}

# ---- per source
RR_EXTRA_ARGS=(--proxy-rate-source 1 --proxy-burst-source 3 --proxy-rate-endpoint 0)
rr_start_all
reg_start alice --ep alice
burst alice
assert_eq 2.05 "$FIRST" "per source: the first request goes through"
[ "$LIMITED" -ge 1 ] && ok "per source: $LIMITED of 8 got 5.03 with Max-Age ($OKS went through)" ||
    fail "per source: no 5.03 with Max-Age among 8 requests at 1/s, burst 3 ($OKS went through)"
[ "$OKS" -le 7 ] && [ "$OKS" -ge 3 ] && ok "per source: the burst of 3 went through ($OKS)" ||
    fail "per source: $OKS of 8 went through"
coap -a 127.0.0.2 -O "3,alice.$RR_DOMAIN" -m get "$(rd_uri /hello)"
assert_code 2.05 "another source (127.0.0.2) is served meanwhile"
coap -m get "$(rd_uri /.well-known/core?rt=core.rd)"
assert_code 2.05 "the RD is not rate limited by the proxy limit"
log=$(wait_match 5 'rate limit per source' cat "$T_DIR/udp.log")
assert_contains "$log" "-> 5.03 Max-Age" "the limit hit is logged"
wait_until 15 counter_positive limit_rate_source
assert_ne "" "$(relay_counter limit_rate_source)" "rdrelayctl status counts limit_rate_source"
assert_ne 0 "$(relay_counter limit_rate_source)" "... and it is not 0"
t_stop_all

# ---- per endpoint
RR_EXTRA_ARGS=(--proxy-rate-source 0 --proxy-rate-endpoint 1 --proxy-burst-endpoint 3)
rr_start_all
reg_start alice --ep alice
reg_start bob --ep bob
burst alice
[ "$LIMITED" -ge 1 ] && ok "per endpoint: $LIMITED of 8 to alice got 5.03 with Max-Age" ||
    fail "per endpoint: no 5.03 among 8 requests to alice at 1/s, burst 3"
coap -a 127.0.0.2 -O "3,alice.$RR_DOMAIN" -m get "$(rd_uri /hello)"
assert_code 5.03 "per endpoint: another source is limited for alice too"
pcoap "bob.$RR_DOMAIN" -m get /hello
assert_code 2.05 "another endpoint (bob) is served meanwhile"
wait_until 15 counter_positive limit_rate_endpoint
assert_ne 0 "$(relay_counter limit_rate_endpoint)" "rdrelayctl status counts limit_rate_endpoint"

t_done
