# shellcheck shell=bash
# lib_proxy.sh - helpers for the proxy and NAT e2e tests, on top of lib.sh.
# Owns: starting rr-registrant fixtures (tests/fixtures/registrant.c) and
# waiting for their registrations, requests through the relay by proxy host
# name, the FNV-1a hash the fixture's /echo reports, and running the CoAP
# client inside a network namespace. Talks to lib.sh (processes, coap(),
# assertions) and to rr-registrant's stdout lines ("listening ADDR:PORT",
# "registered /reg/N", "renewed /reg/N", "forwarded N").
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

# pcoap_wire HOST [coap-client options...] PATH: like pcoap, but with
# coap-client -v 7, which prints every PDU sent and received, empty ACKs
# included (-v 6 hides them). The dump is $T_DIR/wire.out. Sets CODE, RESP,
# PAYLOAD (the body of a 2.xx answer) and REQ_MID (the request's message id).
pcoap_wire() {
    local host=$1 path=${*: -1} out=$T_DIR/wire.out body=$T_DIR/wire.body
    shift
    set -- "${@:1:$(($# - 1))}"
    rm -f "$body"
    COAP_CMD="coap-client-notls -v 7 -O 3,$host $* $(rd_uri "$path")"
    timeout $((COAP_TIMEOUT + 5)) coap-client-notls -v 7 -B "$COAP_TIMEOUT" -o "$body" \
        -O "3,$host" "$@" "$(rd_uri "$path")" >"$out" 2>&1
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
