#!/usr/bin/env bash
# test_tcp_close.sh - a TCP registrant's connection is its path (relay-tcp
# issue): when the connection closes the route is unreachable at once, and
# the next request gets 5.02 quickly (the issue asks for 100 ms; asserted
# here under 1 s so a sanitizer build on a loaded machine passes, the figure
# is printed), from UDP and TCP clients alike; a request in flight when it
# closes ends in 5.02 too; the registration itself stays (RFC 9176: until
# its lifetime ends); the registrant reconnects and registers again -> the
# route is taken back over (also by a mere update over the new connection);
# a killed registrant process (the kernel closes the connection) -> 5.02,
# and a new process with the same name takes the name back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"

H=alice.$RR_DOMAIN
RR_EXTRA_ARGS=(--upstream-timeout-ms 10000)
rt_start_all

# timed_request TRANSPORT FAMILY PATH [HOST]: one request for alice (or
# HOST); sets CODE,
# PAYLOAD and ELAPSED (ms of the coap-client run alone, start-up included).
timed_request() {
    local t0 t1 out=$T_DIR/timed.out
    t0=$(ms_now)
    timeout 15 coap-client-notls -v 6 -B 10 -O "3,${4:-$H}" -m get "$(rd_uri_x "$1" "$2" "$3")" >"$out" 2>&1
    t1=$(ms_now)
    ELAPSED=$((t1 - t0))
    CODE=$(grep -oE '^v:1 t:(CON|NON|ACK) c:[1-5]\.[0-9]{2} ' "$out" | tail -n 1 | grep -oE '[1-5]\.[0-9]{2}')
    PAYLOAD=$(grep -E '^[1-5]\.[0-9]{2} ' "$out" | tail -n 1 | cut -d' ' -f2-)
    [ -n "$CODE" ] || CODE=timeout
}

assert_fast_502() { # what
    if [ "$CODE" == 5.02 ] && [ "$ELAPSED" -lt 1000 ]; then
        ok "$1: 5.02 in $ELAPSED ms (coap-client run, start-up included)"
    else
        fail "$1: expected 5.02 within 1000 ms, got '$CODE $PAYLOAD' after $ELAPSED ms"
    fi
}

treg_start alice --ep alice --lt 600
for tr in udp tcp; do
    timed_request $tr 4 /hello
    assert_eq 2.05 "$CODE" "$tr client -> alice (TCP registrant) -> 2.05 before the close ($ELAPSED ms, for comparison)"
done

# ---- the connection closes (the registrant closes it and holds it closed)
aport=$(treg_local_port alice)
rx=$(tcp_bytes_received "$aport")
coap_bg "$T_DIR/inflight" -B 15 -O "3,$H" "$(rd_uri_x udp 4 '/slow?ms=8000')"
inflight=$BG_PID
wait_until 5 _tcp_received_above "$aport" "$rx" || fail "the /slow request never reached alice's connection"
kill -USR1 "${T_PIDS[alice]}"
reg_wait_word alice disconnected 1 5 || die "alice did not close its connection on SIGUSR1"
rt_wait_route_closed "$H" 1 || fail "relay-tcp did not notice alice's closed connection"
timed_request udp 4 /hello
assert_fast_502 "connection closed, UDP client, IPv4"
assert_diagnostic "the 5.02 carries a diagnostic"
timed_request tcp 4 /hello
assert_fast_502 "connection closed, TCP client, IPv4"
timed_request tcp 6 /hello
assert_fast_502 "connection closed, TCP client, IPv6"
timed_request udp 6 /hello
assert_fast_502 "connection closed, UDP client, IPv6"
bg_wait "$inflight" 5 || true
assert_eq 5.02 "$(bg_code "$T_DIR/inflight")" \
    "a request in flight (/slow?ms=8000) when the connection closed ended in 5.02, not a timeout"

rd_lookup_ep "ep=alice"
assert_eq alice "$(lf_eps "$PAYLOAD")" "the registration itself stays while the connection is gone"

