using System.Runtime.CompilerServices;
using FastReclaim.Paging;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim;

// Replacing a valid upper-level entry by one of another kind (a split: a 2 MiB or 1 GiB leaf by a table of smaller
// leaves; a collapse: a PTE table by a 2 MiB leaf), always with the same frames and permissions, under the lock of the
// table that holds the entry.
//
// x86-64 and RISC-V: one release store. A reader's acquire load sees the old entry or the new one, and both translate
// every address of the span to the same frame (Split.cs, Collapse.cs).
//
// Arm64: break-before-make (the Arm ARM requires it for a change between a block and a table: without it, TLB conflict
// aborts or an amalgamation of the old and new translations may follow). The entry is first made invalid, the embedder
// invalidates the span's TLB entries on every CPU (ITlbMaintenance.InvalidateRange), and only then is the new entry
// written. The invalid entry is the new entry with bit 0 clear, not 0 (as Linux's pmd_mkinvalid keeps the bits):
//   - the hardware walker faults on it, as break-before-make requires;
//   - a lock-free reader (TryTranslate) sees "not mapped" for the span meanwhile, what a CPU would see;
//   - PageScan sees the table is not empty, so it is never unhooked meanwhile (it is locked anyway);
//   - a writer's lock-free walk (WalkRange, FindLeaf) can tell it from an empty entry, and waits for the table's
//     lock, under which the replacement is complete (ReadSettledEntry), instead of taking the span for a hole and
//     skipping it.
public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// Replaces the valid entry <paramref name="table"/>[<paramref name="index"/>] of a table at
    /// <paramref name="level"/>, which maps the span from <paramref name="va"/>, by <paramref name="entry"/> of the
    /// other kind, with the format's rule (break-before-make on Arm64). The caller holds the table's lock.
    /// </summary>
    private void ReplaceLocked<F>(nint table, int index, int level, ulong va, ulong entry)
        where F : struct, IPageTableFormat
    {
        if (F.BreakBeforeMake)
        {
            WriteEntry(table, index, entry & ~PresentBit);
            _tlb?.InvalidateRange(this, va, EntrySpan(level));
        }

        WriteEntry(table, index, entry);
    }

    /// <summary>
    /// An upper-level entry read by a writer's walk without the table's lock: when it is caught in a
    /// break-before-make (invalid but not 0, Arm64 only), the value after it, read under the lock the replacement
    /// holds. The caller holds no table lock.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong ReadSettledEntry<F>(nint table, int index)
        where F : struct, IPageTableFormat
    {
        ulong entry = ReadEntry(table, index);
        if (F.BreakBeforeMake && entry != 0 && (entry & PresentBit) == 0)
        {
            ref TableDescriptor descriptor = ref DescriptorOf(table);
            TableLock.Enter(ref descriptor);
            entry = ReadEntry(table, index);
            TableLock.Exit(ref descriptor);
        }

        return entry;
    }
}
