#!/usr/bin/env bash
# run-tests.sh - the one command that tests rdrelay (README, .ci/run):
# installs what is missing (tools/setup-deps.sh), installs the node-coap test
# client from the committed lock file, builds the sanitizer build
# (ASan+UBSan) in build-test/ and runs the whole suite through CTest.
# Owns build-test/, tests/e2e/node/node_modules/ and
# tests/e2e/page/node_modules/ (playwright-core; the browser is Debian's
# chromium). Extra arguments go to ctest (e.g. `bash tools/run-tests.sh -L
# e2e`, `-R discovery`).
# Exit status: ctest's (0 = every test passed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash tools/setup-deps.sh

echo "run-tests: node test client (tests/e2e/node, exact versions from package-lock.json)"
(cd tests/e2e/node && npm ci --no-audit --no-fund --loglevel=error)

echo "run-tests: browser driver for the status page test (tests/e2e/page, playwright-core)"
(cd tests/e2e/page && npm ci --no-audit --no-fund --loglevel=error)

echo "run-tests: configure and build build-test/ (RDRELAY_SANITIZE=ON)"
cmake -S . -B build-test -DRDRELAY_SANITIZE=ON
cmake --build build-test -j"$(nproc)"

echo "run-tests: ctest"
cd build-test
exec ctest --output-on-failure "$@"