# ---- reconnect and register again (POST /rd over the new connection)
kill -USR2 "${T_PIDS[alice]}"
reg_wait_registered alice 2 15 || fail "alice did not register again after reconnecting"
assert_eq 2 "$(reg_count_word alice connected)" "alice opened a second connection"
for tr in udp tcp; do
    xcoap $tr 4 $H -m get /hello
    assert_code 2.05 "$tr client -> alice after her re-registration -> 2.05 (route taken back over)"
done
xcoap udp 4 $H -m get "/slow?ms=300"
assert_eq "slow 300" "$PAYLOAD" "a separate answer comes back over the new connection"
rd_lookup_ep "ep=alice"
assert_eq 1 "$(lf_count "$PAYLOAD")" "still one registration for alice"

# ---- the registrant process dies: the kernel closes the connection
rr_stop alice KILL
rt_wait_route_closed "$H" 2 || fail "relay-tcp did not notice that alice's process died"
timed_request udp 4 /hello
assert_fast_502 "registrant killed, UDP client"
timed_request tcp 4 /hello
assert_fast_502 "registrant killed, TCP client"
treg_start alice2 --ep alice --lt 600
xcoap tcp 4 $H -m get /hello
assert_code 2.05 "a new process registering as alice takes the name back (TCP client)"
xcoap udp 6 $H -m get /hello
assert_code 2.05 "... and from a UDP client over IPv6"

# ---- reconnect with a registration update only (POST /reg/N)
treg_start bob --ep bob --lt 600 --reconnect-update
kill -USR1 "${T_PIDS[bob]}"
reg_wait_word bob disconnected 1 5 || die "bob did not close his connection"
rt_wait_route_closed "bob.$RR_DOMAIN" 1 || fail "relay-tcp did not notice bob's closed connection"
xcoap udp 4 bob.$RR_DOMAIN -m get /hello
assert_code 5.02 "bob's connection closed -> 5.02"
kill -USR2 "${T_PIDS[bob]}"
reg_wait_renewed bob 1 15 || fail "bob's update over the new connection was not answered 2.04"
for tr in udp tcp; do
    xcoap $tr 4 bob.$RR_DOMAIN -m get /hello
    assert_code 2.05 "an update over the new connection moves bob's route to it ($tr client, 2.05)"
done

# ---- relay-tcp dies and restarts: its connections are gone
# carol waits 60 s before reconnecting (until SIGUSR2), so the window
# between relay-tcp's restart and her return is the test's to choose.
treg_start carol --ep carol --lt 600 --reconnect-ms 60000
rr_stop tcp KILL
reg_wait_word carol disconnected 1 5 || fail "carol did not notice relay-tcp's death"
# docs/architecture.md: the XFWD DEALER uses ZMQ_IMMEDIATE, so a holder
# relay that is not running gives 5.02 at once.
timed_request udp 4 /hello carol.$RR_DOMAIN
assert_fast_502 "relay-tcp down: a UDP client asks for carol (TCP registrant)"
rt_start_tcp
rt_wait_ready
timed_request udp 4 /hello carol.$RR_DOMAIN
assert_fast_502 "relay-tcp restarted, carol not yet reconnected: UDP client"
timed_request tcp 4 /hello carol.$RR_DOMAIN
assert_fast_502 "relay-tcp restarted, carol not yet reconnected: TCP client"
kill -USR2 "${T_PIDS[carol]}"
reg_wait_registered carol 2 20 || fail "carol did not register again after relay-tcp restarted"
for tr in udp tcp; do
    xcoap $tr 4 carol.$RR_DOMAIN -m get /hello
    assert_code 2.05 "after relay-tcp's restart carol reconnected and is reachable again ($tr client)"
done
reg_wait_registered alice2 2 20 || fail "alice2 (2 s reconnect) did not register again by herself"
xcoap tcp 6 $H -m get /hello
assert_code 2.05 "alice reconnected by herself and is reachable again (TCP client, IPv6)"

t_done
