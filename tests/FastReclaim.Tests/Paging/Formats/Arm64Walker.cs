namespace FastReclaim.Tests.Paging.Formats;

/// <summary>What a stage 1 walk found for one address: the leaf and the permissions and attributes it grants.</summary>
/// <param name="Physical">The output address of the input address (the leaf's address plus the offset in it).</param>
/// <param name="Level">Lookup level of the leaf: 3 (page), 2 (2 MiB block), 1 (1 GiB block), 0 (512 GiB block, LPA2 only).</param>
/// <param name="LeafBytes">Bytes the leaf maps.</param>
/// <param name="El1Writable">AP[2] clear and no APTable[1] on the way: EL1 may write.</param>
/// <param name="El0Access">AP[1] set and no APTable[0] on the way: EL0 may read.</param>
/// <param name="El0Writable">EL0 may write (AP = 01).</param>
/// <param name="UserExecuteNever">UXN of the leaf or UXNTable on the way.</param>
/// <param name="PrivilegedExecuteNever">PXN of the leaf or PXNTable on the way.</param>
/// <param name="AccessFlag">AF: an access through a leaf with AF clear is an Access flag fault (no hardware AF update).</param>
/// <param name="AttrIndex">AttrIndx[2:0]: the MAIR_EL1 attribute that gives the memory type.</param>
/// <param name="Shareability">SH[1:0] (0 with LPA2, where bits 9:8 are address bits and TCR_EL1.SH0 decides).</param>
/// <param name="NotGlobal">nG.</param>
/// <param name="Software">Bits 58:55, reserved for software use.</param>
/// <param name="Dbm">DBM (bit 51): the hardware may clear AP[2] on a write when set.</param>
internal readonly record struct Arm64Translation(
    ulong Physical, int Level, ulong LeafBytes, bool El1Writable, bool El0Access, bool El0Writable,
    bool UserExecuteNever, bool PrivilegedExecuteNever, bool AccessFlag, int AttrIndex, int Shareability,
    bool NotGlobal, int Software, bool Dbm);

/// <summary>
/// A VMSAv8-64 stage 1 walk of the EL1&amp;0 regime through TTBR0_EL1 with the 4 KiB granule, written from the Arm
/// Architecture Reference Manual (D8.2 "Translation process", D8.3 "Translation table descriptor formats") for the
/// tests, sharing nothing with the library's decoding: it reads the tables through physical addresses only.
/// </summary>
/// <remarks>
/// Configurations: T0SZ = 25 (39-bit input, start at level 1), T0SZ = 16 (48-bit, level 0), and with FEAT_LPA2
/// (TCR_EL1.DS = 1) T0SZ = 12 (52-bit, level -1, whose table is indexed by IA[51:48]); output addresses of 48 bits, or
/// 52 with LPA2, whose descriptors hold OA[51:50] in bits[9:8].
/// </remarks>
internal sealed class Arm64Walker
{
    private const ulong Oa48Mask = 0x0000_FFFF_FFFF_F000;
    private const ulong Oa50Mask = 0x0003_FFFF_FFFF_F000;

    private readonly Func<ulong, ulong> _readPhysical;
    private readonly ulong _tableBase;
    private readonly int _inputBits;
    private readonly bool _lpa2;

    /// <param name="readPhysical">Reads the 8 bytes at a physical address.</param>
    /// <param name="ttbr0">The TTBR0_EL1 value (BADDR; ASID and CnP are ignored).</param>
    /// <param name="inputBits">64 - T0SZ: 39, 48 or (LPA2) 52.</param>
    internal Arm64Walker(Func<ulong, ulong> readPhysical, ulong ttbr0, int inputBits)
    {
        _readPhysical = readPhysical;
        _inputBits = inputBits;
        _lpa2 = inputBits == 52;

        // BADDR is bits[47:1] (the table is aligned, so the low bits read 0); with 52-bit output addresses
        // TTBR0_EL1[5:2] hold BADDR[51:48] (D24 TTBR0_EL1, "When FEAT_LPA2 ... and TCR_EL1.DS == 1").
        ulong baddr = ttbr0 & 0x0000_FFFF_FFFF_FFC0;
        _tableBase = _lpa2 ? baddr | (((ttbr0 >> 2) & 0xF) << 48) : baddr & ~0xFFFUL;
    }

