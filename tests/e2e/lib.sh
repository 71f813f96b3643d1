# shellcheck shell=bash
# lib.sh - the shared harness of rdrelay's end-to-end tests.
# Owns: a per-test temp dir (state dir, process logs, client output), the
# processes a test starts (by PID), and the pass/fail count. Talks to the real
# binaries in $RDRELAY_BIN (rdrelay-frontend, rdrelay-udp, ...) and to real
# CoAP peers from Debian's libcoap3-bin (coap-client-notls,
# coap-server-notls). Source it from a tests/e2e/test_*.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   rr_start_all                 # free UDP port, both processes, wait ready
#   coap -m get "$(rd_uri /.well-known/core)"
#   assert_code 2.05 "discovery answers"
#   t_done
#
# Every wait is bounded; every process is stopped by PID by the EXIT trap,
# which also prints the process logs when anything failed and fails the test
# when a sanitizer reported an error in a process.
set -u
set -o pipefail

: "${RDRELAY_BIN:?set RDRELAY_BIN to the bin directory of the build}"
RDRELAY_SRC=${RDRELAY_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
T_NAME=${T_NAME:-$(basename "$0" .sh)}
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rr-$T_NAME.XXXXXX")
T_STATE=$T_DIR/state
mkdir -p "$T_STATE"
T_PASS=0
T_FAIL=0
T_DONE=0
declare -A T_PIDS=()  # process name -> pid, for every process still running
declare -A T_WRAP=()  # process name -> pid of the subshell waiting for it
T_BG_PIDS=()          # background clients (observers)
RR_PORT=""            # relay-udp's UDP port (127.0.0.1 and ::1)
RR_DOMAIN=proxy.localhost
RR_EXTRA_ARGS=()      # extra flags for every rdrelay process (set before rr_start_all)
COAP_TIMEOUT=${COAP_TIMEOUT:-10}

# Sanitizer builds: report, and make UBSan findings visible in the logs.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# ---------------------------------------------------------------- reporting

ok() {
    T_PASS=$((T_PASS + 1))
    echo "ok $((T_PASS + T_FAIL)) - $*"
}

fail() {
    T_FAIL=$((T_FAIL + 1))
    echo "not ok $((T_PASS + T_FAIL)) - $*"
}

# Stop the test here (a precondition failed: nothing after it can be right).
die() {
    fail "$*"
    exit 1
}

assert_eq() { # expected got message
    if [ "$1" == "$2" ]; then
        ok "$3"
    else
        fail "$3"
        printf '    expected: %s\n    got:      %s\n' "$1" "$2"
    fi
}

assert_ne() { # unexpected got message
    if [ "$1" != "$2" ]; then
        ok "$3"
    else
        fail "$3"
        printf '    expected anything but: %s\n' "$1"
    fi
}

assert_code() { # expected-code message  (checks $CODE from the last coap call)
    if [ "$CODE" == "$1" ]; then
        ok "$2"
    else
        fail "$2"
        printf '    request:  %s\n    expected: %s\n    got:      %s %s\n' \
            "$COAP_CMD" "$1" "$CODE" "$PAYLOAD"
    fi
}

assert_contains() { # haystack needle message
    if [[ "$1" == *"$2"* ]]; then
        ok "$3"
    else
        fail "$3"
        printf '    expected to contain: %s\n    got: %s\n' "$2" "$1"
    fi
}

assert_not_contains() { # haystack needle message
    if [[ "$1" != *"$2"* ]]; then
        ok "$3"
    else
        fail "$3"
        printf '    expected not to contain: %s\n    got: %s\n' "$2" "$1"
    fi
}

assert_match() { # regex string message
    if [[ "$2" =~ $1 ]]; then
        ok "$3"
    else
        fail "$3"
        printf '    expected to match: %s\n    got: %s\n' "$1" "$2"
    fi
}

# An error answer must carry a short diagnostic (team rule).
assert_diagnostic() { # message
    if [ -n "$PAYLOAD" ] && [ ${#PAYLOAD} -le 200 ]; then
        ok "$1"
    else
        fail "$1"
        printf '    expected a short diagnostic payload, got: "%s"\n' "$PAYLOAD"
    fi
}

# Print the summary and exit with the result (the EXIT trap cleans up).
t_done() {
    T_DONE=1
    echo "$T_NAME: $T_PASS passed, $T_FAIL failed"
    if [ "$T_FAIL" -ne 0 ]; then
        exit 1
    fi
    exit 0
}

# ---------------------------------------------------------------- waiting

# wait_until SECONDS command...: poll every 0.2 s until the command succeeds.
wait_until() {
    local limit=$1 i
    shift
    for ((i = 0; i < limit * 5; i++)); do
        if "$@"; then
            return 0
        fi
        sleep 0.2
    done
    "$@"
}

# wait_output SECONDS WANT command...: poll like wait_until until the
# command prints exactly WANT; print what it printed last. For a value read
# after an event (a count, a port, a log line): the caller asserts on the
# output as before, so a timeout still fails with the real value.
wait_output() {
    local limit=$1 want=$2 _wo_out=""
    shift 2
    wait_until "$limit" _wait_output_is "$@"
    printf '%s\n' "$_wo_out"
}

# wait_match SECONDS REGEX command...: the same until the output matches
# the extended regular expression REGEX (bash =~).
wait_match() {
    local limit=$1 re=$2 _wo_out=""
    shift 2
    wait_until "$limit" _wait_match_ok "$@"
    printf '%s\n' "$_wo_out"
}

# (bash scoping: these see the caller's locals want, re and _wo_out)
_wait_output_is() { _wo_out=$("$@"); [ "$_wo_out" == "$want" ]; }
_wait_match_ok() { _wo_out=$("$@"); [[ "$_wo_out" =~ $re ]]; }

# ---------------------------------------------------------------- ports

# rr_free_port [KINDS]: a port nothing on this host uses (v4 or v6) for
# the ss socket kinds KINDS (u: UDP, the default; tu: TCP and UDP), from a
# random range so parallel tests do not collide.
rr_free_port() {
    local kinds=${1:-u} i p used
    # The local address is column 4, or 5 behind the Netid column ss adds
    # for several kinds; a port in the column beside it is only avoided too.
    used=$(ss -Han"$kinds" 2>/dev/null | awk '{print $4; print $5}')
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! grep -qE "[:.]$p\$" <<<"$used"; then
            echo "$p"
            return 0
        fi
    done
    echo "rr_free_port: no free port found" >&2
    return 1
}

# udp_bound PORT [NETNS]: something listens on UDP port PORT (in NETNS).
udp_bound() {
    local in=()
    [ -n "${2:-}" ] && in=(ip netns exec "$2")
    "${in[@]}" ss -Huln "( sport = :$1 )" 2>/dev/null | grep -q .
}

# ---------------------------------------------------------------- processes

# Flags every rdrelay process of this test gets: same state dir, same config.
# No metrics listeners (their default ports are fixed, and tests run side by
# side); test_metrics.sh sets its own in RR_EXTRA_ARGS, which come later.
rr_common_args() {
    RR_ARGS=(--state-dir "$T_STATE" --udp-listen "127.0.0.1:$RR_PORT,[::1]:$RR_PORT"
        --proxy-domain "$RR_DOMAIN" --log-level debug --metrics-listen "")
    if [ ${#RR_EXTRA_ARGS[@]} -gt 0 ]; then
        RR_ARGS+=("${RR_EXTRA_ARGS[@]}")
    fi
}

# rr_start NAME PROGRAM [args...]: start PROGRAM (path, or a name in
# $RDRELAY_BIN) in the background, output appended to $T_DIR/NAME.log.
# A small wrapper subshell waits for it and records its exit status, so a
# process killed on purpose does not make bash print a "Killed" notice.
rr_start() {
    local name=$1 prog=$2 i
    shift 2
    case "$prog" in
        /*) ;;
        *) prog=$RDRELAY_BIN/$prog ;;
    esac
    [ -x "$prog" ] || die "$prog is not built"
    # RR_VALGRIND=1 (tools/memcheck.sh): our own daemons run under valgrind
    # memcheck; its report goes to the log, which t_cleanup checks
    local vg=()
    if [ "${RR_VALGRIND:-0}" = 1 ] && [[ "$prog" == "$RDRELAY_BIN"/rdrelay-* ]]; then
        vg=(valgrind --leak-check=full --show-leak-kinds=definite
            --errors-for-leak-kinds=definite --track-fds=no
            "--suppressions=$RDRELAY_SRC/tests/valgrind.supp")
    fi
    echo "=== start $(date +%T.%N) ${vg[*]} $prog $*" >>"$T_DIR/$name.log"
    rm -f "$T_DIR/$name.pid" "$T_DIR/$name.exit"
    (
        "${vg[@]}" "$prog" "$@" >>"$T_DIR/$name.log" 2>&1 &
        echo $! >"$T_DIR/$name.pid"
        wait $!
        echo $? >"$T_DIR/$name.exit"
    ) 2>/dev/null &
    T_WRAP[$name]=$!
    for ((i = 0; i < 100; i++)); do
        [ -s "$T_DIR/$name.pid" ] && break
        sleep 0.05
    done
    T_PIDS[$name]=$(cat "$T_DIR/$name.pid" 2>/dev/null)
    [ -n "${T_PIDS[$name]}" ] || die "could not start $prog"
}

rr_start_frontend() {
    rr_common_args
    rr_start frontend rdrelay-frontend "${RR_ARGS[@]}" "$@"
}

rr_start_udp() {
    rr_common_args
    rr_start udp rdrelay-udp "${RR_ARGS[@]}" "$@"
}

rr_alive() { # name
    local pid=${T_PIDS[$1]:-}
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# rr_stop NAME [SIGNAL]: signal the process (TERM by default), wait for it
# (bounded: 10 s, then KILL). Sets RR_EXIT to its exit status.
rr_stop() {
    local name=$1 sig=${2:-TERM} pid i
    pid=${T_PIDS[$name]:-}
    RR_EXIT=""
    [ -n "$pid" ] || return 0
    kill -s "$sig" "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "# $name (pid $pid) did not stop on $sig within 10 s: KILL" >&2
        kill -s KILL "$pid" 2>/dev/null
    fi
    wait "${T_WRAP[$name]}" 2>/dev/null
    RR_EXIT=$(cat "$T_DIR/$name.exit" 2>/dev/null)
    echo "=== stopped $(date +%T.%N) by $sig, exit status $RR_EXIT" >>"$T_DIR/$name.log"
    unset "T_PIDS[$name]" "T_WRAP[$name]"
}

# Is the RD answering through relay-udp? (GET /.well-known/core -> 2.05)
rr_answers() {
    local saved=$COAP_TIMEOUT
    COAP_TIMEOUT=1
    coap -m get "$(rd_uri /.well-known/core)"
    COAP_TIMEOUT=$saved
    [ "$CODE" == "2.05" ]
}

# rr_wait_ready [SECONDS]: until the RD answers; fails the test if a process
# died or it never answers.
rr_wait_ready() {
    local limit=${1:-30} i name
    for ((i = 0; i < limit; i++)); do
        for name in "${!T_PIDS[@]}"; do
            rr_alive "$name" || die "process $name exited while waiting for readiness"
        done
        if rr_answers; then
            return 0
        fi
        sleep 0.2
    done
    die "rdrelay did not answer GET /.well-known/core within about ${limit}s"
}

# Pick a port, start rd-frontend and relay-udp, wait until the RD answers.
rr_start_all() {
    if [ -z "$RR_PORT" ]; then
        RR_PORT=$(rr_free_port) || die "no free UDP port"
    fi
    rr_start_frontend
    rr_start_udp
    rr_wait_ready
}

# A coap-server-notls origin on 127.0.0.1: sets ORIGIN_PORT.
start_origin() {
    local i
    ORIGIN_PORT=$(rr_free_port) || die "no free UDP port"
    rr_start origin "$(command -v coap-server-notls)" -A 127.0.0.1 -p "$ORIGIN_PORT"
    for ((i = 0; i < 50; i++)); do
        COAP_TIMEOUT=1 coap -m get "coap://127.0.0.1:$ORIGIN_PORT/.well-known/core"
        [ "$CODE" == "2.05" ] && return 0
        sleep 0.1
    done
    die "coap-server-notls did not start on port $ORIGIN_PORT"
}

# ---------------------------------------------------------------- CoAP client

rd_uri() { echo "coap://127.0.0.1:$RR_PORT$1"; }
rd_uri6() { echo "coap://[::1]:$RR_PORT$1"; }

# coap [coap-client-notls options...] URI
# One request with coap-client-notls (bounded by $COAP_TIMEOUT seconds).
# Sets CODE ("2.05", ..., or "timeout"), PAYLOAD (the body of a 2.xx answer,
# reassembled if block-wise; the diagnostic of an error), LOCATION (the
# Location-Path options joined, "/reg/3"), RESP (the response header line
# coap-client printed) and COAP_CMD (for messages).
coap() {
    local out=$T_DIR/coap.out err=$T_DIR/coap.err body=$T_DIR/coap.body
    local a
    COAP_CMD="coap-client-notls"
    for a in "$@"; do
        COAP_CMD+=" '$a'"
    done
    rm -f "$body"
    timeout $((COAP_TIMEOUT + 5)) coap-client-notls -v 6 -B "$COAP_TIMEOUT" -o "$body" "$@" \
        >"$out" 2>"$err"
    # -v 6 prints every PDU; the last response line (c:X.YY, not an empty
    # ACK 0.00) is the answer.
    RESP=$(grep -E '^v:1 t:(CON|NON|ACK) c:[1-5]\.[0-9]{2} ' "$out" | tail -n 1)
    if [ -z "$RESP" ]; then
        CODE=timeout
        PAYLOAD=""
        LOCATION=""
        return 0
    fi
    CODE=$(sed -E 's/^v:1 t:[A-Z]+ c:([0-9]\.[0-9]{2}) .*/\1/' <<<"$RESP")
    LOCATION=$(grep -oE 'Location-Path:[^], ]*' <<<"$RESP" | sed 's/^Location-Path:/\//' | tr -d '\n')
    if [[ "$CODE" == 2.* ]]; then
        if [ -f "$body" ]; then
            PAYLOAD=$(cat "$body")
        else
            PAYLOAD=""
        fi
    else
        # coap-client prints "4.00 <diagnostic>" on stderr for errors.
        PAYLOAD=$(grep -E '^[1-5]\.[0-9]{2}' "$err" | tail -n 1 | sed -E 's/^[1-5]\.[0-9]{2} ?//')
    fi
    return 0
}

# coap_bg OUTFILE [coap-client-notls options...] URI: run a client in the
# background (e.g. an observer with -s), its PDU dump in OUTFILE.
coap_bg() {
    local outfile=$1
    shift
    # stdbuf: coap-client writes its PDU dump through stdio; line-buffer it
    # so the test can read notifications as they come.
    timeout 120 stdbuf -oL -eL coap-client-notls -v 6 -o "$outfile.body" "$@" >"$outfile" 2>&1 &
    T_BG_PIDS+=($!)
    BG_PID=$!
}

# ---------------------------------------------------------------- link-format

# One link per line (split at commas outside <> and quotes).
lf_split() {
    awk 'BEGIN { RS = "\001" } {
        out = ""; q = 0; a = 0
        for (i = 1; i <= length($0); i++) {
            c = substr($0, i, 1)
            if (c == "\"" && !a) q = !q
            else if (c == "<" && !q) a = 1
            else if (c == ">" && !q) a = 0
            if (c == "," && !q && !a) { print out; out = ""; continue }
            if (c == "\n") continue
            out = out c
        }
        if (out != "") print out
    }' <<<"$1"
}

lf_count() {
    if [ -z "$1" ]; then
        echo 0
    else
        lf_split "$1" | wc -l | tr -d ' '
    fi
}

# The value of attribute NAME in one link line (quotes removed).
lf_attr() { # link name
    local re=";$2=(\"([^\"]*)\"|([^;,]*))"
    if [[ "$1" =~ $re ]]; then
        echo "${BASH_REMATCH[2]}${BASH_REMATCH[3]}"
    fi
}

# The link targets (without <>), one per line.
lf_targets() {
    lf_split "$1" | sed -E 's/^<([^>]*)>.*/\1/'
}

# Sorted, space-separated ep= values of an endpoint lookup answer.
lf_eps() {
    local l out=()
    while IFS= read -r l; do
        [ -n "$l" ] && out+=("$(lf_attr "$l" ep)")
    done < <(lf_split "$1")
    if [ ${#out[@]} -gt 0 ]; then
        printf '%s\n' "${out[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
    fi
}

# The link of endpoint EP in an endpoint lookup answer.
lf_ep_link() { # payload ep
    local l
    while IFS= read -r l; do
        if [ "$(lf_attr "$l" ep)" == "$2" ]; then
            echo "$l"
            return 0
        fi
    done < <(lf_split "$1")
}

# "/reg/3/" and "/reg/3" are the same registration resource.
path_norm() { echo "${1%/}"; }

# ---------------------------------------------------------------- RD helpers

RD_DEFAULT_LINKS='</sensors/temp>;rt=temperature;if=sensor,</sensors/light>;rt=light-lux;ct=0'

# rd_register QUERY [PAYLOAD [coap options...]]: POST /rd?QUERY as
# link-format; sets CODE, LOCATION.
rd_register() {
    local q=$1 payload=${2:-$RD_DEFAULT_LINKS}
    shift
    [ $# -gt 0 ] && shift
    coap -m post -t 40 -e "$payload" "$@" "$(rd_uri "/rd?$q")"
}

rd_lookup_ep() { # [query]
    if [ -n "${1:-}" ]; then
        coap -m get "$(rd_uri "/rd-lookup/ep?$1")"
    else
        coap -m get "$(rd_uri /rd-lookup/ep)"
    fi
}

rd_lookup_res() { # [query]
    if [ -n "${1:-}" ]; then
        coap -m get "$(rd_uri "/rd-lookup/res?$1")"
    else
        coap -m get "$(rd_uri /rd-lookup/res)"
    fi
}

# A snapshot of everything the RD shows (both lookups), to prove that a
# rejected request changed nothing.
rd_snapshot() {
    local ep res
    rd_lookup_ep
    ep="$CODE $PAYLOAD"
    rd_lookup_res
    res="$CODE $PAYLOAD"
    printf '%s\n%s\n' "$ep" "$res"
}

# rd_unchanged WHAT: both lookups are as in $BASELINE (an rd_snapshot the
# test took): a rejected request changed nobody's registration.
rd_unchanged() {
    local snap
    snap=$(rd_snapshot)
    if [ "$snap" == "$BASELINE" ]; then
        ok "$1: store unchanged"
    else
        fail "$1: store unchanged"
        diff <(echo "$BASELINE") <(echo "$snap") | sed 's/^/    /'
    fi
}

# rd_refused CODE WHAT coap-args...: the request gets CODE with a short
# diagnostic, and the store is unchanged afterwards (rd_unchanged).
rd_refused() {
    local code=$1 what=$2
    shift 2
    coap "$@"
    assert_code "$code" "$what -> $code"
    assert_diagnostic "$what: $code carries a diagnostic"
    rd_unchanged "$what"
}

# ---------------------------------------------------------------- cleanup

# Every process of this test stopped by PID, background clients first.
t_stop_all() {
    local pid name
    for pid in "${T_BG_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for name in "${!T_PIDS[@]}"; do
        rr_stop "$name" TERM
    done
}

# burst8 REQUEST...: the coap() request REQUEST (a function and its
# arguments, e.g. pcoap HOST -m get /hello) 8 times in a row; sets OKS
# (2.05 answers), LIMITED (5.03 with Max-Age: a token bucket was empty)
# and FIRST (the first answer's code).
burst8() {
    local i
    OKS=0 LIMITED=0 FIRST=""
    for ((i = 0; i < 8; i++)); do
        "$@"
        [ -z "$FIRST" ] && FIRST=$CODE
        if [ "$CODE" == 2.05 ]; then
            OKS=$((OKS + 1))
        elif [ "$CODE" == 5.03 ] && [[ "$RESP" == *Max-Age:* ]]; then
            LIMITED=$((LIMITED + 1))
        fi
    done
}

# t_section NAME: a test in parts on their own processes: the previous
# part's processes stopped and their logs kept as s-PREVIOUS-*.log (so
# every wait on a log line of this part, a registrant's "registered"
# included, sees only this part's lines).
T_SECTION=""
t_section() {
    local f
    t_stop_all
    if [ -n "$T_SECTION" ]; then
        for f in "$T_DIR"/*.log; do
            [ -f "$f" ] || continue
            [[ "$(basename "$f")" == s-* ]] && continue
            mv "$f" "$T_DIR/s-$T_SECTION-$(basename "$f")"
        done
    fi
    T_SECTION=$1
    echo "# ---- $1"
}

# Functions t_cleanup calls once every process is stopped (lib_nat.sh adds
# the deletion of its namespaces: they should be empty by then).
T_AFTER_STOP=()

t_cleanup() {
    local status=$? f hook
    trap - EXIT
    t_stop_all
    for hook in "${T_AFTER_STOP[@]}"; do
        "$hook"
    done
    # A sanitizer finding in any process fails the test, even if every
    # CoAP answer looked right.
    for f in "$T_DIR"/*.log; do
        [ -f "$f" ] || continue
        if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"; then
            fail "sanitizer report in $(basename "$f")"
        fi
        # valgrind (RR_VALGRIND=1): any error, or a definite leak
        if grep -qE '^==[0-9]+== ERROR SUMMARY: [1-9]' "$f"; then
            fail "valgrind memcheck report in $(basename "$f")"
        fi
    done
    if [ "$T_DONE" -eq 0 ] && [ "$status" -eq 0 ]; then
        status=1
        echo "# $T_NAME ended without t_done"
    fi
    if [ "$T_FAIL" -ne 0 ] || [ "$status" -ne 0 ]; then
        for f in "$T_DIR"/*.log; do
            [ -f "$f" ] || continue
            echo "----- $(basename "$f") (last 150 lines) -----"
            tail -n 150 "$f"
        done
        echo "# test dir kept: $T_DIR"
        [ "$status" -eq 0 ] && status=1
    else
        rm -rf "$T_DIR"
    fi
    exit "$status"
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

# bg_wait PID SECONDS: wait (bounded) for a background client to finish.
bg_wait() {
    local pid=$1 limit=$2 i
    for ((i = 0; i < limit * 5; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    return 1
}

# The last response code in a coap_bg output file ("" if none).
bg_code() {
    grep -E '^v:1 t:(CON|NON|ACK) c:[1-5]\.[0-9]{2} ' "$1" | tail -n 1 |
        sed -E 's/^v:1 t:[A-Z]+ c:([0-9]\.[0-9]{2}) .*/\1/'
}
