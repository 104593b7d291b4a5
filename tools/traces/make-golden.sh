#!/usr/bin/env bash
# Builds the kernel oracle and writes NAME.expected next to every NAME.trace given (default: the committed
# corpus), and NAME.exit with the oracle's exit status when it is not 0 (a call the kernel refused part-way).
# Run it on a Linux 6.18 machine with CONFIG_PT_RECLAIM=y and THP in madvise mode; never from a test.
#   tools/traces/make-golden.sh [TRACE...]
#
# The oracle's VmPTE is the whole process's: now and then (about 1 run in 30 to 300 here) one of its own first
# page faults after the baseline -- a page of its static stdout buffer, the malloc'd stdin buffer, a deeper stack
# page -- lands in a 2 MiB region that had no PTE table yet, and every later check reads 4096 bytes too many.
# That noise only ever adds, so each file is the line-by-line minimum of three runs (of the number that ends each
# `check N BYTES` and `thp BYTES` line); the three runs must agree on everything else.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
oracle="$work/kernel_replay"
gcc -O2 -o "$oracle" "$root/../shared/kernel-oracle/kernel_replay.c"
if [ "$#" -eq 0 ]; then set -- "$root"/tests/FastReclaim.Tests/Traces/*.trace; fi
for trace in "$@"; do
    for run in 1 2 3; do
        status=0
        "$oracle" < "$trace" > "$work/$run" 2>/dev/null || status=$?
        echo "$status" > "$work/status$run"
    done
    if ! cmp -s "$work/status1" "$work/status2" || ! cmp -s "$work/status1" "$work/status3" \
        || [ "$(wc -l < "$work/1")" != "$(wc -l < "$work/2")" ] || [ "$(wc -l < "$work/1")" != "$(wc -l < "$work/3")" ]; then
        echo "oracle runs disagree on $trace" >&2; exit 1
    fi
    status="$(cat "$work/status1")"
    case "$status" in 0|1) ;; *) echo "oracle failed on $trace (exit $status)" >&2; exit 1 ;; esac
    paste -d '|' "$work/1" "$work/2" "$work/3" | awk -F '|' '{
        n = split($1, a, " "); split($2, b, " "); split($3, c, " ")
        m = a[n]; if (b[n] < m) m = b[n]; if (c[n] < m) m = c[n]
        line = ""; for (i = 1; i < n; i++) line = line a[i] " "
        print line m }' > "${trace%.trace}.expected"
    if [ "$status" = 0 ]; then rm -f "${trace%.trace}.exit"; else echo "$status" > "${trace%.trace}.exit"; fi
done
echo "wrote $# golden files with $(uname -r)"
