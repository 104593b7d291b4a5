using FastReclaim.Paging;
using static FastReclaim.Paging.PageTableGeometry;

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
    /// <exception cref="InsufficientMemoryException">
    /// The allocator cannot supply the tables the mapping needs; nothing is changed (the tables are reserved before
    /// the first entry is written, and the reserve is given back).
    /// </exception>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    /// <remarks>
    /// Failure atomicity: Map either maps the whole range or throws with the space as it was (translations,
    /// <see cref="Stats"/>, allocator counts, locks). That is exact when no other writer changes the tables of the
    /// range at the same time; a concurrent <see cref="Zap"/> that unhooks a table this call counted on makes Map
    /// allocate one more, and if that allocation fails Map takes back the leaves it wrote before it throws.
    /// </remarks>
    public void Map(ulong va, ulong pa, ulong length, PageFlags flags, LeafSize size = LeafSize.Size4K)
    {
        switch (_encoding)
        {
            case EntryEncoding.X64:
                Map<X64Format>(va, pa, length, flags, size);
                break;
            case EntryEncoding.Arm64:
                Map<Arm64Format>(va, pa, length, flags, size);
                break;
            case EntryEncoding.Arm64Lpa2:
                Map<Arm64Lpa2Format>(va, pa, length, flags, size);
                break;
            default:
                Map<RiscV64Format>(va, pa, length, flags, size);
                break;
        }
    }

    private void Map<F>(ulong va, ulong pa, ulong length, PageFlags flags, LeafSize size)
        where F : struct, IPageTableFormat
    {
        int leafLevel = LeafLevel(size);
        ulong leafSpan = EntrySpan(leafLevel);
        ulong last = CheckRange(va, length, leafSpan);
        if ((pa & (leafSpan - 1)) != 0)
        {
            throw new ArgumentException($"Physical address 0x{pa:X} is not aligned to 0x{leafSpan:X} bytes.", nameof(pa));
        }

        if (pa > _maxPhysicalAddress || length - 1 > _maxPhysicalAddress - pa)
        {
            throw new ArgumentOutOfRangeException(nameof(pa), pa, $"Physical range 0x{pa:X} + 0x{length:X} does not fit the frame field (physical addresses up to 0x{_maxPhysicalAddress:X}).");
        }

        CheckFlags<F>(flags);

        ThrowIfDisposed();
        using WriterGuard guard = new(this);
        long tablesNeeded = 0;
        if (PlanMap<F>(_root, _levels, 0, ulong.MaxValue, va, last, leafLevel, ref tablesNeeded) is ulong mapped)
        {
            throw new ArgumentException($"Address 0x{mapped:X} in 0x{va:X}..0x{last + 1:X} is already mapped.", nameof(va));
        }

        if (leafLevel == PmdLevel && DepositsTables)
        {
            tablesNeeded += (long)(length / leafSpan);
        }

        TableReserve reserve = ReserveTables(tablesNeeded);
        ulong cursor = va;
        try
        {
            MapReserved<F>(va, pa, last, flags, leafLevel, ref reserve, ref cursor);
        }
        catch when (cursor != va)
        {
            // Only reached when a concurrent writer changed the range's tables (a conflicting leaf, or an unhooked table
            // whose replacement could not be allocated): take back the leaves this call wrote.
            ZapRange<F>(va, cursor - 1, ReclaimPolicy.None, trace: false);
            throw;
        }
        finally
        {
            ReleaseReserve(ref reserve);
        }
    }

    /// <summary>Writes the leaves of a checked Map, drawing new tables from <paramref name="reserve"/>; <paramref name="cursor"/> is the first address not yet mapped.</summary>
    private void MapReserved<F>(ulong va, ulong pa, ulong last, PageFlags flags, int leafLevel, ref TableReserve reserve, ref ulong cursor)
        where F : struct, IPageTableFormat
    {
        ulong leafSpan = EntrySpan(leafLevel);
        ulong leafBits = F.EncodeAttributes(flags) | F.LeafType(leafLevel);
        while (true)
        {
            nint table = LockTableFor<F>(cursor, leafLevel, ref reserve);
            int first = IndexOf(cursor, leafLevel);
            int count = (int)Math.Min((ulong)(EntriesPerTable - first), ((last - cursor) / leafSpan) + 1);
            if (table == 0 || !MakeRoomLocked<F>(table, first, count))
            {
                if (table != 0)
                {
                    TableLock.Exit(ref DescriptorOf(table));
                }

                // Another writer mapped part of the range after the check above (Map takes back this call's leaves).
                throw new ArgumentException($"Part of 0x{cursor:X}..0x{last + 1:X} was mapped by another writer during this call.", nameof(va));
            }

            ulong physical = pa + (cursor - va);
            for (int i = 0; i < count; i++)
            {
                WriteEntry(table, first + i, F.EncodeAddress(physical + ((ulong)i * leafSpan)) | leafBits);
            }

            ref TableDescriptor descriptor = ref DescriptorOf(table);
            if (leafLevel == PteLevel)
            {
                descriptor.PresentEntries += (ushort)count;
            }

            TableLock.Exit(ref descriptor);
            if (leafLevel == PmdLevel && DepositsTables)
            {
                Deposit(ref reserve, count);
            }

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

    /// <summary>
    /// Map's one walk over the range before it writes: the first address of a leaf present in
    /// [<paramref name="first"/>, <paramref name="last"/>] (a conflict), else <see langword="null"/> with
    /// <paramref name="tablesNeeded"/> raised by the tables the leaves at <paramref name="leafLevel"/> still lack.
    /// </summary>
    private ulong? PlanMap<F>(nint table, int level, ulong tableBase, ulong tableLast, ulong first, ulong last, int leafLevel, ref long tablesNeeded)
        where F : struct, IPageTableFormat
    {
        int i0 = IndexOf(Math.Max(first, tableBase), level);
        int i1 = IndexOf(Math.Min(last, tableLast), level);
        for (int i = i0; i <= i1; i++)
        {
            ulong entry = ReadEntry(table, i);
            ulong entryBase = EntryBase<F>(tableBase, i, level);
            ulong entryLast = entryBase + EntrySpan(level) - 1;
            if ((entry & PresentBit) == 0)
            {
                if (level > leafLevel)
                {
                    tablesNeeded += TablesCovering(Math.Max(first, entryBase), Math.Min(last, entryLast), level - 1, leafLevel);
                }

                continue;
            }

            if (IsLeaf<F>(entry, level))
            {
                return Math.Max(entryBase, first);
            }

            if (PlanMap<F>(TableOf<F>(entry), level - 1, entryBase, entryLast, first, last, leafLevel, ref tablesNeeded) is ulong found)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>
    /// How many tables at levels <paramref name="leafLevel"/>..<paramref name="topLevel"/> cover [<paramref name="first"/>,
    /// <paramref name="last"/>], a range inside one entry of level <paramref name="topLevel"/> + 1.
    /// </summary>
    private static long TablesCovering(ulong first, ulong last, int topLevel, int leafLevel)
    {
        long tables = 0;
        for (int level = leafLevel; level <= topLevel; level++)
        {
            int tableShift = EntryShift(level) + IndexBits;
            tables += (long)((last >> tableShift) - (first >> tableShift)) + 1;
        }

        return tables;
    }

    /// <summary>
    /// Zeroed tables allocated before Map writes its first entry, linked through their entry 0 (which is zeroed
    /// again when a table is taken), so a Map that runs out of memory fails before it has changed anything.
    /// </summary>
    private struct TableReserve
    {
        public nint Head;
    }

    /// <summary>Allocates <paramref name="count"/> tables; on failure frees the ones it got and rethrows.</summary>
    private TableReserve ReserveTables(long count)
    {
        TableReserve reserve = default;
        try
        {
            for (long i = 0; i < count; i++)
            {
                ReturnToReserve(ref reserve, _allocator.Allocate());
            }
        }
        catch
        {
            ReleaseReserve(ref reserve);
            throw;
        }

        return reserve;
    }

    private static void ReturnToReserve(ref TableReserve reserve, nint table)
    {
        *(nint*)table = reserve.Head;
        reserve.Head = table;
    }

    /// <summary>
    /// A zeroed, unpublished table for <paramref name="level"/>: from the reserve, else newly allocated. Its birth era
    /// is read now, before any store can publish it (an earlier birth only makes readers hold it longer).
    /// </summary>
    private nint TakeTable(ref TableReserve reserve, int level)
    {
        nint table = reserve.Head;
        if (table == 0)
        {
            table = AllocateTable(level);
        }
        else
        {
            reserve.Head = *(nint*)table;
            *(nint*)table = 0;
            DescriptorOf(table).Level = (byte)level;
        }

        DescriptorOf(table).Birth = _epoch.BirthEra;
        return table;
    }

    private void ReleaseReserve(ref TableReserve reserve)
    {
        while (reserve.Head != 0)
        {
            nint table = reserve.Head;
            reserve.Head = *(nint*)table;
            *(nint*)table = 0;
            _allocator.Free(table);
        }
    }

    /// <summary>
    /// Walks to the table at <paramref name="level"/> that holds the entry for <paramref name="va"/>, allocating the
    /// missing tables above it, and returns it locked and live; 0 when a 2 MiB or 1 GiB leaf is in the way.
    /// </summary>
    private nint LockTableFor<F>(ulong va, int level, ref TableReserve reserve)
        where F : struct, IPageTableFormat
    {
    Retry:
        nint table = _root;
        for (int current = _levels; current > level; current--)
        {
            int index = IndexOf(va, current);
            ulong entry = ReadEntry(table, index);
            if ((entry & PresentBit) == 0)
            {
                // Take the table outside the lock; one that loses the race was never published and goes back at once.
                nint fresh = TakeTable(ref reserve, current - 1);
                ref TableDescriptor descriptor = ref DescriptorOf(table);
                TableLock.Enter(ref descriptor);
                bool dead = descriptor.IsDead;
                entry = ReadEntry(table, index);
                if (!dead && (entry & PresentBit) == 0)
                {
                    entry = TableEntry<F>(fresh);
                    WriteEntry(table, index, entry);
                    Interlocked.Increment(ref _tables[current - 1]);
                    Interlocked.Increment(ref _allocatedTables);
                    fresh = 0;
                }

                TableLock.Exit(ref descriptor);
                if (fresh != 0)
                {
                    ReturnToReserve(ref reserve, fresh);
                }

                if (dead)
                {
                    goto Retry;
                }
            }

            if (IsLeaf<F>(entry, current))
            {
                return 0;
            }

            table = TableOf<F>(entry);
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
    private bool MakeRoomLocked<F>(nint table, int first, int count)
        where F : struct, IPageTableFormat
    {
        for (int i = first; i < first + count; i++)
        {
            ulong entry = ReadEntry(table, i);
            if ((entry & PresentBit) != 0 && (IsLeaf<F>(entry, DescriptorOf(table).Level) || !TryFreeEmptySubtreeLocked<F>(table, i, TableOf<F>(entry))))
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
    private bool TryFreeEmptySubtreeLocked<F>(nint parent, int index, nint child)
        where F : struct, IPageTableFormat
    {
        ref TableDescriptor descriptor = ref DescriptorOf(child);
        TableLock.Enter(ref descriptor);
        bool empty = true;
        if (descriptor.Level > PteLevel)
        {
            for (int i = 0; i < EntriesPerTable && empty; i++)
            {
                ulong entry = ReadEntry(child, i);
                empty = (entry & PresentBit) == 0 || (!IsLeaf<F>(entry, descriptor.Level) && TryFreeEmptySubtreeLocked<F>(child, i, TableOf<F>(entry)));
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
