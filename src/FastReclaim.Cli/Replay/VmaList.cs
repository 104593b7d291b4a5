namespace FastReclaim.Cli.Replay;

/// <summary>
/// The trace's mappings as Linux keeps them: VMAs that are split by munmap and merged on mmap, because the
/// kernel's page-table decisions depend on VMA boundaries (madvise zaps each VMA separately; munmap frees tables
/// between the neighbouring VMAs).
/// </summary>
/// <remarks>
/// Every mapping of a trace is anonymous and private (kernel_replay.c); a VMA's flags differ from its neighbour's
/// only in <c>VM_HUGEPAGE</c> (<c>hmap</c>) versus <c>VM_NOHUGEPAGE</c> (<c>map</c>) and in <c>VM_WRITE</c>
/// (<c>protect</c>), and beyond that only in their <c>anon_vma</c>, which a VMA gets on its first fault. The merge that
/// <c>madvise(MADV_[NO]HUGEPAGE)</c> attempts on a new mapping and <c>mprotect</c> attempts on every VMA it changes
/// (mm/vma.c, vma_merge_existing_range) joins it to a neighbour with the same flags whose anon_vma is compatible
/// (unset on either side, or the same); with both neighbours it joins them only when their anon_vmas are compatible
/// with each other, else it joins the left one only.
/// </remarks>
internal sealed class VmaList
{
    /// <summary>munmap frees the tables of VMAs at most this far apart in one call (free_pgtables gathers them).</summary>
    private const ulong GatherDistance = 2 * 1024 * 1024;

    /// <summary>The anon_vma mark of a VMA that is not the trace's own (<see cref="AddForeign"/>).</summary>
    private const int Foreign = -1;

    private readonly List<Vma> _vmas = [];
    private int _lastAnon;

    /// <summary>
    /// One VMA: [Start, End), its anon_vma (0 until its first fault, <see cref="Foreign"/> for a foreign one),
    /// whether its faults may be 2 MiB pages (<c>VM_HUGEPAGE</c>) and whether it is read-only (PROT_READ).
    /// </summary>
    internal readonly record struct Vma(ulong Start, ulong End, int Anon, bool Huge = false, bool ReadOnly = false)
    {
        /// <summary>Whether [start, end) lies inside this VMA.</summary>
        internal bool Holds(ulong start, ulong end) => Start <= start && end <= End;
    }

    /// <summary>One <c>free_pgd_range</c> call of a munmap.</summary>
    internal readonly record struct TableFreeRange(ulong Start, ulong End, ulong Floor, ulong Ceiling);

    internal IReadOnlyList<Vma> Vmas => _vmas;

    /// <summary>
    /// mmap + madvise(MADV_NOHUGEPAGE), or with <paramref name="huge"/> madvise(MADV_HUGEPAGE), of [start, end); false
    /// when it overlaps a VMA (MAP_FIXED_NOREPLACE).
    /// </summary>
    internal bool Map(ulong start, ulong end, bool huge = false)
    {
        int index = FirstEndingAfter(start);
        if (index < _vmas.Count && _vmas[index].Start < end)
        {
            return false;
        }

        _vmas.Insert(index, new Vma(start, end, 0, huge));
        MergeAt(index);
        return true;
    }

    /// <summary>
    /// mprotect of [start, end) to read-only or read/write: each VMA whose protection changes is split at the range's
    /// ends and then merged with its neighbours (mprotect_fixup); a VMA already so is left alone. False, changing
    /// nothing, when part of the range is not mapped (the kernel's ENOMEM).
    /// </summary>
    /// <returns>The parts of the range whose protection changed, in order; null when part of the range is not mapped.</returns>
    internal List<(ulong Start, ulong End)>? Protect(ulong start, ulong end, bool readOnly)
    {
        if (Pieces(start, end) is null)
        {
            return null;
        }

        var changed = new List<(ulong Start, ulong End)>();

        for (int i = FirstEndingAfter(start); i < _vmas.Count && _vmas[i].Start < end; i++)
        {
            Vma vma = _vmas[i];
            if (vma.ReadOnly == readOnly)
            {
                continue;
            }

            ulong pieceStart = Math.Max(start, vma.Start), pieceEnd = Math.Min(end, vma.End);
            changed.Add((pieceStart, pieceEnd));
            if (pieceEnd < vma.End)
            {
                _vmas.Insert(i + 1, vma with { Start = pieceEnd });
            }

            _vmas[i] = vma with { Start = pieceStart, End = pieceEnd, ReadOnly = readOnly };
            if (pieceStart > vma.Start)
            {
                _vmas.Insert(i, vma with { End = pieceStart });
                i++;
            }

            i = MergeAt(i); // the parts cut off keep the old protection, so a piece merges only where it reached the VMA's ends
        }

        return changed;
    }

