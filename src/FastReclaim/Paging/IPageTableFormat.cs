
namespace FastReclaim.Paging;

/// <summary>
/// How one hardware format (<see cref="PageTableFormat"/>) encodes its entries, as a type: the engine's methods are
/// generic over a struct implementing it, so the JIT compiles each once per format with these members folded into
/// constants and a few instructions (as the range operations of <c>AddressSpace.RangeWalk.cs</c>): no virtual call,
/// no branch on the format per entry. The public operations choose the instantiation once per call.
/// </summary>
/// <remarks>
/// What every format shares is in <see cref="PageTableGeometry"/> (4 KiB tables of 512 entries, bit 0 the valid
/// bit, an empty entry 0), so the reclaim protocol, the table locks and <see cref="PageScan"/> know nothing of
/// formats. A leaf is built as <c>EncodeAddress(pa) | attributes | LeafType(level)</c>, where the attributes come from
/// <see cref="EncodeAttributes"/> (Map, Protect) or from another leaf (<see cref="LeafAttributes"/>: a split, a
/// collapse), so a leaf keeps its permissions when it changes size.
/// </remarks>
internal interface IPageTableFormat
{
    /// <summary>The public name of the format.</summary>
    static abstract PageTableFormat Format { get; }

    /// <summary>
    /// True when the valid addresses are the canonical ones, the top bit copied into every bit above it (x86-64,
    /// RISC-V); false when they are [0, 2^<see cref="AddressBits"/>) (Arm64's TTBR0_EL1 region).
    /// </summary>
    static abstract bool SignExtended { get; }

    /// <summary>Bits of a virtual address the format translates with <paramref name="levels"/> levels.</summary>
    static abstract int AddressBits(int levels);

    /// <summary>The largest physical address an entry can hold.</summary>
    static abstract ulong MaxPhysicalAddress { get; }

    /// <summary>
    /// Above the PTE level, an entry references a table exactly when <c>(entry &amp; TableTypeMask) == TableType</c>;
    /// a present entry that fails the test is a leaf. One mask and one compare, as the walk tests every level.
    /// </summary>
    static abstract ulong TableTypeMask { get; }

    /// <inheritdoc cref="TableTypeMask"/>
    static abstract ulong TableType { get; }

    /// <summary>
    /// True when a valid entry may not be replaced by one of another kind (a block by a table, a table by a block)
    /// without first writing an invalid entry and invalidating the TLBs (Arm64's break-before-make).
    /// </summary>
    static abstract bool BreakBeforeMake { get; }

    /// <summary>The entry that references the table at physical address <paramref name="tablePhysical"/>.</summary>
    static abstract ulong TableEntry(ulong tablePhysical);

    /// <summary>The physical address of the table an entry written by <see cref="TableEntry"/> references.</summary>
    static abstract ulong TableAddress(ulong tableEntry);

    /// <summary>The address field of a leaf that maps the 4 KiB-aligned physical address <paramref name="physical"/>.</summary>
    static abstract ulong EncodeAddress(ulong physical);

    /// <summary>The physical address a leaf maps (for a 2 MiB or 1 GiB leaf, its first byte).</summary>
    static abstract ulong LeafAddress(ulong leaf);

    /// <summary>The bits that make an entry a valid leaf at <paramref name="level"/> (valid bit, page or block type).</summary>
    static abstract ulong LeafType(int level);

    /// <summary>A leaf's bits other than its address and its <see cref="LeafType"/>: what a leaf of another size keeps.</summary>
    static abstract ulong LeafAttributes(ulong leaf);

    /// <summary>
    /// Why <paramref name="flags"/> (only <see cref="PageFlags"/> bits) cannot be encoded, as the sentence of an
    /// <see cref="ArgumentException"/> message; <see langword="null"/> when they can.
    /// </summary>
    static abstract string? Unencodable(PageFlags flags);

    /// <summary>The leaf attributes that give <paramref name="flags"/> (checked by <see cref="Unencodable"/>).</summary>
    static abstract ulong EncodeAttributes(PageFlags flags);

    /// <summary>The <see cref="PageFlags"/> a leaf grants (<see cref="PageFlags.Present"/> included).</summary>
    static abstract PageFlags DecodeFlags(ulong leaf);
}
