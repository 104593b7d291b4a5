using System.Diagnostics;
using System.Runtime.CompilerServices;
using static FastReclaim.PageTableFormat;

namespace FastReclaim;

/// <summary>
/// x86-64 page tables (4- or 5-level, 4 KiB / 2 MiB / 1 GiB leaves) in pages from a <see cref="PageAllocator"/>,
/// with lock-free translation and the reclaim of empty page tables of Linux's <c>CONFIG_PT_RECLAIM</c>.
/// </summary>
/// <remarks>
/// <para>
/// The tables are the hardware format: <see cref="RootPhysical"/> is what CR3 would hold, and every entry holds a
/// physical address (<see cref="PageAllocator.PhysicalOf"/>), so a CPU can walk them.
/// </para>
/// <para>
/// Readers (<see cref="TryTranslate(ulong, out ulong, out PageFlags)"/>, <see cref="TranslateMany"/>) take no lock: they walk inside a guard of the
/// <see cref="EpochDomain"/>. Writers take the lock of each table they change (split page-table locks), so writers on
/// different tables run in parallel. A table is freed only by unhooking it from its parent while it is empty and
/// retiring it to the epoch domain, which frees it once no reader can still hold it.
/// </para>
/// </remarks>
public sealed unsafe partial class AddressSpace : IDisposable, IPageTableMetricsSource
{
    // Lock order (the whole protocol rests on it):
    //
    //   A thread takes a table's lock only while it holds no lock, or while it holds the locks of that table's
    //   ancestors on one root-to-leaf path, parent before child. The single exception never waits: the zap fast path
    //   holds a PTE table's lock and TRIES its parent's (TableLock.TryEnter), falling back to the slow path, which
    //   drops the child and takes parent then child (mm/pt_reclaim.c: try_get_and_clear_pmd / try_to_free_pte).
    //
    // Invariants the locks protect:
    //   1. A table is unhooked (its parent entry cleared and its descriptor marked Dead) only with both the parent's
    //      and its own lock held, and only while all its 512 entries are 0 (checked under its lock).
    //   2. Every writer changes a table only under its lock, and after taking the lock checks Dead (the table was
    //      unhooked after the writer read the pointer to it). Map, which must add an entry, then retries from the
    //      root; Protect, Unmap and Zap skip the table (WalkRange): it is all zero, so it has nothing to rewrite or
    //      clear, and whatever maps the range again after the unhook does it in a new table.
    //   So a dead table is all zero and stays all zero until it is freed, and a hooked table is never dead.
    //   3. A PTE table's PageDescriptor.Spare counts its present entries; it changes only under the table's lock.
    //
    // Readers (memory ordering):
    //   - Entries are published with Volatile.Write (a release store) after the table they point to was zeroed by
    //     PageAllocator.Allocate, and read with Volatile.Read (an acquire load), so a reader that sees a new entry
    //     sees the zeroed table behind it, never the poison or the previous contents of a reused page.
    //   - A reader walks inside an epoch guard. A table it reached through an entry read before the entry was
    //     cleared stays allocated until the guard is left: the table is retired only after it is unhooked, and the
    //     epoch domain frees it only after every guard that was active at retirement has been left. Such a reader
    //     sees only zero entries in it (invariants 1 and 2), which is a correct "not mapped" at that moment.

    private readonly PageAllocator _allocator;
    private readonly bool _ownsAllocator;
    private readonly EpochDomain _epoch;
    private readonly bool _ownsEpoch;
    private readonly ReclaimPolicy _policy;
    private readonly int _levels;

    /// <summary>Bits of a canonical address: 48 with 4 levels, 57 with 5.</summary>
    private readonly int _addressBits;

    private readonly nint _root;

    /// <summary>
    /// Added to a physical address to get the pointer (<see cref="PageAllocator.VirtualOf"/> is a constant offset,
    /// see <see cref="FrameMapping"/>); kept here so the lock-free walk reads it once per call, not once per level.
    /// </summary>
    private readonly ulong _physicalToPointer;
    private readonly Action<nint> _freeRetiredTable;
    private readonly MetricsRegistration _metrics;

    /// <summary>Live tables per level (index = level); the root is not counted.</summary>
    private readonly long[] _tables = new long[Pml5Level + 1];
    private long _mappedPages;
    private long _mappedBytes;
    private long _reclaimedTables;

    /// <summary>Tables hooked in since creation (monotonic, root excluded): what the meter reports as allocated.</summary>
    private long _allocatedTables;
    private long _pendingTables;
    private int _disposed;

