#!/usr/bin/env bash
# test_metrics.sh - the Prometheus targets (issue 20): rd-frontend,
# rdrelay-udp and rdrelay-tcp each serve /metrics on their metrics_listen
# entry; every page passes `promtool check metrics` (Debian prometheus);
# counters move as traffic flows (RD requests by method, proxied requests,
# 5.05 for an unknown name, relayed responses by code, registrations by
# transport, TCP connections); RELAY_STATUS (rdrelayctl status) reports the
# same numbers; a scrape never stops the relay serving; other paths get
# 404; a malformed metrics_listen is a configuration error (exit 2).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_ctl.sh"

command -v promtool >/dev/null || die "promtool missing (Debian prometheus; tools/setup-deps.sh)"
command -v curl >/dev/null || die "curl missing (tools/setup-deps.sh)"

MP_FE=$(rr_free_port tu) || die "no free port"
MP_UDP=$(rr_free_port tu) || die "no free port"
MP_TCP=$(rr_free_port tu) || die "no free port"
RR_EXTRA_ARGS=(--metrics-listen
    "frontend=127.0.0.1:$MP_FE, udp=127.0.0.1:$MP_UDP,tcp=[::1]:$MP_TCP")

# scrape PORT [HOST]: the page (empty when nothing answers)
scrape() { curl -s -m 5 "http://${2:-127.0.0.1}:$1/metrics"; }
# sample PAGE REGEX: the value of the first sample line matching REGEX (0 if none)
sample() {
    local v
    v=$(grep -E "^$2 " <<<"$1" | head -n 1 | awk '{print $NF}')
    echo "${v:-0}"
}
promcheck() { # page what
    local out
    out=$(promtool check metrics <<<"$1" 2>&1)
    assert_eq 0 "$?" "promtool check metrics accepts $2's page"
    [ -z "$out" ] || printf '    promtool: %s\n' "$out"
}

out=$("$RDRELAY_BIN/rdrelay-frontend" --state-dir "$T_DIR/bad" --metrics-listen 'frontend=nowhere' 2>&1)
assert_eq 2 "$?" "a malformed metrics_listen is a configuration error (exit 2)"
assert_contains "$out" "metrics_listen" "the error names metrics_listen"

rt_start_all
wait_until 10 udp_bound "$RR_PORT"

fe0=$(wait_match 10 'rdrelay_up' scrape "$MP_FE")
udp0=$(wait_match 10 'rdrelay_up' scrape "$MP_UDP")
tcp0=$(wait_match 10 'rdrelay_up' scrape "$MP_TCP" '[::1]')
promcheck "$fe0" rd-frontend
promcheck "$udp0" rdrelay-udp
promcheck "$tcp0" rdrelay-tcp
assert_match 'rdrelay_up\{process="rd-frontend"\} 1' "$fe0" "rd-frontend's page names the process"
assert_match 'rdrelay_up\{transport="udp",relay="udp"\} 1' "$udp0" "relay-udp's page carries transport and relay labels"
assert_match 'rdrelay_up\{transport="tcp",relay="tcp"\} 1' "$tcp0" "relay-tcp serves on IPv6 loopback"

# ---- traffic: RD GETs, a registration over UDP and one over TCP, a
# proxied exchange, an unknown name
G='rdrelay_requests_total\{transport="udp",relay="udp",kind="rd",method="GET"\}'
get0=$(sample "$udp0" "$G")
for i in 1 2 3; do
    coap -m get "$(rd_uri /.well-known/core)"
done
assert_code 2.05 "discovery through relay-udp"
reg_start alice --ep alice
treg_start bob --ep bob
pcoap alice.proxy.localhost -m get /hello
assert_code 2.05 "GET /hello through relay-udp to alice"
pcoap nobody.proxy.localhost -m get /x
assert_code 5.05 "an unknown name gets 5.05"

udp1=$(scrape "$MP_UDP")
promcheck "$udp1" "rdrelay-udp (after traffic)"
get1=$(sample "$udp1" "$G")
if [ "$get1" -ge $((get0 + 3)) ]; then
    ok "rd GET requests counted by relay-udp ($get0 -> $get1)"
