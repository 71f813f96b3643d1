#!/usr/bin/env bash
# test_tcp_abuse.sh - relay-tcp against silent and hostile peers (relay-tcp
# issue, RFC 8323 §5): 1,000 connections that never send a CSM are closed
# by the CSM timeout (seen by the peer and checked with ss), while a normal
# TCP client, a UDP client and a proxied TCP registrant are served
# throughout; a message announcing a Length of 1 GiB gets an Abort (7.05)
# and the connection is closed; half a message header followed by silence
# is closed after the timeout; relay-tcp survives all of it.
# ctest: TIMEOUT 400
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"

ABUSE=$RDRELAY_BIN/rr-tcp-abuse
[ -x "$ABUSE" ] || die "rr-tcp-abuse is not built"
N=1000
# A short CSM timeout when relay-tcp has a flag for it; otherwise its
# default (RFC 8323 leaves it to the server; relay-tcp's is 10 s).
csm_flag=$(rt_csm_flag)
CSM_S=10
tcp_args=()
if [ -n "$csm_flag" ]; then
    CSM_S=2
    if [[ "$csm_flag" == *-ms ]]; then
        tcp_args=("$csm_flag" 2000)
    else
        tcp_args=("$csm_flag" 2)
    fi
fi
echo "# CSM timeout: ${CSM_S} s (flag: ${csm_flag:-none, the default})"
ulimit -n 8192 2>/dev/null || true # room for 1,000 more sockets in relay-tcp
# the 1,000 idle connections all come from 127.0.0.1: no per-source limit
# here (max_conns_per_source is test_relay_limits.sh's)
RR_EXTRA_ARGS+=(--max-conns-per-source 0)
rt_start_all "${tcp_args[@]}"
treg_start alice --ep alice --lt 600
H=alice.$RR_DOMAIN

# ---- 1,000 idle connections, never a CSM
base=$(tcp_estab_count "$RR_PORT")
# It keeps its sockets 20 s after the server closed them all, so ss below
# sees the server's side while the peer still holds its end.
"$ABUSE" idle 127.0.0.1 "$RR_PORT" $N $((CSM_S * 3 + 30)) 20 >"$T_DIR/idle.out" 2>"$T_DIR/idle.err" &
abuse=$!
T_BG_PIDS+=($abuse)
wait_until 20 grep -q '^opened ' "$T_DIR/idle.out" || fail "rr-tcp-abuse could not open $N connections: $(cat "$T_DIR/idle.err")"
# Its connects may return before ss shows every server side ESTABLISHED.
_estab_at_least() { [ "$(tcp_estab_count "$RR_PORT")" -ge "$1" ]; }
wait_until 5 _estab_at_least $((base + N / 2))
peak=$(tcp_estab_count "$RR_PORT")
if [ "$peak" -ge $((base + N / 2)) ]; then
    ok "relay-tcp holds the idle connections for now ($peak established on port $RR_PORT)"
else
    fail "expected about $N idle connections established on port $RR_PORT, ss shows $peak"
fi
# Normal clients, served while the idle connections pile up and go.
served_rd=0 served_u=0 served_t=0 tries=0
while kill -0 "$abuse" 2>/dev/null && ! grep -q '^closed ' "$T_DIR/idle.out" && [ $tries -lt 200 ]; do
    tries=$((tries + 1))
    coap -m get "$(rd_uri_tcp /.well-known/core)"
    [ "$CODE" == 2.05 ] && served_rd=$((served_rd + 1))
    xcoap tcp 6 $H -m get /hello
    [ "$CODE" == 2.05 ] && served_t=$((served_t + 1))
    xcoap udp 4 $H -m get /hello
    [ "$CODE" == 2.05 ] && served_u=$((served_u + 1))
