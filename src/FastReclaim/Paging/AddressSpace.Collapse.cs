using FastReclaim.Paging;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim;

// Collapse (khugepaged, MADV_COLLAPSE): a PTE table that maps one 2 MiB-aligned run of 512 contiguous frames with
// identical flags is replaced by a 2 MiB leaf, and the table goes through the epoch domain (pte_free_defer), because
// a lockless reader may be inside it.
//
// Why a reader stays correct: the PMD entry changes from the table to the leaf in one release store under the PMD
// and PTE locks. A reader that loaded the old entry walks the old table, whose entries are left as they were (it is
// marked dead, not zeroed) and map exactly what the leaf maps; the table is freed only after every guard that could
// have loaded the old entry is left. A reader that loads the new entry sees the leaf. Either way the address
// translates to the same frame and flags: no hole, no wrong frame. (Arm64 replaces the entry by break-before-make,
// AddressSpace.Replace.cs: while the TLB step runs, a reader that loads the entry sees the span unmapped.)
//
// The one exception to "a dead table is all zero" (AddressSpace.cs, invariant 2) is such a collapsed table. A writer
// that reached it before the collapse sees Dead under its lock: Map retries from the root (and finds the leaf),
// while Zap, Unmap and Protect would skip it, so Collapse must not run concurrently with those on the same range
// (as khugepaged takes mmap_lock for writing); readers are never restricted.
public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// Promotes every 2 MiB span of the range whose PTE table maps 512 pages of one 2 MiB-aligned, contiguous frame
    /// run with identical flags to a 2 MiB leaf with those flags, and retires the old table through the epoch domain.
    /// Spans with a hole, a differing flag, frames out of order or a run that is not 2 MiB-aligned are left as they are.
    /// </summary>
    /// <param name="va">First address, 2 MiB-aligned, canonical.</param>
    /// <param name="length">Bytes, a non-zero multiple of 2 MiB.</param>
    /// <returns>How many spans became 2 MiB leaves.</returns>
    /// <remarks>
    /// Must not run concurrently with <see cref="Zap"/>, <see cref="Unmap(ulong, ulong)"/> or <see cref="Protect"/>
    /// over the same range; readers may translate through the range throughout. Under
    /// <see cref="ReclaimPolicy.Linux"/> each new leaf gets a deposited table, allocated before anything changes.
    /// </remarks>
    /// <exception cref="ArgumentException">Bad range (the message names the value); nothing is changed.</exception>
    /// <exception cref="OutOfMemoryException">The deposits cannot be allocated; nothing is changed.</exception>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    public int Collapse(ulong va, ulong length)
        => _encoding switch
        {
            EntryEncoding.X64 => Collapse<X64Format>(va, length),
            EntryEncoding.Arm64 => Collapse<Arm64Format>(va, length),
            EntryEncoding.Arm64Lpa2 => Collapse<Arm64Lpa2Format>(va, length),
            _ => Collapse<RiscV64Format>(va, length),
        };

    private int Collapse<F>(ulong va, ulong length)
        where F : struct, IPageTableFormat
    {
        ulong last = CheckRange(va, length, EntrySpan(PmdLevel));
        ThrowIfDisposed();
        using WriterGuard guard = new(this);
        int candidates = 0;
        TableReserve reserve = default;
        CollapseIn<F>(_root, _levels, 0, ulong.MaxValue, va, last, ref reserve, apply: false, ref candidates);
        if (candidates == 0)
        {
            return 0;
        }

        reserve = ReserveTables(DepositsTables ? candidates : 0);
        int promoted = 0;
        try
        {
            CollapseIn<F>(_root, _levels, 0, ulong.MaxValue, va, last, ref reserve, apply: true, ref promoted);
        }
        finally
        {
            ReleaseReserve(ref reserve);
        }

        return promoted;
    }

    /// <summary>
    /// Visits the PTE tables of [<paramref name="first"/>, <paramref name="last"/>] below <paramref name="table"/>:
    /// counts the collapsible ones (a lock-free look), or with <paramref name="apply"/> collapses them.
    /// </summary>
    private void CollapseIn<F>(nint table, int level, ulong tableBase, ulong tableLast, ulong first, ulong last, ref TableReserve reserve, bool apply, ref int count)
        where F : struct, IPageTableFormat
    {
        int i0 = IndexOf(Math.Max(first, tableBase), level);
        int i1 = IndexOf(Math.Min(last, tableLast), level);
        for (int i = i0; i <= i1; i++)
        {
            ulong entry = ReadEntry(table, i);
            if ((entry & PresentBit) == 0 || IsLeaf<F>(entry, level))
            {
                continue;
            }

            nint child = TableOf<F>(entry);
            if (level - 1 > PteLevel)
            {
                ulong childBase = EntryBase<F>(tableBase, i, level);
                CollapseIn<F>(child, level - 1, childBase, childBase + EntrySpan(level) - 1, first, last, ref reserve, apply, ref count);
            }
            else if (apply ? TryCollapse<F>(table, i, child, EntryBase<F>(tableBase, i, level), ref reserve) : IsContiguousRun<F>(child))
            {
                count++;
            }
        }
    }

    /// <summary>Collapses the PTE table hooked at <paramref name="pmd"/>[<paramref name="index"/>] if it is still hooked there and still eligible.</summary>
    private bool TryCollapse<F>(nint pmd, int index, nint pte, ulong pteBase, ref TableReserve reserve)
        where F : struct, IPageTableFormat
    {
        ref TableDescriptor pmdDescriptor = ref DescriptorOf(pmd);
        ref TableDescriptor pteDescriptor = ref DescriptorOf(pte);
        bool collapsed = false;
        TableLock.Enter(ref pmdDescriptor);
        ulong entry = ReadEntry(pmd, index);
        if (!pmdDescriptor.IsDead && (entry & PresentBit) != 0 && !IsLeaf<F>(entry, PmdLevel) && TableOf<F>(entry) == pte)
        {
            TableLock.Enter(ref pteDescriptor);
            if (pteDescriptor.PresentEntries == EntriesPerTable && IsContiguousRun<F>(pte))
            {
                // Entry 0 as the run was checked against (the table is locked: no writer changes it meanwhile).
                ulong first = ReadEntry(pte, 0);
                ReplaceLocked<F>(pmd, index, PmdLevel, pteBase, Leaf<F>(F.LeafAddress(first), F.LeafAttributes(first), PmdLevel));
                Interlocked.Add(ref _mappedPages, 1 - EntriesPerTable);
                RetireUnhookedLocked(pte, ref pteDescriptor);
                collapsed = true;
            }

            TableLock.Exit(ref pteDescriptor);
        }

        TableLock.Exit(ref pmdDescriptor);
        if (collapsed && DepositsTables)
        {
            Deposit(ref reserve, 1);
        }

        return collapsed;
    }

    /// <summary>
    /// True when the PTE table maps 512 present pages of one 2 MiB-aligned, contiguous frame run with identical
    /// flags: entry i equals entry 0 plus i times the format's step between 4 KiB frames (the SIMD compare of <see cref="PageScan.IsContiguousRun(nint, ulong, ulong)"/>).
    /// </summary>
    private static bool IsContiguousRun<F>(nint pte)
        where F : struct, IPageTableFormat
    {
        ulong first = ReadEntry(pte, 0);
        return (first & PresentBit) != 0 && (F.LeafAddress(first) & (EntrySpan(PmdLevel) - 1)) == 0
            && PageScan.IsContiguousRun(pte, first, F.EncodeAddress(PageBytes));
    }
}
