# shellcheck shell=bash
# lib_proxy.sh - helpers for the proxy and NAT e2e tests, on top of lib.sh.
# Owns: starting rr-registrant fixtures (tests/fixtures/registrant.c) and
# waiting for their registrations, requests through the relay by proxy host
# name, the FNV-1a hash the fixture's /echo reports, the proxy checks the
# UDP proxy tests and lib_tcp.sh's xport_suite share (px_*), running the
# CoAP client inside a network namespace, and the node-coap tests (their
# directory, the check that node-coap is installed, running one file).
# Talks to lib.sh (processes, coap(), assertions) and to rr-registrant's
# stdout lines ("listening ADDR:PORT", "registered /reg/N", "renewed
# /reg/N", "forwarded N").
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/lib_proxy.sh"
#   rr_start_all
#   reg_start alice --ep alice
#   pcoap alice.proxy.localhost -m get /hello
#   assert_code 2.05 "GET /hello through the relay"

# ---------------------------------------------------------------- fixtures

# reg_start NAME [rr-registrant flags...]: start a registrant that registers
# at this test's relay (IPv4) and serves on a free loopback port, then wait
# for its first registration. Extra flags override the defaults (later wins
# in getopt), e.g. --rd coap://[::1]:PORT/rd --listen [::1]:0.
reg_start() {
    local name=$1
    shift
    rr_start "$name" rr-registrant --rd "coap://127.0.0.1:$RR_PORT/rd" --listen 127.0.0.1:0 "$@"
    reg_wait_registered "$name" 1 || die "registrant $name did not register within 15 s"
}

# px_start_alice [rr-registrant flags...]: rd-frontend and relay-udp, and
# the registrant alice (lt 600 s) registered; H is its proxy host name.
px_start_alice() {
    H=alice.$RR_DOMAIN
    rr_start_all
    reg_start alice --ep alice --lt 600 "$@"
}

# reg_uri NAME PATH: PATH at registrant NAME itself (not through the relay).
reg_uri() { echo "coap://127.0.0.1:$(reg_port "$1")$2"; }

# reg_start_noreg NAME [flags...]: a registrant that only serves (no RD).
reg_start_noreg() {
    local name=$1
    shift
    rr_start "$name" rr-registrant --no-register --listen 127.0.0.1:0 "$@"
    wait_until 10 grep -q '^listening ' "$T_DIR/$name.log" ||
        die "registrant $name did not start"
}

# How many lines "WORD ..." registrant NAME printed.
reg_count() { # name word
    grep -c "^$2 " "$T_DIR/$1.log" 2>/dev/null || true
}

# _reg_has NAME WORD N: NAME printed at least N lines "WORD ...".
_reg_has() { [ "$(reg_count "$1" "$2")" -ge "$3" ]; }

# reg_wait_registered NAME N [SECONDS]: until NAME printed N "registered".
reg_wait_registered() {
    local name=$1 n=$2 limit=${3:-15}
    wait_until "$limit" _reg_has "$name" registered "$n"
}

# reg_wait_renewed NAME N [SECONDS]: until NAME printed N "renewed".
reg_wait_renewed() {
    local name=$1 n=$2 limit=${3:-30}
    wait_until "$limit" _reg_has "$name" renewed "$n"
}

# The registration resource ("/reg/3") and the port NAME listens on.
reg_location() { grep '^registered ' "$T_DIR/$1.log" | tail -n 1 | awk '{print $2}'; }
reg_port() { grep '^listening ' "$T_DIR/$1.log" | tail -n 1 | sed -E 's/.*:([0-9]+)$/\1/'; }

# ---------------------------------------------------------------- requests

# pcoap HOST [coap-client options...] PATH: one request to the relay's IPv4
# address with Uri-Host HOST (the client operator's view: the proxy name
# resolves to rdrelay). Sets what coap() sets.
pcoap() {
    local host=$1 path=${*: -1}
    shift
    set -- "${@:1:$(($# - 1))}"
    coap -O "3,$host" "$@" "$(rd_uri "$path")"
}

# pcoap6: the same through the relay's IPv6 address.
pcoap6() {
    local host=$1 path=${*: -1}
    shift
    set -- "${@:1:$(($# - 1))}"
    coap -O "3,$host" "$@" "$(rd_uri6 "$path")"
}