    /// <summary>The VMA that holds <paramref name="address"/>, or null.</summary>
    internal Vma? Find(ulong address)
    {
        int index = FirstEndingAfter(address);
        return index < _vmas.Count && _vmas[index].Start <= address ? _vmas[index] : null;
    }

    /// <summary>
    /// The VMAs that [start, end) meets, in order, each as it is; null when part of the range is not mapped.
    /// </summary>
    internal List<Vma>? Covering(ulong start, ulong end)
    {
        var covering = new List<Vma>();
        ulong cursor = start;
        for (int i = FirstEndingAfter(start); i < _vmas.Count && cursor < end; i++)
        {
            if (_vmas[i].Start > cursor)
            {
                return null;
            }

            covering.Add(_vmas[i]);
            cursor = _vmas[i].End;
        }

        return cursor >= end ? covering : null;
    }

    /// <summary>
    /// Adds [start, end) as a VMA of the process that is not the trace's (the oracle's stack, whose flags differ from
    /// every trace mapping's): it never merges, and it is a floor or ceiling for the trace's unmaps. The caller keeps
    /// the trace's lines out of it.
    /// </summary>
    internal void AddForeign(ulong start, ulong end) => _vmas.Insert(FirstEndingAfter(start), new Vma(start, end, Foreign));

    /// <summary>
    /// A fault at <paramref name="address"/>: the VMA that holds it (null when none), after giving it an anon_vma. As
    /// anon_vma_prepare (find_mergeable_anon_vma), a VMA first reuses the anon_vma of the next VMA, then of the
    /// previous one, when that neighbour touches it and differs from it in the protection only.
    /// </summary>
    internal Vma? Fault(ulong address)
    {
        int index = FirstEndingAfter(address);
        if (index == _vmas.Count || _vmas[index].Start > address)
        {
            return null;
        }

        Vma vma = _vmas[index];
        if (vma.Anon == 0)
        {
            int anon = Reusable(index, index + 1) ?? Reusable(index, index - 1) ?? ++_lastAnon;
            _vmas[index] = vma = vma with { Anon = anon };
        }

        return vma;
    }

    /// <summary>The anon_vma VMA <paramref name="index"/> may take from its adjacent neighbour <paramref name="neighbour"/> (reusable_anon_vma), or null.</summary>
    private int? Reusable(int index, int neighbour)
    {
        if (neighbour < 0 || neighbour >= _vmas.Count)
        {
            return null;
        }

        Vma vma = _vmas[index], other = _vmas[neighbour];
        bool adjacent = neighbour > index ? vma.End == other.Start : other.End == vma.Start;
        return adjacent && other.Anon is not (0 or Foreign) && other.Huge == vma.Huge ? other.Anon : null;
    }

    /// <summary>
    /// Merges VMA <paramref name="index"/> with the neighbours it may join: same flags, compatible anon_vma, and with
    /// both only when those two are compatible with each other, else the left one only. Returns the merged VMA's index.
    /// </summary>
    private int MergeAt(int index)
    {
        Vma vma = _vmas[index];
        bool mergeLeft = index > 0 && Mergeable(_vmas[index - 1], vma);
        bool mergeRight = index + 1 < _vmas.Count && Mergeable(vma, _vmas[index + 1])
            && (!mergeLeft || Compatible(_vmas[index - 1].Anon, _vmas[index + 1].Anon));
        int first = mergeLeft ? index - 1 : index;
        int last = mergeRight ? index + 1 : index;
        int anon = 0;
        for (int i = first; i <= last && anon == 0; i++)
        {
            anon = _vmas[i].Anon;
        }

        Vma merged = vma with { Start = _vmas[first].Start, End = _vmas[last].End, Anon = anon };
        _vmas.RemoveRange(first + 1, last - first);
        _vmas[first] = merged;
        return first;
    }

    private static bool Mergeable(Vma prev, Vma next) =>
        prev.End == next.Start && prev.Anon != Foreign && next.Anon != Foreign
        && prev.Huge == next.Huge && prev.ReadOnly == next.ReadOnly && Compatible(prev.Anon, next.Anon);

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
