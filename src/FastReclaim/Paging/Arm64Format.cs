using System.Runtime.CompilerServices;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim.Paging;

/// <summary>
/// Arm64 VMSAv8-64 stage 1 descriptors with the 4 KiB granule and 48-bit output addresses (Arm ARM D8.3, "Translation
/// table descriptor formats"), for 3 levels (39-bit addresses) and 4 (48-bit). 5 levels are <see cref="Arm64Lpa2Format"/>.
/// </summary>
/// <remarks>
/// <para>
/// Bits[1:0]: 11 a table descriptor above level 3 (engine level 1) and a page descriptor at it, 01 a block
/// descriptor (a 2 MiB leaf at level 2, a 1 GiB leaf at level 1), 00 invalid. Output address bits[47:12]. Table
/// descriptors carry no table attributes (APTable, UXNTable, PXNTable, NSTable are 0): as on x86-64, the upper levels
/// grant everything and each leaf decides.
/// </para>
/// <para>
/// <see cref="PageFlags"/> on a leaf: Present = bits[1:0] plus AF (bit 10) always set, since the engine has no
/// Access-flag fault handler to set it (Linux sets AF on what it installs too), so <see cref="PageFlags.Accessed"/> is
/// always reported; Writable = AP[2] (bit 7) clear; User = AP[1] (bit 6); NoExecute = UXN (54) and PXN (53);
/// Global = nG (bit 11) clear; Dirty = bit 55, reserved for software (Linux's PTE_DIRTY): DBM (bit 51) is never set,
/// so the hardware never rewrites a descriptor; WriteThrough / CacheDisable choose AttrIndx[2:0] (bits 4:2), an index
/// into <see cref="AddressSpace.Arm64Mair"/>; SH (bits 9:8) is inner shareable.
/// </para>
/// </remarks>
internal readonly struct Arm64Format : IPageTableFormat
{
    /// <summary>Bit 1: a table descriptor above the last level, a page descriptor at it (0: a block).</summary>
    internal const ulong TableOrPageBit = 1UL << 1;

    /// <summary>Bits[1:0] of a table or page descriptor.</summary>
    internal const ulong TableOrPage = PresentBit | TableOrPageBit;

    /// <summary>AttrIndx[2:0], bits 4:2.</summary>
    internal const int AttrIndexShift = 2;

    internal const ulong AttrIndexMask = 7UL << AttrIndexShift;

    /// <summary>AP[1], bit 6: EL0 may access.</summary>
    internal const ulong ApEl0Bit = 1UL << 6;

    /// <summary>AP[2], bit 7: read-only.</summary>
    internal const ulong ApReadOnlyBit = 1UL << 7;

    /// <summary>SH[1:0] = 11, bits 9:8: inner shareable.</summary>
    internal const ulong InnerShareable = 3UL << 8;

    /// <summary>AF, bit 10: the access flag.</summary>
    internal const ulong AccessFlag = 1UL << 10;

    /// <summary>nG, bit 11: not global (the TLB entry is tagged with the ASID).</summary>
    internal const ulong NotGlobalBit = 1UL << 11;

    /// <summary>PXN, bit 53, and UXN, bit 54: no execution at EL1 / at EL0.</summary>
    internal const ulong ExecuteNever = (1UL << 53) | (1UL << 54);

    internal const ulong UserExecuteNeverBit = 1UL << 54;

    /// <summary>Bit 55, one of bits 58:55 reserved for software (the hardware ignores them): the dirty state.</summary>
    internal const ulong SoftwareDirtyBit = 1UL << 55;

    /// <summary>Output address bits[47:12].</summary>
    internal const ulong OutputAddressMask = 0x0000_FFFF_FFFF_F000;

    /// <summary>AttrIndx of each memory type (the <see cref="AddressSpace.Arm64Mair"/> slots).</summary>
    internal const ulong NormalWriteBack = 0;
    internal const ulong NormalWriteThrough = 1;
    internal const ulong NormalNonCacheable = 2;
    internal const ulong DeviceNGnRnE = 3;

    public static PageTableFormat Format => PageTableFormat.Arm64;

    public static bool SignExtended => false;

    public static ulong MaxPhysicalAddress => OutputAddressMask | (PageBytes - 1);

    public static ulong TableTypeMask => TableOrPage;

    public static ulong TableType => TableOrPage;

    public static bool BreakBeforeMake => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int AddressBits(int levels) => PageTableGeometry.AddressBits(levels);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong TableEntry(ulong tablePhysical) => tablePhysical | TableOrPage;

    /// <remarks>
    /// Everything above bits[11:0], as on x86-64: only <see cref="TableEntry"/> writes a table descriptor (an address
    /// below 2^48, no table attribute, nothing in the ignored bits 58:51), and no hardware update touches bits above 11.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong TableAddress(ulong tableEntry) => tableEntry & ~(PageBytes - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong EncodeAddress(ulong physical) => physical;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafAddress(ulong leaf) => leaf & OutputAddressMask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafType(int level) => level == PteLevel ? TableOrPage : PresentBit;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong LeafAttributes(ulong leaf) => leaf & ~(OutputAddressMask | TableOrPage);

    public static string? Unencodable(PageFlags flags) => null;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong EncodeAttributes(PageFlags flags) => Attributes(flags) | InnerShareable;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PageFlags DecodeFlags(ulong leaf) => Flags(leaf);

    /// <summary>The attributes of <paramref name="flags"/> but shareability (which LPA2 descriptors do not carry).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong Attributes(PageFlags flags)
    {
        ulong bits = AccessFlag | (AttrIndex(flags) << AttrIndexShift);
        bits |= (flags & PageFlags.Writable) == 0 ? ApReadOnlyBit : 0;
        bits |= (flags & PageFlags.User) != 0 ? ApEl0Bit : 0;
        bits |= (flags & PageFlags.Global) == 0 ? NotGlobalBit : 0;
        bits |= (flags & PageFlags.NoExecute) != 0 ? ExecuteNever : 0;
        bits |= (flags & PageFlags.Dirty) != 0 ? SoftwareDirtyBit : 0;
        return bits;
    }

    /// <summary>The <see cref="PageFlags"/> of an Arm64 leaf (either output-address layout).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static PageFlags Flags(ulong leaf)
    {
        PageFlags flags = PageFlags.Present;
        flags |= (leaf & ApReadOnlyBit) == 0 ? PageFlags.Writable : 0;
        flags |= (leaf & ApEl0Bit) != 0 ? PageFlags.User : 0;
        flags |= (leaf & AccessFlag) != 0 ? PageFlags.Accessed : 0;
        flags |= (leaf & SoftwareDirtyBit) != 0 ? PageFlags.Dirty : 0;
        flags |= (leaf & NotGlobalBit) == 0 ? PageFlags.Global : 0;
        flags |= (leaf & UserExecuteNeverBit) != 0 ? PageFlags.NoExecute : 0;
        return flags | ((leaf & AttrIndexMask) >> AttrIndexShift) switch
        {
            NormalWriteThrough => PageFlags.WriteThrough,
            NormalNonCacheable => PageFlags.CacheDisable,
            DeviceNGnRnE => PageFlags.CacheDisable | PageFlags.WriteThrough,
            _ => PageFlags.None,
        };
    }

    /// <summary>
    /// The memory type x86-64's PCD/PWT pair names under the default PAT: none = write-back, PWT = write-through,
    /// PCD = UC- (here Normal non-cacheable), both = UC (here Device-nGnRnE).
    /// </summary>
    private static ulong AttrIndex(PageFlags flags) => (flags & (PageFlags.CacheDisable | PageFlags.WriteThrough)) switch
    {
        PageFlags.WriteThrough => NormalWriteThrough,
        PageFlags.CacheDisable => NormalNonCacheable,
        PageFlags.CacheDisable | PageFlags.WriteThrough => DeviceNGnRnE,
        _ => NormalWriteBack,
    };
}
