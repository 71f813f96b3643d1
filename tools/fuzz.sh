#!/usr/bin/env bash
# fuzz.sh - build the libFuzzer targets (tests/fuzz) with clang into
# build-fuzz/ and run each for a bounded time. Owns build-fuzz/ (or
# $FUZZ_BUILD_DIR) and its work/ directory, where new corpus entries and
# crash artifacts land; the committed seeds in tests/fuzz/corpus/<target>/
# are read, never written.
#
#   tools/fuzz.sh [SECONDS] [TARGET...]   (default 60 s each, every target)
#   e.g. tools/fuzz.sh 600 coap_msg proto_msg
#
# Exit status 1 when any target crashed, leaked, hit a sanitizer report or
# an invariant (the input is kept as build-fuzz/work/<target>/crash-*;
# reproduce with build-fuzz/bin/fuzz_<target> FILE). Set FUZZ_JOBS to run
# that many targets at once (default 1).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${FUZZ_JOBS:-1}

command -v clang >/dev/null || {
    echo "fuzz.sh: clang is not installed (tools/setup-deps.sh)" >&2
    exit 1
}
mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DRDRELAY_FUZZ=ON -DBUILD_TESTING=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build/fuzz-cmake.log" 2>&1 || {
    cat "$build/fuzz-cmake.log" >&2
    exit 1
}
cmake --build "$build" -j2 --target fuzz_all >"$build/fuzz-build.log" 2>&1 || {
    cat "$build/fuzz-build.log" >&2
    exit 1
}

if [ $# -eq 0 ]; then
    set -- $(cd "$root/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi

run_one() {
    local t=$1 work=$build/work/$1 seeds=$root/tests/fuzz/corpus/$1
    mkdir -p "$work" "$seeds"
    # -max_total_time bounds the run; -timeout turns a hang into a failure;
    # the work dir comes first so only it is written to.
    if "$build/bin/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -print_final_stats=1 -artifact_prefix="$work/" \
        "$work" "$seeds" >"$work.log" 2>&1; then
        echo "fuzz: $t ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work.log" |
            grep -o '[0-9]*$') runs in ${secs}s)"
        return 0
    fi
    echo "fuzz: $t FAILED (log $work.log):"
    grep -E 'ERROR|SUMMARY|invariant|runtime error|Test unit written' "$work.log" | head -20
    return 1
}

fail=0
pids=()
names=()
for t in "$@"; do
    [ -x "$build/bin/fuzz_$t" ] || {
        echo "fuzz: no target $t" >&2
        exit 1
    }
    run_one "$t" &
    pids+=($!)
    names+=("$t")
    if [ ${#pids[@]} -ge "$jobs" ]; then
        wait "${pids[0]}" || fail=1
        pids=("${pids[@]:1}")
    fi
done
for p in "${pids[@]}"; do
    wait "$p" || fail=1
done
exit $fail
