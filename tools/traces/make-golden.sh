#!/usr/bin/env bash
# Builds the kernel oracle and writes NAME.expected next to every NAME.trace given (default: the committed
# corpus). Run it on a Linux 6.18 machine with CONFIG_PT_RECLAIM=y; never from a test.
#   tools/traces/make-golden.sh [TRACE...]
#
# The oracle's VmPTE is the whole process's: now and then (about 1 run in 30 to 300 here) one of its own first
# page faults after the baseline -- a page of its static stdout buffer, the malloc'd stdin buffer, a deeper stack
# page -- lands in a 2 MiB region that had no PTE table yet, and every later check reads 4096 bytes too many.
# That noise only ever adds, so each file is the line-by-line minimum of three runs.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
oracle="$work/kernel_replay"
gcc -O2 -o "$oracle" "$root/../shared/kernel-oracle/kernel_replay.c"
if [ "$#" -eq 0 ]; then set -- "$root"/tests/FastReclaim.Tests/Traces/*.trace; fi
for trace in "$@"; do
    for run in 1 2 3; do
        "$oracle" < "$trace" > "$work/$run" 2>/dev/null || { echo "oracle failed on $trace" >&2; exit 1; }
    done
    paste -d ' ' "$work/1" "$work/2" "$work/3" | awk '{ m = $3; if ($6 < m) m = $6; if ($9 < m) m = $9; print $1, $2, m }' \
        > "${trace%.trace}.expected"
done
echo "wrote $# golden files with $(uname -r)"
