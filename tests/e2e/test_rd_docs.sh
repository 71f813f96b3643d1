#!/usr/bin/env bash
# test_rd_docs.sh - the operators' documentation covers every setting: each
# setting flag that rdrelay-frontend --help prints has a row in README.md's
# configuration table and a "name = default" line in
# deploy/rdrelay.conf.example; the README's two set-up commands and
# .ci/run are the ones CI runs.
. "$(dirname "$0")/lib.sh"

README=$RDRELAY_SRC/README.md
EXAMPLE=$RDRELAY_SRC/deploy/rdrelay.conf.example
flags=$("$RDRELAY_BIN/rdrelay-frontend" --help 2>&1 | grep -oE '^  --[a-z0-9-]+' | sed 's/^  //' |
    grep -v '^--config$')
[ -n "$flags" ] || die "rdrelay-frontend --help lists no settings"

for f in $flags; do
    name=$(sed -e 's/^--//' -e 's/-/_/g' <<<"$f")
    if grep -qF "| \`$name\` | \`$f\` |" "$README"; then
        ok "README documents $name ($f)"
    else
        fail "README's configuration table has no row for $name ($f)"
    fi
    if grep -qE "^$name =" "$EXAMPLE"; then
        ok "rdrelay.conf.example has $name"
    else
        fail "deploy/rdrelay.conf.example has no '$name =' line"
    fi
done

# The example's values are the embedded defaults: loading it changes nothing.
def=$("$RDRELAY_BIN/rdrelay-frontend" --help 2>&1)
for f in $flags; do
    name=$(sed -e 's/^--//' -e 's/-/_/g' <<<"$f")
    ex=$(grep -E "^$name =" "$EXAMPLE" | sed -E 's/^[a-z_]+ = ?//')
    shown=$(grep -A1 -E "^  $f( |$)" <<<"$def" | grep -oE '\(default: [^)]*\)$' | sed -E 's/^\(default: (.*)\)$/\1/')
    assert_eq "$shown" "$ex" "rdrelay.conf.example's $name is the default"
done

assert_contains "$(cat "$README")" $'```sh\nbash tools/run-service.sh\n```' "README: set-up command 1"
assert_contains "$(cat "$README")" $'```sh\nbash tools/run-tests.sh\n```' "README: set-up command 2"
assert_eq $'#!/bin/sh\nbash tools/run-tests.sh' "$(cat "$RDRELAY_SRC/.ci/run")" ".ci/run runs the README's test command"

t_done
