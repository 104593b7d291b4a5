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
    /// Where the tables come from. <see langword="null"/>: the space creates its own allocator and disposes it.
    /// A shared allocator is left alive by <see cref="AddressSpace.Dispose"/> (every table is given back to it), and
    /// refuses to be disposed while a space still uses it (<see cref="PageAllocator.Dispose"/> throws).
    /// </summary>
    public PageAllocator? Allocator { get; set; }

    /// <summary>
    /// The epoch domain that readers enter and unhooked tables are retired to. <see langword="null"/>: the space
    /// creates its own and disposes it. A shared domain is left alive by <see cref="AddressSpace.Dispose"/>.
    /// </summary>
    public EpochDomain? Epoch { get; set; }
}
