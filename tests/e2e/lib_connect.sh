# shellcheck shell=bash
# lib_connect.sh - what the rdrelay-connect e2e tests over a connection
# (test_connect_tcp.sh, test_connect_ws.sh) share: `serve` for alice started
# over one connection and its registration checked, the origin suite run by
# name through one relay, the keepalive and refresh checks, a relay killed
# under serve and serve's re-registration, serve's SIGTERM. Sets CONNECT
# (rdrelay-connect), HOST and REG (what serve printed), DIRECT (the origin's
# /example_data fetched directly). Talks to lib.sh (rr_start, coap,
# coap_bg, bg_wait, assertions), lib_tcp.sh (xcoap, rd_uri_x) and serve's
# log ($T_DIR/serve.log); source it after them.

CONNECT=$RDRELAY_BIN/rdrelay-connect
[ -x "$CONNECT" ] || die "rdrelay-connect is not built"

_cn_notifications() { [ "$(grep -cE '^v:1 t:(CON|NON|ACK) c:2\.05 .*Observe:' "$1")" -ge "$2" ]; }

# cn_observe DUMP MESSAGE [coap-client options...] URI: observe for 6 s
# (dump DUMP); at least 3 notifications within 12 s, asserted as MESSAGE.
cn_observe() {
    local dump=$1 msg=$2 pid
    shift 2
    coap_bg "$dump" -B 8 -s 6 "$@"
    pid=$BG_PID
    wait_until 12 _cn_notifications "$dump" 3
    assert_eq 0 $? "$msg"
    bg_wait "$pid" 15
}

# The last JSON line serve printed for alice; _cn_printed N: at least N.
cn_serve_json() { grep -E '^\{"ep":"alice"' "$T_DIR/serve.log" | tail -n 1; }
_cn_printed() { [ "$(grep -cE '^\{"ep":"alice"' "$T_DIR/serve.log")" -ge "$1" ]; }
# cn_wait_printed N [SECONDS]: until serve printed N JSON lines for alice.
cn_wait_printed() { wait_until "${2:-20}" _cn_printed "$1"; }

# cn_serve_start RD VIA REG_RE: start `rdrelay-connect serve --rd RD` (name
# serve) for alice = the origin (start_origin), lt 20 s, Pings every 2 s;
# once it printed its JSON line, HOST and REG are what it printed: HOST must
# be alice under the proxy domain and REG match REG_RE. VIA (text) names
# the connection in messages.
cn_serve_start() {
    local rd=$1 via=$2 re=$3
    rr_start serve "$CONNECT" serve --rd "$rd" --lt 20 --json --ping 2 \
        --log-level debug --ep "alice=coap://127.0.0.1:$ORIGIN_PORT"
    cn_wait_printed 1 || die "serve printed no host name within 20 s"
    HOST=$(cn_serve_json | jq -r .host)
    REG=$(cn_serve_json | jq -r .registration)
    assert_eq "alice.$RR_DOMAIN" "$HOST" "serve over $via prints the host name clients must use"
    assert_match "$re" "$REG" "serve prints its registration"
}

# cn_serve_csm RELAY: serve received the CSM of RELAY (rdrelay-tcp|-ws).
cn_serve_csm() {
    assert_contains "$(wait_match 5 "rdrelay's CSM" cat "$T_DIR/serve.log")" "rdrelay's CSM" \
        "serve received $1's CSM"
}

# cn_lookup_alice: endpoint lookup shows alice with base=coap://HOST and
# proxy=yes.
cn_lookup_alice() {
    local link
    rd_lookup_ep "ep=alice"
    link=$(lf_ep_link "$PAYLOAD" alice)
    assert_eq "coap://$HOST" "$(lf_attr "$link" base)" "the lookup shows base=coap://$HOST"
    assert_eq "yes" "$(lf_attr "$link" proxy)" "the registration says proxy=yes"
}

# cn_by_name_suites VIA: DIRECT = the origin's /example_data fetched
# directly, then cn_origin_suite through relay-udp and relay-tcp.
cn_by_name_suites() {
    coap -m get "coap://127.0.0.1:$ORIGIN_PORT/example_data"
    DIRECT=$PAYLOAD
    cn_origin_suite udp "$HOST" "$DIRECT" "$1"
    cn_origin_suite tcp "$HOST" "$DIRECT" "$1"
}

# cn_by_name_is TRANSPORT CODE: GET /time at HOST through relay TRANSPORT
# (udp|tcp) is answered CODE (2 s timeout; for wait_until).
cn_by_name_is() {
    COAP_TIMEOUT=2 xcoap "$1" 4 "$HOST" -m get /time
    [ "$CODE" == "$2" ]
}

