#!/bin/bash
# lint_proto_table.sh SRC_DIR - the message table in docs/architecture.md
# lists exactly the message types of RR_MSG_TYPES in common/proto.h, with
# the same values (the X-macro list is the definition, the table its
# documentation). Prints the difference and exits 1 when they disagree.
set -euo pipefail
src=${1:?usage: lint_proto_table.sh SRC_DIR}
hdr=$src/common/proto.h
doc=$src/docs/architecture.md

# X(NAME, 0xNNNN) entries inside the RR_MSG_TYPES definition
from_hdr=$(awk '/^#define RR_MSG_TYPES\(X\)/ {on = 1}
    on { while (match($0, /X\([A-Z_]+, *0x[0-9a-fA-F]+\)/)) {
             e = substr($0, RSTART + 2, RLENGTH - 3); sub(/, */, " ", e); print e
             $0 = substr($0, RSTART + RLENGTH) } }
    on && !/\\$/ {on = 0}' "$hdr" | sort)
# | NAME | 0xNNNN | rows of the table under "### Message types"
from_doc=$(awk '/^### Message types/ {on = 1; next} on && /^#/ {on = 0}
    on && /^\| *[A-Z_]+ *\| *0x[0-9a-fA-F]+ *\|/ {
        split($0, f, "|"); gsub(/ /, "", f[2]); gsub(/ /, "", f[3]); print f[2], f[3] }' "$doc" | sort)

if [ -z "$from_hdr" ]; then
    echo "lint_proto_table: no RR_MSG_TYPES entries found in $hdr" >&2
    exit 1
fi
if [ "$from_hdr" != "$from_doc" ]; then
    echo "lint_proto_table: docs/architecture.md's message table differs from RR_MSG_TYPES" >&2
    echo "(< proto.h, > architecture.md):" >&2
    diff <(echo "$from_hdr") <(echo "$from_doc") >&2 || true
    exit 1
fi
echo "lint_proto_table: $(echo "$from_hdr" | wc -l) message types agree"
