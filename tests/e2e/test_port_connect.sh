#!/usr/bin/env bash
# test_port_connect.sh - rdrelay-connect serve with port-based hosting
# (issue 18): beside an unmodified coap-server-notls, serve registers it and
# prints the hosting port it got (the line for people, and port / port_uri
# in --json); a client with only coap://127.0.0.1:<port>/ (no Uri-Host)
# reaches the origin through rdrelay and serve: GET, Block2 (/example_data),
# a separate answer (/async); rdrelay-connect list shows the port.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_port.sh"

CONNECT=$RDRELAY_BIN/rdrelay-connect
[ -x "$CONNECT" ] || die "rdrelay-connect is not built"
RR_PORT=$(rr_free_port tu) || die "no free port"
RANGE=$(port_range_free 2) || die "no free port range"
RR_EXTRA_ARGS=(--port-hosting-range "$RANGE")
rr_start_all
start_origin

rr_start serve "$CONNECT" serve --rd "coap://127.0.0.1:$RR_PORT" --lt 600 --json \
    --ep "alice=coap://127.0.0.1:$ORIGIN_PORT"
rr_start serve2 "$CONNECT" serve --rd "coap://127.0.0.1:$RR_PORT" --lt 600 \
    --ep "carol=coap://127.0.0.1:$ORIGIN_PORT"
serve_json() { grep -E '^\{"ep":"alice"' "$T_DIR/serve.log" | tail -n 1; }
_printed() { [ -n "$(serve_json)" ]; }
wait_until 20 _printed || die "serve printed nothing for alice within 20 s"
P=$(serve_json | jq -r .port)
assert_eq "$(port_of alice)" "$P" "serve --json prints the hosting port the lookup shows ($P)"
assert_eq "coap://127.0.0.1:$P/" "$(serve_json | jq -r .port_uri)" "and the URI without Uri-Host"
_printed2() { grep -q '^carol: clients use' "$T_DIR/serve2.log"; }
wait_until 20 _printed2 || fail "serve printed carol's line"
assert_contains "$(grep '^carol: ' "$T_DIR/serve2.log")" \
    "or without Uri-Host coap://127.0.0.1:$(port_of carol)/" "serve's line names the hosting port"

lst=$("$CONNECT" list --rd "coap://127.0.0.1:$RR_PORT" --json)
assert_eq "$P" "$(jq -r '.[] | select(.ep=="alice") | .port' <<<"$lst")" \
    "rdrelay-connect list --json shows alice's hosting port"
lst=$("$CONNECT" list --rd "coap://127.0.0.1:$RR_PORT")
assert_match "alice +- +alice\.$RR_DOMAIN +$P" "$lst" "rdrelay-connect list shows it in its PORT column"

wait_until 10 _hcoap_ok "$P" /
hcoap "$P" -m get /
assert_code 2.05 "GET coap://127.0.0.1:$P/ (no Uri-Host) -> the origin behind serve"
port_check_block2 "$P" /example_data "coap://127.0.0.1:$ORIGIN_PORT/example_data" \
    "through the hosting port and serve"
COAP_TIMEOUT=15 hcoap "$P" -m get "/async?1"
assert_code 2.05 "a separate answer (/async?1) through the hosting port"
t_done
