using System.Runtime.CompilerServices;

namespace FastReclaim.Paging;

/// <summary>
/// The x86-64 paging-structure entry format (Intel SDM vol. 3, §4.5) and the address arithmetic of the levels.
/// </summary>
/// <remarks>
/// Levels are numbered as in <see cref="TableDescriptor.Level"/>: 1 = PTE table (entries map 4 KiB pages),
/// 2 = PMD (page directory: tables or 2 MiB leaves), 3 = PUD (PDPT: tables or 1 GiB leaves), 4 = P4D / PML4,
/// 5 = PML5. An entry at level L covers <c>1 &lt;&lt; (12 + 9 (L - 1))</c> bytes; a table at level L covers 512 of them.
/// </remarks>
internal static class PageTableFormat
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

    /// <summary>Paging levels of the default (4-level, 48-bit) and the LA57 (5-level, 57-bit) formats.</summary>
    internal const int FourLevels = 4;
    internal const int FiveLevels = 5;

    /// <summary>Bits 12..51: the frame (or next-table) address; MAXPHYADDR is at most 52.</summary>
    internal const ulong FrameMask = 0x000F_FFFF_FFFF_F000;

    /// <summary>The largest physical address an entry can hold (the frame field's reach is the allocator's limit).</summary>
    internal const ulong MaxPhysicalAddress = FrameMapping.PhysicalLimit - 1;

    /// <summary>PS (bit 7) in a PMD or PUD entry: the entry is a 2 MiB / 1 GiB leaf, not a table reference.</summary>
    internal const ulong PageSizeBit = 1UL << 7;

    /// <summary>Bits of a leaf entry that <see cref="PageFlags"/> names; the rest belong to the format.</summary>
    internal const ulong LeafFlagMask = (ulong)(PageFlags.Present | PageFlags.Writable | PageFlags.User |
        PageFlags.WriteThrough | PageFlags.CacheDisable | PageFlags.Accessed | PageFlags.Dirty | PageFlags.Global |
        PageFlags.NoExecute);

    /// <summary>
    /// Flags of an entry that references a table. x86-64 combines the rights of every level of a walk, so the
    /// upper levels grant everything and each leaf decides.
    /// </summary>
    internal const ulong TableEntryFlags = (ulong)(PageFlags.Present | PageFlags.Writable | PageFlags.User);

    internal const ulong PresentBit = (ulong)PageFlags.Present;

    /// <summary>Bytes per page.</summary>
    internal const ulong PageBytes = PageAllocator.PageSize;

    /// <summary>Bits of a canonical address with <paramref name="levels"/> paging levels: 48 with 4, 57 with 5.</summary>
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

    /// <summary>True when <paramref name="entry"/> at <paramref name="level"/> maps memory rather than a table.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool IsLeaf(ulong entry, int level) => level == PteLevel || (entry & PageSizeBit) != 0;
}
