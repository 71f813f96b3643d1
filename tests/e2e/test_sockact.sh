#!/usr/bin/env bash
# test_sockact.sh - restarts that lose nothing (issue 20): rdrelay-udp and
# rdrelay-tcp run on sockets held by their parent (tools/rdrelay-sockets,
# the LISTEN_FDS convention relay-core/sockact.c takes). Each relay is
# killed with -9 and a request is sent while it is down (the parent waits
# 1 s before the restart, so the request really meets no relay): the
# retransmitting UDP client and the TCP client get their answer from the
# restarted relay, and the kernel answered no datagram with ICMP port
# unreachable (Udp NoPorts of /proc/net/snmp, in a network namespace of
# this test's own so that no other test moves the counter). A relay
# started with a broken configuration under rdrelay-sockets exits 2 and is
# not restarted.
# ctest: LABELS root
if [ -z "${RR_IN_NETNS:-}" ]; then
    exec unshare -n env RR_IN_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

noports() { awk '/^Udp: [0-9]/ {print $4}' /proc/net/snmp; }
child_pid() { cat "$T_DIR/$1.child" 2>/dev/null; }
_child_is_new() { local p; p=$(child_pid "$1") && [ -n "$p" ] && [ "$p" != "$2" ] && kill -0 "$p"; }

RR_PORT=$(rr_free_port tu) || die "no free port"
RR_EXTRA_ARGS+=(--tcp-listen "127.0.0.1:$RR_PORT,[::1]:$RR_PORT")
rr_start_frontend
rr_common_args
rr_start udp rdrelay-sockets --restart-delay-ms 1000 --pidfile "$T_DIR/udp.child" \
    --udp "127.0.0.1:$RR_PORT" --udp "[::1]:$RR_PORT" -- "$RDRELAY_BIN/rdrelay-udp" "${RR_ARGS[@]}"
rr_start tcp rdrelay-sockets --restart-delay-ms 1000 --pidfile "$T_DIR/tcp.child" \
    --tcp "127.0.0.1:$RR_PORT" --tcp "[::1]:$RR_PORT" -- "$RDRELAY_BIN/rdrelay-tcp" "${RR_ARGS[@]}"
rr_wait_ready
assert_eq 2 "$(grep -c 'socket from the parent' "$T_DIR/udp.log")" \
    "rdrelay-udp took both UDP sockets from its parent"
assert_eq 2 "$(grep -c 'socket from the parent' "$T_DIR/tcp.log")" \
    "rdrelay-tcp took both TCP sockets from its parent"

reg_start alice --ep alice
pcoap alice.proxy.localhost -m get /hello
assert_code 2.05 "GET /hello through rdrelay-udp before any restart"

for round in 1 2; do
    # ---- rdrelay-udp: kill -9, a proxied request and an RD request while down
    old=$(child_pid udp)
    before=$(noports)
    kill -9 "$old"
    wait_until 5 bash -c "! kill -0 $old 2>/dev/null" || die "rdrelay-udp $old did not die"
    coap_bg "$T_DIR/px$round" -B 30 -O 3,alice.proxy.localhost -m get "$(rd_uri /hello)"
    PX=$BG_PID
    coap_bg "$T_DIR/rd$round" -B 30 -m get "$(rd_uri6 /rd-lookup/ep)"
    RD=$BG_PID
    wait_until 10 _child_is_new udp "$old" || die "rdrelay-sockets did not restart rdrelay-udp"
    bg_wait "$PX" 40 || fail "round $round: proxied request sent while rdrelay-udp was down: no end"
    bg_wait "$RD" 40 || fail "round $round: lookup sent while rdrelay-udp was down: no end"
    assert_eq 2.05 "$(bg_code "$T_DIR/px$round")" \
        "round $round: proxied GET sent while rdrelay-udp was down -> 2.05 from the restarted relay"
    assert_eq hello "$(cat "$T_DIR/px$round.body" 2>/dev/null)" "round $round: ... with the endpoint's body"
    assert_eq 2.05 "$(bg_code "$T_DIR/rd$round")" \
        "round $round: IPv6 lookup sent while rdrelay-udp was down -> 2.05"
    assert_eq "$before" "$(noports)" \
        "round $round: no datagram answered with ICMP port unreachable (Udp NoPorts unchanged)"

    # ---- rdrelay-tcp: kill -9, a connection and request while down
    old=$(child_pid tcp)
    kill -9 "$old"
    wait_until 5 bash -c "! kill -0 $old 2>/dev/null" || die "rdrelay-tcp $old did not die"
    coap_bg "$T_DIR/tcp$round" -B 30 -m get "coap+tcp://127.0.0.1:$RR_PORT/.well-known/core"
    TC=$BG_PID
    wait_until 10 _child_is_new tcp "$old" || die "rdrelay-sockets did not restart rdrelay-tcp"
    bg_wait "$TC" 40 || fail "round $round: TCP request sent while rdrelay-tcp was down: no end"
    assert_eq 2.05 "$(bg_code "$T_DIR/tcp$round")" \
        "round $round: TCP connection opened while rdrelay-tcp was down -> 2.05 after its restart"
done

# ---- the same sockets, a broken configuration: exit 2, no restart loop
rr_start bad rdrelay-sockets --restart-delay-ms 100 --pidfile "$T_DIR/bad.child" \
    --udp "127.0.0.1:$(rr_free_port)" -- "$RDRELAY_BIN/rdrelay-udp" --no-such-setting 1
wait_until 10 bash -c "[ -s '$T_DIR/bad.exit' ]" || fail "rdrelay-sockets with a broken relay did not end"
assert_eq 2 "$(cat "$T_DIR/bad.exit" 2>/dev/null)" "a relay with a broken configuration: exit 2 passed on"
assert_eq 1 "$(grep -c 'rdrelay-sockets: started' "$T_DIR/bad.log")" "... and not restarted"

# ---- TERM reaches the relay through its parent, which exits with its status
rr_stop udp TERM
assert_eq 0 "$RR_EXIT" "rdrelay-sockets + rdrelay-udp: TERM -> exit 0"
t_done
