"""Range arithmetic shared by the trace generators."""


def cut(runs, start, end):
    """The parts of the disjoint [s, e) ranges in runs that lie outside [start, end): what an munmap leaves."""
    kept = []
    for s, e in runs:
        if e <= start or s >= end:
            kept.append((s, e))
            continue
        if s < start:
            kept.append((s, start))
        if e > end:
            kept.append((end, e))
    return kept
