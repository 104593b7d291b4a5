#!/usr/bin/env bash
# Builds the kernel oracle and writes NAME.expected next to every NAME.trace given (default: the committed
# corpus). Run it on a Linux 6.18 machine with CONFIG_PT_RECLAIM=y; never from a test.
#   tools/traces/make-golden.sh [TRACE...]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
oracle="$(mktemp -d)/kernel_replay"
gcc -O2 -o "$oracle" "$root/../shared/kernel-oracle/kernel_replay.c"
if [ "$#" -eq 0 ]; then set -- "$root"/tests/FastReclaim.Tests/Traces/*.trace; fi
for trace in "$@"; do
    "$oracle" < "$trace" > "${trace%.trace}.expected" 2>/dev/null || { echo "oracle failed on $trace" >&2; exit 1; }
done
echo "wrote $# golden files with $(uname -r)"
