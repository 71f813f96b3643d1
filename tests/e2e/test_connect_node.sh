#!/usr/bin/env bash
# test_connect_node.sh - node-coap clients against a server behind
# `rdrelay-connect serve` (issue 12): runs the node-coap proxy tests
# (tests/e2e/node/proxy_*.test.js: methods, binary payloads, Block2 and
# Block1, Observe with a cancellation by RST, two clients using the same
# token, rdrelay's 5.05 / 4.02) with an unregistered rr-registrant as the
# local server and serve doing the registering and relaying, then checks on
# the local server's side that the Observe cancellation reached it through
# rdrelay and serve.
# node-coap comes from tests/e2e/node/node_modules (npm ci, tools/run-tests.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

CONNECT=$RDRELAY_BIN/rdrelay-connect
[ -x "$CONNECT" ] || die "rdrelay-connect is not built"
node_need_coap

# node-coap cannot answer an Echo challenge (RFC 9175): the documented
# setting for such clients (docs/security.md)
RR_EXTRA_ARGS=(--amplification-limit 0)
rr_start_all
reg_start_noreg alice --obs-interval 300
"$RDRELAY_BIN/rr-registrant" --print-large >"$T_DIR/large.expected"
rr_start serve "$CONNECT" serve --rd "coap://127.0.0.1:$RR_PORT" --ep alice --json \
    --log-level debug "coap://127.0.0.1:$(reg_port alice)"
wait_until 20 grep -q '^{"ep":"alice"' "$T_DIR/serve.log" || die "serve did not register alice"

for f in "$NODE_DIR"/proxy_*.test.js; do
    echo "# node $(basename "$f")"
    if RD_PORT=$RR_PORT PROXY_HOST=alice.$RR_DOMAIN LARGE_FILE=$T_DIR/large.expected \
        REG_PORT=$(reg_port alice) \
        timeout 180 node "$f" >"$T_DIR/node.out" 2>&1; then
        ok "node-coap through serve: $(basename "$f")"
        grep -E '^# (pass|fail|tests)' "$T_DIR/node.out" | sed 's/^/    /'
    else
        fail "node-coap through serve: $(basename "$f")"
        sed 's/^/    /' "$T_DIR/node.out"
    fi
done

_upstream_cancelled() { grep -qE '^observe cancel|got RST for mid' "$T_DIR/alice.log"; }
wait_until 5 _upstream_cancelled
assert_eq 0 $? "the client's RST cancelled the observation at the local server (through rdrelay and serve)"

t_done
