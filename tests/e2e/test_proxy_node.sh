#!/usr/bin/env bash
# test_proxy_node.sh - runs the node-coap proxy tests
# (tests/e2e/node/proxy_*.test.js) against real rdrelay-frontend +
# rdrelay-udp and an rr-registrant registered with proxy=yes, then checks on
# the registrant's side that node-coap's Observe cancellation (an RST to a
# notification) made the relay cancel the upstream observation too.
# node-coap comes from tests/e2e/node/node_modules (npm ci, tools/run-tests.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

node_need_coap

# node-coap cannot answer an Echo challenge (RFC 9175): the documented
# setting for such clients (docs/security.md)
RR_EXTRA_ARGS=(--amplification-limit 0)
rr_start_all
reg_start alice --ep alice --lt 600 --obs-interval 300
"$RDRELAY_BIN/rr-registrant" --print-large >"$T_DIR/large.expected"

for f in "$NODE_DIR"/proxy_*.test.js; do
    node_run_file "$f" RD_PORT="$RR_PORT" PROXY_HOST="alice.$RR_DOMAIN" \
        LARGE_FILE="$T_DIR/large.expected" REG_PORT="$(reg_port alice)"
done

# The raw client cancelled its observation with an RST; the relay must not keep
# the upstream one alive: it cancels it (GET Observe: 1) or rejects the next
# notification (RST), and the endpoint stops notifying the relay.
_upstream_cancelled() { grep -qE '^observe cancel|got RST for mid' "$T_DIR/alice.log"; }
wait_until 5 _upstream_cancelled &&
    ok "the client's RST cancelled the upstream observation (endpoint saw a cancel or an RST)" ||
    fail "the endpoint saw neither a cancel nor an RST after the client's RST"

t_done
