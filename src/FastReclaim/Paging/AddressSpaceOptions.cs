using FastReclaim.Paging;

namespace FastReclaim;

/// <summary>Settings of an <see cref="AddressSpace"/>.</summary>
public sealed class AddressSpaceOptions
{
    /// <summary>When tables emptied by <see cref="AddressSpace.Zap"/> are freed; <see cref="ReclaimPolicy.Linux"/> by default.</summary>
    public ReclaimPolicy Policy { get; set; } = ReclaimPolicy.Linux;

    /// <summary>The hardware format of the entries: <see cref="PageTableFormat.X64"/> by default.</summary>
    public PageTableFormat Format { get; set; } = PageTableFormat.X64;

    /// <summary>
    /// Paging levels, 4 by default. <see cref="PageTableFormat.X64"/>: 4 (48-bit addresses) or 5 (LA57, 57-bit).
    /// <see cref="PageTableFormat.Arm64"/>: 3 (39-bit), 4 (48-bit) or 5 (52-bit, FEAT_LPA2).
    /// <see cref="PageTableFormat.RiscV64"/>: 3 (Sv39), 4 (Sv48) or 5 (Sv57). Any other value makes the
    /// <see cref="AddressSpace"/> constructor throw <see cref="ArgumentOutOfRangeException"/>.
    /// </summary>
    public int Levels { get; set; } = PageTableGeometry.FourLevels;

    /// <summary>
    /// The embedder's TLB maintenance (<see cref="ITlbMaintenance"/>), called in Arm64's break-before-make and after
    /// tables are unhooked, before they can be freed. <see langword="null"/> (the default): no call, for spaces that
    /// only software reads, or whose CPUs invalidate at points of their own before the space's grace periods end.
    /// </summary>
    public ITlbMaintenance? TlbMaintenance { get; set; }

    /// <summary>
    /// Where the tables come from. <see langword="null"/>: the space creates its own allocator and disposes it.
    /// A shared allocator is left alive by <see cref="AddressSpace.Dispose"/> (every table is given back to it), and
    /// refuses to be disposed while a space still uses it (<see cref="PageAllocator.Dispose"/> throws).
    /// </summary>
    public PageAllocator? Allocator { get; set; }

    /// <summary>
    /// Interval-based reclamation of this space's tables (2GE-IBR; off by default). On, a table unhooked by a zap, an
    /// unmap, a sweep or a collapse may be freed while a reader holds the epoch back, once no reader can hold it: a
    /// reader stalled inside a guard (or an <see cref="EpochReader"/>) keeps only the tables that existed when it stalled,
    /// and the space's pending tables stay bounded whatever it does. The price is on the read side: every level of a
    /// <see cref="AddressSpace.TryTranslate(ulong, out ulong, out PageFlags)"/> or <see cref="AddressSpace.TranslateMany"/>
    /// walk loads the domain's era and compares it (perf-results/reclaim.md). Off, a stalled reader holds every table
    /// retired after it entered, as in any epoch scheme. QSBR threads hold tables either way until their next quiescent
    /// point (<see cref="EpochDomain.Online(Action)"/> lets the domain ask for it).
    /// </summary>
    /// <remarks>
    /// Code that follows the tables' entries itself (a vCPU, a debugger) is not covered by a guard's interval, which
    /// only grows as the space's own walks announce the tables they reach: such a reader must be a QSBR thread
    /// (<see cref="EpochDomain.Online()"/>), which holds every table until it is quiescent.
    /// </remarks>
    public bool IntervalReclaim { get; set; }

    /// <summary>
    /// The epoch domain that readers enter and unhooked tables are retired to. <see langword="null"/>: the space
    /// creates its own and disposes it. A shared domain is left alive by <see cref="AddressSpace.Dispose"/>.
    /// </summary>
    public EpochDomain? Epoch { get; set; }
}
