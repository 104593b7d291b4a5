#!/usr/bin/env python3
"""Writes random page-table traces (DESIGN.md "Trace replay" format) for the kernel oracle.

    python3 tools/traces/generate_random.py SEED OPS > random-SEED.trace

Every trace it writes is valid for the oracle: maps never overlap (MAP_FIXED_NOREPLACE), touches and zaps
stay inside mapped ranges (a touch outside is a SIGSEGV, a zap over a hole is ENOMEM), unmaps may cover holes
and split mappings. Addresses cluster around 2 MiB, 1 GiB and 512 GiB boundaries so that tables are shared,
split and freed at every level. Run it once, feed the trace to kernel_replay, commit both files.
"""
import random
import sys

from ranges import cut

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
PAGE, PMD, PUD, PGD = 4 * KIB, 2 * MIB, GIB, 512 * GIB
MAX_TOUCHED_PAGES = 60000  # keeps the oracle's real memory use small


def main():
    seed, ops = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    # A few windows, each around a boundary of some level; every address of a trace lies in one of them.
    windows = [(0, 8 * GIB), (PGD - 2 * GIB, PGD + 2 * GIB), (3 * PUD - 64 * MIB, 3 * PUD + 64 * MIB)]
    vmas = []  # sorted, disjoint [start, end) ranges as the trace created them (coverage only)
    touched = 0
    out = [f"# random trace, seed {seed}, {ops} operations (tools/traces/generate_random.py)"]

    def free_at(start, end):
        return all(end <= s or start >= e for s, e in vmas)

    def aligned(lo, hi, align):
        lo = -(-lo // align) * align
        if lo >= hi:
            return None
        return lo + rng.randrange((hi - lo - 1) // align + 1) * align

    def size():
        scale = rng.choice([PAGE * 16, PMD, PMD * 8, PUD // 4, PUD * 2])
        return max(PAGE, rng.randrange(1, scale // PAGE + 1) * PAGE)

    def coverage():
        runs = []
        for s, e in sorted(vmas):
            if runs and runs[-1][1] == s:
                runs[-1][1] = e
            else:
                runs.append([s, e])
        return runs

    for _ in range(ops):
        kind = rng.choices(["map", "touch", "zap", "unmap", "check"], [3, 5, 4, 2, 3])[0]
        if kind == "map" or not vmas:
            lo, hi = rng.choice(windows)
            length = size()
            align = rng.choice([PAGE, PMD, PMD, PUD])
            start = aligned(lo, hi - length, align)
            if start is None:
                continue
            if rng.random() < 0.3 and vmas:  # right next to an existing mapping, before or after it
                s, e = rng.choice(vmas)
                start = e if rng.random() < 0.5 else s - length
            if start < 0 or not free_at(start, start + length):
                continue
            vmas.append((start, start + length))
            vmas.sort()
            out.append(f"map {start:#x} {length:#x}")
        elif kind == "touch":
            s, e = rng.choice(vmas)
            stride = rng.choice([PAGE, PAGE, PMD, PMD, PAGE * rng.randrange(1, 1024), PUD])
            page = s + rng.randrange((e - s) // PAGE) * PAGE
            count = min(rng.choice([1, 1, 4, 64, 512]), (e - 1 - page) // stride + 1)
            if touched + count > MAX_TOUCHED_PAGES:
                continue
            touched += count
            out.append(f"touch {page:#x}" if count == 1 and rng.random() < 0.5 else f"touch {page:#x} {count} {stride:#x}")
        elif kind == "zap":
            s, e = rng.choice(coverage())
            if rng.random() < 0.2:
                start, end = s, e
            else:
                align = rng.choice([PAGE, PMD, PMD])
                a, b = aligned(s, e, align), aligned(s, e, align)
                if a is None or b is None or a == b:
                    a, b = s, e
                start, end = min(a, b), max(a, b)
                if rng.random() < 0.3:
                    end = min(e, end + PAGE * rng.randrange(1, 512))
            out.append(f"zap {start:#x} {end - start:#x}")
        elif kind == "unmap":
            s, e = rng.choice(vmas)
            if rng.random() < 0.4:
                start, end = s, e
            else:
                start = max(0, s + rng.randrange(-4, 5) * rng.choice([PAGE, PMD]) + rng.randrange(4) * PAGE)
                end = max(start + PAGE, e + rng.randrange(-4, 5) * rng.choice([PAGE, PMD, PUD]))
                if rng.random() < 0.3:  # a piece strictly inside
                    start = aligned(s, e, PAGE)
                    end = min(e, start + size())
            vmas = sorted(cut(vmas, start, end))
            out.append(f"unmap {start:#x} {end - start:#x}")
        if kind == "check" or rng.random() < 0.5:
            out.append("check")
    for s, e in coverage():
        out.append(f"unmap {s:#x} {e - s:#x}")
    out.append("check")
    print("\n".join(out))


if __name__ == "__main__":
    main()
