using System.Runtime.CompilerServices;

namespace FastReclaim.Paging;

/// <summary>
/// Arm64 with FEAT_LPA2 (TCR_EL1.DS = 1), 4 KiB granule, 5 levels: 52-bit virtual addresses, the root at lookup
/// level -1 indexed by address bits[51:48] (16 of its 512 entries are used), and 52-bit output addresses.
/// </summary>
/// <remarks>
/// The descriptors are those of <see cref="Arm64Format"/> but for the address: bits[49:12] hold OA[49:12] and
/// bits[9:8] hold OA[51:50] (Arm ARM D8.3, "the 4KB and 16KB granules when 52-bit addresses are in use"), for the
/// next-level table address too. Shareability is then TCR_EL1.SH0's, not the descriptor's: set SH0 = inner shareable.
/// </remarks>
internal readonly struct Arm64Lpa2Format : IPageTableFormat
{
    /// <summary>OA[49:12] in bits[49:12].</summary>
    private const ulong LowAddressMask = 0x0003_FFFF_FFFF_F000;

    /// <summary>OA[51:50] sit in bits[9:8].</summary>
    private const int HighAddressBit = 50;
    private const int HighFieldShift = 8;
    private const ulong HighFieldMask = 3UL << HighFieldShift;

    /// <summary>The virtual address bits of the 5-level LPA2 walk.</summary>
    private const int VirtualAddressBits = 52;

    public static PageTableFormat Format => PageTableFormat.Arm64;

    public static bool SignExtended => false;

    public static ulong MaxPhysicalAddress => FrameMapping.PhysicalLimit - 1;

    public static ulong TableTypeMask => Arm64Format.TableOrPage;

    public static ulong TableType => Arm64Format.TableOrPage;

    public static bool BreakBeforeMake => true;

    public static int AddressBits(int levels) => VirtualAddressBits;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong TableEntry(ulong tablePhysical) => EncodeAddress(tablePhysical) | Arm64Format.TableOrPage;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong TableAddress(ulong tableEntry) => LeafAddress(tableEntry);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong EncodeAddress(ulong physical) =>
        (physical & LowAddressMask) | ((physical >> HighAddressBit) << HighFieldShift);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafAddress(ulong leaf) =>
        (leaf & LowAddressMask) | ((leaf & HighFieldMask) << (HighAddressBit - HighFieldShift));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafType(int level) => Arm64Format.LeafType(level);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafAttributes(ulong leaf) => leaf & ~(LowAddressMask | HighFieldMask | Arm64Format.TableOrPage);

    public static string? Unencodable(PageFlags flags) => null;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong EncodeAttributes(PageFlags flags) => Arm64Format.Attributes(flags);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PageFlags DecodeFlags(ulong leaf) => Arm64Format.Flags(leaf);
}
