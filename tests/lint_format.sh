#!/usr/bin/env bash
# lint_format.sh - the style check (BRIEF §7): every C source and header of
# the project is formatted as the committed .clang-format says. Run by CTest
# as lint.clang_format; prints the files that differ and fails on any.
set -u
src=${1:?usage: lint_format.sh SOURCE_DIR}
cd "$src" || exit 1
command -v clang-format >/dev/null || { echo "clang-format is not installed (tools/setup-deps.sh)"; exit 1; }
bad=0 n=0
while IFS= read -r f; do
    n=$((n + 1))
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f (clang-format -i $f)"
        bad=$((bad + 1))
    fi
done < <(find common rd-frontend relay-core relay-udp relay-tcp relay-ws connect tools tests \
    -path '*/node_modules' -prune -o \( -name '*.c' -o -name '*.h' \) -print | sort)
echo "checked $n files, $bad not formatted"
[ "$n" -gt 0 ] && [ "$bad" -eq 0 ]
