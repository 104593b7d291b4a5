using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastReclaim.Memory;

namespace FastReclaim.Paging;

/// <summary>
/// What the paging layer keeps in the <see cref="PageDescriptor"/> of each page-table page (Linux's
/// <c>struct ptdesc</c>): the split page-table lock, the table's level, whether it has been unhooked, and for a
/// PTE table the number of present entries. Zero, as the allocator hands a page out, is an unlocked, live table
/// of no level with no entries, born at era 0.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = PageDescriptor.SizeInBytes)]
internal struct TableDescriptor
{
    /// <summary><see cref="State"/> flag: the table in this page has been unhooked from its parent.</summary>
    public const byte Dead = 1;

    /// <summary>0 = unlocked; <see cref="TableLock"/> spins on it.</summary>
    public int Lock;

    /// <summary>Paging level of the table in this page (1 = PTE ... 5 = PML5); 0 = not a table.</summary>
    public byte Level;

    /// <summary>Bit flags (<see cref="Dead"/>).</summary>
    public byte State;

    /// <summary>A PTE table's present entries (0..512); changes only under <see cref="Lock"/>. Unused at other levels.</summary>
    public ushort PresentEntries;

    /// <summary>
    /// The table's birth epoch for interval reclamation: the domain's era (<see cref="EpochDomain.BirthEra"/>) read
    /// before the table is published, so every reader that reaches it has seen an era at least this large. Written
    /// by the writer that takes the table, before the release store that hooks it in; read when it is retired.
    /// </summary>
    public long Birth;

    /// <summary>True once the table has been unhooked: it is all zero and waits for its grace period.</summary>
    public readonly bool IsDead => (State & Dead) != 0;

    /// <summary>The paging layer's view of a page's descriptor.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref TableDescriptor Of(ref PageDescriptor page) => ref Unsafe.As<PageDescriptor, TableDescriptor>(ref page);
}
