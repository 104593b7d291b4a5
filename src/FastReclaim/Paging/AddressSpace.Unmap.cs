using FastReclaim.Paging;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim;

public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// Unmaps the range and frees every table whose whole span lies inside it.
    /// Same as <c>Unmap(va, length, va, va + length)</c>.
    /// </summary>
    /// <param name="va">First address, 4 KiB-aligned, canonical.</param>
    /// <param name="length">Bytes, a non-zero multiple of 4 KiB. A 2 MiB or 1 GiB leaf the range covers only in part is split first (as by <see cref="Zap"/>).</param>
    /// <exception cref="ArgumentException">Bad range (the message names the value); nothing is changed.</exception>
    /// <exception cref="OutOfMemoryException">A split needs a table the allocator cannot supply; nothing is changed.</exception>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    public void Unmap(ulong va, ulong length) => Unmap(va, length, va, va + length);

    /// <summary>
    /// Unmaps the range and frees the tables that overlap it and whose whole span lies inside
    /// [<paramref name="floor"/>, <paramref name="ceiling"/>): Linux <c>free_pgd_range</c>, where floor and ceiling
    /// are the ends of the neighbouring mappings the caller still holds.
    /// </summary>
    /// <param name="va">First address, 4 KiB-aligned, canonical.</param>
    /// <param name="length">Bytes, a non-zero multiple of 4 KiB. A 2 MiB or 1 GiB leaf the range covers only in part is split first (as by <see cref="Zap"/>).</param>
    /// <param name="floor">End of the previous mapping the caller keeps, at most <paramref name="va"/>; 0 when there is none.</param>
    /// <param name="ceiling">
    /// Start of the next mapping the caller keeps, at least <paramref name="va"/> + <paramref name="length"/>; 0 when
    /// there is none (Linux's <c>USER_PGTABLES_CEILING</c> convention: 0 stands for the top of the address space).
    /// </param>
    /// <remarks>
    /// Only tables left with no entry are freed, so a floor or ceiling that overstates the gap never drops a mapping
    /// outside the range; it only leaves such a table in place.
    /// </remarks>
    /// <exception cref="ArgumentException">Bad range, floor or ceiling (the message names the value); nothing is changed.</exception>
    /// <exception cref="OutOfMemoryException">A split needs a table the allocator cannot supply; nothing is changed.</exception>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    public void Unmap(ulong va, ulong length, ulong floor, ulong ceiling)
    {
        switch (_encoding)
        {
            case EntryEncoding.X64:
                Unmap<X64Format>(va, length, floor, ceiling);
                break;
            case EntryEncoding.Arm64:
                Unmap<Arm64Format>(va, length, floor, ceiling);
                break;
            case EntryEncoding.Arm64Lpa2:
                Unmap<Arm64Lpa2Format>(va, length, floor, ceiling);
                break;
            default:
                Unmap<RiscV64Format>(va, length, floor, ceiling);
                break;
        }
    }

    private void Unmap<F>(ulong va, ulong length, ulong floor, ulong ceiling)
        where F : struct, IPageTableFormat
    {
        ulong last = CheckRange(va, length, PageBytes);
        if (floor > va)
        {
            throw new ArgumentOutOfRangeException(nameof(floor), floor, $"Floor 0x{floor:X} is above the start of the range 0x{va:X}.");
        }

        // ceiling - 1 wraps 0 ("no ceiling") to the last address, as in free_pgd_range.
        ulong ceilingLast = ceiling - 1;
        if (ceilingLast < last)
        {
            throw new ArgumentOutOfRangeException(nameof(ceiling), ceiling, $"Ceiling 0x{ceiling:X} is below the end of the range 0x{last + 1:X}.");
        }

        ThrowIfDisposed();
        using WriterGuard guard = new(this);
        SplitEdges<F>(va, last);
        var op = new UnmapOp<F>(this, floor, ceilingLast);
        WalkRange<F, UnmapOp<F>>(ref op, va, last);
    }

    /// <summary>Unmap as a range operation: clears the leaves, then frees the tables <c>free_pgd_range</c> would.</summary>
    private readonly struct UnmapOp<F>(AddressSpace space, ulong floor, ulong ceilingLast) : IRangeOp
        where F : struct, IPageTableFormat
    {
        public void ChangeLeaves(nint table, int level, int first, int last) => space.ClearLeavesLocked<F>(table, level, first, last);

        public void UnlockPteTable(nint pmd, int index, nint pte, ref TableDescriptor descriptor, ulong pteBase, bool wholeSpan) => TableLock.Exit(ref descriptor);

        public void TableDone(nint parent, int index, nint child, int childLevel, ulong childBase, ulong childLast)
        {
            // free_pgd_range: the table goes when no mapping the caller keeps shares its span.
            if (childBase >= floor && childLast <= ceilingLast && PageScan.IsZero(child))
            {
                space.TryUnhookEmpty<F>(parent, index, child);
            }
        }
    }
}
