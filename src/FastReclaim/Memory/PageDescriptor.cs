using System.Runtime.InteropServices;

namespace FastReclaim.Memory;

/// <summary>
/// Per-page metadata for a page handed out by <see cref="PageAllocator"/> (the storage of Linux's
/// <c>struct ptdesc</c>): 8 bytes that live in the first page(s) of the page's chunk and are reached by masking
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
    /// <summary>Bytes per descriptor; a 2 MiB chunk keeps its 512 descriptors in exactly one page.</summary>
    public const int SizeInBytes = 8;

    /// <summary>The owner's word; 0 when the page is handed out.</summary>
    public ulong OwnerWord;
}