# After pcoap/coap (-v 6, which hides empty ACKs): "piggybacked" if the
# answer came in the ACK of the request, "separate" if it came as its own
# CON/NON message (a CON request then got an empty ACK, or none, first),
# else "unknown". pcoap_wire + wire_answer_kind also prove the empty ACK.
last_answer_kind() {
    if [[ "$RESP" == "v:1 t:ACK "* ]]; then
        echo piggybacked
    elif [[ "$RESP" == "v:1 t:CON "* ]] || [[ "$RESP" == "v:1 t:NON "* ]]; then
        echo separate
    else
        echo unknown
    fi
}

# How the px_* checks and pcoap_wire reach the relay: PX_REQ HOST
# [options...] PATH sends one request (pcoap; xport_suite: xcoap TR FAM),
# PX_URI PATH is the relay's URI of PATH (rd_uri; xport_suite: rd_uri_x TR FAM).
PX_REQ=(pcoap)
PX_URI=(rd_uri)

# pcoap_wire HOST [coap-client options...] PATH: like pcoap (through
# PX_URI), but with coap-client -v 7, which prints every PDU sent and
# received, empty ACKs included (-v 6 hides them). The dump is
# $T_DIR/wire.out. Sets CODE, RESP, PAYLOAD (the body of a 2.xx answer) and
# REQ_MID (the request's message id).
pcoap_wire() {
    local host=$1 path=${*: -1} out=$T_DIR/wire.out body=$T_DIR/wire.body uri
    shift
    set -- "${@:1:$(($# - 1))}"
    rm -f "$body"
    uri=$("${PX_URI[@]}" "$path")
    COAP_CMD="coap-client-notls -v 7 -O 3,$host $* $uri"
    timeout $((COAP_TIMEOUT + 5)) coap-client-notls -v 7 -B "$COAP_TIMEOUT" -o "$body" \
        -O "3,$host" "$@" "$uri" >"$out" 2>&1
    REQ_MID=$(grep -E '^v:1 t:(CON|NON) c:(GET|POST|PUT|DELETE|FETCH|PATCH|iPATCH) ' "$out" |
        head -n 1 | sed -E 's/.* i:([0-9a-f]+) .*/\1/')
    RESP=$(grep -E '^v:1 t:(CON|NON|ACK) c:[1-5]\.[0-9]{2} ' "$out" | tail -n 1)
    if [ -z "$RESP" ]; then
        CODE=timeout
        PAYLOAD=""
        return 0
    fi
    CODE=$(sed -E 's/^v:1 t:[A-Z]+ c:([0-9]\.[0-9]{2}) .*/\1/' <<<"$RESP")
    PAYLOAD=$(cat "$body" 2>/dev/null)
}

# After pcoap_wire: "piggybacked" (the ACK of the request carried the
# answer), "separate" (an empty ACK of the request came first, then the
# answer as CON/NON), or "unknown".
wire_answer_kind() {
    local out=$T_DIR/wire.out first
    # The first PDU about the request's message id other than the request itself.
    first=$(grep -E "^v:1 t:ACK c:[0-5]\.[0-9]{2} i:$REQ_MID " "$out" | head -n 1)
    if [[ "$first" == "v:1 t:ACK c:0.00 "* ]] && [[ "$RESP" =~ ^v:1\ t:(CON|NON)\  ]]; then
        echo separate
    elif [[ "$first" =~ ^v:1\ t:ACK\ c:[1-5] ]] && [[ "$RESP" == "$first" ]]; then
        echo piggybacked
    else
        echo unknown
    fi
}

# ---------------------------------------------------------------- data

# FNV-1a 64 of a file, 16 hex digits, as /echo reports it (bash arithmetic
# wraps modulo 2^64, which is exactly FNV's multiplication).
fnv1a64() { # file
    local h=$((0xcbf29ce484222325)) b
    for b in $(od -An -v -tu1 "$1"); do
        h=$(((h ^ b) * 0x100000001b3))
    done
    printf '%016x\n' "$h"
}

# The "opt:NUM:HEX" lines of an /echo answer for option NUM (may be several).
echo_opt() { # payload num
    grep -E "^opt:$2:" <<<"$1" | sed -E "s/^opt:$2://"
}

echo_field() { # payload name
    grep -E "^$2:" <<<"$1" | head -n 1 | sed -E "s/^$2://"
}

