namespace FastReclaim.Tests.Paging.Formats;

/// <summary>What an Sv39/Sv48/Sv57 walk found for one address.</summary>
/// <param name="Physical">The physical address of the virtual address.</param>
/// <param name="Level">The level i of the leaf PTE (0 = 4 KiB page, 1 = 2 MiB megapage, 2 = 1 GiB gigapage, ...).</param>
/// <param name="LeafBytes">Bytes the leaf maps.</param>
/// <param name="R">Readable.</param>
/// <param name="W">Writable.</param>
/// <param name="X">Executable.</param>
/// <param name="U">User mode may access.</param>
/// <param name="G">Global mapping.</param>
/// <param name="A">Accessed: an access through a leaf with A clear faults without hardware A/D updates (Svade).</param>
/// <param name="D">Dirty: likewise for a store with D clear.</param>
internal readonly record struct RiscVTranslation(
    ulong Physical, int Level, ulong LeafBytes, bool R, bool W, bool X, bool U, bool G, bool A, bool D);

/// <summary>
/// The virtual-address translation process of the RISC-V privileged architecture ("Virtual Address Translation
/// Process", for Sv39, Sv48 and Sv57), written from the specification for the tests, sharing nothing with the
/// library's decoding: it starts from a satp value and reads the tables through physical addresses only.
/// </summary>
/// <remarks>
/// No Svpbmt, no Svnapot: PTE bits 63:54 are reserved, and a PTE that sets them is a page fault. A non-leaf PTE with
/// D, A or U set (reserved for future use, "must be cleared by software") is reported as malformed.
/// </remarks>
internal sealed class RiscVWalker
{
    private const int PteSize = 8;
    private const int PageShift = 12;

    private readonly Func<ulong, ulong> _readPhysical;
    private readonly ulong _rootPpn;
    private readonly int _levels;

    /// <param name="readPhysical">Reads the 8 bytes at a physical address.</param>
    /// <param name="satp">MODE (bits 63:60: 8 = Sv39, 9 = Sv48, 10 = Sv57), ASID (59:44), PPN (43:0).</param>
    internal RiscVWalker(Func<ulong, ulong> readPhysical, ulong satp)
    {
        _readPhysical = readPhysical;
        _levels = (satp >> 60) switch
        {
            8 => 3,
            9 => 4,
            10 => 5,
            _ => throw new ArgumentException($"satp mode {satp >> 60} is not Sv39, Sv48 or Sv57", nameof(satp)),
        };
        _rootPpn = satp & ((1UL << 44) - 1);
    }

    /// <summary>The satp value of mode <paramref name="levels"/> (3 = Sv39, 4 = Sv48, 5 = Sv57), ASID 0, root at <paramref name="rootPhysical"/>.</summary>
    internal static ulong Satp(int levels, ulong rootPhysical) => ((ulong)(levels + 5) << 60) | (rootPhysical >> PageShift);

    /// <summary>The raw PTE the walk of <paramref name="va"/> reads at level <paramref name="level"/>, or null when the walk ends above it.</summary>
    internal ulong? PteAt(ulong va, int level)
    {
        ulong? found = null;
        Walk(va, (l, pte) => found = l == level ? pte : found);
        return found;
    }

    /// <summary>The translation of <paramref name="va"/>; null for a page fault.</summary>
    /// <exception cref="InvalidOperationException">A non-leaf PTE sets a reserved bit (D, A or U).</exception>
    internal RiscVTranslation? Translate(ulong va) => Walk(va, null);

    private RiscVTranslation? Walk(ulong va, Action<int, ulong>? visit)
    {
        // Bits 63..VABITS of the address must all equal bit VABITS - 1, else a page fault.
        int vaBits = PageShift + (9 * _levels);
        long top = (long)va >> (vaBits - 1);
        if (top != 0 && top != -1)
        {
            return null;
        }

        ulong a = _rootPpn << PageShift;
        for (int i = _levels - 1; ; i--)
        {
            ulong vpn = (va >> (PageShift + (9 * i))) & 0x1FF;
            ulong pte = _readPhysical(a + (vpn * PteSize));
            visit?.Invoke(i, pte);
            bool v = (pte & 1) != 0, r = (pte & 2) != 0, w = (pte & 4) != 0, x = (pte & 8) != 0;
            if (!v || (!r && w) || (pte >> 54) != 0)
            {
                return null;
            }

            ulong ppn = (pte >> 10) & ((1UL << 44) - 1);
            if (!r && !x)
            {
                if ((pte & 0xD0) != 0)
                {
                    throw new InvalidOperationException($"Non-leaf PTE 0x{pte:X} at level {i} sets D, A or U.");
                }

                if (i == 0)
                {
                    return null; // a pointer at the last level: page fault
                }

                a = ppn << PageShift;
                continue;
            }

            // A superpage whose PPN is not aligned to its size is a misaligned superpage: page fault.
            ulong lowPpnMask = (1UL << (9 * i)) - 1;
            if ((ppn & lowPpnMask) != 0)
            {
                return null;
            }

            ulong leafBytes = 1UL << (PageShift + (9 * i));
            return new RiscVTranslation(
                (ppn << PageShift) | (va & (leafBytes - 1)), i, leafBytes, r, w, x,
                (pte & 0x10) != 0, (pte & 0x20) != 0, (pte & 0x40) != 0, (pte & 0x80) != 0);
        }
    }
}
