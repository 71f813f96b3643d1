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

# Was the last answer piggybacked (ACK carrying the code) or separate (an
# empty ACK first, then a CON/NON response)? Uses coap()'s PDU dump.
last_answer_kind() {
    local out=$T_DIR/coap.out
    if [[ "$RESP" == "v:1 t:ACK "* ]]; then
        echo piggybacked
    elif grep -qE '^v:1 t:ACK c:0\.00 ' "$out" && [[ "$RESP" == "v:1 t:CON "* ]]; then
        echo separate
    else
        echo "unknown"
    fi
}

# The message id of the first request coap-client sent (hex, as printed).
first_request_mid() {
    grep -E '^v:1 t:(CON|NON) c:(GET|POST|PUT|DELETE|FETCH|PATCH|iPATCH) ' "$T_DIR/coap.out" |
        head -n 1 | sed -E 's/.* i:([0-9a-f]+) .*/\1/'
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
