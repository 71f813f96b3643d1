#!/usr/bin/env bash
# test_rd_supervisord.sh - the deployment files work (issue 2, BRIEF §3.1):
# deploy/supervisord.conf (paths pointed at this build and a temp dir) runs
# rdrelay-frontend, rdrelay-udp, rdrelay-tcp and rdrelay-ws with settings from $RDRELAY_CONFIG (the
# documented deploy/rdrelay.conf.example plus overrides); a process killed
# with -9 is restarted by supervisord alone while the other keeps running,
# registrations survive, and stopping supervisord stops everything.
. "$(dirname "$0")/lib.sh"

command -v supervisord >/dev/null || die "supervisord is not installed (tools/setup-deps.sh)"
SV=$T_DIR/sv
mkdir -p "$SV"
RR_PORT=$(rr_free_port) || die "no free UDP port"
WS_PORT=$(rr_free_port t) || die "no free TCP port"

# The example config must load as it is; overrides follow (last one wins).
{
    cat "$RDRELAY_SRC/deploy/rdrelay.conf.example"
    echo "state_dir = $T_STATE"
    echo "udp_listen = 127.0.0.1:$RR_PORT,[::1]:$RR_PORT"
    echo "tcp_listen = 127.0.0.1:$RR_PORT,[::1]:$RR_PORT"
    echo "ws_listen = 127.0.0.1:$WS_PORT,[::1]:$WS_PORT"
    echo "log_level = debug"
} >"$T_DIR/rdrelay.conf"
sed -e "s|%(here)s/../build/bin|$RDRELAY_BIN|g" \
    -e "s|%(here)s/../state|$SV|g" \
    -e "s|^directory=%(here)s/..|directory=$T_DIR|" \
    "$RDRELAY_SRC/deploy/supervisord.conf" >"$T_DIR/supervisord.conf"
SVCONF=$T_DIR/supervisord.conf
assert_eq 0 "$(grep -v '^;' "$SVCONF" | grep -c '%(here)s')" "every path of supervisord.conf was pointed at the test"

export RDRELAY_CONFIG=$T_DIR/rdrelay.conf
rr_start supervisord "$(command -v supervisord)" -n -c "$SVCONF"
rr_wait_ready 60

sctl() { timeout 20 supervisorctl -c "$SVCONF" "$@" 2>&1; }
# A program answers CoAP before supervisord calls it RUNNING: it says
# STARTING until startsecs have passed, longer under load. Wait for it.
for prog in rdrelay-frontend rdrelay-udp rdrelay-tcp rdrelay-ws; do
    st=$(wait_match 30 "$prog +RUNNING" sctl status)
    assert_match "$prog +RUNNING" "$st" "supervisord runs $prog"
done

rd_register 'ep=sv1' '</a>;rt=sv'
assert_code 2.01 "register sv1 -> 2.01"
P1=$LOCATION

# kill -9 one process: supervisord restarts it, the other keeps its pid.
restarted() { # name oldpid
    local p
    p=$(sctl pid "$1")
    [[ "$p" =~ ^[0-9]+$ ]] && [ "$p" != 0 ] && [ "$p" != "$2" ]
}
for prog in rdrelay-udp rdrelay-frontend; do
    other=rdrelay-frontend
    [ "$prog" == rdrelay-frontend ] && other=rdrelay-udp
    old=$(sctl pid "$prog")
    other_old=$(sctl pid "$other")
    [[ "$old" =~ ^[0-9]+$ ]] || die "supervisorctl pid $prog: $old"
    kill -9 "$old"
    if wait_until 20 restarted "$prog" "$old"; then
        ok "supervisord restarted $prog after kill -9 (pid $old -> $(sctl pid "$prog"))"
    else
        fail "supervisord restarted $prog after kill -9: $(sctl status)"
    fi
    assert_eq "$other_old" "$(sctl pid "$other")" "$other kept running while $prog was restarted"
    rr_wait_ready 60
    rd_lookup_ep
    assert_eq "sv1" "$(lf_eps "$PAYLOAD")" "after $prog's restart sv1 is still registered"
    coap -m post "$(rd_uri "$P1")"
    assert_code 2.04 "after $prog's restart an update succeeds"
done

out=$(sctl restart rdrelay-udp)
assert_match 'rdrelay-udp: started' "$out" "supervisorctl restart rdrelay-udp"
rr_wait_ready 60

fe=$(sctl pid rdrelay-frontend)
udp=$(sctl pid rdrelay-udp)
rr_stop supervisord TERM
gone() { ! kill -0 "$fe" 2>/dev/null && ! kill -0 "$udp" 2>/dev/null; }
if wait_until 15 gone; then
    ok "stopping supervisord stopped both processes"
else
    fail "stopping supervisord stopped both processes"
    kill -9 "$fe" "$udp" 2>/dev/null
fi
assert_not_contains "$(cat "$T_DIR/supervisord.log")" "exit status 2" "no process exited with a config error"

t_done
