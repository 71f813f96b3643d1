# shellcheck shell=bash
# lib_connect.sh - what the rdrelay-connect e2e tests over a connection
# (test_connect_tcp.sh, test_connect_ws.sh) share: the origin suite run by
# name through one relay. Talks to lib.sh (coap_bg, bg_wait, assertions)
# and lib_tcp.sh (xcoap, rd_uri_x); source it after them.

_cn_notifications() { [ "$(grep -cE '^v:1 t:(CON|NON|ACK) c:2\.05 .*Observe:' "$1")" -ge "$2" ]; }

# cn_origin_suite TRANSPORT HOST DIRECT VIA: coap-client-notls through
# relay TRANSPORT (udp|tcp) reaches coap-server-notls served as HOST by
# `rdrelay-connect serve` over VIA (text for messages): GET /time, Block2
# /example_data identical to DIRECT (the body fetched directly) and in
# several blocks, a separate response (/async?2), Observe /time (>= 3
# notifications).
cn_origin_suite() {
    local tr=$1 host=$2 direct=$3 via=$4 blocks pid
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
    coap_bg "$T_DIR/obs_$tr.out" -B 8 -s 6 -O "3,$host" "$(rd_uri_x "$tr" 4 /time)"
    pid=$BG_PID
    wait_until 12 _cn_notifications "$T_DIR/obs_$tr.out" 3
    assert_eq 0 $? "$tr client: Observe /time by name, at least 3 notifications"
    bg_wait "$pid" 15
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
