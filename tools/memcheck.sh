#!/usr/bin/env bash
# memcheck.sh - the end-to-end tests that matter most, once under valgrind
# memcheck (issue 19): builds rdrelay without sanitizers (valgrind and ASan
# do not mix) into build-memcheck/ (or $MEMCHECK_BUILD_DIR) and runs a
# representative subset of tests/e2e with RR_VALGRIND=1, so every rdrelay
# daemon they start runs under valgrind; a memory error or a definite leak
# in any of them fails its test (tests/e2e/lib.sh, t_cleanup). Library
# noise is suppressed in tests/valgrind.supp (libraries only).
#
#   tools/memcheck.sh [CTEST-REGEX]   (default: the subset below)
#
# Exit status: ctest's (0 = all clean).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEMCHECK_BUILD_DIR:-$root/build-memcheck}
# RD (registration, lookup, discovery, Observe), the UDP proxy, the
# amplification limit, TCP and cross-transport forwarding
subset=${1:-'e2e\.test_(rd_simple|rd_register_lookup|rd_observe|udp_amplify|proxy_methods|tcp_simple|xport_udp_tcp_v4)$'}

command -v valgrind >/dev/null || {
    echo "memcheck.sh: valgrind is not installed (tools/setup-deps.sh)" >&2
    exit 1
}
mkdir -p "$build"
cmake -S "$root" -B "$build" -DRDRELAY_SANITIZE=OFF -DCMAKE_BUILD_TYPE= \
    >"$build/memcheck-cmake.log" 2>&1 || {
    cat "$build/memcheck-cmake.log" >&2
    exit 1
}
# only what the e2e tests start (not the unit tests)
cmake --build "$build" -j2 --target rdrelay-frontend rdrelay-udp rdrelay-tcp rdrelay-ws rdrelayctl \
    rdrelay-connect rr-registrant rr-tcp-abuse >"$build/memcheck-build.log" 2>&1 || {
    tail -50 "$build/memcheck-build.log" >&2
    exit 1
}
cd "$build"
RR_VALGRIND=1 COAP_TIMEOUT=20 ctest -R "$subset" --output-on-failure -j1
