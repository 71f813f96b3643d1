#!/usr/bin/env bash
# test_xport_tcp_udp_v4.sh - cross-transport proxying (relay-tcp issue):
# a tcp client reaches an endpoint registered over udp, IPv4. Every proxy
# case of the UDP proxy tests; the cases live in lib_tcp.sh xport_suite.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_proxy.sh"
. "$(dirname "$0")/lib_tcp.sh"
xport_suite tcp udp 4
t_done
