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
# Each part runs on its own processes (t_section keeps the logs apart);
# the counters come from rdrelayctl status (lib_ctl.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_ctl.sh"

# lim_start NAME [rdrelay flags...]: section NAME with rd-frontend and
# relay-udp on a fresh port with those flags, and a registrant alice.
lim_start() {
    t_section "$1"
    shift
    RR_EXTRA_ARGS=("$@") RR_PORT=""
    rr_start_all
    reg_start alice --ep alice
}

# from_other NAME: GET /hello at NAME from another source (127.0.0.2).
from_other() { coap -a 127.0.0.2 -O "3,$1.$RR_DOMAIN" -m get "$(rd_uri /hello)"; }

# assert_logged LOG REGEX NEEDLE MESSAGE: within 5 s $T_DIR/LOG.log has a
# line matching REGEX, and it contains NEEDLE.
assert_logged() {
    local log
    log=$(wait_match 5 "$2" cat "$T_DIR/$1.log")
    assert_contains "$log" "$3" "$4"
}

# assert_said TEXT MESSAGE: the last coap() answer (diagnostic payload,
# options or dump) says TEXT.
assert_said() {
    assert_contains "$(cat "$T_DIR/coap.body" 2>/dev/null)$RESP$(cat "$T_DIR/coap.out")" "$1" "$2"
}

# slow_pair DUMP COUNTER: two requests for alice's /slow (30 s) in the
# background (dumps DUMP1, DUMP2), until relay-udp's COUNTER is 2.
slow_pair() {
    coap_bg "$T_DIR/${1}1" -B 60 -O "3,alice.$RR_DOMAIN" "$(rd_uri '/slow?ms=30000')"
    coap_bg "$T_DIR/${1}2" -B 60 -O "3,alice.$RR_DOMAIN" "$(rd_uri '/slow?ms=30000')"
    wait_until 15 ctl_counter_is "$2" 2 udp
}

# 8 GETs of /hello at NAME from this host (burst8: OKS, LIMITED, FIRST)
burst() { burst8 pcoap "$1.$RR_DOMAIN" -m get /hello; }

# ---- per source
lim_start "per source" --proxy-rate-source 1 --proxy-burst-source 3 --proxy-rate-endpoint 0
burst alice
assert_eq 2.05 "$FIRST" "per source: the first request goes through"
[ "$LIMITED" -ge 1 ] && ok "per source: $LIMITED of 8 got 5.03 with Max-Age ($OKS went through)" ||
    fail "per source: no 5.03 with Max-Age among 8 requests at 1/s, burst 3 ($OKS went through)"
[ "$OKS" -le 7 ] && [ "$OKS" -ge 3 ] && ok "per source: the burst of 3 went through ($OKS)" ||
    fail "per source: $OKS of 8 went through"
from_other alice
assert_code 2.05 "another source (127.0.0.2) is served meanwhile"
coap -m get "$(rd_uri /.well-known/core?rt=core.rd)"
assert_code 2.05 "the RD is not rate limited by the proxy limit"
assert_logged udp 'rate limit per source' "-> 5.03 Max-Age" "the limit hit is logged"
ctl_assert_counted limit_rate_source udp "rdrelayctl status counts limit_rate_source"
assert_ne "" "$(ctl_relay_counter limit_rate_source)" "... it is reported"
assert_ne 0 "$(ctl_relay_counter limit_rate_source)" "... and it is not 0"

# ---- per endpoint
lim_start "per endpoint" --proxy-rate-source 0 --proxy-rate-endpoint 1 --proxy-burst-endpoint 3
reg_start bob --ep bob
burst alice
[ "$LIMITED" -ge 1 ] && ok "per endpoint: $LIMITED of 8 to alice got 5.03 with Max-Age" ||
    fail "per endpoint: no 5.03 among 8 requests to alice at 1/s, burst 3"
from_other alice
assert_code 5.03 "per endpoint: another source is limited for alice too"
pcoap "bob.$RR_DOMAIN" -m get /hello
assert_code 2.05 "another endpoint (bob) is served meanwhile"
ctl_assert_counted limit_rate_endpoint udp "rdrelayctl status counts limit_rate_endpoint"

# ---- connections per source (TCP)
t_section "connections per source"
RR_EXTRA_ARGS=() RR_PORT=""
rt_start_all --max-conns-per-source 3
# the readiness probes' connections are gone first
wait_until 15 ctl_counter_is connections 0 tcp || fail "relay-tcp still counts connections after the probes"
exec 5<>"/dev/tcp/127.0.0.1/$RR_PORT" 6<>"/dev/tcp/127.0.0.1/$RR_PORT" 7<>"/dev/tcp/127.0.0.1/$RR_PORT"
wait_until 15 ctl_counter_is connections 3 tcp || fail "relay-tcp does not count the 3 held connections"
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
wait_until 15 ctl_counter_is connections 2 tcp || fail "relay-tcp does not see the closed connection"
coap -m get "$(rd_uri_tcp /.well-known/core)"
assert_code 2.05 "per source: after one of the three closed, 127.0.0.1 is served again"
exec 6>&- 7>&-
assert_logged tcp 'connection from 127.0.0.1:[0-9]* refused, more than 3' "refused" \
    "per source: the refusal is logged"
ctl_assert_counted limit_conns_source tcp "rdrelayctl status counts limit_conns_source"

# ---- exchanges in flight per source (UDP)
lim_start "in flight per source" --max-inflight-per-source 2
slow_pair slow exchanges_down || fail "relay-udp does not hold the 2 slow exchanges"
pcoap "alice.$RR_DOMAIN" -m get /hello
assert_code 5.03 "in flight per source: a third request from 127.0.0.1 gets 5.03"
assert_said "too many requests in flight from this source" "in flight per source: ... saying why"
from_other alice
assert_code 2.05 "in flight per source: another source (127.0.0.2) is served meanwhile"
assert_logged udp 'more than 2 exchanges in flight' "5.03" "in flight per source: the hit is logged"
ctl_assert_counted limit_inflight_source udp "rdrelayctl status counts limit_inflight_source"

# ---- exchanges in flight per endpoint (UDP)
lim_start "in flight per endpoint" --max-inflight-per-endpoint 2
reg_start bob --ep bob
slow_pair eslow exchanges_up || fail "relay-udp does not hold the 2 slow exchanges to alice"
from_other alice
assert_code 5.03 "in flight per endpoint: a third request for alice (another source) gets 5.03"
[[ "$RESP" == *Max-Age:1* ]] || [[ "$(cat "$T_DIR/coap.out")" == *"Max-Age:1"* ]] &&
    ok "in flight per endpoint: ... with Max-Age 1" || fail "in flight per endpoint: no Max-Age 1 ($RESP)"
assert_said "too many requests in flight to this endpoint" "in flight per endpoint: ... saying why"
pcoap "bob.$RR_DOMAIN" -m get /hello
assert_code 2.05 "in flight per endpoint: another endpoint (bob) is served meanwhile"
assert_logged udp 'more than 2 exchanges in flight to it' "alice" "in flight per endpoint: the hit is logged"
ctl_assert_counted limit_inflight_endpoint udp "rdrelayctl status counts limit_inflight_endpoint"

# ---- observations per client (UDP)
t_section "observations per client"
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
assert_logged udp 'forwarded without Observe, more than 1' "127.0.0.1" "observe per client: the hit is logged"
ctl_assert_counted limit_observe_client udp "rdrelayctl status counts limit_observe_client"

t_done
