#!/usr/bin/env bash
# test_port_node.sh - runs the node-coap port-hosting tests
# (tests/e2e/node/port_*.test.js, issue 18) against real rdrelay-frontend +
# rdrelay-udp with a port_hosting_range and an rr-registrant registered
# with proxy=yes: node-coap addresses the hosting port by IP literal and
# sends no Uri-Host. node-coap comes from tests/e2e/node/node_modules
# (npm ci, tools/run-tests.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_port.sh"

node_need_coap

RR_PORT=$(rr_free_port tu) || die "no free port"
RANGE=$(port_range_free 2) || die "no free port range"
# node-coap cannot answer an Echo challenge (RFC 9175): the documented
# setting for such clients (docs/security.md)
RR_EXTRA_ARGS=(--port-hosting-range "$RANGE" --amplification-limit 0)
rr_start_all
reg_start alice --ep alice --lt 600 --obs-interval 300
"$RDRELAY_BIN/rr-registrant" --print-large >"$T_DIR/large.expected"
P=$(port_of alice)
assert_ne "" "$P" "alice got a hosting port"
wait_until 10 _hcoap_ok "$P" /hello

for f in "$NODE_DIR"/port_*.test.js; do
    node_run_file "$f" HOST_PORT="$P" LARGE_FILE="$T_DIR/large.expected"
done
t_done
