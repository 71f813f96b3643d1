# shellcheck shell=bash
# lib_port.sh - helpers for the port-based virtual hosting e2e tests
# (issue 18), on top of lib.sh and lib_proxy.sh.
# Owns: choosing a free range of hosting ports (UDP and TCP), reading a
# registration's hosting port from the endpoint lookup (port="N"), and
# requests to a hosting port with an IP-literal URI and no Uri-Host (the
# client whose stack cannot send one). Talks to lib.sh (coap(), lookups).
#
#   RR_EXTRA_ARGS=(--port-hosting-range "$(port_range_free 3)")
#   rr_start_all
#   reg_start alice --ep alice
#   P=$(port_of alice)
#   hcoap "$P" -m get /hello

# port_range_free N: "LO-HI", N consecutive ports free for UDP and TCP (v4
# and v6), from a random start so parallel tests do not collide, and
# clear of RR_PORT and WS_PORT when those are chosen already (a listen
# port inside the range is a configuration error).
port_range_free() {
    local n=$1 i k p used ok
    used=$(ss -Hantu 2>/dev/null | awk '{print $5; print $6}')
    used+=$'\n'":${RR_PORT:-0}"$'\n'":${WS_PORT:-0}"
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        ok=1
        for ((k = 0; k < n; k++)); do
            if grep -qE "[:.]$((p + k))\$" <<<"$used"; then
                ok=0
                break
            fi
        done
        if [ $ok == 1 ]; then
            echo "$p-$((p + n - 1))"
            return 0
        fi
    done
    echo "port_range_free: no free range" >&2
    return 1
}

# port_of EP: the hosting port the endpoint lookup shows for EP ("" = none).
port_of() {
    local saved_code=$CODE saved_payload=$PAYLOAD link
    rd_lookup_ep "ep=$1"
    link=$(lf_ep_link "$PAYLOAD" "$1")
    lf_attr "$link" port
    CODE=$saved_code
    PAYLOAD=$saved_payload
}

# hcoap PORT [coap-client options...] PATH: one request to hosting port PORT
# of the relay's 127.0.0.1 (IP literal, so coap-client sends no Uri-Host).
hcoap() {
    local port=$1 path=${*: -1}
    shift
    set -- "${@:1:$(($# - 1))}"
    coap "$@" "coap://127.0.0.1:$port$path"
}

# hcoap6 / hcoap_tcp: the same to [::1], and over TCP.
hcoap6() {
    local port=$1 path=${*: -1}
    shift
    set -- "${@:1:$(($# - 1))}"
    coap "$@" "coap://[::1]:$port$path"
}
hcoap_tcp() {
    local port=$1 path=${*: -1}
    shift
    set -- "${@:1:$(($# - 1))}"
    coap "$@" "coap+tcp://127.0.0.1:$port$path"
}

# port_check_observe URI WHAT: observe URI (no Uri-Host) in the
# background; at least 3 answers with Observe must arrive (bounded: 20 s).
port_check_observe() {
    local uri=$1 what=$2 n
    coap_bg "$T_DIR/obs" -s 30 -m get "$uri"
    n=$(wait_match 20 '^([3-9]|[1-9][0-9]+)$' _port_obs_count)
    assert_match '^([3-9]|[1-9][0-9]+)$' "$n" "Observe $what: notifications arrive ($n)"
    kill "$BG_PID" 2>/dev/null
}
_port_obs_count() { grep -cE '^v:1 t:(CON|NON|ACK) c:2\.05 .*Observe' "$T_DIR/obs" 2>/dev/null || true; }

# port_check_block2 PORT PATH DIRECT_URI WHAT: GET PATH on the hosting port
# (block-wise, coap-client reassembles) gives the body DIRECT_URI gives.
port_check_block2() {
    local port=$1 path=$2 direct=$3 what=$4 got
    hcoap "$port" -m get "$path"
    assert_code 2.05 "Block2 GET $path $what"
    got=$PAYLOAD
    coap -m get "$direct"
    assert_eq "$PAYLOAD" "$got" "the body equals the one served directly (${#got} bytes)"
}

# _port_is EP PORT: the lookup shows PORT for EP (for wait_until).
_port_is() { [ "$(port_of "$1")" == "$2" ]; }
_hcoap_ok() { COAP_TIMEOUT=2 hcoap "$1" -m get "$2"; [ "$CODE" == 2.05 ]; }
