# shellcheck shell=sh
# tools/bench/lib-rd.sh - what the benchmark scripts (run-lookups.sh,
# smoke-rd.sh, run-bench.sh, run-transports.sh) share: start rd-frontend and
# relay-udp on loopback with their own state dir, wait (bounded) until the
# RD answers, stop what they started, read a process's CPU ticks.
# Sets FE (rd-frontend's pid) and appends both pids to PIDS; the caller
# stops them by PID.

# rd_cleanup: stop every pid in PIDS, then remove TMP (an EXIT trap)
rd_cleanup() {
    for _p in $PIDS; do kill "$_p" 2>/dev/null || true; done
    for _p in $PIDS; do wait "$_p" 2>/dev/null || true; done
    rm -rf "$TMP"
}

# bench_wait_for CMD...: retry CMD for at most 10 s
bench_wait_for() {
    _w=0
    while [ $_w -lt 50 ]; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
        _w=$((_w + 1))
    done
    return 1
}

# ticks PID: utime+stime of a process in clock ticks (/proc/PID/stat)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# The bench registers every endpoint from one loopback address: no
# registry limits (the defaults refuse a 1,001st registration per source).
RD_BENCH_LIMITS="--max-regs-per-source 0 --max-registrations 0 --max-links 0"
# ... and no relay-side protection either: the load tool answers no Echo
# challenge (RFC 9175) and sends far above the per-source proxy rate.
RD_BENCH_RELAY="--amplification-limit 0 --proxy-rate-source 0 --proxy-rate-endpoint 0"

# rd_start BIN STATE_DIR PORT [extra settings...]
rd_start() {
    _bin=$1 _state=$2 _port=$3
    shift 3
    "$_bin/rdrelay-frontend" --state-dir "$_state" --udp-listen "127.0.0.1:$_port" \
        --log-level warn $RD_BENCH_LIMITS "$@" >"$_state.fe.log" 2>&1 &
    FE=$!
    PIDS="$PIDS $FE"
    "$_bin/rdrelay-udp" --state-dir "$_state" --udp-listen "127.0.0.1:$_port" \
        --log-level warn $RD_BENCH_RELAY "$@" >"$_state.udp.log" 2>&1 &
    PIDS="$PIDS $!"
    _i=0
    until coap-client-notls -B 1 "coap://127.0.0.1:$_port/.well-known/core" 2>/dev/null |
        grep -q rd; do
        _i=$((_i + 1))
        [ $_i -lt 50 ] || return 1
        sleep 0.2
    done
    return 0
}
