using System.Runtime.CompilerServices;

namespace FastReclaim.Paging;

/// <summary>
/// The table geometry every <see cref="PageTableFormat"/> shares: 4 KiB tables of 512 entries, 9 address bits per
/// level, the address arithmetic of the levels, and bit 0 of an entry as its valid bit. The encodings of the
/// entries are the formats' own (<see cref="IPageTableFormat"/>).
/// </summary>
/// <remarks>
/// Levels are numbered as in <see cref="TableDescriptor.Level"/>: 1 = PTE table (entries map 4 KiB pages),
/// 2 = PMD (page directory: tables or 2 MiB leaves), 3 = PUD (PDPT: tables or 1 GiB leaves), 4 = P4D / PML4,
/// 5 = PML5. An entry at level L covers <c>1 &lt;&lt; (12 + 9 (L - 1))</c> bytes; a table at level L covers 512 of them.
/// (Arm64 numbers the same tables 3, 2, 1, 0 and -1; RISC-V's Sv levels are 0, 1, 2, 3 and 4.)
/// </remarks>
internal static class PageTableGeometry
{
    /// <summary>log2 of <see cref="PageAllocator.PageSize"/> (declared by the allocator, which owns the page size).</summary>
    internal const int PageShift = PageAllocator.PageShift;

    /// <summary>Address bits consumed per level: log2 of <see cref="EntriesPerTable"/>.</summary>
    internal const int IndexBits = 9;

    /// <summary>Entries in a table (one 4 KiB page of 8-byte entries).</summary>
    internal const int EntriesPerTable = PageAllocator.EntriesPerPage;

    internal const int IndexMask = EntriesPerTable - 1;

    internal const int PteLevel = 1;
    internal const int PmdLevel = 2;
    internal const int PudLevel = 3;
    internal const int P4dLevel = 4;
    internal const int Pml5Level = 5;

    /// <summary>Paging levels: 3 (Arm64 39-bit, Sv39), 4 (the default everywhere) and 5 (LA57, Arm64 LPA2, Sv57).</summary>
    internal const int ThreeLevels = 3;
    internal const int FourLevels = 4;
    internal const int FiveLevels = 5;

    /// <summary>
    /// Bit 0, the valid bit of every format (x86-64 P, Arm64 descriptor bit 0, RISC-V V): an entry is present exactly
    /// when it is set, so "not present" and "empty" (0, what the SIMD scan looks for) agree for every format.
    /// </summary>
    internal const ulong PresentBit = (ulong)PageFlags.Present;

    /// <summary>Bits of <see cref="PageFlags"/> a leaf can be asked for; the rest are not flags.</summary>
    internal const ulong LeafFlagMask = (ulong)(PageFlags.Present | PageFlags.Writable | PageFlags.User |
        PageFlags.WriteThrough | PageFlags.CacheDisable | PageFlags.Accessed | PageFlags.Dirty | PageFlags.Global |
        PageFlags.NoExecute);

    /// <summary>Bytes per page.</summary>
    internal const ulong PageBytes = PageAllocator.PageSize;

    /// <summary>Bits of a virtual address that <paramref name="levels"/> levels of 9 index bits translate: 39, 48 or 57.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int AddressBits(int levels) => EntryShift(levels) + IndexBits;

    /// <summary>Shift of the address bits that index a table at <paramref name="level"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int EntryShift(int level) => PageShift + (IndexBits * (level - 1));

    /// <summary>Bytes covered by one entry of a table at <paramref name="level"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong EntrySpan(int level) => 1UL << EntryShift(level);

    /// <summary>Index of <paramref name="address"/> in a table at <paramref name="level"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int IndexOf(ulong address, int level) => (int)(address >> EntryShift(level)) & IndexMask;

    /// <summary>The level whose entries are leaves of <paramref name="size"/>.</summary>
    internal static int LeafLevel(LeafSize size) => size switch
    {
        LeafSize.Size4K => PteLevel,
        LeafSize.Size2M => PmdLevel,
        LeafSize.Size1G => PudLevel,
        _ => throw new ArgumentOutOfRangeException(nameof(size), size, $"Unknown leaf size {size}."),
    };
}
