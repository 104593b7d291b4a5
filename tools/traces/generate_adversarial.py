#!/usr/bin/env python3
"""Writes adversarial page-table traces for the kernel oracle: shapes generate_random.py and generate_dense.py
rarely produce.

    python3 tools/traces/generate_adversarial.py SEED [OPS] > adversarial-SEED.trace

The seed picks one of three shapes:
lattice:
- many small VMAs in a window of a few PMDs around a 2 MiB, 1 GiB or 512 GiB boundary (or two of them): maps
  that fill holes exactly or abut one side, so VMAs merge with touched (anon_vma) and untouched neighbours;
  unmaps of middles and re-maps of the holes;
- zaps and unmaps straddling several VMAs and holes, whose free_pgtables floor/ceiling is set by a neighbour in
  the same PMD/PUD/P4D, and VMAs whose gaps are just below, at and above the 2 MiB gather distance;
- touch COUNT STRIDE crossing tables, re-touch after a zap reclaimed the table;
- offsets far up the 47-bit user half (64 TiB and more above the base, below the executable's slot, and in the
  last 512 GiB slot, whose PUD table the oracle's own stack holds);
- unaligned touch addresses, lengths that are not page multiples, zero-length zaps.
wide:
- mappings of up to a few TiB across several 512 GiB (P4D) slots, touched sparsely at table boundaries, zapped
  and unmapped in pieces that cross 1 GiB and 512 GiB boundaries and holes of any size.
gather:
- rows of small mappings with gaps just below, at and above 2 MiB (free_pgtables' gather distance) and
  1 GiB, all touched, then unmaps of runs of them with neighbours kept at every distance.

Every line is valid for the oracle (no overlapping map, touches and zaps only inside mappings), so the kernel
replays the whole trace; error lines are tested separately.
"""
import random
import sys

from ranges import cut

PAGE, PMD, PUD, PGD = 4096, 2 << 20, 1 << 30, 512 << 30
MAX_TOUCHED_PAGES = 40000


def main():
    seed = int(sys.argv[1])
    ops = int(sys.argv[2]) if len(sys.argv) > 2 else 120
    rng = random.Random(seed)
    mode = rng.choice(["lattice", "lattice", "wide", "gather"])
    print("\n".join((wide if mode == "wide" else gather if mode == "gather" else lattice)(seed, ops, rng)))


class Intervals:
    """Disjoint mapped [start, end) ranges, merged, as the oracle needs them for valid touches and zaps."""

    def __init__(self):
        self.runs = []

    def add(self, start, end):
        self.runs = cut(self.runs, start, end) + [(start, end)]
        self.runs.sort()
        merged = []
        for s, e in self.runs:
            if merged and merged[-1][1] == s:
                merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        self.runs = merged

    def remove(self, start, end):
        self.runs = cut(self.runs, start, end)

    def free(self, start, end):
        return all(e <= start or s >= end for s, e in self.runs)


