using System.Diagnostics;
using System.Diagnostics.Tracing;
using FastReclaim.Diagnostics;
using FastReclaim.Paging;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim;

public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// Drops the leaves in the range and keeps the range usable (<c>madvise(MADV_DONTNEED)</c>); frees the PTE
    /// tables the zap leaves empty as <see cref="Policy"/> says, through the epoch domain.
    /// </summary>
    /// <param name="va">First address, 4 KiB-aligned, canonical.</param>
    /// <param name="length">Bytes, a non-zero multiple of 4 KiB. A 2 MiB or 1 GiB leaf the range covers only in part is split first (see the remarks).</param>
    /// <returns>Bytes unmapped and tables reclaimed.</returns>
    /// <remarks>
    /// <para>
    /// The cost grows with the tables present in the range, not with its size: absent upper-level entries are
    /// skipped whole, so zapping an empty 64 TiB range reads a few hundred entries.
    /// </para>
    /// <para>
    /// A huge leaf at an edge of the range is split (Linux <c>split_huge_pmd</c>): a 2 MiB leaf becomes a PTE table
    /// of 512 pages, a 1 GiB leaf a PMD table of 512 2 MiB leaves (then split again if the edge needs it), with the
    /// same frames and flags; readers never see a hole (on Arm64, whose break-before-make makes the entry invalid while the
    /// TLB step runs, they see the span unmapped meanwhile, as its CPUs do). Under <see cref="ReclaimPolicy.Linux"/> a 2 MiB split uses
    /// the leaf's deposited table; otherwise a split allocates, and if it cannot, nothing is changed.
    /// </para>
    /// </remarks>
    /// <exception cref="ArgumentException">Bad range (the message names the value); nothing is changed.</exception>
    /// <exception cref="OutOfMemoryException">A split needs a table the allocator cannot supply; nothing is changed.</exception>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    public ZapResult Zap(ulong va, ulong length)
        => _encoding switch
        {
            EntryEncoding.X64 => Zap<X64Format>(va, length),
            EntryEncoding.Arm64 => Zap<Arm64Format>(va, length),
            EntryEncoding.Arm64Lpa2 => Zap<Arm64Lpa2Format>(va, length),
            _ => Zap<RiscV64Format>(va, length),
        };

    private ZapResult Zap<F>(ulong va, ulong length)
        where F : struct, IPageTableFormat
    {
        ulong last = CheckRange(va, length, PageBytes);
        ThrowIfDisposed();
        bool trace = FastReclaimEventSource.IsOn(EventLevel.Verbose, FastReclaimEventSource.Keywords.Policy);
        ZapResult result;
        using (WriterGuard guard = new(this))
        {
            SplitEdges<F>(va, last);
            result = ZapRange<F>(va, last, _policy, trace);
        }

        Interlocked.Add(ref _reclaimedTables, result.ReclaimedTables);
        return result;
    }

    /// <summary>
    /// Clears the leaves of [<paramref name="first"/>, <paramref name="last"/>] and reclaims per
    /// <paramref name="policy"/>. The caller is inside a guard.
    /// </summary>
    private ZapResult ZapRange<F>(ulong first, ulong last, ReclaimPolicy policy, bool trace)
        where F : struct, IPageTableFormat
    {
        var op = new ZapOp<F>(this, policy, trace);
        WalkRange<F, ZapOp<F>>(ref op, first, last);
        return new ZapResult(op.Bytes, op.Reclaimed);
    }

    /// <summary>
    /// Zap as a range operation: Linux <c>zap_pte_range</c>, then the reclaim protocol
    /// (<see cref="ReclaimPteTableLocked"/>) for each PTE table, and under <see cref="ReclaimPolicy.Eager"/> for the
    /// upper tables the zap left empty.
    /// </summary>
    private struct ZapOp<F>(AddressSpace space, ReclaimPolicy policy, bool trace) : IRangeOp
        where F : struct, IPageTableFormat
    {
        public long Bytes;
        public int Reclaimed;

        public void ChangeLeaves(nint table, int level, int first, int last) => Bytes += space.ClearLeavesLocked<F>(table, level, first, last);

        public void UnlockPteTable(nint pmd, int index, nint pte, ref TableDescriptor descriptor, ulong pteBase, bool wholeSpan)
        {
            if (space.ReclaimPteTableLocked<F>(pmd, index, pte, ref descriptor, pteBase, wholeSpan, policy, trace))
            {
                Reclaimed++;
            }
        }

        public void TableDone(nint parent, int index, nint child, int childLevel, ulong childBase, ulong childLast)
        {
            if (policy == ReclaimPolicy.Eager && space.TryReclaimUpperTable<F>(parent, index, child, childLevel, childBase, trace))
            {
                Reclaimed++;
            }
        }
    }

    /// <summary>
    /// Up to this many leaves in a PTE range, a zap jumps from one to the next with <see cref="PageScan.FirstNonZero(ReadOnlySpan{ulong})"/>;
    /// above it, a plain loop over the entries is cheaper than a scan per leaf.
    /// </summary>
    private const int SparseLeaves = 16;

    /// <summary>
    /// Clears the leaves among entries <paramref name="first"/>..<paramref name="last"/> of a table at
    /// <paramref name="level"/> whose lock the caller holds (entries that reference tables are left alone).
    /// Returns the bytes they mapped.
    /// </summary>
    private long ClearLeavesLocked<F>(nint table, int level, int first, int last)
        where F : struct, IPageTableFormat
    {
        long pages = 0;
        if (level == PteLevel)
        {
            // Every non-zero entry of a PTE table is a present leaf, and the descriptor counts them. Zaps mostly
            // meet sparse tables (one touched page in 512 is common): jumping from leaf to leaf with the SIMD scan
            // and stopping after the last one reads a few cache lines of the table instead of all 64.
            ref TableDescriptor descriptor = ref DescriptorOf(table);
            var entries = new ReadOnlySpan<ulong>((void*)table, EntriesPerTable);
            int present = first == 0 && last == EntriesPerTable - 1
                ? descriptor.PresentEntries
                : PageScan.CountNonZero(entries[first..(last + 1)]);
            if (present == 0)
            {
                return 0;
            }

            descriptor.PresentEntries -= (ushort)present;
            if (present <= SparseLeaves)
            {
                for (int i = first; pages < present; i++)
                {
                    int next = PageScan.FirstNonZero(entries[i..(last + 1)]);
                    Debug.Assert(next >= 0, "the descriptor counts every present entry");
                    i += next;
                    WriteEntry(table, i, 0);
                    pages++;
                }

                return AccountCleared(pages, level);
            }
        }

        for (int i = first; i <= last; i++)
        {
            ulong entry = ReadEntry(table, i);
            if ((entry & PresentBit) != 0 && IsLeaf<F>(entry, level))
            {
                WriteEntry(table, i, 0);
                pages++;
            }
        }

        if (level == PmdLevel && DepositsTables)
        {
            FreeDeposits(pages);
        }

        return AccountCleared(pages, level);
    }

    /// <summary>Updates the mapped counters for <paramref name="pages"/> leaves of <paramref name="level"/> cleared; returns their bytes.</summary>
    private long AccountCleared(long pages, int level)
    {

        if (pages != 0)
        {
            Interlocked.Add(ref _mappedPages, -pages);
            Interlocked.Add(ref _mappedBytes, -pages * (long)EntrySpan(level));
        }

        return pages * (long)EntrySpan(level);
    }
}
