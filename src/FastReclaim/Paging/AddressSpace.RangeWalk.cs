using System.Diagnostics;
using System.Runtime.CompilerServices;
using FastReclaim.Paging;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim;

public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// What a range operation (<see cref="Protect"/>, <see cref="Unmap(ulong, ulong, ulong, ulong)"/>,
    /// <see cref="Zap"/>) does at the places <see cref="WalkRange{F, TOp}(ref TOp, ulong, ulong)"/> takes it to.
    /// </summary>
    /// <remarks>
    /// Implemented by structs and used as a generic constraint, so the JIT compiles one walk per operation with
    /// these calls inlined: no delegate, no allocation.
    /// </remarks>
    private interface IRangeOp
    {
        /// <summary>
        /// Changes the leaves among entries <paramref name="first"/>..<paramref name="last"/> of a live table at
        /// <paramref name="level"/>. The walker holds the table's lock.
        /// </summary>
        void ChangeLeaves(nint table, int level, int first, int last);

        /// <summary>
        /// Called right after <see cref="ChangeLeaves"/> on a PTE table, with its lock still held: releases the
        /// lock, and may first reclaim the table (<see cref="Zap"/>), whose fast path needs that lock held.
        /// <paramref name="wholeSpan"/> says the range covers the table's whole span.
        /// </summary>
        void UnlockPteTable(nint pmd, int index, nint pte, ref TableDescriptor descriptor, ulong pteBase, bool wholeSpan);

        /// <summary>
        /// Called once the part of the range below <paramref name="child"/> (hooked at
        /// <paramref name="parent"/>[<paramref name="index"/>]) has been processed; no lock is held.
        /// </summary>
        void TableDone(nint parent, int index, nint child, int childLevel, ulong childBase, ulong childLast);
    }

    /// <summary>
    /// Walks [<paramref name="first"/>, <paramref name="last"/>] from the root for <paramref name="op"/>. The caller is
    /// inside an epoch guard, which keeps every table the walk reaches allocated.
    /// </summary>
    private void WalkRange<F, TOp>(ref TOp op, ulong first, ulong last)
        where F : struct, IPageTableFormat
        where TOp : struct, IRangeOp
        => WalkRange<F, TOp>(ref op, _root, _levels, 0, ulong.MaxValue, first, last);

    /// <summary>
    /// Walks the part of [<paramref name="first"/>, <paramref name="last"/>] that lies in <paramref name="table"/>
    /// (spanning [<paramref name="tableBase"/>, <paramref name="tableLast"/>]). Only present entries are visited, so
    /// the cost grows with the tables present, not with the range.
    /// </summary>
    /// <remarks>
    /// An upper table is read without its lock: the walk only follows its entries, and the epoch guard keeps a table
    /// reached through an entry read before it was cleared allocated (and all zero, since it is dead). Leaves are
    /// changed only under the lock of their table, after checking it is not dead; a dead table has no leaves left,
    /// so it is skipped.
    /// </remarks>
    private void WalkRange<F, TOp>(ref TOp op, nint table, int level, ulong tableBase, ulong tableLast, ulong first, ulong last)
        where F : struct, IPageTableFormat
        where TOp : struct, IRangeOp
    {
        Debug.Assert(level > PteLevel, "PTE tables are walked by WalkPteTable");
        int i0 = IndexOf(Math.Max(first, tableBase), level);
        int i1 = IndexOf(Math.Min(last, tableLast), level);
        bool leaves = false;
        for (int i = i0; i <= i1; i++)
        {
            ulong entry = ReadSettledEntry<F>(table, i);
            if ((entry & PresentBit) == 0)
            {
                continue;
            }

            if (IsLeaf<F>(entry, level))
            {
                leaves = true;
                continue;
            }

            ulong childBase = EntryBase<F>(tableBase, i, level);
            ulong childLast = childBase + EntrySpan(level) - 1;
            nint child = TableOf<F>(entry);
            if (level - 1 == PteLevel)
            {
                WalkPteTable<F, TOp>(ref op, table, i, child, childBase, childLast, first, last);
            }
            else
            {
                WalkRange<F, TOp>(ref op, child, level - 1, childBase, childLast, first, last);
            }

            op.TableDone(table, i, child, level - 1, childBase, childLast);
        }

        if (leaves)
        {
            ref TableDescriptor descriptor = ref DescriptorOf(table);
            TableLock.Enter(ref descriptor);
            if (!descriptor.IsDead)
            {
                op.ChangeLeaves(table, level, i0, i1);
            }

            TableLock.Exit(ref descriptor);
        }
    }

    /// <summary>Locks a PTE table and hands its part of the range to <paramref name="op"/>; a dead table is skipped.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WalkPteTable<F, TOp>(ref TOp op, nint pmd, int index, nint pte, ulong pteBase, ulong pteLast, ulong first, ulong last)
        where F : struct, IPageTableFormat
        where TOp : struct, IRangeOp
    {
        ref TableDescriptor descriptor = ref DescriptorOf(pte);
        TableLock.Enter(ref descriptor);
        if (descriptor.IsDead)
        {
            // Unhooked (empty) since the walk read the PMD entry: nothing to change or reclaim.
            TableLock.Exit(ref descriptor);
            return;
        }

        op.ChangeLeaves(pte, PteLevel, IndexOf(Math.Max(first, pteBase), PteLevel), IndexOf(Math.Min(last, pteLast), PteLevel));
        op.UnlockPteTable(pmd, index, pte, ref descriptor, pteBase, first <= pteBase && pteLast <= last);
    }
}
