using System.Runtime.CompilerServices;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim.Paging;

/// <summary>
/// RISC-V Sv39 / Sv48 / Sv57 page-table entries (RISC-V privileged architecture, "Sv39: Page-Based 39-bit Virtual-Memory
/// System" and its Sv48 / Sv57 extensions): V (bit 0), R, W, X (bits 1–3), U (4), G (5), A (6), D (7), the PPN in
/// bits 53:10, so <c>pa = (pte &gt;&gt; 10) &lt;&lt; 12</c>.
/// </summary>
/// <remarks>
/// <para>
/// A PTE with V set and R = W = X = 0 points to the next table; one with R or X set is a leaf at any level (a 2 MiB
/// megapage at level 1, a 1 GiB gigapage at level 2). Non-leaf PTEs carry V only (their A, D and U are reserved).
/// </para>
/// <para>
/// <see cref="PageFlags"/> on a leaf: Present = V, R and A (every leaf is readable, so the reserved R = 0, W = 1 is
/// never written; A is always set because a CPU without hardware A/D updates raises a page fault on a leaf with A
/// clear, and the engine has no handler to set it, so <see cref="PageFlags.Accessed"/> is always reported);
/// Writable = W; User = U; NoExecute = X clear; Global = G; Dirty = D (a CPU without Svadu faults on a store through
/// a writable leaf with D clear: map with <see cref="PageFlags.Dirty"/> for it). The base PTE has no memory-type bits,
/// so <see cref="PageFlags.WriteThrough"/> and <see cref="PageFlags.CacheDisable"/> are refused with an
/// <see cref="ArgumentException"/> rather than silently mapped cacheable (Svpbmt is not used).
/// </para>
/// </remarks>
internal readonly struct RiscV64Format : IPageTableFormat
{
    internal const ulong ReadBit = 1UL << 1;
    internal const ulong WriteBit = 1UL << 2;
    internal const ulong ExecuteBit = 1UL << 3;
    internal const ulong UserBit = 1UL << 4;
    internal const ulong GlobalBit = 1UL << 5;
    internal const ulong AccessedBit = 1UL << 6;
    internal const ulong DirtyBit = 1UL << 7;

    /// <summary>PPN, bits 53:10: a 4 KiB frame number two bits lower than its address, so address = field &lt;&lt; 2.</summary>
    internal const ulong PpnMask = 0x003F_FFFF_FFFF_FC00;

    /// <summary>The shift from a 4 KiB-aligned address to its PPN field (12 - 10).</summary>
    private const int PpnFieldShift = 2;

    public static PageTableFormat Format => PageTableFormat.RiscV64;

    public static bool SignExtended => true;

    public static ulong MaxPhysicalAddress => FrameMapping.PhysicalLimit - 1;

    public static ulong TableTypeMask => PresentBit | ReadBit | WriteBit | ExecuteBit;

    public static ulong TableType => PresentBit;

    public static bool BreakBeforeMake => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int AddressBits(int levels) => PageTableGeometry.AddressBits(levels);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong TableEntry(ulong tablePhysical) => EncodeAddress(tablePhysical) | PresentBit;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong TableAddress(ulong tableEntry) => LeafAddress(tableEntry);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong EncodeAddress(ulong physical) => physical >> PpnFieldShift;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafAddress(ulong leaf) => (leaf & PpnMask) << PpnFieldShift;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafType(int level) => PresentBit;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafAttributes(ulong leaf) => leaf & ~(PpnMask | PresentBit);

    public static string? Unencodable(PageFlags flags) =>
        (flags & (PageFlags.WriteThrough | PageFlags.CacheDisable)) is PageFlags memoryType and not PageFlags.None
            ? $"RISC-V page-table entries have no memory-type bits for {memoryType} (Svpbmt is not used)."
            : null;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong EncodeAttributes(PageFlags flags)
    {
        ulong bits = ReadBit | AccessedBit;
        bits |= (flags & PageFlags.Writable) != 0 ? WriteBit : 0;
        bits |= (flags & PageFlags.NoExecute) == 0 ? ExecuteBit : 0;
        bits |= (flags & PageFlags.User) != 0 ? UserBit : 0;
        bits |= (flags & PageFlags.Global) != 0 ? GlobalBit : 0;
        bits |= (flags & PageFlags.Dirty) != 0 ? DirtyBit : 0;
        return bits;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PageFlags DecodeFlags(ulong leaf)
    {
        PageFlags flags = PageFlags.Present;
        flags |= (leaf & WriteBit) != 0 ? PageFlags.Writable : 0;
        flags |= (leaf & UserBit) != 0 ? PageFlags.User : 0;
        flags |= (leaf & AccessedBit) != 0 ? PageFlags.Accessed : 0;
        flags |= (leaf & DirtyBit) != 0 ? PageFlags.Dirty : 0;
        flags |= (leaf & GlobalBit) != 0 ? PageFlags.Global : 0;
        flags |= (leaf & ExecuteBit) == 0 ? PageFlags.NoExecute : 0;
        return flags;
    }
}
