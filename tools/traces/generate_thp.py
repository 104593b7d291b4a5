#!/usr/bin/env python3
"""Writes random traces with transparent huge pages (hmap, protect, collapse, thp) for the kernel oracle.

    python3 tools/traces/generate_thp.py SEED OPS > thp-random-SEED.trace

Mappings are `map` or `hmap`, at 4 KiB, 1 MiB or 2 MiB alignment, in a 64 MiB window and one across a 1 GiB
boundary, so that huge pages fit or do not, and mprotect splits them. Touches only hit read/write pages (a write to
a read-only one kills the oracle), zaps and protects stay inside mappings (ENOMEM otherwise), unmaps may cover
holes. A collapse may be refused (EINVAL): the oracle and the replay then stop there, which is a case to compare
too. Run it once, feed the trace to kernel_replay (make-golden.sh), commit both files.
"""
import random
import sys

from ranges import cut

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
PAGE, PMD = 4 * KIB, 2 * MIB


def main():
    seed, ops = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    windows = [(0, 64 * MIB), (GIB - 16 * MIB, GIB + 16 * MIB)]
    vmas = []  # sorted, disjoint [start, end, read_only] as the trace created and protected them
    last_touch = None  # where the last touch started: a collapse of its 2 MiB span mostly succeeds
    out = [f"# random THP trace, seed {seed}, {ops} operations (tools/traces/generate_thp.py)"]

    def free_at(start, end):
        return all(end <= s or start >= e for s, e, _ in vmas)

    def aligned(lo, hi, align):
        lo = -(-lo // align) * align
        return None if lo >= hi else lo + rng.randrange((hi - lo - 1) // align + 1) * align

    def size():
        return rng.randrange(1, rng.choice([16, 512, 2048, 4096]) + 1) * PAGE

    def inside():
        """A range inside one run of adjacent mappings."""
        s, e, _ = rng.choice(vmas)
        start = s + rng.randrange((e - s) // PAGE) * PAGE
        start = rng.choice([start, start & ~(PMD - 1) if (start & ~(PMD - 1)) >= s else start])
        length = min(e - start, rng.choice([PAGE, size(), PMD, e - start]))
        return start, max(PAGE, length)

    for _ in range(ops):
        kind = rng.choices(["map", "hmap", "touch", "zap", "unmap", "protect", "collapse", "check", "thp"],
                           [1, 3, 6, 3, 1, 3, 1, 2, 2])[0]
        if kind in ("map", "hmap") or not vmas:
            lo, hi = rng.choice(windows)
            length = size()
            start = aligned(lo, hi - length, rng.choice([PAGE, MIB, PMD, PMD]))
            if start is None or not free_at(start, start + length):
                continue
            vmas = sorted(vmas + [(start, start + length, False)])
            out.append(f"{'hmap' if kind == 'hmap' else 'map'} {start:#x} {length:#x}")
        elif kind == "touch":
            writable = [(s, e) for s, e, ro in vmas if not ro]
            if not writable:
                continue
            s, e = rng.choice(writable)
            first = s + rng.randrange((e - s) // PAGE) * PAGE
            stride = rng.choice([PAGE, PMD, 64 * KIB])
            count = max(1, min(rng.randrange(1, 64), (e - first - 1) // stride + 1))
            out.append(f"touch {first:#x} {count} {stride:#x}")
            last_touch = first
        elif kind == "collapse" and last_touch is not None and rng.random() < 0.9:
            span = last_touch & ~(PMD - 1)
            if any(s <= span and span + PMD <= e for s, e, _ in vmas):
                out.append(f"collapse {span:#x} {PMD:#x}")
        elif kind in ("zap", "collapse"):
            start, length = inside()
            out.append(f"{kind} {start:#x} {length:#x}")
        elif kind == "protect":
            start, length = inside()
            read_only = rng.random() < 0.5
            kept = [(s, e, ro) for s, e in cut([(s, e) for s, e, ro in vmas], start, start + length)
                    for s0, e0, ro in vmas if s0 <= s and e <= e0]
            changed = [(max(s, start), min(e, start + length), read_only) for s, e, ro in vmas
                       if s < start + length and e > start]
            vmas = sorted(kept + changed)
            out.append(f"protect {start:#x} {length:#x} {1 if read_only else 3}")
        elif kind == "unmap":
            lo, hi = rng.choice(windows)
            length = size()
            start = aligned(lo, hi - length, rng.choice([PAGE, PMD]))
            if start is None:
                continue
            vmas = [(s, e, ro) for s, e in cut([(s, e) for s, e, ro in vmas], start, start + length)
                    for s0, e0, ro in vmas if s0 <= s and e <= e0]
            vmas.sort()
            out.append(f"unmap {start:#x} {length:#x}")
        else:
            out.append(kind)
    out.append("check")
    out.append("thp")
    print("\n".join(out))


if __name__ == "__main__":
    main()