# ---------------------------------------------------------------- shared proxy checks

# The options of px_post_options' request: ETag, Accept and 65000 (elective,
# safe, unregistered) with a binary value.
PX_ECHO_OPTS=(-O '4,0xdeadbeef' -O '17,0x28' -O '65000,0x00ff00fe7f')
PX_ECHO_PATH='/echo?a=1&b=%00x'

# px_post_options HOST [extra coap-client options...]: POST a binary payload
# ($T_DIR/bin.dat) with PX_ECHO_OPTS to the endpoint's /echo through the
# relay, then check what the endpoint saw: Uri-Host and Uri-Port removed,
# ETag, Accept, option 65000 and the Uri-Query options (a NUL byte
# included) unchanged and in order, the payload byte-identical, Hop-Limit
# added. The caller asserts the response code ($CODE) and any extra option.
px_post_options() {
    local host=$1 hl
    shift
    printf '\000\001\377\376binary\200\000' >"$T_DIR/bin.dat"
    "${PX_REQ[@]}" "$host" -m post -f "$T_DIR/bin.dat" "${PX_ECHO_OPTS[@]}" "$@" "$PX_ECHO_PATH"
    assert_eq "" "$(echo_opt "$PAYLOAD" 3)" "Uri-Host (3) is removed before forwarding"
    assert_eq "" "$(echo_opt "$PAYLOAD" 7)" "Uri-Port (7) is removed before forwarding"
    assert_eq deadbeef "$(echo_opt "$PAYLOAD" 4)" "ETag (4) arrives unchanged"
    assert_eq 28 "$(echo_opt "$PAYLOAD" 17)" "Accept (17) arrives unchanged"
    assert_eq 00ff00fe7f "$(echo_opt "$PAYLOAD" 65000)" "unknown safe option 65000 arrives byte-identical"
    assert_eq "$(printf 'a=1' | od -An -tx1 | tr -d ' \n')
$(printf 'b=\000x' | od -An -tx1 | tr -d ' \n')" "$(echo_opt "$PAYLOAD" 15)" \
        "Uri-Query options (incl. a NUL byte) arrive unchanged, in order"
    assert_eq "$(od -An -v -tx1 "$T_DIR/bin.dat" | tr -d ' \n')" "$(echo_field "$PAYLOAD" payload)" \
        "a binary payload arrives byte-identical"
    hl=$(echo_opt "$PAYLOAD" 16)
    # The endpoint (libcoap) may decrement Hop-Limit itself before /echo sees it.
    assert_match '^[0-9a-f]{2}$' "$hl" "Hop-Limit (16) was added on the way (endpoint saw 0x$hl)"
}

# px_assert_block1 DUMP ANSWER_TYPES: a 5000-byte upload in 256-byte
# blocks (coap-client -v 7 dump DUMP) went block by block: >= 20 Block1
# requests, >= 19 answered 2.31 Continue in messages of ANSWER_TYPES
# ("ACK", or "(ACK|CON)" where the answer may come separately).
px_assert_block1() {
    local b1 c231
    b1=$(grep -cE '^v:1 t:CON c:PUT .*Block1:' "$1")
    c231=$(grep -cE "^v:1 t:$2 c:2\.31 " "$1")
    if [ "$b1" -ge 20 ] && [ "$c231" -ge 19 ]; then
        ok "the upload went as $b1 Block1 requests, $c231 answered 2.31 Continue (not reassembled on the way)"
    else
        fail "expected >= 20 Block1 requests and >= 19 2.31 answers, got $b1 and $c231"
    fi
}

# px_same_token HOST: two clients (two sockets) use token "cafe" at the same
# time; the slower asks /slow?ms=900, the faster /slow?ms=300: each must
# get its own answer. Dumps in $T_DIR/tokA and tokB.
px_same_token() {
    local host=$1 pa pb
    coap_bg "$T_DIR/tokA" -B 10 -T cafe -O "3,$host" "$("${PX_URI[@]}" '/slow?ms=900')"
    pa=$BG_PID
    coap_bg "$T_DIR/tokB" -B 10 -T cafe -O "3,$host" "$("${PX_URI[@]}" '/slow?ms=300')"
    pb=$BG_PID
    bg_wait "$pa" 20
    bg_wait "$pb" 20
    assert_eq "slow 900" "$(cat "$T_DIR/tokA.body" 2>/dev/null)" "client A (token cafe, 900 ms) got its own answer"
    assert_eq "slow 300" "$(cat "$T_DIR/tokB.body" 2>/dev/null)" "client B (token cafe, 300 ms) got its own answer"
}

