#!/usr/bin/env bash
# test_port_samenum.sh - one hosting port number for coap://, coap+tcp://
# and coap+ws:// with the default listen settings' shape (issue 18): every
# relay on the wildcard addresses 0.0.0.0 and [::] (random ports, as tests
# run side by side), so relay-tcp and relay-ws share their addresses and
# relay-tcp owns the hosting port's TCP listener. It tells coap+tcp from
# coap+ws by the first bytes and hands WebSocket connections to relay-ws
# over the unix socket in the state directory (relay-core/handoff.c).
# On alice's port: coap-client-notls over UDP and TCP, rr-wsclient over
# coap+ws (IPv4, IPv6) reach alice; Block2 over coap+ws is the registrant's
# /large byte for byte; a client that stays silent (or stops after "GE")
# is closed after tcp_timeout_ms, counted; relay-ws killed -9 -> coap+ws
# gets HTTP 503 (counted, logged) while coap+tcp still works; relay-ws
# restarted -> coap+ws works again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_ws.sh"
. "$(dirname "$0")/lib_port.sh"

[ -x "$RDRELAY_BIN/$WS_PROG" ] || die "$WS_PROG is not built"
command -v curl >/dev/null || die "curl missing (tools/setup-deps.sh)"
WSC=$RDRELAY_BIN/rr-wsclient
RR_PORT=$(rr_free_port tu) || die "no free port"
WS_PORT=$(rr_free_port t) || die "no free port"
MP_TCP=$(rr_free_port t) || die "no free port"
MP_WS=$(rr_free_port t) || die "no free port"
RANGE=$(port_range_free 3) || die "no free port range"
# the defaults are 0.0.0.0:5683,[::]:5683 (UDP, TCP) and 0.0.0.0:8683,[::]:8683
# (WebSocket): the same addresses here, on free ports
RR_EXTRA_ARGS=(--port-hosting-range "$RANGE" --tcp-timeout-ms 1500
    --udp-listen "0.0.0.0:$RR_PORT,[::]:$RR_PORT"
    --tcp-listen "0.0.0.0:$RR_PORT,[::]:$RR_PORT"
    --ws-listen "0.0.0.0:$WS_PORT,[::]:$WS_PORT"
    --metrics-listen "tcp=127.0.0.1:$MP_TCP,ws=127.0.0.1:$MP_WS"
    --amplification-limit 0 --proxy-rate-source 0 --proxy-rate-endpoint 0
    --max-regs-per-source 0 --max-conns-per-source 0)
rr_start_all
rt_start_tcp
rt_wait_ready
ws_start_default() {
    rr_common_args
    rr_start ws "$WS_PROG" "${RR_ARGS[@]}"
}
ws_start_default

# wsc URI [rr-wsclient options...]: sets CODE (the first "code" line, or
# "error ..." when the handshake failed), PAYLOAD, WSC_OUT
wsc() {
    local uri=$1
    shift
    WSC_OUT=$(timeout 15 "$WSC" -w 5000 "$@" "$uri" 2>"$T_DIR/wsc.err")
    CODE=$(grep -m1 -E '^(code|error) ' <<<"$WSC_OUT" | sed -E 's/^code //')
    PAYLOAD=$(grep -m1 '^payload ' <<<"$WSC_OUT" | sed 's/^payload //')
}
_wsc_ok() { wsc "$1" >/dev/null; [ "$CODE" == 2.05 ]; }
_hcoap_tcp_ok() { COAP_TIMEOUT=2 hcoap_tcp "$1" -m get /hello; [ "$CODE" == 2.05 ]; }
wait_until 30 _wsc_ok "coap+ws://127.0.0.1:$WS_PORT/.well-known/core" ||
    die "rdrelay-ws did not answer on its own port $WS_PORT"
assert_contains "$(cat "$T_DIR/ws.log")" "no coap+ws hosting ports there" \
    "relay-ws leaves the shared addresses' hosting ports to relay-tcp"
assert_contains "$(cat "$T_DIR/ws.log")" "coap+ws hosting connections from relay-tcp" \
    "relay-ws listens for handed-over connections"
HS=$T_STATE/ws-handoff.sock
assert_eq "srw-------" "$(stat -c %A "$HS" 2>/dev/null)" "the handoff socket $HS is 0600"

