#!/usr/bin/env bash
# test_xport_ws_ws_v6.sh - cross-transport proxying (relay-ws issue): a ws client reaches an
# endpoint registered over ws, IPv6. Every proxy case of the UDP proxy tests
# (lib_tcp.sh xport_suite); WebSocket peers are libcoap's through the
# TCP<->WebSocket bridge (lib_ws.sh).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
. "$(dirname "$0")/lib_ws.sh"
xport_suite ws ws 6
t_done
