#!/usr/bin/env bash
# test_relay_limits.sh - relay-side rate limits (issue 19): proxied requests
# per source (IPv4 address) and per endpoint name are token buckets; over a
# bucket a request gets 5.03 with Max-Age, a log line and a counter in
# rdrelayctl status, while another source (127.0.0.2), or another
# endpoint, is served normally. Rates of 1/s with a burst of 3 and 8
# requests in a row: at least one finds the bucket empty unless the 8
# take more than 5 s.
# Connections per source (max_conns_per_source 3, relay-tcp): with three
# held open from 127.0.0.1 a fourth gets our CSM, then Abort 7.05 with the
# diagnostic, then EOF; 127.0.0.2 is served meanwhile; once one of the
# three closes, 127.0.0.1 is served again.
# Exchanges in flight per source (max_inflight_per_source 2, relay-udp):
# with two requests from 127.0.0.1 waiting upstream (/slow) a third gets
# 5.03 with the diagnostic while 127.0.0.2 is served.
# Exchanges in flight per endpoint (max_inflight_per_endpoint 2,
# relay-udp): with two /slow requests waiting at alice, a third for alice
# from another source gets 5.03 with Max-Age 1 while bob is served.
# Observations per client (max_observe_per_client 1, relay-udp): while
# 127.0.0.1 observes /obs, its second GET /obs with Observe 0 is answered
# without Observe (forwarded as a plain GET), while 127.0.0.2 can observe.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"

CTL=$RDRELAY_BIN/rdrelayctl
status_json() { "$CTL" --state-dir "$T_STATE" --timeout-ms 3000 status --json 2>/dev/null; }
# relay_counter COUNTER [RELAY]: that relay's (default udp) counter
relay_counter() {
    status_json | tr -d ' \n' | grep -oE "\"name\":\"${2:-udp}\"[^]]*" |
        grep -oE "\"$1\":[0-9]+" | head -n 1 | cut -d: -f2
}
counter_positive() { [ "$(relay_counter "$1" "${2:-udp}")" -gt 0 ] 2>/dev/null; }
counter_is() { [ "$(relay_counter "$1" "$3")" == "$2" ]; }

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
t_stop_all

# ---- connections per source (TCP)
RR_EXTRA_ARGS=() RR_PORT=""
rt_start_all --max-conns-per-source 3
# the readiness probes' connections are gone first
wait_until 15 counter_is connections 0 tcp || fail "relay-tcp still counts connections after the probes"
exec 5<>"/dev/tcp/127.0.0.1/$RR_PORT" 6<>"/dev/tcp/127.0.0.1/$RR_PORT" 7<>"/dev/tcp/127.0.0.1/$RR_PORT"
wait_until 15 counter_is connections 3 tcp || fail "relay-tcp does not count the 3 held connections"
timeout 10 bash -c "cat </dev/tcp/127.0.0.1/$RR_PORT" >"$T_DIR/fourth.bin"
rc=$?
assert_eq 0 "$rc" "per source: the fourth connection is closed by relay-tcp (EOF, no timeout)"
# CSM (0xe1) first, then Abort: code 7.05 = 0xe5, diagnostic as payload
hex=$(od -An -tx1 -v "$T_DIR/fourth.bin" | tr -d ' \n')
[[ "$hex" == *e5ff* ]] && ok "per source: the fourth got Abort 7.05" ||
    fail "per source: no Abort 7.05 in what the fourth connection got ($hex)"
assert_contains "$(tr -c '[:print:]' . <"$T_DIR/fourth.bin")" "too many connections from this source" \
    "per source: the Abort says why"
coap -a 127.0.0.2 -m get "$(rd_uri_tcp /.well-known/core)"
assert_code 2.05 "per source: another source (127.0.0.2) is served over TCP meanwhile"
exec 5>&-
wait_until 15 counter_is connections 2 tcp || fail "relay-tcp does not see the closed connection"
coap -m get "$(rd_uri_tcp /.well-known/core)"
assert_code 2.05 "per source: after one of the three closed, 127.0.0.1 is served again"
exec 6>&- 7>&-
log=$(wait_match 5 'connection from 127.0.0.1:[0-9]* refused, more than 3' cat "$T_DIR/tcp.log")
assert_contains "$log" "refused" "per source: the refusal is logged"
wait_until 15 counter_positive limit_conns_source tcp
assert_ne 0 "$(relay_counter limit_conns_source tcp)" "rdrelayctl status counts limit_conns_source"
t_stop_all

# ---- exchanges in flight per source (UDP)
RR_EXTRA_ARGS=(--max-inflight-per-source 2) RR_PORT=""
rr_start_all
reg_start alice --ep alice
coap_bg "$T_DIR/slow1" -B 60 -O "3,alice.$RR_DOMAIN" "$(rd_uri '/slow?ms=30000')"
coap_bg "$T_DIR/slow2" -B 60 -O "3,alice.$RR_DOMAIN" "$(rd_uri '/slow?ms=30000')"
wait_until 15 counter_is exchanges_down 2 udp || fail "relay-udp does not hold the 2 slow exchanges"
pcoap "alice.$RR_DOMAIN" -m get /hello
assert_code 5.03 "in flight per source: a third request from 127.0.0.1 gets 5.03"
assert_contains "$(cat "$T_DIR/coap.body" 2>/dev/null)$RESP$(cat "$T_DIR/coap.out")" \
    "too many requests in flight from this source" "in flight per source: ... saying why"