reg_start alice --ep alice --lt 600 --obs-interval 300
P=$(port_of alice)
assert_ne "" "$P" "alice got hosting port $P"
wait_until 10 _hcoap_ok "$P" /hello || fail "coap://127.0.0.1:$P/hello answers"

# ---- one number, three protocols
hcoap "$P" -m get /hello
assert_code 2.05 "coap://127.0.0.1:$P/hello (UDP, no Uri-Host) -> alice"
assert_eq hello "$PAYLOAD" "alice's /hello over UDP"
hcoap_tcp "$P" -m get /hello
assert_code 2.05 "coap+tcp://127.0.0.1:$P/hello -> alice"
assert_eq hello "$PAYLOAD" "alice's /hello over TCP"
coap -m get "coap+tcp://[::1]:$P/hello"
assert_code 2.05 "coap+tcp://[::1]:$P/hello -> alice"
wsc "coap+ws://127.0.0.1:$P/hello"
assert_code 2.05 "coap+ws://127.0.0.1:$P/hello (the same number) -> alice"
assert_eq hello "$PAYLOAD" "alice's /hello over a WebSocket"
wsc "coap+ws://[::1]:$P/hello"
assert_code 2.05 "coap+ws://[::1]:$P/hello -> alice"
wsc "coap+ws://127.0.0.1:$P/.well-known/core" -H "rd.example"
assert_not_contains "$WSC_OUT" "core.rd" "the RD is not reachable over coap+ws on the hosting port"
assert_contains "$WSC_OUT" "</hello>" "/.well-known/core there is alice's"

# ---- Block2 over coap+ws on the hosting port, byte for byte
"$RDRELAY_BIN/rr-registrant" --print-large >"$T_DIR/large.expected"
rm -f "$T_DIR/large.ws"
wsc "coap+ws://127.0.0.1:$P/large" -o "$T_DIR/large.ws"
assert_code 2.05 "Block2 GET /large over coap+ws on the hosting port"
nblocks=$(grep -c '^opt 23 ' <<<"$WSC_OUT")
assert_match '^([2-9]|[1-9][0-9]+)$' "$nblocks" "the body came in $nblocks blocks (Block2)"
assert_eq "$(stat -c %s "$T_DIR/large.expected")" "$(stat -c %s "$T_DIR/large.ws" 2>/dev/null)" \
    "the reassembled body has /large's length"
cmp -s "$T_DIR/large.expected" "$T_DIR/large.ws"
assert_eq 0 "$?" "the reassembled body is /large byte for byte"

# ---- a client that says nothing is closed after tcp_timeout_ms (counted)
scrape() { curl -s -m 5 "http://127.0.0.1:$1/metrics"; }
sample() { # PAGE REGEX: the value of the first sample line matching REGEX (0 if none)
    local v
    v=$(grep -E "^$2 " <<<"$1" | head -n 1 | awk '{print $NF}')
    echo "${v:-0}"
}
silent_closed() { # PREFIX: connect to $P, send PREFIX, wait for the relay's close
    local start=$SECONDS
    exec 7<>"/dev/tcp/127.0.0.1/$P" || return 1
    [ -n "$1" ] && printf '%s' "$1" >&7
    # EOF, or a reset when bytes were left unread: either way not the timeout
    timeout 20 cat <&7 >/dev/null 2>&1
    local rc=$?
    exec 7<&- 7>&-
    [ $rc != 124 ] && [ $((SECONDS - start)) -lt 20 ]
}
silent_closed ""
assert_eq 0 "$?" "a connection to $P that sends nothing is closed by the relay"
silent_closed "GE"
assert_eq 0 "$?" "a connection that stops after \"GE\" is closed by the relay"
_timeouts() { [ "$(sample "$(scrape "$MP_TCP")" 'rdrelay_hosting_connections_total\{.*kind="silent"\}')" -ge 2 ]; }
wait_until 10 _timeouts
assert_eq 0 "$?" "relay-tcp counts both silent connections (kind=\"silent\")"
page=$(scrape "$MP_TCP")
assert_match '^[1-9][0-9]*$' "$(sample "$page" 'rdrelay_hosting_connections_total\{.*kind="coap\+ws"\}')" \
    "relay-tcp counts the coap+ws connections it saw"
