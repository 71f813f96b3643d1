# shellcheck shell=bash
# lib_tcp.sh - helpers for the CoAP-over-TCP (RFC 8323) and cross-transport
# e2e tests (relay-tcp issue), on top of lib.sh and lib_proxy.sh.
# Owns: starting rdrelay-tcp beside rd-frontend and relay-udp on one port
# number (UDP and TCP, 127.0.0.1 and ::1), TCP registrants (rr-registrant
# --transport tcp), requests through either relay by transport and address
# family (xcoap), and the parameterised proxy suite run once per pair of
# client and registrant transport (xport_suite; test_xport_*.sh are its
# one-line callers). Talks to lib.sh (processes, coap(), assertions),
# lib_proxy.sh (registrant lines, /echo parsing, the px_* proxy checks it
# shares with the UDP proxy tests) and rr-tcp-abuse.
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/lib_proxy.sh"
#   . "$(dirname "$0")/lib_tcp.sh"
#   rt_start_all                          # frontend + udp + tcp, both ready
#   treg_start alice --ep alice           # registers over TCP, serves over it
#   xcoap tcp 4 alice.proxy.localhost -m get /hello

RT_PROG=rdrelay-tcp

# A port number free for both UDP and TCP on this host.
rt_free_port() { rr_free_port tu; }

rd_uri_tcp() { echo "coap+tcp://127.0.0.1:$RR_PORT$1"; }
rd_uri6_tcp() { echo "coap+tcp://[::1]:$RR_PORT$1"; }

# rd_uri_x TRANSPORT FAMILY PATH: the RD's URI by transport (udp|tcp|ws) and
# address family (4|6).
rd_uri_x() {
    local addr=127.0.0.1 scheme=coap port=$RR_PORT
    [ "$2" == 6 ] && addr='[::1]'
    [ "$1" == tcp ] && scheme=coap+tcp
    if [ "$1" == ws ]; then
        # libcoap 4.3.1 has no WebSockets: the TCP<->WebSocket bridge of
        # lib_ws.sh (rr-wsclient --bridge) turns each connection into one
        # WebSocket to rdrelay-ws over FAMILY
        scheme=coap+tcp addr=127.0.0.1 port=$(ws_bridge_port "$2")
    fi
    echo "$scheme://$addr:$port$3"
}

# The flag that sets rdrelay-tcp's CSM timeout, if it has one ("" if not).
rt_csm_flag() {
    "$RDRELAY_BIN/$RT_PROG" --help 2>&1 | grep -oE -- '--(tcp|csm)-timeout[a-z-]*' | head -n 1
}

# rt_start_tcp [flags...]: start rdrelay-tcp with this test's common flags
# (RR_EXTRA_ARGS holds --tcp-listen once rt_start_all ran).
rt_start_tcp() {
    rr_common_args
    rr_start tcp "$RT_PROG" "${RR_ARGS[@]}" "$@"
}

# Is the RD answering through relay-tcp? (IPv4 and IPv6)
rt_answers() {
    local saved=$COAP_TIMEOUT
    COAP_TIMEOUT=1
    coap -m get "$(rd_uri_tcp /.well-known/core)"
    if [ "$CODE" == 2.05 ]; then
        coap -m get "$(rd_uri6_tcp /.well-known/core)"
    fi
    COAP_TIMEOUT=$saved
    [ "$CODE" == "2.05" ]
}

# rt_wait_ready [SECONDS]: until the RD answers over TCP (v4 and v6).
rt_wait_ready() {
    local limit=${1:-30} end=$((SECONDS + ${1:-30})) name
    while :; do
        for name in "${!T_PIDS[@]}"; do
            rr_alive "$name" || die "process $name exited while waiting for readiness"
        done
        rt_answers && return 0
        [ $SECONDS -ge $end ] && die "rdrelay-tcp did not answer GET /.well-known/core within ${limit}s"
        sleep 0.2
    done
}

# rt_start_all [rdrelay-tcp flags...]: one port number for UDP and TCP,
# rd-frontend, relay-udp and relay-tcp (all with the same config), every
# relay ready.
rt_start_all() {
    [ -x "$RDRELAY_BIN/$RT_PROG" ] || die "$RT_PROG is not built"
    if [ -z "$RR_PORT" ]; then
        RR_PORT=$(rr_free_port tu) || die "no free port"
    fi
    RR_EXTRA_ARGS+=(--tcp-listen "127.0.0.1:$RR_PORT,[::1]:$RR_PORT")
    rr_start_all
    rt_start_tcp "$@"
    rt_wait_ready
}

# ---------------------------------------------------------------- registrants

