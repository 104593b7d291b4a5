using System.Runtime.CompilerServices;
using FastReclaim.Diagnostics;
using FastReclaim.Paging;
using static FastReclaim.Paging.PageTableFormat;

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
    //   So a dead table is all zero and stays all zero until it is freed, and a hooked table is never dead. The one
    //   exception is a table Collapse replaced by a 2 MiB leaf: dead, its entries kept (they map what the leaf maps),
    //   which is why Collapse must not race Zap, Unmap or Protect of the same range (AddressSpace.Collapse.cs).
    //   3. A PTE table's TableDescriptor.PresentEntries counts its present entries; it changes only under the table's lock.
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

    /// <summary>Creates an empty address space: a root table and nothing else.</summary>
    /// <param name="options">Settings; <see langword="null"/> = defaults (Linux policy, 4 levels, own allocator and epoch domain).</param>
    /// <exception cref="ArgumentOutOfRangeException">Levels is not 4 or 5, or Policy is not a <see cref="ReclaimPolicy"/>.</exception>
    /// <exception cref="ArgumentException">
    /// The allocator poisons freed pages with a present entry whose bits above the 52-bit frame field are not 0.
    /// </exception>
    /// <exception cref="ObjectDisposedException">The shared allocator or epoch domain has been disposed.</exception>
    /// <exception cref="OutOfMemoryException">The allocator has no page for the root table.</exception>
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

        if (options.Allocator is { Poison: true, PoisonValue: ulong poison } && (poison & PresentBit) != 0 && (poison & ~MaxPhysicalAddress) != 0)
        {
            // A racing reader that meets a freed (poisoned) table follows a present poison entry as a table reference.
            throw new ArgumentException(
                $"The allocator's PoisonValue 0x{poison:X} is present but has bits above the 52-bit frame field (0x{poison & ~MaxPhysicalAddress:X}): a reader that meets a freed table would follow it outside physical memory.",
                nameof(options));
        }

        _policy = options.Policy;
        _levels = options.Levels;
        _addressBits = AddressBits(_levels);
        _ownsAllocator = options.Allocator is null;
        _allocator = options.Allocator ?? new PageAllocator();
        _allocator.AddUser();
        try
        {
            _root = _allocator.Allocate();
        }
        catch
        {
            ReleaseAllocator();
            throw;
        }

        _ownsEpoch = options.Epoch is null;
        _epoch = options.Epoch ?? new EpochDomain();
        try
        {
            _epoch.AddUser(this);
        }
        catch
        {
            _allocator.Free(_root);
            ReleaseAllocator();
            throw;
        }

        _freeRetiredTable = FreeRetiredTable;
        _physicalToPointer = (ulong)_allocator.VirtualOf(0);
        DescriptorOf(_root).Level = (byte)_levels;
        _metrics = FastReclaimMetrics.Register(this);
    }

    /// <summary>The physical address of the root table: what CR3 would hold for a CPU to walk these tables.</summary>
    /// <exception cref="ObjectDisposedException">The space has been disposed (its root table is freed).</exception>
    public ulong RootPhysical
    {
        get
        {
            ThrowIfDisposed();
            return _allocator.PhysicalOf(_root);
        }
    }

    /// <summary>
    /// The epoch domain that retires this space's tables (<see cref="AddressSpaceOptions.Epoch"/>, or the space's own):
    /// register an <see cref="EpochReader"/> on it for <see cref="TryTranslate(EpochReader, ulong, out ulong, out PageFlags)"/>,
    /// or use its QSBR calls for reader threads.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    public EpochDomain Epoch
    {
        get
        {
            ThrowIfDisposed();
            return _epoch;
        }
    }

    /// <summary>Paging levels (4 or 5).</summary>
    public int Levels => _levels;

    /// <summary>The reclaim policy applied by <see cref="Zap"/>.</summary>
    public ReclaimPolicy Policy => _policy;

    /// <summary>A snapshot of the table counts (see <see cref="PageTableStats"/>).</summary>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    public PageTableStats Stats
    {
        get
        {
            ThrowIfDisposed();
            return ReadStats();
        }
    }

    /// <summary>The counts with no disposed check, for the metrics callback (which may race with Dispose).</summary>
    private PageTableStats ReadStats() => new(
        Volatile.Read(ref _tables[PteLevel]), Volatile.Read(ref _tables[PmdLevel]), Volatile.Read(ref _tables[PudLevel]),
        _levels == FiveLevels ? Volatile.Read(ref _tables[P4dLevel]) : 0,
        Volatile.Read(ref _mappedPages), Volatile.Read(ref _mappedBytes),
        Volatile.Read(ref _reclaimedTables), Volatile.Read(ref _pendingTables), Volatile.Read(ref _depositedTables));

    /// <summary>
    /// Frees every table: waits for the tables already retired (<see cref="EpochDomain.Barrier"/>), then gives the
    /// live ones back to the allocator, then disposes the domain and the allocator if the space created them. Must not
    /// race with other calls on this space; a second call does nothing.
    /// </summary>
    /// <remarks>
    /// The barrier runs every callback retired so far, the space's and (on a shared domain) other users', and leaves
    /// the exceptions of other callbacks that threw to the domain's next report (<see cref="EpochDomain.Collect"/>,
    /// <see cref="EpochDomain.Barrier"/>): disposing a space never throws them. Every table goes back whatever else
    /// fails, and the space no longer holds the domain or the allocator, which can then be disposed.
    /// </remarks>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _metrics.Dispose();
        try
        {
            _epoch.BarrierKeepingErrors();
        }
        finally
        {
            FreeSubtree(_root, _levels);
            FreeDeposits(Volatile.Read(ref _depositedTables));
            _epoch.RemoveUser(this);
            if (_ownsEpoch)
            {
                _epoch.Dispose();
            }

            ReleaseAllocator();
        }
    }

    /// <summary>Stops holding the allocator (which may then be disposed), and disposes it if the space created it.</summary>
    private void ReleaseAllocator()
    {
        _allocator.RemoveUser();
        if (_ownsAllocator)
        {
            _allocator.Dispose();
        }
    }

    /// <summary>The space's id (the <c>space</c> tag of its metrics and events), levels and policy, e.g. <c>AddressSpace 3 (4 levels, linux)</c>.</summary>
    public override string ToString() => $"{nameof(AddressSpace)} {_metrics.Id} ({_levels} levels, {ReclaimPolicyNames.Format(_policy)})";

    PageTableReading IPageTableMetricsSource.ReadMetrics()
    {
        PageTableStats s = ReadStats();
        const long TableBytes = PageAllocator.PageSize;
        return new PageTableReading(ReclaimPolicyNames.Format(_policy), s.PteTables * TableBytes, s.PmdTables * TableBytes,
            s.PudTables * TableBytes, s.P4dTables * TableBytes, s.PendingTables * TableBytes, s.ReclaimedTables,
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
    private ref TableDescriptor DescriptorOf(nint table) => ref TableDescriptor.Of(ref _allocator.DescriptorOf(table));

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

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
