#!/usr/bin/env python3
"""Writes dense random traces: many small mappings side by side in a 64-slot window (near 0, a 1 GiB or a
512 GiB boundary), so that mappings become adjacent in every order, merge or stay separate VMAs, share PTE
and PMD tables, and are zapped and unmapped across their boundaries.

    python3 tools/traces/generate_dense.py SEED > dense-SEED.trace

Valid for the oracle like generate_random.py: no overlapping map, touches and zaps only inside mappings.
"""
import random
import sys

PAGE, PMD, GIB = 4096, 2 << 20, 1 << 30
SLOTS, OPS = 64, 400


def main():
    seed = int(sys.argv[1])
    rng = random.Random(seed)
    unit = rng.choice([PAGE * 32, 512 * 1024, PMD])
    base = rng.choice([0, GIB - 16 * unit, 512 * GIB - 16 * unit])
    mapped = [False] * SLOTS
    out = [f"# dense trace, seed {seed}, slot 0x{unit:x} at 0x{base:x} (tools/traces/generate_dense.py)"]
    for _ in range(OPS):
        kind, i = rng.random(), rng.randrange(SLOTS)
        if kind < 0.35:
            n = rng.randrange(1, 4)
            if i + n <= SLOTS and not any(mapped[i:i + n]):
                mapped[i:i + n] = [True] * n
                out.append(f"map {base + i * unit:#x} {n * unit:#x}")
        elif kind < 0.6:
            if mapped[i]:
                out.append(f"touch {base + i * unit + rng.randrange(unit // PAGE) * PAGE:#x}")
        elif kind < 0.8:
            j = i
            while j < SLOTS and mapped[j]:
                j += 1
            if j > i:
                start, end = base + i * unit, base + j * unit
                if rng.random() < 0.3:
                    start += rng.randrange((end - start) // PAGE) * PAGE
                out.append(f"zap {start:#x} {end - start:#x}")
        elif kind < 0.92:
            j = min(SLOTS, i + rng.randrange(1, 6))
            mapped[i:j] = [False] * (j - i)
            out.append(f"unmap {base + i * unit:#x} {(j - i) * unit:#x}")
        out.append("check")
    out.append(f"unmap {base:#x} {SLOTS * unit:#x}")
    out.append("check")
    print("\n".join(out))


if __name__ == "__main__":
    main()
