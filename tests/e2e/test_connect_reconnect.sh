#!/usr/bin/env bash
# test_connect_reconnect.sh - `rdrelay-connect serve` over TCP and over
# WebSockets notices a lost connection at once and registers again within
# 100 ms plus jitter (issue 20). rdrelay-tcp and rdrelay-ws run under
# tools/rdrelay-sockets (socket activation, restart after 100 ms); each is
# killed with -9 in turn, and a UDP client asks for the name through
# rdrelay-udp (cross-transport) until it answers: the time from the kill to
# reachable is printed (asserted only against a generous bound). Then a
# relay that stays down: serve's reconnect waits double (to a cap), and it
# comes back once the relay does.
# ctest: TIMEOUT 300
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"

CONNECT=$RDRELAY_BIN/rdrelay-connect
RR_PORT=$(rr_free_port tu) || die "no free port"
WS_PORT=$(rr_free_port t) || die "no free port"
RR_EXTRA_ARGS+=(--tcp-listen "127.0.0.1:$RR_PORT" --ws-listen "127.0.0.1:$WS_PORT")
child_pid() { cat "$T_DIR/$1.child" 2>/dev/null; }
_child_is_new() { local p; p=$(child_pid "$1") && [ -n "$p" ] && [ "$p" != "$2" ] && kill -0 "$p"; }
held_start() { # name port program
    rr_common_args
    rr_start "$1" rdrelay-sockets --pidfile "$T_DIR/$1.child" --tcp "127.0.0.1:$2" \
        -- "$RDRELAY_BIN/$3" "${RR_ARGS[@]}"
}

rr_start_all
held_start tcp "$RR_PORT" rdrelay-tcp
held_start ws "$WS_PORT" rdrelay-ws
start_origin
rr_start serve_tcp "$CONNECT" serve --rd "coap+tcp://127.0.0.1:$RR_PORT" --lt 60 \
    --log-level debug --ep "alice=coap://127.0.0.1:$ORIGIN_PORT"
rr_start serve_ws "$CONNECT" serve --rd "coap+ws://127.0.0.1:$WS_PORT" --lt 60 \
    --log-level debug --ep "bob=coap://127.0.0.1:$ORIGIN_PORT"

_reachable() {
    COAP_TIMEOUT=1 pcoap "$1.$RR_DOMAIN" -m get /time
    [ "$CODE" == 2.05 ]
}
wait_until 30 _reachable alice || die "alice (serve over TCP) never reachable"
wait_until 30 _reachable bob || die "bob (serve over WebSocket) never reachable"
ok "alice (TCP) and bob (WebSocket) reachable by name over UDP"

ms_now() { echo $(($(date +%s%N) / 1000000)); }
for round in 1 2 3; do
    for pair in tcp:alice:serve_tcp ws:bob:serve_ws; do
        IFS=: read -r relay name serve <<<"$pair"
        old=$(child_pid "$relay")
        lost=$(grep -c 'connection to rdrelay lost' "$T_DIR/$serve.log")
        t0=$(ms_now)
        kill -9 "$old"
        wait_until 10 _child_is_new "$relay" "$old" || die "rdrelay-$relay was not restarted"
        wait_until 30 _reachable "$name" || die "round $round: $name never reachable again"
        t1=$(ms_now)
        echo "# round $round: rdrelay-$relay kill -9 -> $name reachable again in $((t1 - t0)) ms"
        assert_eq 1 "$(($(grep -c 'connection to rdrelay lost' "$T_DIR/$serve.log") - lost))" \
            "round $round: serve over $relay noticed the lost connection once"
        wait_ms=$(grep 'connection to rdrelay lost' "$T_DIR/$serve.log" | tail -n 1 |
            sed -E 's/.*reconnecting in ([0-9]+) ms.*/\1/')
        [ "$wait_ms" -ge 100 ] && [ "$wait_ms" -lt 200 ]
        assert_eq 0 $? "round $round: serve over $relay reconnects after 100 ms + jitter ($wait_ms ms)"
        [ $((t1 - t0)) -lt 10000 ]
        assert_eq 0 $? "round $round: $name reachable again within 10 s of the kill"
    done
done

# ---- a relay that stays down: the waits double, serve comes back with it
lost=$(grep -c 'connection to rdrelay lost' "$T_DIR/serve_tcp.log")
rr_stop tcp TERM
_lost_more() { [ $(($(grep -c 'connection to rdrelay lost' "$T_DIR/serve_tcp.log") - lost)) -ge 4 ]; }
wait_until 20 _lost_more || fail "serve over TCP did not keep trying while rdrelay-tcp was down"
waits=$(grep 'connection to rdrelay lost' "$T_DIR/serve_tcp.log" | tail -n 4 |
    sed -E 's/.*reconnecting in ([0-9]+) ms.*/\1/' | tr '\n' ' ')
read -r w1 w2 w3 w4 <<<"$waits"
[ "$w2" -gt "$w1" ] && [ "$w3" -gt "$w2" ] && [ "$w4" -gt "$w3" ]
assert_eq 0 $? "reconnect waits grow while rdrelay-tcp stays down ($waits ms)"
held_start tcp "$RR_PORT" rdrelay-tcp
wait_until 30 _reachable alice || fail "alice not reachable after rdrelay-tcp came back"
ok "alice reachable again once rdrelay-tcp is back"
t_done
