using System.Runtime.CompilerServices;
using static FastReclaim.Paging.PageTableFormat;

namespace FastReclaim;

// Argument checks: every public operation validates everything before it changes anything.
public sealed unsafe partial class AddressSpace
{
    /// <summary>Checks a range and returns its last byte.</summary>
    private ulong CheckRange(ulong va, ulong length, ulong alignment, [CallerArgumentExpression(nameof(va))] string vaName = "", [CallerArgumentExpression(nameof(length))] string lengthName = "")
    {
        if (length == 0)
        {
            throw new ArgumentOutOfRangeException(lengthName, length, "Length must not be 0.");
        }

        if ((va & (alignment - 1)) != 0)
        {
            throw new ArgumentException($"Address 0x{va:X} is not aligned to 0x{alignment:X} bytes.", vaName);
        }

        if ((length & (alignment - 1)) != 0)
        {
            throw new ArgumentException($"Length 0x{length:X} is not a multiple of 0x{alignment:X} bytes.", lengthName);
        }

        ulong last = va + length - 1;
        if (last < va)
        {
            throw new ArgumentOutOfRangeException(lengthName, length, $"Range 0x{va:X} + 0x{length:X} overflows the address space.");
        }

        if (!IsCanonical(va))
        {
            throw new ArgumentException($"Address 0x{va:X} is not canonical for {_addressBits}-bit addresses.", vaName);
        }

        if (!IsCanonical(last) || (long)(va ^ last) < 0)
        {
            throw new ArgumentOutOfRangeException(lengthName, length, $"Range 0x{va:X} + 0x{length:X} leaves the canonical half of 0x{va:X} ({_addressBits}-bit addresses).");
        }

        return last;
    }

    /// <summary>Throws when a 2 MiB or 1 GiB leaf straddles <paramref name="va"/> or the end of the range: it cannot be split.</summary>
    private void CheckNoSplitLeaf(ulong va, ulong last, [CallerArgumentExpression(nameof(va))] string vaName = "")
    {
        if (FindLeaf(va, out ulong leafBase, out int leafLevel) && leafLevel > PteLevel && leafBase != va)
        {
            throw new ArgumentException($"Address 0x{va:X} is inside the {EntrySpan(leafLevel) >> 10} KiB leaf at 0x{leafBase:X}, which cannot be split.", vaName);
        }

        if (FindLeaf(last, out leafBase, out leafLevel) && leafLevel > PteLevel && leafBase + EntrySpan(leafLevel) - 1 != last)
        {
            throw new ArgumentException($"Range 0x{va:X}..0x{last + 1:X} ends inside the {EntrySpan(leafLevel) >> 10} KiB leaf at 0x{leafBase:X}, which cannot be split.", vaName);
        }
    }

    /// <summary>The leaf that maps <paramref name="va"/>, if any (a reader's walk, under a guard).</summary>
    private bool FindLeaf(ulong va, out ulong leafBase, out int leafLevel)
    {
        using EpochGuard guard = _epoch.Enter();
        nint table = _root;
        for (int level = _levels; ; level--)
        {
            ulong entry = ReadEntry(table, IndexOf(va, level));
            if ((entry & PresentBit) == 0)
            {
                leafBase = 0;
                leafLevel = 0;
                return false;
            }

            if (IsLeaf(entry, level))
            {
                leafBase = va & ~(EntrySpan(level) - 1);
                leafLevel = level;
                return true;
            }

            table = TableOf(entry);
        }
    }
}
