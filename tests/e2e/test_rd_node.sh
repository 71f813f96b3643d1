#!/usr/bin/env bash
# test_rd_node.sh - runs the node-coap RD tests (tests/e2e/node/rd_*.test.js)
# against real rdrelay-frontend + rdrelay-udp started by the harness.
# node-coap comes from tests/e2e/node/node_modules (tools/run-tests.sh runs
# `npm ci` there from the committed package-lock.json).
. "$(dirname "$0")/lib.sh"

NODE_DIR=$RDRELAY_SRC/tests/e2e/node
command -v node >/dev/null || die "node is not installed (tools/setup-deps.sh)"
[ -d "$NODE_DIR/node_modules/coap" ] ||
    die "node-coap missing: run 'npm ci' in $NODE_DIR (tools/run-tests.sh does)"

rr_start_all

for f in "$NODE_DIR"/rd_*.test.js; do
    echo "# node $(basename "$f")"
    if RD_PORT=$RR_PORT timeout 180 node "$f" >"$T_DIR/node.out" 2>&1; then
        ok "node-coap: $(basename "$f")"
        grep -E '^# (pass|fail|tests)' "$T_DIR/node.out" | sed 's/^/    /'
    else
        fail "node-coap: $(basename "$f")"
        sed 's/^/    /' "$T_DIR/node.out"
    fi
done

t_done
