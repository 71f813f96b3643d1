#!/usr/bin/env bash
# run-service.sh - the one command that runs rdrelay (README): installs what
# is missing (tools/setup-deps.sh), builds a release build in build/, and
# runs every rdrelay process under supervisord in the foreground
# (deploy/supervisord.conf) until Ctrl-C.
# Owns build/ and state/ (SQLite store, control sockets, supervisord's log
# and socket). Embedded defaults: state in ./state, proxy domain
# proxy.localhost, CoAP over UDP and TCP on port 5683 and over WebSockets on
# port 8683 (status page at http://HOST:8683/) of every address. To change a
# setting, point $RDRELAY_CONFIG at a config file (deploy/rdrelay.conf.example)
# before starting: every process reads it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tools/setup-deps.sh

echo "run-service: configure and build build/ (release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
cmake --build build -j"$(nproc)"

mkdir -p state
if [ -n "${RDRELAY_CONFIG:-}" ]; then
    [ -r "$RDRELAY_CONFIG" ] || { echo "run-service: cannot read \$RDRELAY_CONFIG=$RDRELAY_CONFIG" >&2; exit 2; }
    echo "run-service: settings from $RDRELAY_CONFIG"
else
    echo "run-service: embedded defaults: UDP and TCP 0.0.0.0:5683 and [::]:5683, WebSocket 0.0.0.0:8683 and [::]:8683 (status page http://localhost:8683/), proxy domain proxy.localhost, state in $PWD/state"
fi
echo "run-service: supervisord in the foreground; Ctrl-C stops everything"
echo "run-service: status: build/bin/rdrelayctl status   processes: supervisorctl -c deploy/supervisord.conf status"
exec supervisord -n -c deploy/supervisord.conf
