using System.Diagnostics;
using FastReclaim.Paging;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim;

// Huge leaves: a 2 MiB or 1 GiB leaf that a Zap, Unmap or Protect covers only in part is split first (Linux
// split_huge_pmd / split_huge_pud), and under the Linux policy every 2 MiB leaf keeps a deposited PTE table
// (pgtable_trans_huge_deposit), so splitting one never allocates.
//
// Split, and why a reader never sees a hole or a wrong frame: the new table is filled while no one can reach it
// (512 leaves of the next size down: the same frames, the same flags), then published by one release store of the
// parent entry, under the parent table's lock (which every writer of that entry takes). A reader's acquire load of
// the entry returns either the old leaf, which translates every address of the span, or the new table, whose filled
// entries the release store ordered before it. No entry of the span is ever 0 in between. (Arm64 publishes by
// break-before-make, AddressSpace.Replace.cs: an invalid entry while the TLB step runs, then the table.)
//
// Deposit: a per-space stack of zeroed PTE tables, linked through their entry 0 (zeroed again when withdrawn).
// Under the Linux policy it holds exactly one table per 2 MiB leaf: Map of a 2 MiB leaf and Collapse deposit one,
// the split of a 1 GiB leaf deposits 512, the split of a 2 MiB leaf withdraws one (and hooks it), Zap and Unmap of a
// 2 MiB leaf withdraw one and free it. Deposited tables count as PTE tables (the kernel counts them in VmPTE) and
// are never reachable by a reader, so they are freed at once, with no grace period. The other policies deposit
// nothing: their split allocates its table, and a split that cannot get one throws before anything changes.
public sealed unsafe partial class AddressSpace
{
    /// <summary>Guards <see cref="_deposited"/>: taken by writers only, for a push or a pop, never with a wait inside.</summary>
    private readonly Lock _depositLock = new();

    /// <summary>Top of the deposit stack (0 = empty).</summary>
    private nint _deposited;

    /// <summary>Tables on the deposit stack.</summary>
    private long _depositedTables;

    /// <summary>True when every 2 MiB leaf keeps a deposited PTE table (the Linux policy).</summary>
    private bool DepositsTables => _policy == ReclaimPolicy.Linux;

    /// <summary>
    /// Splits the 2 MiB and 1 GiB leaves that straddle an edge of [<paramref name="first"/>, <paramref name="last"/>],
    /// so the range operation that follows meets only whole leaves. It reserves every table it may need first, so it
    /// either splits what it must or throws an <see cref="OutOfMemoryException"/> with nothing changed.
    /// The caller is inside a guard.
    /// </summary>
    private void SplitEdges<F>(ulong first, ulong last)
        where F : struct, IPageTableFormat
    {
        // One walk per edge when nothing is cut (the common case): the same cost as the old refusal's check.
        bool cutsFirst = Cuts<F>(first, first, out long firstTables);
        bool cutsLast = Cuts<F>(last, last + 1, out long lastTables);
        if (!cutsFirst && !cutsLast)
        {
            return;
        }

        TableReserve reserve = ReserveTables(firstTables + lastTables);
        try
        {
            if (cutsFirst)
            {
                SplitEdge<F>(first, first, ref reserve);
            }

            if (cutsLast)
            {
                SplitEdge<F>(last, last + 1, ref reserve);
            }
        }
        finally
        {
            ReleaseReserve(ref reserve);
        }
    }

    /// <summary>
    /// True when <paramref name="boundary"/> cuts the huge leaf that maps <paramref name="inside"/>; then
    /// <paramref name="tables"/> is how many tables (from a reserve) splitting it down to leaves that the boundary
    /// does not cut takes: a PMD table for a 1 GiB leaf (and under the Linux policy a deposit for each of its 2 MiB
    /// leaves), a PTE table for a 2 MiB leaf unless a deposit supplies it.
    /// </summary>
    private bool Cuts<F>(ulong inside, ulong boundary, out long tables)
        where F : struct, IPageTableFormat
    {
        tables = 0;
        if (!FindLeaf<F>(inside, out _, out _, out int level) || level == PteLevel || (boundary & (EntrySpan(level) - 1)) == 0)
        {
            return false;
        }

        bool toPages = (boundary & (EntrySpan(PmdLevel) - 1)) != 0;
        long pteTables = DepositsTables ? 0 : 1;
        tables = level == PmdLevel ? pteTables : 1 + (DepositsTables ? EntriesPerTable : toPages ? 1 : 0);
        return true;
    }

    /// <summary>Splits the leaf that maps <paramref name="inside"/> until <paramref name="boundary"/> no longer cuts a leaf.</summary>
    private void SplitEdge<F>(ulong inside, ulong boundary, ref TableReserve reserve)
        where F : struct, IPageTableFormat
    {
        while (FindLeaf<F>(inside, out nint table, out int index, out int level) && level > PteLevel && (boundary & (EntrySpan(level) - 1)) != 0)
        {
            SplitLeaf<F>(table, index, level, inside & ~(EntrySpan(level) - 1), ref reserve);
        }
    }

