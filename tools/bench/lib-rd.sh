# shellcheck shell=sh
# tools/bench/lib-rd.sh - what the benchmark scripts (run-lookups.sh,
# smoke-rd.sh, run-bench.sh, cpu-per-req.sh, run-transports.sh) share:
# start rd-frontend and relay-udp on loopback with their own state dir,
# wait (bounded) until the RD answers, the proxied UDP set-up with two
# origins, stop what they started, read a process's CPU ticks, check
# that the binaries are built.
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

# bench_require TAG BIN NAME...: each NAME built in BIN, or say which is
# missing and fail (the caller exits 2)
bench_require() {
    _tag=$1 _dir=$2
    shift 2
    for _b in "$@"; do
        [ -x "$_dir/$_b" ] || { echo "$_tag: $_dir/$_b missing (build first)" >&2; return 1; }
    done
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

# bench_proxy_start TAG BIN RELAY ORIGIN REG DOMAIN [settings...]: the
# proxied set-up the UDP benchmarks (run-bench.sh, cpu-per-req.sh) measure:
# coap-server-notls on ORIGIN; rd-frontend and relay-udp on RELAY with the
# bench limits and the settings; rr-registrant on REG registered as
# benchreg; coap-server-notls registered from its own port as benchorigin
# (coap-client-notls -p shares it: libcoap binds with SO_REUSEADDR); waits
# (bounded) until both answer through the relay. Every program runs under
# $BENCH_RUN (e.g. "nice -n 5"; empty: as is). Logs in $TMP; sets CS_PID
# FE_PID UDP_PID REG_PID; on failure prints why (TAG: ...) and returns 1.
bench_proxy_start() {
    _tag=$1 _bin=$2 _relay=$3 _origin=$4 _reg=$5 _dom=$6
    shift 6
    command -v coap-server-notls >/dev/null ||
        { echo "$_tag: coap-server-notls missing (tools/setup-deps.sh)" >&2; return 1; }
    # shellcheck disable=SC2086
    $BENCH_RUN coap-server-notls -A 127.0.0.1 -p "$_origin" >"$TMP/origin.log" 2>&1 &
    CS_PID=$!
    PIDS="$PIDS $CS_PID"
    _common="--state-dir $TMP --udp-listen 127.0.0.1:$_relay --proxy-domain $_dom --log-level warn"
    # shellcheck disable=SC2086
    $BENCH_RUN "$_bin/rdrelay-frontend" $_common $RD_BENCH_LIMITS "$@" >"$TMP/frontend.log" 2>&1 &
    FE_PID=$!
    PIDS="$PIDS $FE_PID"
    # shellcheck disable=SC2086
    $BENCH_RUN "$_bin/rdrelay-udp" $_common $RD_BENCH_RELAY "$@" >"$TMP/udp.log" 2>&1 &
    UDP_PID=$!
    PIDS="$PIDS $UDP_PID"
    bench_wait_for coap_rd_answers "$_relay" ||
        { echo "$_tag: the RD does not answer" >&2; cat "$TMP"/*.log >&2; return 1; }
    # shellcheck disable=SC2086
    $BENCH_RUN "$_bin/rr-registrant" --rd "coap://127.0.0.1:$_relay/rd" --ep benchreg --lt 3600 \
        --listen "127.0.0.1:$_reg" >"$TMP/reg.out" 2>"$TMP/reg.log" &
    REG_PID=$!
    PIDS="$PIDS $REG_PID"
    bench_wait_for grep -q registered "$TMP/reg.out" ||
        { echo "$_tag: rr-registrant did not register" >&2; cat "$TMP/reg.log" >&2; return 1; }
    bench_wait_for coap-client-notls -B 3 -m post -a 127.0.0.1 -p "$_origin" \
        "coap://127.0.0.1:$_relay/rd?ep=benchorigin&proxy=yes&lt=3600" ||
        { echo "$_tag: registering coap-server-notls failed" >&2; return 1; }
    # the routes reach the relay a moment after the 2.01s
    bench_wait_for bench_proxied_ok "$_bin" "$_relay" "benchreg.$_dom" /hello ||
        { echo "$_tag: no route to rr-registrant" >&2; cat "$TMP/udp.log" >&2; return 1; }
    bench_wait_for bench_proxied_ok "$_bin" "$_relay" "benchorigin.$_dom" /time ||
        { echo "$_tag: no route to coap-server-notls" >&2; return 1; }
    return 0
}

coap_rd_answers() { coap-client-notls -B 1 "coap://127.0.0.1:$1/.well-known/core" | grep -q rd; }

# bench_proxied_ok BIN RELAY HOST PATH: one GET through the relay is a 2.xx
bench_proxied_ok() {
    "$1/rdrelay-bench" --target "127.0.0.1:$2" --host "$3" --path "$4" -n 1 -c 1 -d 1 -w 0 \
        --timeout-ms 200 --json 2>/dev/null | grep -q '"ok":1,'
}
