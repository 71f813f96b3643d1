#!/usr/bin/env bash
# run_node.sh FILE - runs one node-coap test file (tests/e2e/node/rd_*.test.js)
# against real rdrelay-frontend + rdrelay-udp started by the harness; the
# file gets RD_PORT (relay-udp on 127.0.0.1 and ::1). CMake registers one
# CTest test e2e.node.<name> per file. node-coap comes from
# tests/e2e/node/node_modules (tools/run-tests.sh runs `npm ci` there from
# the committed package-lock.json).
T_NAME=node-$(basename "${1:?usage: run_node.sh FILE.test.js}" .test.js)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"

FILE=$1
node_need_coap

# node-coap cannot answer an Echo challenge (RFC 9175): the documented
# setting for such clients (docs/security.md)
RR_EXTRA_ARGS=(--amplification-limit 0)
rr_start_all

node_run_file "$FILE" RD_PORT="$RR_PORT"

t_done