    /// <summary>
    /// Up to this many leaves in a PTE range, a zap jumps from one to the next with <see cref="PageScan.FirstNonZero(ReadOnlySpan{ulong})"/>;
    /// above it, a plain loop over the entries is cheaper than a scan per leaf.
    /// </summary>
    private const int SparseLeaves = 16;

    /// <summary>Creates an empty address space: a root table and nothing else.</summary>
    /// <param name="options">Settings; <see langword="null"/> = defaults (Linux policy, 4 levels, own allocator and epoch domain).</param>
    /// <exception cref="ArgumentOutOfRangeException">Levels is not 4 or 5, or Policy is not a <see cref="ReclaimPolicy"/>.</exception>
    public AddressSpace(AddressSpaceOptions? options = null)
    {
        options ??= new AddressSpaceOptions();
        if (options.Levels is not (FourLevels or FiveLevels))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Levels, $"Levels must be {FourLevels} or {FiveLevels}, not {options.Levels}.");
        }

        if (!Enum.IsDefined(options.Policy))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Policy, $"Unknown reclaim policy {options.Policy}.");
        }

        _policy = options.Policy;
        _levels = options.Levels;
        _addressBits = AddressBits(_levels);
        _ownsAllocator = options.Allocator is null;
        _allocator = options.Allocator ?? new PageAllocator();
        _ownsEpoch = options.Epoch is null;
        _epoch = options.Epoch ?? new EpochDomain();
        _freeRetiredTable = FreeRetiredTable;
        _physicalToPointer = (ulong)_allocator.VirtualOf(0);
        _root = _allocator.Allocate();
        _allocator.DescriptorOf(_root).Level = (byte)_levels;
        _metrics = FastReclaimMetrics.Register(this);
    }

    /// <summary>The physical address of the root table: what CR3 would hold for a CPU to walk these tables.</summary>
    public ulong RootPhysical => _allocator.PhysicalOf(_root);

    /// <summary>
    /// The epoch domain that retires this space's tables (<see cref="AddressSpaceOptions.Epoch"/>, or the space's own):
    /// register an <see cref="EpochReader"/> on it for <see cref="TryTranslate(EpochReader, ulong, out ulong, out PageFlags)"/>,
    /// or use its QSBR calls for reader threads.
    /// </summary>
    public EpochDomain Epoch => _epoch;

    /// <summary>Paging levels (4 or 5).</summary>
    public int Levels => _levels;

    /// <summary>The reclaim policy applied by <see cref="Zap"/>.</summary>
    public ReclaimPolicy Policy => _policy;

    /// <summary>A snapshot of the table counts (see <see cref="PageTableStats"/>).</summary>
    public PageTableStats Stats => new(
        Volatile.Read(ref _tables[PteLevel]), Volatile.Read(ref _tables[PmdLevel]), Volatile.Read(ref _tables[PudLevel]),
        _levels == FiveLevels ? Volatile.Read(ref _tables[P4dLevel]) : 0,
        Volatile.Read(ref _mappedPages), Volatile.Read(ref _mappedBytes),
        Volatile.Read(ref _reclaimedTables), Volatile.Read(ref _pendingTables));

    /// <summary>
    /// Frees every table: waits for the tables already retired (<see cref="EpochDomain.Barrier"/>), then gives the
    /// live ones back to the allocator. Must not race with other calls on this space.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _metrics.Dispose();
        _epoch.Barrier();
        FreeSubtree(_root, _levels);
        if (_ownsEpoch)
        {
            _epoch.Dispose();
        }

        if (_ownsAllocator)
        {
            _allocator.Dispose();
        }
    }

    PageTableReading IPageTableMetricsSource.ReadMetrics()
    {
        PageTableStats s = Stats;
        return new PageTableReading(_policy, s.PteTables, s.PmdTables, s.PudTables, s.P4dTables, s.PendingTables, s.ReclaimedTables,
            Volatile.Read(ref _allocatedTables));
    }

    // ---- entries and tables -------------------------------------------------------------------------------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ReadEntry(nint table, int index) => Volatile.Read(ref ((ulong*)table)[index]);

    /// <summary>Publishes an entry; the release store orders the zeroing of a new table before the pointer to it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteEntry(nint table, int index, ulong entry) => Volatile.Write(ref ((ulong*)table)[index], entry);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private nint TableOf(ulong entry) => _allocator.VirtualOf(entry & FrameMask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref PageDescriptor DescriptorOf(nint table) => ref _allocator.DescriptorOf(table);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsDead(ref PageDescriptor table) => (table.State & PageDescriptor.Dead) != 0;

    /// <summary>The canonical form of <paramref name="address"/>: bit <c>addressBits - 1</c> copied into the bits above it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Canonical(ulong address) => (ulong)((long)(address << (64 - _addressBits)) >> (64 - _addressBits));

    private bool IsCanonical(ulong address) => Canonical(address) == address;

    /// <summary>First address of entry <paramref name="index"/> of a table at <paramref name="level"/> that starts at <paramref name="tableBase"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong EntryBase(ulong tableBase, int index, int level) => Canonical(tableBase + ((ulong)index << EntryShift(level)));

    /// <summary>A new, zeroed, unpublished table for <paramref name="level"/>.</summary>
    private nint AllocateTable(int level)
    {
        nint table = _allocator.Allocate();
        DescriptorOf(table).Level = (byte)level;
        return table;
    }

    /// <summary>Entry that references <paramref name="table"/>.</summary>
    private ulong TableEntry(nint table) => _allocator.PhysicalOf(table) | TableEntryFlags;

    /// <summary>
    /// The reclaim slow path (<c>try_to_free_pte</c>), for a table at any level below the root: parent lock, table
    /// lock, SIMD re-check that all 512 entries are 0, clear the parent entry, mark the table dead, unlock, retire.
    /// </summary>
    /// <returns>True when this call unhooked <paramref name="child"/>; false when it is not empty, or no longer
    /// hooked at <paramref name="parent"/>[<paramref name="index"/>] (another writer changed or unhooked it).</returns>
    /// <remarks>The caller holds no table lock.</remarks>
    private bool TryUnhookEmpty(nint parent, int index, nint child)
    {
        ref PageDescriptor parentDescriptor = ref DescriptorOf(parent);
        ref PageDescriptor childDescriptor = ref DescriptorOf(child);
        TableLock.Enter(ref parentDescriptor);
        try
        {
            ulong entry = ReadEntry(parent, index);
            if (IsDead(ref parentDescriptor) || (entry & PresentBit) == 0 || IsLeaf(entry, parentDescriptor.Level) || TableOf(entry) != child)
            {
                return false;
            }

            TableLock.Enter(ref childDescriptor);
            Debug.Assert(!IsDead(ref childDescriptor), "a hooked table is never dead");
            bool empty = PageScan.IsZero(child);
            if (empty)
            {
                UnhookLocked(parent, index, child, ref childDescriptor);
            }

            TableLock.Exit(ref childDescriptor);
            return empty;
        }
        finally
        {
            TableLock.Exit(ref parentDescriptor);
        }
    }

    /// <summary>
    /// Clears <paramref name="parent"/>[<paramref name="index"/>] and marks <paramref name="child"/> dead; the caller
    /// holds both locks and has seen <paramref name="child"/> empty under its lock. Retires the table.
    /// </summary>
    private void UnhookLocked(nint parent, int index, nint child, ref PageDescriptor childDescriptor)
    {
        // Order: the entry is cleared before the table is retired, so a reader that enters its guard after the
        // retirement can no longer reach the table (the epoch domain's fences order the retirement after this
        // store for every later guard).
        WriteEntry(parent, index, 0);
        childDescriptor.State |= PageDescriptor.Dead;
        Interlocked.Decrement(ref _tables[childDescriptor.Level]);
        Interlocked.Increment(ref _pendingTables);
        _epoch.Retire(child, _freeRetiredTable);
    }

    /// <summary>The epoch domain's callback: no reader can hold <paramref name="table"/> any more.</summary>
    private void FreeRetiredTable(nint table)
    {
        _allocator.Free(table);
        Interlocked.Decrement(ref _pendingTables);
    }

    /// <summary>
    /// Clears the leaves among entries <paramref name="first"/>..<paramref name="last"/> of a table at
    /// <paramref name="level"/> whose lock the caller holds (entries that reference tables are left alone).
    /// Returns the bytes they mapped.
    /// </summary>
    private long ClearLeavesLocked(nint table, int level, int first, int last)
    {
        long pages = 0;
        if (level == PteLevel)
        {
            // Every non-zero entry of a PTE table is a present leaf, and the descriptor counts them. Zaps mostly
            // meet sparse tables (one touched page in 512 is common): jumping from leaf to leaf with the SIMD scan
            // and stopping after the last one reads a few cache lines of the table instead of all 64.
            ref PageDescriptor descriptor = ref DescriptorOf(table);
            var entries = new ReadOnlySpan<ulong>((void*)table, EntriesPerTable);
            int present = first == 0 && last == EntriesPerTable - 1
                ? descriptor.Spare
                : PageScan.CountNonZero(entries[first..(last + 1)]);
            if (present == 0)
            {
                return 0;
            }

            descriptor.Spare -= (ushort)present;
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
            if ((entry & PresentBit) != 0 && IsLeaf(entry, level))
            {
                WriteEntry(table, i, 0);
                pages++;
            }
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

    /// <summary>Frees <paramref name="table"/> and every table below it, with no lock and no grace period (Dispose).</summary>
    private void FreeSubtree(nint table, int level)
    {
        if (level > PteLevel)
        {
            for (int i = 0; i < EntriesPerTable; i++)
            {
                ulong entry = ReadEntry(table, i);
                if ((entry & PresentBit) != 0 && !IsLeaf(entry, level))
                {
                    FreeSubtree(TableOf(entry), level - 1);
                }
            }
        }

        _allocator.Free(table);
    }

    // ---- argument checks: everything is validated before anything changes -----------------------------------------

    /// <summary>Checks a range and returns its last byte.</summary>
    private ulong CheckRange(ulong va, ulong length, ulong alignment, [CallerArgumentExpression(nameof(va))] string vaName = "", [CallerArgumentExpression(nameof(length))] string lengthName = "")
    {
        if (length == 0)
        {
            throw new ArgumentOutOfRangeException(lengthName, length, "Length must not be 0.");
        }

        if ((va & (alignment - 1)) != 0)
        {
            throw new ArgumentException($"Address 0x{va:X} is not aligned to 0x{alignment:X} bytes.", vaName);
        }

        if ((length & (alignment - 1)) != 0)
        {
            throw new ArgumentException($"Length 0x{length:X} is not a multiple of 0x{alignment:X} bytes.", lengthName);
        }

        ulong last = va + length - 1;
        if (last < va)
        {
            throw new ArgumentOutOfRangeException(lengthName, length, $"Range 0x{va:X} + 0x{length:X} overflows the address space.");
        }

        if (!IsCanonical(va))
        {
            throw new ArgumentException($"Address 0x{va:X} is not canonical for {_addressBits}-bit addresses.", vaName);
        }

        if (!IsCanonical(last) || (long)(va ^ last) < 0)
        {
            throw new ArgumentOutOfRangeException(lengthName, length, $"Range 0x{va:X} + 0x{length:X} leaves the canonical half of 0x{va:X} ({_addressBits}-bit addresses).");
        }

        return last;
    }

    /// <summary>Throws when a 2 MiB or 1 GiB leaf straddles <paramref name="va"/> or the end of the range: it cannot be split.</summary>
    private void CheckNoSplitLeaf(ulong va, ulong last, [CallerArgumentExpression(nameof(va))] string vaName = "")
    {
        if (FindLeaf(va, out ulong leafBase, out int leafLevel) && leafLevel > PteLevel && leafBase != va)
        {
            throw new ArgumentException($"Address 0x{va:X} is inside the {EntrySpan(leafLevel) >> 10} KiB leaf at 0x{leafBase:X}, which cannot be split.", vaName);
        }

        if (FindLeaf(last, out leafBase, out leafLevel) && leafLevel > PteLevel && leafBase + EntrySpan(leafLevel) - 1 != last)
        {
            throw new ArgumentException($"Range 0x{va:X}..0x{last + 1:X} ends inside the {EntrySpan(leafLevel) >> 10} KiB leaf at 0x{leafBase:X}, which cannot be split.", vaName);
        }
    }

    /// <summary>The leaf that maps <paramref name="va"/>, if any (a reader's walk, under a guard).</summary>
    private bool FindLeaf(ulong va, out ulong leafBase, out int leafLevel)
    {
        using EpochGuard guard = _epoch.Enter();
        nint table = _root;
        for (int level = _levels; ; level--)
        {
            ulong entry = ReadEntry(table, IndexOf(va, level));
            if ((entry & PresentBit) == 0)
            {
                leafBase = 0;
                leafLevel = 0;
                return false;
            }

            if (IsLeaf(entry, level))
            {
                leafBase = va & ~(EntrySpan(level) - 1);
                leafLevel = level;
                return true;
            }

            table = TableOf(entry);
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