# treg_start NAME [FAMILY] [rr-registrant flags...]: a registrant that
# registers over ONE TCP connection to relay-tcp (IPv4, or IPv6 when FAMILY
# is 6) and serves on it; waits for its first registration.
treg_start() {
    local name=$1 fam=4 rd listen=127.0.0.1:0
    shift
    if [ "${1:-}" == 4 ] || [ "${1:-}" == 6 ]; then
        fam=$1
        shift
    fi
    rd=$(rd_uri_x tcp "$fam" /rd)
    [ "$fam" == 6 ] && listen='[::1]:0'
    rr_start "$name" rr-registrant --rd "$rd" --listen "$listen" "$@"
    reg_wait_registered "$name" 1 || die "TCP registrant $name did not register within 15 s"
}

# xreg_start NAME TRANSPORT FAMILY [flags...]: a registrant over UDP, TCP or
# WebSocket (through lib_ws.sh's bridge).
xreg_start() {
    local name=$1 tr=$2 fam=$3 listen=127.0.0.1:0
    shift 3
    # ws: the registrant talks to the bridge on 127.0.0.1, the bridge to
    # rdrelay-ws over FAMILY
    [ "$fam" == 6 ] && [ "$tr" != ws ] && listen='[::1]:0'
    rr_start "$name" rr-registrant --rd "$(rd_uri_x "$tr" "$fam" /rd)" --listen "$listen" "$@"
    reg_wait_registered "$name" 1 || die "$tr registrant $name did not register within 15 s"
}

# How many "WORD" lines (exactly, or "WORD ...") registrant NAME printed.
reg_count_word() { # name word
    grep -cE "^$2( |\$)" "$T_DIR/$1.log" 2>/dev/null || true
}
_reg_has_word() { [ "$(reg_count_word "$1" "$2")" -ge "$3" ]; }

# reg_wait_word NAME WORD N [SECONDS]
reg_wait_word() {
    wait_until "${4:-15}" _reg_has_word "$1" "$2" "$3"
}

# The local port of registrant NAME's last TCP connection ("connected L R").
treg_local_port() { # name
    grep '^connected ' "$T_DIR/$1.log" | tail -n 1 | awk '{print $2}' | sed -E 's/.*:([0-9]+)$/\1/'
}

# Bytes the established TCP socket on local port PORT has received (kernel
# tcp_info; 0 before the first byte): shows a request reached a registrant.
tcp_bytes_received() { # port
    local n
    n=$(ss -Htni state established "( sport = :$1 )" 2>/dev/null | grep -oE 'bytes_received:[0-9]+' |
        head -n 1 | cut -d: -f2)
    echo "${n:-0}"
}
_tcp_received_above() { [ "$(tcp_bytes_received "$1")" -gt "$2" ]; }

# How many times rdrelay-tcp logged that HOST's route lost its connection.
rt_route_closed_count() { # host
    grep -c "route $1 unreachable: its TCP connection closed" "$T_DIR/tcp.log" 2>/dev/null || true
}
_rt_route_closed() { [ "$(rt_route_closed_count "$1")" -ge "$2" ]; }

# rt_wait_route_closed HOST N [SECONDS]: until rdrelay-tcp has seen HOST's
# connection close N times (it read the FIN and marked the route).
rt_wait_route_closed() {
    wait_until "${3:-5}" _rt_route_closed "$1" "$2"
}

# ---------------------------------------------------------------- requests

# xcoap TRANSPORT FAMILY HOST [coap-client options...] PATH: one request
# through relay-udp or relay-tcp, over IPv4 or IPv6, with Uri-Host HOST.
xcoap() {
    local tr=$1 fam=$2 host=$3 path=${*: -1}
    shift 3
    set -- "${@:1:$(($# - 1))}"
    coap -O "3,$host" "$@" "$(rd_uri_x "$tr" "$fam" "$path")"
}

# ms_now: milliseconds since the epoch (for timing one request).
ms_now() { echo $(($(date +%s%N) / 1000000)); }

# The number of ESTABLISHED TCP connections whose local port is PORT.
tcp_estab_count() { # port
    ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l | tr -d ' '
}

# ---------------------------------------------------------------- the cross-transport suite

