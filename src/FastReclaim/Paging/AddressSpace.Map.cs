using FastReclaim.Paging;
using static FastReclaim.Paging.PageTableFormat;

namespace FastReclaim;

public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// Maps <paramref name="length"/> bytes at <paramref name="va"/> to the physical range at <paramref name="pa"/>
    /// with leaves of <paramref name="size"/>, allocating the tables on the way.
    /// </summary>
    /// <param name="va">First virtual address, aligned to <paramref name="size"/>, canonical.</param>
    /// <param name="pa">First physical address, aligned to <paramref name="size"/>; the range must fit the 52-bit frame field.</param>
    /// <param name="length">Bytes, a non-zero multiple of <paramref name="size"/>.</param>
    /// <param name="flags">Leaf flags; <see cref="PageFlags.Present"/> is implied.</param>
    /// <param name="size">Leaf size.</param>
    /// <exception cref="ArgumentException">
    /// An address or length is unaligned or non-canonical, the range overflows, <paramref name="pa"/> lies beyond the
    /// frame field, <paramref name="flags"/> has bits that are not <see cref="PageFlags"/>, or part of the range is
    /// already mapped. The message names the value; nothing is changed.
    /// </exception>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    public void Map(ulong va, ulong pa, ulong length, PageFlags flags, LeafSize size = LeafSize.Size4K)
    {
        int leafLevel = LeafLevel(size);
        ulong leafSpan = EntrySpan(leafLevel);
        ulong last = CheckRange(va, length, leafSpan);
        if ((pa & (leafSpan - 1)) != 0)
        {
            throw new ArgumentException($"Physical address 0x{pa:X} is not aligned to 0x{leafSpan:X} bytes.", nameof(pa));
        }

        if (pa > MaxPhysicalAddress || length - 1 > MaxPhysicalAddress - pa)
        {
            throw new ArgumentOutOfRangeException(nameof(pa), pa, $"Physical range 0x{pa:X} + 0x{length:X} does not fit the frame field (physical addresses up to 0x{MaxPhysicalAddress:X}).");
        }

        if (((ulong)flags & ~LeafFlagMask) != 0)
        {
            throw new ArgumentException($"Flags 0x{(ulong)flags:X} contain bits that are not page flags (0x{(ulong)flags & ~LeafFlagMask:X}).", nameof(flags));
        }

        ThrowIfDisposed();
        using EpochGuard guard = _epoch.Enter();
        if (FindMappedLeaf(_root, _levels, 0, ulong.MaxValue, va, last) is ulong mapped)
        {
            throw new ArgumentException($"Address 0x{mapped:X} in 0x{va:X}..0x{last + 1:X} is already mapped.", nameof(va));
        }

        ulong leafBits = (ulong)flags | PresentBit | (leafLevel == PteLevel ? 0 : PageSizeBit);
        ulong cursor = va;
        while (true)
        {
            nint table = LockTableFor(cursor, leafLevel);
            int first = IndexOf(cursor, leafLevel);
            int count = (int)Math.Min((ulong)(EntriesPerTable - first), ((last - cursor) / leafSpan) + 1);
            if (table == 0 || !MakeRoomLocked(table, first, count))
            {
                if (table != 0)
                {
                    TableLock.Exit(ref DescriptorOf(table));
                }

                // Another writer mapped part of the range after the check above: undo this call's leaves.
                if (cursor != va)
                {
                    ZapRange(va, cursor - 1, ReclaimPolicy.None, trace: false);
                }

                throw new ArgumentException($"Part of 0x{cursor:X}..0x{last + 1:X} was mapped by another writer during this call.", nameof(va));
            }

            ulong physical = pa + (cursor - va);
            for (int i = 0; i < count; i++)
            {
                WriteEntry(table, first + i, (physical + ((ulong)i * leafSpan)) | leafBits);
            }

            ref TableDescriptor descriptor = ref DescriptorOf(table);
            if (leafLevel == PteLevel)
            {
                descriptor.PresentEntries += (ushort)count;
            }

            TableLock.Exit(ref descriptor);
            Interlocked.Add(ref _mappedPages, count);
            Interlocked.Add(ref _mappedBytes, count * (long)leafSpan);
            ulong done = (ulong)count * leafSpan;
            if (last - cursor < done)
            {
                return;
            }

            cursor += done;
        }
    }

    /// <summary>The first address of a leaf present in [<paramref name="first"/>, <paramref name="last"/>], if any.</summary>
    private ulong? FindMappedLeaf(nint table, int level, ulong tableBase, ulong tableLast, ulong first, ulong last)
    {
        int i0 = IndexOf(Math.Max(first, tableBase), level);
        int i1 = IndexOf(Math.Min(last, tableLast), level);
        for (int i = i0; i <= i1; i++)
        {
            ulong entry = ReadEntry(table, i);
            if ((entry & PresentBit) == 0)
            {
                continue;
            }

            ulong entryBase = EntryBase(tableBase, i, level);
            if (IsLeaf(entry, level))
            {
                return Math.Max(entryBase, first);
            }

            if (FindMappedLeaf(TableOf(entry), level - 1, entryBase, entryBase + EntrySpan(level) - 1, first, last) is ulong found)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>
    /// Walks to the table at <paramref name="level"/> that holds the entry for <paramref name="va"/>, allocating the
    /// missing tables above it, and returns it locked and live; 0 when a 2 MiB or 1 GiB leaf is in the way.
    /// </summary>
    private nint LockTableFor(ulong va, int level)
    {
    Retry:
        nint table = _root;
        for (int current = _levels; current > level; current--)
        {
            int index = IndexOf(va, current);
            ulong entry = ReadEntry(table, index);
            if ((entry & PresentBit) == 0)
            {
                // Allocate outside the lock; a page that loses the race was never published and is freed at once.
                nint fresh = AllocateTable(current - 1);
                ref TableDescriptor descriptor = ref DescriptorOf(table);
                TableLock.Enter(ref descriptor);
                bool dead = descriptor.IsDead;
                entry = ReadEntry(table, index);
                if (!dead && (entry & PresentBit) == 0)
                {
                    entry = TableEntry(fresh);
                    WriteEntry(table, index, entry);
                    Interlocked.Increment(ref _tables[current - 1]);
                    Interlocked.Increment(ref _allocatedTables);
                    fresh = 0;
                }

                TableLock.Exit(ref descriptor);
                if (fresh != 0)
                {
                    _allocator.Free(fresh);
                }

                if (dead)
                {
                    goto Retry;
                }
            }

            if (IsLeaf(entry, current))
            {
                return 0;
            }

            table = TableOf(entry);
        }

        ref TableDescriptor target = ref DescriptorOf(table);
        TableLock.Enter(ref target);
        if (target.IsDead)
        {
            TableLock.Exit(ref target);
            goto Retry;
        }

        return table;
    }

    /// <summary>
    /// Checks that entries <paramref name="first"/>.. of a locked table are free for new leaves. An entry that
    /// references a table holding no leaf (left by zaps) is freed to make room; a leaf is a conflict.
    /// </summary>
    private bool MakeRoomLocked(nint table, int first, int count)
    {
        for (int i = first; i < first + count; i++)
        {
            ulong entry = ReadEntry(table, i);
            if ((entry & PresentBit) != 0 && (IsLeaf(entry, DescriptorOf(table).Level) || !TryFreeEmptySubtreeLocked(table, i, TableOf(entry))))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Unhooks <paramref name="child"/> and every table below it when none of them holds a leaf. The caller holds
    /// the lock of <paramref name="parent"/>; locks are taken top-down along one path (the lock order).
    /// </summary>
    private bool TryFreeEmptySubtreeLocked(nint parent, int index, nint child)
    {
        ref TableDescriptor descriptor = ref DescriptorOf(child);
        TableLock.Enter(ref descriptor);
        bool empty = true;
        if (descriptor.Level > PteLevel)
        {
            for (int i = 0; i < EntriesPerTable && empty; i++)
            {
                ulong entry = ReadEntry(child, i);
                empty = (entry & PresentBit) == 0 || (!IsLeaf(entry, descriptor.Level) && TryFreeEmptySubtreeLocked(child, i, TableOf(entry)));
            }
        }

        empty = empty && PageScan.IsZero(child);
        if (empty)
        {
            UnhookLocked(parent, index, child, ref descriptor);
        }

        TableLock.Exit(ref descriptor);
        return empty;
    }
}