assert_match '^[1-9][0-9]*$' "$(sample "$page" 'rdrelay_hosting_handoffs_total\{.*outcome="sent"\}')" \
    "relay-tcp counts the handoffs"
assert_match '^[1-9][0-9]*$' "$(sample "$(scrape "$MP_WS")" 'rdrelay_hosting_handoffs_total\{.*outcome="adopted"\}')" \
    "relay-ws counts the connections it adopted"
if command -v promtool >/dev/null; then
    promtool check metrics <<<"$page" >/dev/null 2>&1
    assert_eq 0 "$?" "promtool check metrics accepts relay-tcp's page"
    promtool check metrics <<<"$(scrape "$MP_WS")" >/dev/null 2>&1
    assert_eq 0 "$?" "promtool check metrics accepts relay-ws's page"
fi

# ---- relay-ws gone: coap+ws gets 503, coap+tcp still works
rr_stop ws KILL
wsc "coap+ws://127.0.0.1:$P/hello"
assert_contains "$CODE" "503" "relay-ws killed -9: coap+ws on $P gets HTTP 503 ($CODE)"
hcoap_tcp "$P" -m get /hello
assert_code 2.05 "relay-ws down: coap+tcp on $P still reaches alice"
hcoap "$P" -m get /hello
assert_code 2.05 "relay-ws down: UDP on $P still reaches alice"
assert_match '^[1-9][0-9]*$' "$(sample "$(scrape "$MP_TCP")" 'rdrelay_hosting_handoffs_total\{.*outcome="503"\}')" \
    "relay-tcp counts the 503"
assert_contains "$(cat "$T_DIR/tcp.log")" "no handoff to rdrelay-ws" "relay-tcp logs why (rate-limited)"

# ---- relay-ws back: coap+ws works again
ws_start_default
wait_until 30 _wsc_ok "coap+ws://127.0.0.1:$P/hello" || fail "coap+ws on $P after relay-ws restarted"
wsc "coap+ws://127.0.0.1:$P/hello"
assert_code 2.05 "relay-ws restarted: coap+ws://127.0.0.1:$P/hello -> alice again"
hcoap_tcp "$P" -m get /hello
assert_code 2.05 "and coap+tcp still"

# ---- a relay restart closes its hosting ports until its routes are back
# (README "Restarts that lose nothing"): how long, measured (not asserted)
_tcp_listens() { ss -Htln "( sport = :$1 )" 2>/dev/null | grep -q .; }
wait_fine() { # like wait_until 30, polling every 10 ms (for the figures)
    local end=$((SECONDS + 30))
    until "$@"; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.01
    done
}
rr_stop tcp KILL
_tcp_listens "$P" && fail "relay-tcp killed: nothing listens on TCP $P"
t0=$(ms_now)
rt_start_tcp
wait_fine _tcp_listens "$P" || fail "relay-tcp restarted: TCP $P listens again"
t1=$(ms_now)
wait_fine _hcoap_tcp_ok "$P" || true
t2=$(ms_now)
hcoap_tcp "$P" -m get /hello
assert_code 2.05 "relay-tcp killed -9 and restarted: coap+tcp on $P reaches alice again"
echo "# measured: relay-tcp restart -> hosting port $P listening after $((t1 - t0)) ms, answering after $((t2 - t0)) ms"
wait_until 30 _wsc_ok "coap+ws://127.0.0.1:$P/hello" || true
wsc "coap+ws://127.0.0.1:$P/hello"
assert_code 2.05 "the restarted relay-tcp hands coap+ws over again"
rr_stop udp KILL
t0=$(ms_now)
rr_start_udp
wait_fine udp_bound "$P" || fail "relay-udp restarted: UDP $P bound again"
t1=$(ms_now)
wait_fine _hcoap_ok "$P" /hello || true
t2=$(ms_now)
hcoap "$P" -m get /hello
assert_code 2.05 "relay-udp killed -9 and restarted: UDP on $P reaches alice again"
echo "# measured: relay-udp restart -> hosting port $P bound after $((t1 - t0)) ms, answering after $((t2 - t0)) ms"
t_done
