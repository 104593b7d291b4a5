using System.Runtime.InteropServices;

namespace FastReclaim.Memory;

/// <summary>
/// Per-page metadata for a page handed out by <see cref="PageAllocator"/> (the storage of Linux's
/// <c>struct ptdesc</c>): 16 bytes that live in the first page(s) of the page's chunk and are reached by masking
/// the page's address (<see cref="PageAllocator.DescriptorOf"/>), so the page's owner keeps per-page state with
/// no dictionary and no lock.
/// </summary>
/// <remarks>
/// <see cref="PageAllocator.Allocate"/> returns every page with its descriptor zeroed. The allocator itself never
/// reads or writes a descriptor after that: the word belongs to the owner of the page, which gives it a layout
/// of its own (the paging layer's is <c>TableDescriptor</c>).
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = SizeInBytes)]
internal struct PageDescriptor
{
    /// <summary>
    /// Bytes per descriptor, a power of two: a 2 MiB chunk keeps its 512 descriptors in its first two pages. Two
    /// words, because a page table keeps its lock, level, state and entry count in one and its birth epoch (interval
    /// reclamation, <c>Reclaim/README.md</c>) in the other.
    /// </summary>
    public const int SizeInBytes = 16;

    /// <summary>log2 of <see cref="SizeInBytes"/>.</summary>
    public const int SizeShift = 4;

    /// <summary>
    /// The word of a page that is free (unchecked mode), which is how a second free is caught. An owner never stores
    /// it (a page-table descriptor cannot hold it: its level byte, byte 4, would be 0xEE, where levels are 0 to 5).
    /// </summary>
    public const ulong Freed = 0xF4EE_F4EE_F4EE_F4EE;

    /// <summary>The owner's word; 0 when the page is handed out, <see cref="Freed"/> once an unchecked allocator took it back.</summary>
    public ulong OwnerWord;

    /// <summary>The owner's second word; 0 when the page is handed out.</summary>
    public ulong OwnerWord2;
}