else
    fail "rd GET requests counted by relay-udp ($get0 -> $get1, want +3)"
fi
assert_ne 0 "$(sample "$udp1" 'rdrelay_requests_total\{transport="udp",relay="udp",kind="proxy",method="GET"\}')" \
    "proxied GET counted"
assert_ne 0 "$(sample "$udp1" 'rdrelay_proxied_total\{transport="udp",relay="udp"\}')" "rdrelay_proxied_total moved"
assert_ne 0 "$(sample "$udp1" 'rdrelay_proxy_errors_total\{transport="udp",relay="udp",code="5.05"\}')" \
    "5.05 counted under rdrelay_proxy_errors_total"
assert_ne 0 "$(sample "$udp1" 'rdrelay_responses_total\{transport="udp",relay="udp",source="endpoint",code="2.05",class="2"\}')" \
    "alice's 2.05 counted as an endpoint response"
assert_ne 0 "$(sample "$udp1" 'rdrelay_responses_total\{transport="udp",relay="udp",source="rd",code="2.01",class="2"\}')" \
    "the RD's 2.01 counted as an rd response"
assert_eq 2 "$(sample "$udp1" 'rdrelay_routes\{transport="udp",relay="udp"\}')" "relay-udp holds both routes"

fe1=$(scrape "$MP_FE")
promcheck "$fe1" "rd-frontend (after traffic)"
assert_eq 1 "$(sample "$fe1" 'rdrelay_registrations\{transport="udp"\}')" "one registration over UDP"
assert_eq 1 "$(sample "$fe1" 'rdrelay_registrations\{transport="tcp"\}')" "one registration over TCP"
assert_eq 2 "$(sample "$fe1" 'rdrelay_registrations_proxied')" "two proxied registrations"
assert_ne 0 "$(sample "$fe1" 'rdrelay_responses_total\{code="2.01",class="2"\}')" "rd-frontend counts its 2.01 answers"
assert_ne 0 "$(sample "$fe1" 'rdrelay_requests_total\{method="POST"\}')" "rd-frontend counts POST requests"
fseq=$(sample "$fe1" 'rdrelay_route_seq')
assert_ne 0 "$fseq" "rd-frontend's route sequence moved"

tcp1=$(scrape "$MP_TCP" '[::1]')
promcheck "$tcp1" "rdrelay-tcp (after traffic)"
assert_eq 1 "$(sample "$tcp1" 'rdrelay_connections\{transport="tcp",relay="tcp"\}')" "relay-tcp shows bob's connection"
assert_ne 0 "$(sample "$tcp1" 'rdrelay_connections_accepted_total\{transport="tcp",relay="tcp"\}')" \
    "relay-tcp counts accepted connections"

# ---- one source of truth: RELAY_STATUS (every 5 s) shows what the page shows
assert_eq 2 "$(wait_output 12 2 ctl_relay_counter routes udp)" \
    "rdrelayctl status shows relay-udp's 2 routes, as the page does"

# ---- the page is only at /metrics; scraping does not disturb the relay
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MP_UDP/other")
assert_eq 404 "$code" "another path gets 404"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$MP_UDP/metrics")
assert_eq 405 "$code" "POST gets 405"
# a client that connects and says nothing holds one slot, not the relay
exec 7<>/dev/tcp/127.0.0.1/"$MP_UDP"
coap -m get "$(rd_uri /.well-known/core)"
assert_code 2.05 "relay-udp answers while a metrics client hangs"
page=$(scrape "$MP_UDP")
assert_match 'rdrelay_up' "$page" "another scrape is served meanwhile"
exec 7>&-
n=$(sample "$page" 'rdrelay_metrics_scrapes_total\{transport="udp",relay="udp"\}')
if [ "$n" -ge 3 ]; then ok "scrapes counted ($n)"; else fail "scrapes counted ($n)"; fi

t_done
