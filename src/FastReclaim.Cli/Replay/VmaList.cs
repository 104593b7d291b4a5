namespace FastReclaim.Cli.Replay;

/// <summary>
/// The trace's mappings as Linux keeps them: VMAs that are split by munmap and merged on mmap, because the
/// kernel's page-table decisions depend on VMA boundaries (madvise zaps each VMA separately; munmap frees tables
/// between the neighbouring VMAs).
/// </summary>
/// <remarks>
/// Every mapping of a trace is anonymous, private and <c>MADV_NOHUGEPAGE</c> (kernel_replay.c), so two adjacent
/// VMAs differ only in their <c>anon_vma</c>, which a VMA gets on its first fault. The merge that
/// <c>madvise(MADV_NOHUGEPAGE)</c> attempts on a new mapping (mm/vma.c, vma_merge_existing_range) joins it to a
/// neighbour whose anon_vma is compatible (unset on either side, or the same); with both neighbours it joins
/// them only when their anon_vmas are compatible with each other, else it joins the left one only.
/// </remarks>
internal sealed class VmaList
{
    /// <summary>munmap frees the tables of VMAs at most this far apart in one call (free_pgtables gathers them).</summary>
    private const ulong GatherDistance = 2 * 1024 * 1024;

    /// <summary>The anon_vma mark of a VMA that is not the trace's own (<see cref="AddForeign"/>).</summary>
    private const int Foreign = -1;

    private readonly List<Vma> _vmas = [];
    private int _lastAnon;

    /// <summary>One VMA: [Start, End) and its anon_vma (0 until its first fault, <see cref="Foreign"/> for a foreign one).</summary>
    internal readonly record struct Vma(ulong Start, ulong End, int Anon);

    /// <summary>One <c>free_pgd_range</c> call of a munmap.</summary>
    internal readonly record struct TableFreeRange(ulong Start, ulong End, ulong Floor, ulong Ceiling);

    internal IReadOnlyList<Vma> Vmas => _vmas;

    /// <summary>mmap + madvise(MADV_NOHUGEPAGE) of [start, end); false when it overlaps a VMA (MAP_FIXED_NOREPLACE).</summary>
    internal bool Map(ulong start, ulong end)
    {
        int index = FirstEndingAfter(start);
        if (index < _vmas.Count && _vmas[index].Start < end)
        {
            return false;
        }

        bool left = index > 0 && _vmas[index - 1].End == start && _vmas[index - 1].Anon != Foreign;
        bool right = index < _vmas.Count && _vmas[index].Start == end && _vmas[index].Anon != Foreign
            && (!left || Compatible(_vmas[index - 1].Anon, _vmas[index].Anon));
        if (left && right)
        {
            Vma prev = _vmas[index - 1], next = _vmas[index];
            _vmas[index - 1] = new Vma(prev.Start, next.End, prev.Anon != 0 ? prev.Anon : next.Anon);
            _vmas.RemoveAt(index);
        }
        else if (left)
        {
            _vmas[index - 1] = _vmas[index - 1] with { End = end };
        }
        else if (right)
        {
            _vmas[index] = _vmas[index] with { Start = start };
        }
        else
        {
            _vmas.Insert(index, new Vma(start, end, 0));
        }

        return true;
    }

    /// <summary>
    /// Adds [start, end) as a VMA of the process that is not the trace's (the oracle's stack, whose flags differ from
    /// every trace mapping's): it never merges, and it is a floor or ceiling for the trace's unmaps. The caller keeps
    /// the trace's lines out of it.
    /// </summary>
    internal void AddForeign(ulong start, ulong end) => _vmas.Insert(FirstEndingAfter(start), new Vma(start, end, Foreign));

    /// <summary>A fault at <paramref name="address"/>: false when no VMA holds it; gives its VMA an anon_vma.</summary>
    internal bool Fault(ulong address)
    {
        int index = FirstEndingAfter(address);
        if (index == _vmas.Count || _vmas[index].Start > address)
        {
            return false;
        }

        if (_vmas[index].Anon == 0)
        {
            _vmas[index] = _vmas[index] with { Anon = ++_lastAnon };
        }

        return true;
    }

    /// <summary>
    /// The parts of [start, end) in each VMA, in order (what madvise hands to the zap, one VMA at a time);
    /// null when part of the range is not mapped (madvise fails with ENOMEM).
    /// </summary>
    internal List<(ulong Start, ulong End)>? Pieces(ulong start, ulong end)
    {
        var pieces = new List<(ulong, ulong)>();
        ulong cursor = start;
        for (int i = FirstEndingAfter(start); i < _vmas.Count && cursor < end; i++)
        {
            if (_vmas[i].Start > cursor)
            {
                return null;
            }

            ulong pieceEnd = Math.Min(end, _vmas[i].End);
            pieces.Add((cursor, pieceEnd));
            cursor = pieceEnd;
        }

        return cursor >= end ? pieces : null;
    }

    /// <summary>
    /// munmap of [start, end): splits the VMAs at the ends, removes what lies inside, and returns the
    /// free_pgd_range calls free_pgtables makes for the removed VMAs. Floor is the end of the VMA left before the
    /// range (0 when none), the same for every call; each call's ceiling is the start of the next removed VMA, or
    /// for the last one the start of the VMA left after the range (0 when none).
    /// </summary>
    internal List<TableFreeRange> Unmap(ulong start, ulong end)
    {
        var calls = new List<TableFreeRange>();
        int first = FirstEndingAfter(start);
        int last = first;
        while (last < _vmas.Count && _vmas[last].Start < end)
        {
            last++;
        }

        if (last == first)
        {
            return calls;
        }

        Vma head = _vmas[first], tail = _vmas[last - 1];
        var removed = new List<(ulong Start, ulong End)>();
        for (int i = first; i < last; i++)
        {
            removed.Add((Math.Max(start, _vmas[i].Start), Math.Min(end, _vmas[i].End)));
        }

        ulong floor = head.Start < start ? start : first > 0 ? _vmas[first - 1].End : 0;
        ulong ceiling = tail.End > end ? end : last < _vmas.Count ? _vmas[last].Start : 0;
        _vmas.RemoveRange(first, last - first);
        if (tail.End > end)
        {
            _vmas.Insert(first, tail with { Start = end });
        }

        if (head.Start < start)
        {
            _vmas.Insert(first, head with { End = start });
        }

        for (int i = 0; i < removed.Count;)
        {
            ulong batchStart = removed[i].Start;
            ulong batchEnd = removed[i].End;
            i++;
            while (i < removed.Count && removed[i].Start <= batchEnd + GatherDistance)
            {
                batchEnd = removed[i].End;
                i++;
            }

            calls.Add(new TableFreeRange(batchStart, batchEnd, floor, i < removed.Count ? removed[i].Start : ceiling));
        }

        return calls;
    }

    private static bool Compatible(int anon, int otherAnon) => anon == 0 || otherAnon == 0 || anon == otherAnon;

    /// <summary>Index of the first VMA whose end is above <paramref name="address"/> (binary search).</summary>
    private int FirstEndingAfter(ulong address)
    {
        int lo = 0, hi = _vmas.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_vmas[mid].End <= address)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}
