#!/usr/bin/env bash
# test_xport_udp_tcp_v4.sh - cross-transport proxying (relay-tcp issue):
# a udp client reaches an endpoint registered over tcp, IPv4. Every proxy
# case of the UDP proxy tests; the cases live in lib_tcp.sh xport_suite.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
xport_suite udp tcp 4
t_done
