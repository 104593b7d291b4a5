using System.Runtime.CompilerServices;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim.Paging;

/// <summary>
/// The x86-64 paging-structure entry format (Intel SDM vol. 3, §4.5, tables 4-15 to 4-20): <see cref="PageFlags"/>
/// are the hardware bit positions, the frame is bits 12..51, PS (bit 7) makes a PMD or PUD entry a 2 MiB / 1 GiB leaf.
/// </summary>
internal readonly struct X64Format : IPageTableFormat
{
    /// <summary>Bits 12..51: the frame (or next-table) address; MAXPHYADDR is at most 52.</summary>
    internal const ulong FrameMask = 0x000F_FFFF_FFFF_F000;

    /// <summary>PS (bit 7) in a PMD or PUD entry: the entry is a 2 MiB / 1 GiB leaf, not a table reference.</summary>
    internal const ulong PageSizeBit = 1UL << 7;

    /// <summary>
    /// Flags of an entry that references a table. x86-64 combines the rights of every level of a walk, so the
    /// upper levels grant everything and each leaf decides.
    /// </summary>
    internal const ulong TableEntryFlags = (ulong)(PageFlags.Present | PageFlags.Writable | PageFlags.User);

    public static PageTableFormat Format => PageTableFormat.X64;

    public static bool SignExtended => true;

    public static ulong MaxPhysicalAddress => FrameMapping.PhysicalLimit - 1;

    public static ulong TableTypeMask => PresentBit | PageSizeBit;

    public static ulong TableType => PresentBit;

    public static bool BreakBeforeMake => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int AddressBits(int levels) => PageTableGeometry.AddressBits(levels);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong TableEntry(ulong tablePhysical) => tablePhysical | TableEntryFlags;

    /// <remarks>
    /// Everything above the offset bits, not <see cref="FrameMask"/>: only <see cref="TableEntry"/> writes a table
    /// entry (a physical address below 2^52 with <see cref="TableEntryFlags"/>, so bits 52–63 are clear: no NX, no
    /// software bit), and the CPU's own walk of the tables (a KVM guest) sets only Accessed and Dirty, bits 5 and 6.
    /// The AND then takes a sign-extended 32-bit immediate instead of a 64-bit constant the JIT would rematerialise at
    /// every level of a walk; a leaf's frame still goes through <see cref="FrameMask"/>, since a leaf may carry NX.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong TableAddress(ulong tableEntry) => tableEntry & ~(PageBytes - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong EncodeAddress(ulong physical) => physical;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafAddress(ulong leaf) => leaf & FrameMask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafType(int level) => PresentBit | (level == PteLevel ? 0 : PageSizeBit);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafAttributes(ulong leaf) => leaf & ~(FrameMask | PageSizeBit | PresentBit);

    public static string? Unencodable(PageFlags flags) => null;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong EncodeAttributes(PageFlags flags) => (ulong)flags & ~PresentBit;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PageFlags DecodeFlags(ulong leaf) => (PageFlags)(leaf & LeafFlagMask);
}