done
wait_until 10 grep -q '^closed ' "$T_DIR/idle.out" || fail "rr-tcp-abuse did not finish watching"
assert_eq "$tries" "$served_rd" "a TCP client of the RD was served throughout ($served_rd of $tries)"
assert_eq "$tries" "$served_t" "a TCP client of the proxy (TCP registrant) was served throughout ($served_t of $tries)"
assert_eq "$tries" "$served_u" "a UDP client of the proxy (TCP registrant) was served throughout ($served_u of $tries)"
closed_line=$(grep '^closed ' "$T_DIR/idle.out")
echo "# rr-tcp-abuse: $closed_line"
assert_match "^closed $N of $N " "$closed_line" "relay-tcp closed all $N connections that never sent a CSM"
ms=$(sed -E 's/.* after ([0-9]+) ms/\1/' <<<"$closed_line")
if [ -n "$ms" ] && [ "$ms" -le $((CSM_S * 1000 * 3 + 5000)) ]; then
    ok "the last idle connection went ${ms} ms after they were opened (CSM timeout ${CSM_S} s)"
else
    fail "the idle connections went only after ${ms} ms (CSM timeout ${CSM_S} s)"
fi
aborts=$(grep -c '^recv 7\.05' "$T_DIR/idle.out")
echo "# $aborts of the idle connections got an Abort (7.05) before the close"
_estab_back() { [ "$(tcp_estab_count "$RR_PORT")" -le $((base + 2)) ]; }
if wait_until 10 _estab_back && kill -0 "$abuse" 2>/dev/null; then
    ok "ss: no idle connection left established on port $RR_PORT while the peer still holds its sockets ($(tcp_estab_count "$RR_PORT") established, $base before)"
else
    fail "ss: $(tcp_estab_count "$RR_PORT") connections still established on port $RR_PORT ($base before)"
fi
bg_wait "$abuse" 30 || fail "rr-tcp-abuse did not end"
rr_alive tcp && ok "relay-tcp survived $N idle connections" || die "relay-tcp died"

# ---- a Length of 1 GiB
"$ABUSE" biglen 127.0.0.1 "$RR_PORT" 15 >"$T_DIR/big.out" 2>&1
cat "$T_DIR/big.out" | sed 's/^/# /'
assert_match '^recv 7\.05' "$(grep '^recv 7\.05' "$T_DIR/big.out" | head -n 1)" \
    "a message announcing 1 GiB is answered with Abort (7.05)"
assert_eq "closed 1 of 1" "$(grep -oE '^closed 1 of 1' "$T_DIR/big.out")" "... and the connection is closed"
"$ABUSE" biglen ::1 "$RR_PORT" 15 >"$T_DIR/big6.out" 2>&1
assert_match '^recv 7\.05' "$(grep '^recv 7\.05' "$T_DIR/big6.out" | head -n 1)" \
    "IPv6: a 1 GiB Length is answered with Abort (7.05)"
assert_eq "closed 1 of 1" "$(grep -oE '^closed 1 of 1' "$T_DIR/big6.out")" "IPv6: ... and closed"
# a Length of exactly 2^32 (issue 19 bad-input table): a 32-bit size
# would wrap to 0; the relay must Abort, and another client is served
"$ABUSE" len32 127.0.0.1 "$RR_PORT" 15 >"$T_DIR/len32.out" 2>&1
assert_match '^recv 7\.05' "$(grep '^recv 7\.05' "$T_DIR/len32.out" | head -n 1)" \
    "a message announcing a Length of 2^32 is answered with Abort (7.05)"
assert_eq "closed 1 of 1" "$(grep -oE '^closed 1 of 1' "$T_DIR/len32.out")" "... and closed"
coap -m get "$(rd_uri /.well-known/core?rt=core.rd)"
assert_code 2.05 "meanwhile another client is served"

# ---- half a message header, then silence
"$ABUSE" half 127.0.0.1 "$RR_PORT" 40 >"$T_DIR/half.out" 2>&1
assert_eq "closed 1 of 1" "$(grep -oE '^closed 1 of 1' "$T_DIR/half.out")" \
    "half a message followed by silence is closed after the timeout ($(grep -oE 'after [0-9]+ ms' "$T_DIR/half.out"))"

rr_alive tcp && ok "relay-tcp is still running" || fail "relay-tcp died"
xcoap tcp 4 $H -m get /hello
assert_code 2.05 "after all of it a TCP client still reaches alice"
coap -m get "$(rd_uri6_tcp /.well-known/core)"
assert_code 2.05 "after all of it the RD answers over TCP (IPv6)"

t_done