    /// <summary>The TTBR0_EL1 value (ASID 0, CnP 0) whose table is at <paramref name="rootPhysical"/>.</summary>
    internal static ulong Ttbr0(ulong rootPhysical, bool lpa2) =>
        lpa2 ? (rootPhysical & 0x0000_FFFF_FFFF_FFC0) | (((rootPhysical >> 48) & 0xF) << 2) : rootPhysical;

    /// <summary>
    /// The raw descriptor the walk of <paramref name="va"/> reads at lookup <paramref name="level"/>, or null when the
    /// walk ends above that level.
    /// </summary>
    internal ulong? DescriptorAt(ulong va, int level)
    {
        ulong? found = null;
        Walk(va, (l, d) => found = l == level ? d : found);
        return found;
    }

    /// <summary>The translation of <paramref name="va"/>, or null for a translation fault (or an input address outside TTBR0's range).</summary>
    internal Arm64Translation? Translate(ulong va) => Walk(va, null);

    private Arm64Translation? Walk(ulong va, Action<int, ulong>? visit)
    {
        // With TCR_EL1.TBI0 = 0, every bit above the input range must be 0 for TTBR0 (else TTBR1, or a fault).
        if ((va >> _inputBits) != 0)
        {
            return null;
        }

        int level = _inputBits switch { 39 => 1, 48 => 0, 52 => -1, _ => throw new ArgumentOutOfRangeException(nameof(va)) };
        ulong table = _tableBase;
        bool apTableReadOnly = false, apTableNoEl0 = false, uxnTable = false, pxnTable = false;
        while (true)
        {
            int shift = 12 + (9 * (3 - level));
            int indexBits = level == -1 ? _inputBits - 48 : 9;
            ulong index = (va >> shift) & ((1UL << indexBits) - 1);
            ulong descriptor = _readPhysical(table + (index * 8));
            visit?.Invoke(level, descriptor);
            if ((descriptor & 1) == 0)
            {
                return null; // invalid descriptor: translation fault at this level
            }

            bool bit1 = (descriptor & 2) != 0;
            if (level < 3 && bit1)
            {
                // Table descriptor: next-level table address, and the hierarchical attributes (stage 1).
                apTableReadOnly |= ((descriptor >> 62) & 1) != 0;
                apTableNoEl0 |= ((descriptor >> 61) & 1) != 0;
                uxnTable |= ((descriptor >> 60) & 1) != 0;
                pxnTable |= ((descriptor >> 59) & 1) != 0;
                table = OutputAddress(descriptor, 12);
                level++;
                continue;
            }

            if (level == 3 && !bit1)
            {
                return null; // 01 at level 3 is reserved: treated as invalid
            }

            if (level < 3 && !(level is 1 or 2 || (level == 0 && _lpa2)))
            {
                return null; // a block where the 4 KiB granule allows none: translation fault
            }

            ulong leafBytes = 1UL << shift;
            ulong oa = OutputAddress(descriptor, shift);
            ulong ap = (descriptor >> 6) & 3;
            bool el1Writable = (ap & 2) == 0 && !apTableReadOnly;
            bool el0Access = (ap & 1) != 0 && !apTableNoEl0;
            return new Arm64Translation(
                oa | (va & (leafBytes - 1)), level, leafBytes, el1Writable, el0Access, el0Access && el1Writable,
                ((descriptor >> 54) & 1) != 0 || uxnTable, ((descriptor >> 53) & 1) != 0 || pxnTable,
                ((descriptor >> 10) & 1) != 0, (int)((descriptor >> 2) & 7), _lpa2 ? 0 : (int)((descriptor >> 8) & 3),
                ((descriptor >> 11) & 1) != 0, (int)((descriptor >> 55) & 0xF), ((descriptor >> 51) & 1) != 0);
        }
    }

    /// <summary>The output address of a descriptor whose address field starts at bit <paramref name="lowBit"/>.</summary>
    private ulong OutputAddress(ulong descriptor, int lowBit)
    {
        ulong low = descriptor & (_lpa2 ? Oa50Mask : Oa48Mask) & ~((1UL << lowBit) - 1);
        return _lpa2 ? low | (((descriptor >> 8) & 3) << 50) : low;
    }
}