# cn_keepalive VIA RELAY: the connection (VIA) stayed up so far; serve
# Pings when idle (--ping 2) and RELAY answers with Pong; serve refreshes
# its registration before lt (20 s) runs out.
cn_keepalive() {
    local via=$1 relay=$2
    assert_eq 0 "$(grep -c 'connection to rdrelay lost' "$T_DIR/serve.log")" "the $via stayed up"
    wait_until 10 grep -q 'Pong from rdrelay' "$T_DIR/serve.log"
    assert_eq 0 $? "serve sends RFC 8323 Pings over the $via when idle and $relay answers them"
    wait_until 20 grep -q 'refreshed' "$T_DIR/serve.log"
    assert_eq 0 $? "serve refreshes its registration over the $via before lt runs out"
}

# cn_kill_relay NAME VIA: kill -9 of relay NAME (tcp|ws) under serve, which
# notices that its connection (VIA) is gone. Remembers how often serve had
# registered, for cn_wait_reregistered.
cn_kill_relay() {
    CN_REGS_BEFORE=$(grep -c 'registered at /reg/' "$T_DIR/serve.log")
    rr_stop "$1" KILL
    wait_until 10 grep -q 'connection to rdrelay lost' "$T_DIR/serve.log"
    assert_eq 0 $? "serve notices that the $2 is gone"
}

_cn_reregistered() { [ "$(grep -c 'registered at /reg/' "$T_DIR/serve.log")" -gt "$CN_REGS_BEFORE" ]; }

# cn_wait_reregistered VIA: after cn_kill_relay and the relay's restart,
# serve reconnects and registers again within 40 s.
cn_wait_reregistered() {
    wait_until 40 _cn_reregistered
    assert_eq 0 $? "serve reconnected and registered again over the new $1"
}

# cn_origin_suite TRANSPORT HOST DIRECT VIA: coap-client-notls through
# relay TRANSPORT (udp|tcp) reaches coap-server-notls served as HOST by
# `rdrelay-connect serve` over VIA (text for messages): GET /time, Block2
# /example_data identical to DIRECT (the body fetched directly) and in
# several blocks, a separate response (/async?2), Observe /time (>= 3
# notifications).
cn_origin_suite() {
    local tr=$1 host=$2 direct=$3 via=$4 blocks
    xcoap "$tr" 4 "$host" -m get /time
    assert_code 2.05 "$tr client: GET /time by name, served over serve's $via"
    assert_match '[0-9]{2}:[0-9]{2}:[0-9]{2}' "$PAYLOAD" "$tr client: /time answers the origin's clock"
    xcoap "$tr" 4 "$host" -m get /example_data
    assert_code 2.05 "$tr client: GET /example_data (Block2) by name"
    assert_eq "$direct" "$PAYLOAD" "$tr client: the Block2 body is identical to direct"
    blocks=$(grep -cE '^v:1 t:(ACK|CON) c:2\.05 .*Block2:' "$T_DIR/coap.out" || true)
    assert_match '^([2-9]|[1-9][0-9]+)$' "$blocks" "$tr client: the body came in several blocks ($blocks)"
    xcoap "$tr" 4 "$host" -m get '/async?2'
    assert_code 2.05 "$tr client: GET /async?2 by name"
    assert_eq "done" "$PAYLOAD" "$tr client: the delayed (separate) answer arrives"
    cn_observe "$T_DIR/obs_$tr.out" "$tr client: Observe /time by name, at least 3 notifications" \
        -O "3,$host" "$(rd_uri_x "$tr" 4 /time)"
}

# cn_stop_serve VIA: SIGTERM to the serve process (named serve) for alice
# at $HOST: it exits 0, DELETEs its registration over VIA (text), and the
# name is gone from lookups and from the proxy.
cn_stop_serve() {
    local via=$1
    rr_stop serve TERM
    assert_eq 0 "$RR_EXIT" "serve exits 0 on SIGTERM"
    assert_contains "$(cat "$T_DIR/serve.log")" "removed (2.02)" "serve deleted its registration over $via"
    rd_lookup_ep "ep=alice"
    assert_eq "" "$(lf_ep_link "$PAYLOAD" alice)" "after SIGTERM alice is gone from lookups"
    xcoap udp 4 "$HOST" -m get /time
    assert_code 5.05 "after SIGTERM the name is unknown"
}