# xport_suite CLIENT REG FAMILY: every proxy case of the UDP proxy tests
# (test_proxy_methods/errors/exchange) for a client on transport CLIENT
# reaching an endpoint registered over transport REG (udp|tcp), client and
# registrant both on address family FAMILY (4|6). Starts everything itself.
xport_suite() {
    local c=$1 r=$2 f=$3 H hl notes kind t0 t1
    local what="$c client -> $r registrant, IPv$f"
    H=alice.$RR_DOMAIN
    PX_REQ=(xcoap "$c" "$f")
    PX_URI=(rd_uri_x "$c" "$f")
    RR_EXTRA_ARGS+=(--upstream-timeout-ms 5000)
    if [ "$c" == ws ] || [ "$r" == ws ]; then
        ws_start_all # lib_ws.sh: relay-tcp and relay-ws too
        ws_bridges_start
    else
        rt_start_all
    fi
    xreg_start alice "$r" "$f" --ep alice --lt 600 --obs-interval 400
    echo "# $what"
    if [ "$r" == tcp ] || [ "$r" == ws ]; then
        assert_eq 1 "$(reg_count_word alice connected)" "alice holds one connection to relay-$r"
    fi

    # ---- methods
    xcoap "$c" "$f" $H -m get /hello
    assert_code 2.05 "GET /hello ($what) -> 2.05"
    assert_eq hello "$PAYLOAD" "GET /hello payload"
    assert_contains "$RESP" "Content-Format:text/plain" "Content-Format of the answer passes"
    xcoap "$c" "$f" $H -m put -e put-body /echo
    assert_code 2.04 "PUT /echo -> 2.04"
    assert_eq 0.03 "$(echo_field "$PAYLOAD" code)" "the endpoint saw a PUT"
    assert_eq "$(printf put-body | od -An -v -tx1 | tr -d ' \n')" "$(echo_field "$PAYLOAD" payload)" \
        "the PUT body arrived unchanged"
    xcoap "$c" "$f" $H -m post -e post-body /echo
    assert_code 2.01 "POST /echo -> 2.01"
    assert_eq 0.02 "$(echo_field "$PAYLOAD" code)" "the endpoint saw a POST"
    xcoap "$c" "$f" $H -m delete /echo
    assert_code 2.02 "DELETE /echo -> 2.02"
    assert_eq 0.04 "$(echo_field "$PAYLOAD" code)" "the endpoint saw a DELETE"
    xcoap "$c" "$f" $H -m fetch -e fetch-body /echo
    assert_code 2.05 "FETCH /echo -> 2.05"
    assert_eq 0.05 "$(echo_field "$PAYLOAD" code)" "the endpoint saw a FETCH"
    xcoap "$c" "$f" $H -m get /no-such-resource
    assert_code 4.04 "GET of a resource the endpoint lacks -> the endpoint's 4.04"
    if [ "$c" == udp ]; then
        xcoap "$c" "$f" $H -N -m get /hello
        assert_code 2.05 "NON GET /hello -> 2.05"
        assert_match '^v:1 t:NON ' "$RESP" "a NON request gets a NON answer"
    fi

    # ---- options and payload (OSCORE 9 and EDHOC 21 included)
    px_post_options $H -O 9,0x0901147a -O 21,
    assert_code 2.01 "POST /echo with OSCORE, EDHOC, ETag, Accept and an unknown safe option -> 2.01"
    assert_eq 0901147a "$(echo_opt "$PAYLOAD" 9)" "OSCORE (9) arrives byte-identical"
    assert_eq "opt:21:" "$(grep -E '^opt:21:' <<<"$PAYLOAD")" "EDHOC (21, empty) arrives byte-identical"
    xcoap "$c" "$f" $H -m get "/echo?ropt=14"
    assert_code 2.05 "Max-Age in the endpoint's response passes (2.05)"
    assert_contains "$RESP" "Max-Age:1" "the response carries Max-Age unchanged"
    xcoap "$c" "$f" $H -m get "/echo?ropt=65000"
    assert_contains "$RESP" "65000:" "an unknown safe option in the response passes"

    # ---- block-wise
    "$RDRELAY_BIN/rr-registrant" --print-large >"$T_DIR/large.expected"
    xcoap "$c" "$f" $H -m get /large
    assert_code 2.05 "GET /large -> 2.05"
    cmp -s "$T_DIR/coap.body" "$T_DIR/large.expected" &&
        ok "/large ($(wc -c <"$T_DIR/large.expected") bytes) arrives byte-identical" ||
        fail "/large differs from the endpoint's body"
    xcoap "$c" "$f" $H -m get -b 64 /large
    assert_code 2.05 "GET /large in client-chosen 64-byte Block2 blocks -> 2.05"
    cmp -s "$T_DIR/coap.body" "$T_DIR/large.expected" && ok "/large in 64-byte blocks is byte-identical" ||
        fail "/large in 64-byte blocks differs"
    assert_contains "$(grep -m1 -E '^v:1 t:(ACK|CON) c:2\.05' "$T_DIR/coap.out")" "Block2:0/M/64" \
        "the client's block size reached the endpoint and came back (Block2 passes unchanged)"
    blocks=$(grep -cE '^v:1 t:(ACK|CON) c:2\.05 .*Block2:' "$T_DIR/coap.out")
    if [ "$blocks" -ge 48 ]; then
        ok "/large came as $blocks Block2 answers (not reassembled on the way)"
    else
        fail "/large came as $blocks Block2 answers of 64 bytes, expected 48"
    fi
    head -c 5000 /dev/urandom >"$T_DIR/upload.bin"
    timeout 40 coap-client-notls -v 7 -B 20 -b 256 -m put -f "$T_DIR/upload.bin" -o "$T_DIR/block1.body" \
        -O "3,$H" "$(rd_uri_x "$c" "$f" /echo)" >"$T_DIR/block1.out" 2>&1
    PAYLOAD=$(cat "$T_DIR/block1.body" 2>/dev/null)
    assert_eq 5000 "$(echo_field "$PAYLOAD" len)" "a 5000-byte Block1 upload: the endpoint got all 5000 bytes"
    assert_eq "$(fnv1a64 "$T_DIR/upload.bin")" "$(echo_field "$PAYLOAD" fnv1a64)" \
        "the uploaded body arrived byte-identical (FNV-1a 64)"
    px_assert_block1 "$T_DIR/block1.out" '(ACK|CON)'

    # ---- slow answers
    xcoap "$c" "$f" $H -m get "/slow?ms=10"
    assert_code 2.05 "/slow?ms=10 -> 2.05"
    assert_eq "slow 10" "$PAYLOAD" "/slow?ms=10 payload"
    t0=$(ms_now)
    xcoap "$c" "$f" $H -m get "/slow?ms=1500"
    t1=$(ms_now)
    assert_code 2.05 "/slow?ms=1500 -> 2.05"
    assert_eq "slow 1500" "$PAYLOAD" "/slow?ms=1500 payload (after $((t1 - t0)) ms)"
    if [ "$c" == udp ]; then
        pcoap_wire $H -m get "/slow?ms=0"
        assert_eq piggybacked "$(wire_answer_kind)" "UDP client: an immediate answer comes piggybacked"
        pcoap_wire $H -m get "/slow?ms=700"
        kind=$(wire_answer_kind)
        assert_eq separate "$kind" "UDP client: an answer after 700 ms comes as empty ACK + CON response"
    fi

    # ---- same token, two clients at once
    px_same_token $H

    # ---- Observe
    coap_bg "$T_DIR/obs" -B 20 -s 4 -O "3,$H" "$(rd_uri_x "$c" "$f" /obs)"
    bg_wait "$BG_PID" 30 || fail "the observer did not end within 30 s"
    notes=$(grep -cE '^v:1 t:(CON|NON|ACK) c:2\.05 .*Observe:' "$T_DIR/obs")
    if [ "$notes" -ge 4 ]; then
        ok "Observe: the first answer and $((notes - 1)) notifications came through in 4 s"
    else
        fail "Observe: $notes answers with Observe in 4 s, expected >= 4 (1 + 3 notifications)"
    fi
    px_assert_obs_end "$T_DIR/obs" alice

    # ---- errors: unknown name, Hop-Limit, loop
    xcoap "$c" "$f" nobody.$RR_DOMAIN -m get /hello
    assert_code 5.05 "unknown name nobody.$RR_DOMAIN -> 5.05"
    assert_contains "$PAYLOAD" "no registration with that name" "the 5.05 diagnostic names the reason"
    xcoap "$c" "$f" $H -m get -O 16,0x05 /echo
    assert_code 2.05 "Hop-Limit 5 -> forwarded"
    hl=$(echo_opt "$PAYLOAD" 16)
    if [ -n "$hl" ] && [ $((16#$hl)) -lt 5 ]; then
        ok "Hop-Limit was decremented on the way (5 -> endpoint saw $((16#$hl)))"
    else
        fail "Hop-Limit 5 was not decremented (endpoint saw '$hl')"
    fi
    xcoap "$c" "$f" $H -m get -O 16,0x01 /echo
    assert_code 5.08 "Hop-Limit 1 -> 5.08 (nothing left to forward with)"

    # A registrant over REG that forwards every request back to rdrelay
    # over CLIENT's transport with Uri-Host loop.<domain>.
    local fwduri
    fwduri=$(rd_uri_x "$c" "$f" "")
    xreg_start loop "$r" "$f" --ep loop --forward "$fwduri" --forward-host "loop.$RR_DOMAIN"
    COAP_TIMEOUT=30 xcoap "$c" "$f" loop.$RR_DOMAIN -m get /hello
    assert_code 5.08 "a forwarding loop ($c -> $r -> $c ...) ends in 5.08"
    px_assert_loop_bounded loop
}