def wide(seed, ops, rng):
    slot = rng.choice([0, PGD, 7 * PGD, 0x2000_0000_0000])
    lo, hi = slot, slot + rng.choice([2, 3, 5, 64]) * PGD
    mapped = Intervals()
    touched = 0
    out = [f"# adversarial trace, seed {seed}, wide from 0x{lo:x} to 0x{hi:x} (tools/traces/generate_adversarial.py)"]

    def near_boundary():
        level = rng.choice([PMD, PUD, PUD, PGD, PGD])
        b = lo + rng.randrange((hi - lo) // level) * level
        return max(lo, min(hi - PAGE, b + rng.choice([-PMD, -PAGE, 0, 0, PAGE, PMD, rng.randrange(-64, 64) * PAGE])))

    for _ in range(ops):
        kind = rng.choices(["map", "touch", "zap", "unmap"], [3, 4, 3, 2])[0]
        if kind == "map" or not mapped.runs:
            start = near_boundary()
            length = rng.choice([PAGE, PMD, PUD, PUD + PMD, PGD, 2 * PGD, 16 * PGD, rng.randrange(1, 1 << 20) * PAGE])
            end = min(hi, start + length)
            if mapped.free(start, end):
                mapped.add(start, end)
                out.append(f"map {start:#x} {end - start:#x}")
        elif kind == "touch":
            s, e = rng.choice(mapped.runs)
            stride = rng.choice([PAGE, PMD, PUD, PMD + PAGE, 64 * PUD, PGD])
            first = s + rng.randrange((e - s) // PAGE) * PAGE
            if rng.random() < 0.5:
                b = -(-s // PUD) * PUD if rng.random() < 0.5 else -(-s // PMD) * PMD
                first = b - PAGE * rng.randrange(2) if s <= b - PAGE and b < e else first
            count = min(rng.choice([1, 3, 16, 300]), (e - 1 - first) // stride + 1)
            if touched + count > MAX_TOUCHED_PAGES:
                continue
            touched += count
            out.append(f"touch {first:#x} {count} {stride:#x}")
        else:
            if kind == "zap":
                s, e = rng.choice(mapped.runs)
                start = s if rng.random() < 0.3 else max(s, near_boundary() if rng.random() < 0.5 else s + rng.randrange((e - s) // PAGE) * PAGE)
                if start >= e:
                    start = s
                end = e if rng.random() < 0.3 else min(e, start + rng.choice([PMD, PUD, PGD, 8 * PGD, PAGE * rng.randrange(1, 4096)]))
                out.append(f"zap {start:#x} {end - start:#x}")
            else:
                start = near_boundary()
                end = min(hi + PGD, start + rng.choice([PAGE, PMD, PUD, PGD, 2 * PGD, 16 * PGD]))
                mapped.remove(start, end)
                out.append(f"unmap {start:#x} {end - start:#x}")
        out.append("check")
    out.append(f"unmap {lo:#x} {hi - lo:#x}")
    out.append("check")
    return out


def gather(seed, ops, rng):
    base = rng.choice([0, PUD - 8 * PMD, PGD - 8 * PMD, 5 * PGD + 3 * PUD])
    gaps = [PAGE, PMD - PAGE, PMD, PMD + PAGE, 2 * PMD, PUD - PMD, PUD, PUD + PAGE]
    out = [f"# adversarial trace, seed {seed}, gather at 0x{base:x} (tools/traces/generate_adversarial.py)"]
    rows = []
    cursor = base
    for _ in range(max(4, ops // 8)):
        length = rng.choice([PAGE, 3 * PAGE, PMD - PAGE, PMD, PMD + PAGE])
        rows.append((cursor, cursor + length))
        cursor += length + rng.choice(gaps)
    mapped = Intervals()
    for s, e in rows:
        mapped.add(s, e)
        out.append(f"map {s:#x} {e - s:#x}")
        out.append(f"touch {s:#x} {-(-(e - s) // PMD)} {PMD:#x}" if rng.random() < 0.5 else f"touch {e - PAGE:#x}")
    out.append("check")
    for _ in range(ops // 4):
        i = rng.randrange(len(rows))
        j = min(len(rows), i + rng.randrange(1, 6))
        start, end = rows[i][0], rows[j - 1][1]
        if rng.random() < 0.3:  # start or end inside a mapping, splitting it
            start += PAGE * rng.randrange(0, max(1, (rows[i][1] - rows[i][0]) // PAGE))
        kind = rng.random()
        if kind < 0.5:
            mapped.remove(start, end)
            out.append(f"unmap {start:#x} {end - start:#x}")
        elif kind < 0.75:  # re-map and re-touch what is free of the rows
            for s, e in rows[i:j]:
                if mapped.free(s, e):
                    mapped.add(s, e)
                    out.append(f"map {s:#x} {e - s:#x}")
                    out.append(f"touch {s:#x}")
        else:
            for s, e in mapped.runs:
                if s < end and e > start:
                    a, b = max(s, start), min(e, end)
                    out.append(f"zap {a:#x} {b - a:#x}")
        out.append("check")
    for s, e in list(mapped.runs):
        out.append(f"unmap {s:#x} {e - s:#x}")
        out.append("check")
    return out


def lattice(seed, ops, rng):
    # 0x6f80_0000_0000 is the last 512 GiB slot (the oracle's stack is in its top 16 GiB, the libraries may be below).
    boundary = rng.choice([PMD * 7, PUD, 3 * PUD, PGD, 2 * PGD, 0x3000_0000_0000, 0x4000_0000_0000 - PGD,
                           0x6f80_0000_0000 + 64 * PUD, 0x6f80_0000_0000 + 300 * PUD])
    unit = rng.choice([PAGE, PAGE * 16, PMD // 4, PMD, PMD + PAGE])
    span = unit * rng.choice([8, 16, 32, 64])
    windows = [(max(0, boundary - span // 2), boundary + span // 2)]
    if rng.random() < 0.4:  # a second window one level up, so unmaps cross PUD/P4D table boundaries too
        other = boundary + rng.choice([PUD, PGD, -PUD]) if boundary >= PUD else PGD
        if other >= 0x6fc0_0000_0000:  # past the user address space, or near the oracle's stack
            other = boundary - PUD
        windows.append((max(0, other - span // 2), other + span // 2))
    weights = [rng.randint(1, 6) for _ in range(4)]
    pages = {}  # mapped page -> True, the coverage the oracle needs for touches and zaps
    touched = 0
    out = [f"# adversarial trace, seed {seed}, boundary 0x{boundary:x}, unit 0x{unit:x}, span 0x{span:x}"
           " (tools/traces/generate_adversarial.py)"]

    def mapped(start, end):
        return all(p in pages for p in range(start, end, PAGE))

    def free(start, end):
        return not any(p in pages for p in range(start, end, PAGE))

    def point(lo, hi):
        grain = rng.choice([PAGE, unit, PMD])
        value = lo + rng.randrange(max(1, (hi - lo) // grain)) * grain
        return min(value - value % PAGE, hi - PAGE)

    def runs():
        result = []
        for p in sorted(pages):
            if result and result[-1][1] == p:
                result[-1][1] = p + PAGE
            else:
                result.append([p, p + PAGE])
        return result

    def odd(length):
        """A length as the trace may write it: rounded up to pages by the kernel."""
        return length - rng.randrange(1, PAGE) if length > PAGE and rng.random() < 0.15 else length

    for _ in range(ops):
        kind = rng.choices(["map", "touch", "zap", "unmap"], weights)[0]
        lo, hi = rng.choice(windows)
        if kind == "map" or not pages:
            holes = []
            start = point(lo, hi)
            if rng.random() < 0.5 and pages:  # exactly a hole between mappings, or abut one side
                edges = [r for r in runs() if lo <= r[0] < hi or lo < r[1] <= hi]
                if edges:
                    r = rng.choice(edges)
                    start = r[1] if rng.random() < 0.5 else r[0] - rng.choice([PAGE, unit, PMD])
            length = rng.choice([PAGE, unit, 2 * unit, PMD, PMD - PAGE, 3 * PAGE])
            end = start + length
            while end < hi + PMD and free(end, end + PAGE) and rng.random() < 0.3:  # grow into the hole
                end += PAGE * rng.randrange(1, 64)
            if start < 0 or not free(start, end):
                # the hole up to the next mapping
                end = start + PAGE
                if start < 0 or not free(start, end):
                    continue
                while free(end, end + PAGE) and end - start < 4 * PMD:
                    end += PAGE
            for p in range(start, end, PAGE):
                pages[p] = True
            out.append(f"map {start:#x} {odd(end - start):#x}")
        elif kind == "touch":
            run = rng.choice(runs())
            first = run[0] + rng.randrange((run[1] - run[0]) // PAGE) * PAGE
            stride = rng.choice([PAGE, PAGE * 3, PMD, PMD + PAGE, PMD - PAGE, unit, PUD])
            count = min(rng.choice([1, 2, 5, 40, 513]), (run[1] - 1 - first) // stride + 1)
            if touched + count > MAX_TOUCHED_PAGES:
                continue
            touched += count
            offset = first + (rng.randrange(1, PAGE) if rng.random() < 0.2 else 0)
            out.append(f"touch {offset:#x}" if count == 1 else f"touch {offset:#x} {count} {stride:#x}")
        elif kind == "zap":
            run = rng.choice(runs())
            if rng.random() < 0.05:
                out.append(f"zap {run[0]:#x} 0")
                continue
            shape = rng.random()
            if shape < 0.3:
                start, end = run
            else:
                start = point(run[0], run[1])
                end = min(run[1], start + rng.choice([PAGE, unit, PMD, 2 * PMD, 3 * PMD, PUD]))
                if shape < 0.6:  # whole tables where the run has them
                    a, b = -(-start // PMD) * PMD, end // PMD * PMD
                    if a < b:
                        start, end = a, b
            out.append(f"zap {start:#x} {odd(end - start):#x}")
        else:
            start = point(lo, hi)
            end = start + rng.choice([PAGE, unit, 2 * unit, PMD, 3 * PMD, span // 2, span])
            if rng.random() < 0.3 and pages:  # exactly one run, or a piece of a run's middle
                run = rng.choice(runs())
                start, end = run
                if rng.random() < 0.5 and end - start > 2 * PAGE:
                    start = point(run[0], run[1])
                    end = min(run[1], start + rng.choice([PAGE, unit, PMD]))
            for p in range(start, end, PAGE):
                pages.pop(p, None)
            out.append(f"unmap {start:#x} {odd(end - start):#x}")
        out.append("check")
    for s, e in runs():
        if rng.random() < 0.7:
            out.append(f"unmap {s:#x} {e - s:#x}")
            out.append("check")
    return out


if __name__ == "__main__":
    main()
