using System.Runtime.CompilerServices;
using FastReclaim.Diagnostics;
using FastReclaim.Paging;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim;

/// <summary>
/// Page tables in a hardware format (<see cref="PageTableFormat"/>: x86-64, Arm64 or RISC-V; 3 to 5 levels; 4 KiB /
/// 2 MiB / 1 GiB leaves) in pages from a <see cref="PageAllocator"/>, with lock-free translation and the reclaim of
/// empty page tables of Linux's <c>CONFIG_PT_RECLAIM</c>.
/// </summary>
/// <remarks>
/// <para>
/// The tables are the hardware format: <see cref="RootPhysical"/> is what CR3, TTBR0_EL1 or satp's PPN field would
/// hold, and every entry holds a physical address (<see cref="PageAllocator.PhysicalOf"/>), so a CPU can walk them.
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

    /// <summary><see cref="AddressSpaceOptions.IntervalReclaim"/>: walks announce their tables, retired tables carry their birth.</summary>
    private readonly bool _intervalReclaim;

    /// <summary>
    /// The levels (4 or 5) of an undisposed x86-64 space reclaimed by epochs, 0 otherwise: its translations then take
    /// the walk inlined into the caller (<c>WalkPlainX64</c>), and one load of this field is all they pay in front of
    /// it, the disposed check and the load of the depth included (<see cref="Dispose"/> clears it first; the other
    /// translations check <see cref="_disposed"/>).
    /// </summary>
    private int _plainX64Levels;

    private readonly PageTableFormat _format;
    private readonly int _levels;

    /// <summary>Which <see cref="IPageTableFormat"/> the public operations instantiate their generic bodies with.</summary>
    private readonly EntryEncoding _encoding;

    /// <summary>Bits of a valid address: 39, 48 or 57 (Arm64 LPA2: 52).</summary>
    private readonly int _addressBits;

    /// <summary>True when valid addresses are the canonical ones (x86-64, RISC-V); false for Arm64's [0, 2^bits).</summary>
    private readonly bool _signExtended;

    /// <summary>The largest physical address the format's entries hold.</summary>
    private readonly ulong _maxPhysicalAddress;

    private readonly nint _root;

    /// <summary>
    /// Added to a physical address to get the pointer (<see cref="PageAllocator.VirtualOf"/> is a constant offset,
    /// see <see cref="FrameMapping"/>); kept here so the lock-free walk reads it once per call, not once per level.
    /// </summary>
    private readonly ulong _physicalToPointer;
    private readonly Action<nint> _freeRetiredTable;

    /// <summary>The embedder's TLB maintenance (<see cref="AddressSpaceOptions.TlbMaintenance"/>); null: none.</summary>
    private readonly ITlbMaintenance? _tlb;

    /// <summary>Tables unhooked since creation, counted only when <see cref="_tlb"/> is set (a writer compares it to call <see cref="ITlbMaintenance.InvalidateTables"/>).</summary>
    private long _unhookedTables;
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
    /// <param name="options">Settings; <see langword="null"/> = defaults (x86-64, Linux policy, 4 levels, own allocator and epoch domain).</param>
    /// <exception cref="ArgumentOutOfRangeException">
    /// Format is not a <see cref="PageTableFormat"/>, Levels is not one the format allows (x86-64: 4 or 5; Arm64 and
    /// RISC-V: 3, 4 or 5), or Policy is not a <see cref="ReclaimPolicy"/>.
    /// </exception>
    /// <exception cref="ArgumentException">
    /// The allocator poisons freed pages with a present entry that a reader would follow as a table reference
    /// outside the format's physical addresses, or its root page lies beyond them.
    /// </exception>
    /// <exception cref="ObjectDisposedException">The shared allocator or epoch domain has been disposed.</exception>
    /// <exception cref="OutOfMemoryException">The allocator has no page for the root table.</exception>
    public AddressSpace(AddressSpaceOptions? options = null)
    {
        options ??= new AddressSpaceOptions();
        _encoding = EncodingOf(options);

        if (!Enum.IsDefined(options.Policy))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Policy, $"Unknown reclaim policy {options.Policy}.");
        }

        (_addressBits, _signExtended, _maxPhysicalAddress) = _encoding switch
        {
            EntryEncoding.X64 => Shape<X64Format>(options.Levels),
            EntryEncoding.Arm64 => Shape<Arm64Format>(options.Levels),
            EntryEncoding.Arm64Lpa2 => Shape<Arm64Lpa2Format>(options.Levels),
            _ => Shape<RiscV64Format>(options.Levels),
        };
        if (options.Allocator is { Poison: true, PoisonValue: ulong poison } && (poison & PresentBit) != 0 && TableAddressOf(_encoding, poison) > _maxPhysicalAddress)
        {
            // A racing reader that meets a freed (poisoned) table follows a present poison entry as a table reference.
            throw new ArgumentException(
                $"The allocator's PoisonValue 0x{poison:X} is present but, read as a {options.Format} table reference, points beyond the frame field (physical addresses up to 0x{_maxPhysicalAddress:X}): a reader that meets a freed table would follow it outside physical memory.",
                nameof(options));
        }

        _policy = options.Policy;
        _intervalReclaim = options.IntervalReclaim;
        _levels = options.Levels;
        _plainX64Levels = _encoding == EntryEncoding.X64 && !_intervalReclaim ? _levels : 0;
        _format = options.Format;
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

        if (_allocator.PhysicalOf(_root) > _maxPhysicalAddress)
        {
            ulong rootPhysical = _allocator.PhysicalOf(_root);
            _allocator.Free(_root);
            ReleaseAllocator();
            throw new ArgumentException($"The allocator's pages lie at physical 0x{rootPhysical:X}, beyond what {options.Format} entries hold (0x{_maxPhysicalAddress:X}).", nameof(options));
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
        _tlb = options.TlbMaintenance;
        _physicalToPointer = (ulong)_allocator.VirtualOf(0);
        DescriptorOf(_root).Level = (byte)_levels;
        _metrics = FastReclaimMetrics.Register(this);
    }

    /// <summary>
    /// The physical address of the root table, for a CPU to walk these tables: x86-64, the CR3 value (PCID and the
    /// PWT/PCD bits are the embedder's); Arm64, the table address of TTBR0_EL1 (BADDR; the ASID in bits 63:48 and CnP in
    /// bit 0 are the embedder's); RISC-V, the root of satp, whose PPN field is <c>RootPhysical &gt;&gt; 12</c>:
    /// <c>satp = mode &lt;&lt; 60 | asid &lt;&lt; 44 | RootPhysical &gt;&gt; 12</c> with mode 8 (Sv39), 9 (Sv48) or 10 (Sv57).
    /// </summary>
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

    /// <summary>Paging levels (x86-64: 4 or 5; Arm64 and RISC-V: 3, 4 or 5).</summary>
    public int Levels => _levels;

    /// <summary>The hardware format of the entries (<see cref="AddressSpaceOptions.Format"/>).</summary>
    public PageTableFormat Format => _format;

    /// <summary>
    /// The MAIR_EL1 value an Arm64 space's AttrIndx fields index: attribute 0 Normal write-back (0xFF, no
    /// <see cref="PageFlags.WriteThrough"/> or <see cref="PageFlags.CacheDisable"/>), 1 Normal write-through (0xBB,
    /// WriteThrough), 2 Normal non-cacheable (0x44, CacheDisable: x86-64's UC-), 3 Device-nGnRnE (0x00, both: UC).
    /// </summary>
    public const ulong Arm64Mair = 0x0044_BBFF;

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
        Volatile.Write(ref _plainX64Levels, 0);
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
            switch (_encoding)
            {
                case EntryEncoding.X64: FreeSubtree<X64Format>(_root, _levels); break;
                case EntryEncoding.Arm64: FreeSubtree<Arm64Format>(_root, _levels); break;
                case EntryEncoding.Arm64Lpa2: FreeSubtree<Arm64Lpa2Format>(_root, _levels); break;
                default: FreeSubtree<RiscV64Format>(_root, _levels); break;
            }

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
    private nint TableOf<F>(ulong entry)
        where F : struct, IPageTableFormat
        => _allocator.VirtualOf(F.TableAddress(entry));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref TableDescriptor DescriptorOf(nint table) => ref TableDescriptor.Of(ref _allocator.DescriptorOf(table));

    /// <summary>
    /// The address the walk of <paramref name="address"/>'s index bits names: for the sign-extended formats, bit
    /// <c>addressBits - 1</c> copied into the bits above it; for Arm64, the address itself.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Canonical<F>(ulong address)
        where F : struct, IPageTableFormat
        => F.SignExtended ? (ulong)((long)(address << (64 - _addressBits)) >> (64 - _addressBits)) : address;

    /// <summary>True when the format translates <paramref name="address"/>: canonical, or for Arm64 below 2^bits.</summary>
    private bool IsValidAddress(ulong address) => _signExtended
        ? (ulong)((long)(address << (64 - _addressBits)) >> (64 - _addressBits)) == address
        : address >> _addressBits == 0;

    /// <summary>First address of entry <paramref name="index"/> of a table at <paramref name="level"/> that starts at <paramref name="tableBase"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong EntryBase<F>(ulong tableBase, int index, int level)
        where F : struct, IPageTableFormat
        => Canonical<F>(tableBase + ((ulong)index << EntryShift(level)));

    /// <summary>A new, zeroed, unpublished table for <paramref name="level"/>.</summary>
    private nint AllocateTable(int level)
    {
        nint table = _allocator.Allocate();
        DescriptorOf(table).Level = (byte)level;
        return table;
    }

    /// <summary>Entry that references <paramref name="table"/>.</summary>
    private ulong TableEntry<F>(nint table)
        where F : struct, IPageTableFormat
        => F.TableEntry(_allocator.PhysicalOf(table));

    /// <summary>True when the present <paramref name="entry"/> at <paramref name="level"/> maps memory rather than a table.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsLeaf<F>(ulong entry, int level)
        where F : struct, IPageTableFormat
        => level == PteLevel || (entry & F.TableTypeMask) != F.TableType;

    /// <summary>The leaf that maps <paramref name="physical"/> (aligned to the level) with <paramref name="attributes"/> at <paramref name="level"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Leaf<F>(ulong physical, ulong attributes, int level)
        where F : struct, IPageTableFormat
        => F.EncodeAddress(physical) | attributes | F.LeafType(level);

    /// <summary>Frees <paramref name="table"/> and every table below it, with no lock and no grace period (Dispose).</summary>
    private void FreeSubtree<F>(nint table, int level)
        where F : struct, IPageTableFormat
    {
        if (level > PteLevel)
        {
            for (int i = 0; i < EntriesPerTable; i++)
            {
                ulong entry = ReadEntry(table, i);
                if ((entry & PresentBit) != 0 && !IsLeaf<F>(entry, level))
                {
                    FreeSubtree<F>(TableOf<F>(entry), level - 1);
                }
            }
        }

        _allocator.Free(table);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
