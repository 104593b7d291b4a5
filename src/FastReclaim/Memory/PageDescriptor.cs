using System.Runtime.InteropServices;

namespace FastReclaim;

/// <summary>
/// Per-page metadata for a page handed out by <see cref="PageAllocator"/> (Linux's <c>struct ptdesc</c>):
/// 8 bytes that live in the first page(s) of the page's chunk and are reached by masking the page's address
/// (<see cref="PageAllocator.DescriptorOf"/>), so Paging keeps per-table state with no dictionary and no lock.
/// </summary>
/// <remarks>
/// <see cref="PageAllocator.Allocate"/> returns every page with its descriptor zeroed. The allocator itself never
/// reads or writes a descriptor after that: all four fields belong to the owner of the page.
/// </remarks>
[StructLayout(LayoutKind.Sequential, Size = SizeInBytes)]
internal struct PageDescriptor
{
    /// <summary>Bytes per descriptor; a 2 MiB chunk keeps its 512 descriptors in exactly one page.</summary>
    public const int SizeInBytes = 8;

    /// <summary><see cref="State"/> flag: the table in this page has been unhooked from its parent.</summary>
    public const byte Dead = 1;

    /// <summary>0 = unlocked; Paging spins on it with <see cref="Interlocked.CompareExchange(ref int, int, int)"/>.</summary>
    public int Lock;

    /// <summary>Paging level of the table in this page (1 = PTE ... 5 = PML5); 0 = not a table.</summary>
    public byte Level;

    /// <summary>Bit flags (<see cref="Dead"/>).</summary>
    public byte State;

    /// <summary>Free for the page's owner (for example a count of present entries).</summary>
    public ushort Spare;
}