# px_assert_obs_end DUMP REGISTRANT: the notifications of an observer's dump
# ("obs N" payloads) increase, and the client's cancellation when -s ran
# out (GET Observe: 1) reached the endpoint REGISTRANT.
px_assert_obs_end() {
    local vals
    vals=$(grep -oE "'obs [0-9]+'" "$1" | tr -dc '0-9\n')
    if [ -n "$vals" ] && [ "$(sort -n <<<"$vals")" == "$vals" ] && [ "$(sort -nu <<<"$vals" | wc -l)" -ge 3 ]; then
        ok "notification payloads increase (obs $(head -n 1 <<<"$vals") .. $(tail -n 1 <<<"$vals"))"
    else
        fail "notification payloads do not increase: $(tr '\n' ' ' <<<"$vals")"
    fi
    wait_until 5 grep -q '^observe cancel' "$T_DIR/$2.log" &&
        ok "the client's cancellation (GET Observe: 1) reached the endpoint" ||
        fail "the endpoint never saw the cancellation"
}

# px_assert_loop_bounded REGISTRANT: after a forwarding loop through the
# forwarding registrant REGISTRANT ended in 5.08, it went round 2..16 times
# (Hop-Limit 16) and stays ended: nothing forwarded in the next second (an
# absence, so a fixed wait).
px_assert_loop_bounded() {
    local fwd
    fwd=$(reg_count "$1" forwarded)
    if [ "$fwd" -ge 2 ] && [ "$fwd" -le 16 ]; then
        ok "the loop went round $fwd times, bounded by Hop-Limit 16 (no storm)"
    else
        fail "the loop went round $fwd times (expected 2..16)"
    fi
    sleep 1
    assert_eq "$fwd" "$(reg_count "$1" forwarded)" "no further forwarding after the 5.08"
}

# ---------------------------------------------------------------- namespaces

# coap_ns NS [coap() arguments...]: coap() with the client inside network
# namespace NS (a wrapper first on PATH runs it through ip netns exec).
coap_ns() {
    local ns=$1
    shift
    _coap_ns_wrapper
    COAP_NETNS=$ns coap "$@"
}

_coap_ns_wrapper() {
    local w=$T_DIR/nswrap
    [ -x "$w/coap-client-notls" ] && return 0
    mkdir -p "$w"
    cat >"$w/coap-client-notls" <<EOF
#!/bin/sh
# Runs the real client inside \$COAP_NETNS when set (lib_proxy.sh coap_ns).
if [ -n "\${COAP_NETNS:-}" ]; then
    exec ip netns exec "\$COAP_NETNS" $(command -v coap-client-notls) "\$@"
fi
exec $(command -v coap-client-notls) "\$@"
EOF
    chmod +x "$w/coap-client-notls"
    PATH=$w:$PATH
}

# ---------------------------------------------------------------- node-coap

# tests/e2e/node: the node test files and their node_modules (npm ci from
# the committed package-lock.json; tools/run-tests.sh runs it).
NODE_DIR=$RDRELAY_SRC/tests/e2e/node

# node_need_coap: node and node-coap are there, else the test dies.
node_need_coap() {
    command -v node >/dev/null || die "node is not installed (tools/setup-deps.sh)"
    [ -d "$NODE_DIR/node_modules/coap" ] ||
        die "node-coap missing: run 'npm ci' in $NODE_DIR (tools/run-tests.sh does)"
}

# node_run_file FILE [NAME=VALUE...]: run one node:test file with those
# variables in its environment (bounded: 180 s), one ok/fail line for it
# with node's summary, or its whole output when it failed.
node_run_file() {
    local f=$1
    shift
    echo "# node $(basename "$f")"
    if env "$@" timeout 180 node "$f" >"$T_DIR/node.out" 2>&1; then
        ok "node-coap: $(basename "$f")"
        grep -E '^# (pass|fail|tests)' "$T_DIR/node.out" | sed 's/^/    /'
    else
        fail "node-coap: $(basename "$f")"
        sed 's/^/    /' "$T_DIR/node.out"
    fi
}