coap -a 127.0.0.2 -O "3,alice.$RR_DOMAIN" -m get "$(rd_uri /hello)"
assert_code 2.05 "in flight per source: another source (127.0.0.2) is served meanwhile"
log=$(wait_match 5 'more than 2 exchanges in flight' cat "$T_DIR/udp.log")
assert_contains "$log" "5.03" "in flight per source: the hit is logged"
wait_until 15 counter_positive limit_inflight_source udp
assert_ne 0 "$(relay_counter limit_inflight_source udp)" "rdrelayctl status counts limit_inflight_source"
t_stop_all

# ---- exchanges in flight per endpoint (UDP)
RR_EXTRA_ARGS=(--max-inflight-per-endpoint 2) RR_PORT=""
rr_start_all
reg_start alice --ep alice
reg_start bob --ep bob
coap_bg "$T_DIR/eslow1" -B 60 -O "3,alice.$RR_DOMAIN" "$(rd_uri '/slow?ms=30000')"
coap_bg "$T_DIR/eslow2" -B 60 -O "3,alice.$RR_DOMAIN" "$(rd_uri '/slow?ms=30000')"
wait_until 15 counter_is exchanges_up 2 udp || fail "relay-udp does not hold the 2 slow exchanges to alice"
coap -a 127.0.0.2 -O "3,alice.$RR_DOMAIN" -m get "$(rd_uri /hello)"
assert_code 5.03 "in flight per endpoint: a third request for alice (another source) gets 5.03"
[[ "$RESP" == *Max-Age:1* ]] || [[ "$(cat "$T_DIR/coap.out")" == *"Max-Age:1"* ]] &&
    ok "in flight per endpoint: ... with Max-Age 1" || fail "in flight per endpoint: no Max-Age 1 ($RESP)"
assert_contains "$(cat "$T_DIR/coap.body" 2>/dev/null)$RESP$(cat "$T_DIR/coap.out")" \
    "too many requests in flight to this endpoint" "in flight per endpoint: ... saying why"
pcoap "bob.$RR_DOMAIN" -m get /hello
assert_code 2.05 "in flight per endpoint: another endpoint (bob) is served meanwhile"
log=$(wait_match 5 'more than 2 exchanges in flight to it' cat "$T_DIR/udp.log")
assert_contains "$log" "alice" "in flight per endpoint: the hit is logged"
wait_until 15 counter_positive limit_inflight_endpoint udp
assert_ne 0 "$(relay_counter limit_inflight_endpoint udp)" "rdrelayctl status counts limit_inflight_endpoint"
t_stop_all

# ---- observations per client (UDP)
RR_EXTRA_ARGS=(--max-observe-per-client 1) RR_PORT=""
rr_start_all
reg_start alice --ep alice --obs-interval 500
# the relay serves alice first (a request right after the registration can
# find the route before its path: 5.02 "no socket", see the report)
_alice_ok() { pcoap "alice.$RR_DOMAIN" -m get /hello && [ "$CODE" == 2.05 ]; }
wait_until 15 _alice_ok || fail "relay-udp does not serve alice"
coap_bg "$T_DIR/obs1" -B 40 -s 30 -O "3,alice.$RR_DOMAIN" "$(rd_uri /obs)"
_notified() { [ "$(grep -cE '^v:1 t:(CON|NON) c:2\.05 .*Observe:' "$T_DIR/obs1")" -ge 1 ]; }
wait_until 15 _notified || fail "the first observation from 127.0.0.1 gets no notification"
coap_bg "$T_DIR/obs2" -B 10 -s 2 -O "3,alice.$RR_DOMAIN" "$(rd_uri /obs)"
wait "$BG_PID"
second=$(grep -E '^v:1 t:(ACK|CON|NON) c:2\.05 ' "$T_DIR/obs2" | head -n 1)
assert_match 'c:2\.05' "$second" "observe per client: the second observation from 127.0.0.1 is answered"
[[ "$second" != *Observe:* ]] && ok "observe per client: ... without Observe (not on the list)" ||
    fail "observe per client: the second observation was accepted ($second)"
coap_bg "$T_DIR/obs3" -B 10 -s 2 -a 127.0.0.2 -O "3,alice.$RR_DOMAIN" "$(rd_uri /obs)"
wait "$BG_PID"
third=$(grep -E '^v:1 t:(ACK|CON|NON) c:2\.05 ' "$T_DIR/obs3" | head -n 1)
assert_match 'Observe:[0-9]+' "$third" "observe per client: another source (127.0.0.2) observes meanwhile"
log=$(wait_match 5 'forwarded without Observe, more than 1' cat "$T_DIR/udp.log")
assert_contains "$log" "127.0.0.1" "observe per client: the hit is logged"
wait_until 15 counter_positive limit_observe_client udp
assert_ne 0 "$(relay_counter limit_observe_client udp)" "rdrelayctl status counts limit_observe_client"

t_done
