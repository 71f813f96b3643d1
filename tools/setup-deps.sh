#!/usr/bin/env bash
# setup-deps.sh - install what rdrelay needs to build, run and test on Debian
# bookworm. Owns nothing but the list of Debian packages below; talks to
# dpkg-query and apt-get only.
#
# Idempotent: it looks at what is installed and runs `apt-get update` and
# `apt-get install` only when something is missing, so running it on every
# start (tools/run-service.sh, tools/run-tests.sh) costs a fraction of a
# second. Installing needs root; without root it says which packages are
# missing and fails.
set -euo pipefail

# Every package is in Debian bookworm (main). What each one is for:
PKGS=(
    build-essential # gcc, make, libc headers
    cmake           # the build
    pkg-config      # finds libcoap, libzmq, sqlite3, cmocka
    libcoap3-dev    # CoAP message/option primitives (libcoap 4.3.1)
    libcoap3-bin    # coap-client-notls, coap-server-notls: real peers in e2e tests
    libzmq3-dev     # inter-process protocol
    libsqlite3-dev  # the registration store
    libcmocka-dev   # unit tests
    supervisor      # runs the processes (deploy/supervisord.conf)
    nftables        # NAT/firewall e2e tests
    iproute2        # ip netns, ss (free port checks in tests)
    conntrack       # flushing NAT mappings in the NAT e2e test
    sqlite3         # inspecting the store by hand (README troubleshooting)
    procps          # ps, kill: process checks in tests and by operators
    ca-certificates # npm talks to its registry over https
    clang-format    # the style check (tests/lint_format.sh, .clang-format)
    clang           # clang 14: builds the libFuzzer targets (tests/fuzz, tools/fuzz.sh)
    libclang-rt-14-dev # libFuzzer, ASan and UBSan runtimes for clang 14 (fuzz.smoke)
    libwebsockets-dev # relay-ws: CoAP over WebSockets (libwebsockets 4.1.6)
    libuv1-dev      # relay-ws: the foreign event loop libwebsockets runs on inside our epoll
    libssl-dev      # common/ws_io.c: TLS for the coaps+ws:// client (rdrelay-connect, fixtures)
    openssl         # test_connect_ws.sh makes a self-signed certificate
    libjansson-dev  # JSON in rdrelayctl and rd-frontend's control replies
    libsystemd-dev  # sd_listen_fds: relays take sockets from systemd/a parent
    systemd         # systemd-socket-activate, systemd-analyze for deploy/systemd/*.socket
    chromium        # the status-page test (headless, driven by playwright-core)
    prometheus      # promtool check metrics in the metrics test
    curl            # scrapes /metrics in the metrics test (as Prometheus would)
    jq              # reads rdrelayctl --json and serve --json in e2e tests (test_chaos, ...)
    valgrind        # the memcheck run of the e2e suite
    gnuplot-nox     # benchmark plots (tools/bench)
)

missing=()
for p in "${PKGS[@]}"; do
    # "install ok installed" is the only status that means usable.
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
# Node.js and npm: a machine may carry a newer Node.js from elsewhere whose
# package already contains npm and conflicts with Debian's npm package, so
# look for the commands rather than the Debian packages.
if ! command -v node >/dev/null 2>&1; then
    missing+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1; then
    missing+=(npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "setup-deps: all dependencies present"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-deps: missing Debian packages: ${missing[*]}" >&2
    echo "setup-deps: run this script as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi

echo "setup-deps: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Installing 'supervisor' would start Debian's own supervisord service; we
# run our own in the foreground, so keep package scripts from starting
# services while we install (only if the admin has no policy of their own).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi
cleanup() {
    if [ "$own_policy" -eq 1 ]; then
        rm -f "$policy"
    fi
}
trap cleanup EXIT

apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
echo "setup-deps: done"