    /// <summary>
    /// Replaces the huge leaf at <paramref name="table"/>[<paramref name="index"/>] (a table at <paramref name="level"/>)
    /// with a table of 512 leaves one size down that map the same frames with the same flags. The new table is taken
    /// before the lock (so an allocation that fails changes nothing and strands no lock); if under the lock the entry
    /// is no longer that leaf (another writer got there first), it goes back and nothing changes.
    /// </summary>
    private void SplitLeaf<F>(nint table, int index, int level, ulong leafBase, ref TableReserve reserve)
        where F : struct, IPageTableFormat
    {
        int childLevel = level - 1;
        nint child = 0;
        bool withdrawn = childLevel == PteLevel && DepositsTables && TryWithdraw(out child);
        if (!withdrawn)
        {
            child = TakeTable(ref reserve, childLevel);
        }

        ref TableDescriptor descriptor = ref DescriptorOf(table);
        TableLock.Enter(ref descriptor);
        ulong entry = ReadEntry(table, index);
        bool split = !descriptor.IsDead && (entry & PresentBit) != 0 && IsLeaf<F>(entry, level);
        if (split)
        {
            ulong frame = F.LeafAddress(entry);
            ulong bits = F.LeafAttributes(entry) | F.LeafType(childLevel);
            ulong span = EntrySpan(childLevel);
            for (int i = 0; i < EntriesPerTable; i++)
            {
                // Plain stores: no reader can reach the table until the release store below publishes it.
                ((ulong*)child)[i] = F.EncodeAddress(frame + ((ulong)i * span)) | bits;
            }

            if (childLevel == PteLevel)
            {
                DescriptorOf(child).PresentEntries = EntriesPerTable;
            }

            ReplaceLocked<F>(table, index, level, leafBase, TableEntry<F>(child));
            if (!withdrawn)
            {
                Interlocked.Increment(ref _tables[childLevel]);
            }

            Interlocked.Increment(ref _allocatedTables);
            Interlocked.Add(ref _mappedPages, EntriesPerTable - 1);
        }

        TableLock.Exit(ref descriptor);
        if (!split)
        {
            if (withdrawn)
            {
                PushDeposit(child);
            }
            else
            {
                ReturnToReserve(ref reserve, child);
            }
        }
        else if (childLevel == PmdLevel && DepositsTables)
        {
            // The 512 new 2 MiB leaves get their deposits (sized into the reserve by Cuts).
            Deposit(ref reserve, EntriesPerTable);
        }
    }

    /// <summary>
    /// The leaf that maps <paramref name="va"/>, if any: the table that holds it, its index there and its level
    /// (a reader's walk; the caller is inside a guard).
    /// </summary>
    private bool FindLeaf<F>(ulong va, out nint table, out int index, out int level)
        where F : struct, IPageTableFormat
    {
        table = _root;
        for (level = _levels; ; level--)
        {
            index = IndexOf(va, level);
            ulong entry = ReadSettledEntry<F>(table, index);
            if ((entry & PresentBit) == 0)
            {
                return false;
            }

            if (IsLeaf<F>(entry, level))
            {
                return true;
            }

            table = TableOf<F>(entry);
        }
    }

    /// <summary>Moves <paramref name="count"/> tables from <paramref name="reserve"/> to the deposit (they count as PTE tables from now on).</summary>
    private void Deposit(ref TableReserve reserve, long count)
    {
        for (long i = 0; i < count; i++)
        {
            PushDeposit(TakeTable(ref reserve, PteLevel));
            Interlocked.Increment(ref _tables[PteLevel]);
        }
    }

    /// <summary>Puts a zeroed PTE table (already counted as one) on the deposit.</summary>
    private void PushDeposit(nint table)
    {
        lock (_depositLock)
        {
            *(nint*)table = _deposited;
            _deposited = table;
            _depositedTables++;
        }
    }

    /// <summary>
    /// Takes a zeroed PTE table from the deposit (it stays counted as a PTE table). The Linux policy keeps one per
    /// 2 MiB leaf, so for a split or a cleared leaf there always is one.
    /// </summary>
    private bool TryWithdraw(out nint table)
    {
        lock (_depositLock)
        {
            table = _deposited;
            if (table == 0)
            {
                return false;
            }

            _deposited = *(nint*)table;
            _depositedTables--;
        }

        *(nint*)table = 0;
        return true;
    }

    /// <summary>Frees the deposits of <paramref name="leaves"/> 2 MiB leaves that were cleared (no reader ever saw them).</summary>
    private void FreeDeposits(long leaves)
    {
        long freed = 0;
        while (freed < leaves && TryWithdraw(out nint table))
        {
            _allocator.Free(table);
            freed++;
        }

        Debug.Assert(freed == leaves, "the Linux policy keeps one deposit per 2 MiB leaf");
        Interlocked.Add(ref _tables[PteLevel], -freed);
    }
}
