#!/usr/bin/env bash
# run_node.sh FILE - runs one node-coap test file (tests/e2e/node/rd_*.test.js)
# against real rdrelay-frontend + rdrelay-udp started by the harness; the
# file gets RD_PORT (relay-udp on 127.0.0.1 and ::1). CMake registers one
# CTest test e2e.node.<name> per file. node-coap comes from
# tests/e2e/node/node_modules (tools/run-tests.sh runs `npm ci` there from
# the committed package-lock.json).
T_NAME=node-$(basename "${1:?usage: run_node.sh FILE.test.js}" .test.js)
. "$(dirname "$0")/lib.sh"

FILE=$1
NODE_DIR=$RDRELAY_SRC/tests/e2e/node
command -v node >/dev/null || die "node is not installed (tools/setup-deps.sh)"
[ -d "$NODE_DIR/node_modules/coap" ] ||
    die "node-coap missing: run 'npm ci' in $NODE_DIR (tools/run-tests.sh does)"

# node-coap cannot answer an Echo challenge (RFC 9175): the documented
# setting for such clients (docs/security.md)
RR_EXTRA_ARGS=(--amplification-limit 0)
rr_start_all

if RD_PORT=$RR_PORT timeout 180 node "$FILE" >"$T_DIR/node.out" 2>&1; then
    ok "node $(basename "$FILE")"
    grep -E '^# (tests|pass|fail) ' "$T_DIR/node.out" | sed 's/^/    /'
else
    fail "node $(basename "$FILE")"
    sed 's/^/    /' "$T_DIR/node.out"
fi

t_done
