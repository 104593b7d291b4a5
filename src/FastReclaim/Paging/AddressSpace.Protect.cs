using FastReclaim.Paging;
using static FastReclaim.Paging.PageTableGeometry;

namespace FastReclaim;

public sealed unsafe partial class AddressSpace
{
    /// <summary>
    /// Sets the flags of every leaf mapped in the range (holes are skipped); physical addresses are kept.
    /// </summary>
    /// <param name="va">First address, 4 KiB-aligned, canonical.</param>
    /// <param name="length">Bytes, a non-zero multiple of 4 KiB. A 2 MiB or 1 GiB leaf the range covers only in part is split first (as by <see cref="Zap"/>).</param>
    /// <param name="flags">New leaf flags; <see cref="PageFlags.Present"/> is implied.</param>
    /// <exception cref="ArgumentException">Bad range or flags (the message names the value); nothing is changed.</exception>
    /// <exception cref="OutOfMemoryException">A split needs a table the allocator cannot supply; nothing is changed.</exception>
    /// <exception cref="ObjectDisposedException">The space has been disposed.</exception>
    public void Protect(ulong va, ulong length, PageFlags flags)
    {
        switch (_encoding)
        {
            case EntryEncoding.X64:
                Protect<X64Format>(va, length, flags);
                break;
            case EntryEncoding.Arm64:
                Protect<Arm64Format>(va, length, flags);
                break;
            case EntryEncoding.Arm64Lpa2:
                Protect<Arm64Lpa2Format>(va, length, flags);
                break;
            default:
                Protect<RiscV64Format>(va, length, flags);
                break;
        }
    }

    private void Protect<F>(ulong va, ulong length, PageFlags flags)
        where F : struct, IPageTableFormat
    {
        ulong last = CheckRange(va, length, PageBytes);
        CheckFlags<F>(flags);

        ThrowIfDisposed();
        using WriterGuard guard = new(this);
        SplitEdges<F>(va, last);
        var op = new ProtectOp<F>(F.EncodeAttributes(flags));
        WalkRange<F, ProtectOp<F>>(ref op, va, last);
    }

    /// <summary>Protect as a range operation: rewrites the flags of the leaves, keeps every table.</summary>
    private readonly struct ProtectOp<F>(ulong attributes) : IRangeOp
        where F : struct, IPageTableFormat
    {
        public void ChangeLeaves(nint table, int level, int first, int last)
        {
            for (int i = first; i <= last; i++)
            {
                ulong entry = ReadEntry(table, i);
                if ((entry & PresentBit) != 0 && IsLeaf<F>(entry, level))
                {
                    WriteEntry(table, i, Leaf<F>(F.LeafAddress(entry), attributes, level));
                }
            }
        }

        public void UnlockPteTable(nint pmd, int index, nint pte, ref TableDescriptor descriptor, ulong pteBase, bool wholeSpan) => TableLock.Exit(ref descriptor);

        public void TableDone(nint parent, int index, nint child, int childLevel, ulong childBase, ulong childLast)
        {
            // Protect frees no table.
        }
    }
}
