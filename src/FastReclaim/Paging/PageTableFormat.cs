
namespace FastReclaim;

/// <summary>
/// The hardware format of an <see cref="AddressSpace"/>'s page tables (<see cref="AddressSpaceOptions.Format"/>).
/// Every format has the same geometry: 4 KiB tables of 512 8-byte entries, 9 address bits per level, 4 KiB pages and
/// 2 MiB and 1 GiB leaves, and an empty entry is 0; they differ in how an entry encodes its frame and permissions, in
/// the levels they allow and in the range of addresses they translate. The mapping of <see cref="PageFlags"/> onto each
/// is tabulated in <c>docs/page-table-formats.md</c>.
/// </summary>
public enum PageTableFormat
{
    /// <summary>
    /// x86-64 (Intel SDM vol. 3, §4.5): 4 levels (48-bit addresses) or 5 (LA57, 57-bit); canonical addresses in the
    /// lower and the upper half; <see cref="AddressSpace.RootPhysical"/> is a CR3 value. <see cref="PageFlags"/> are
    /// the entry bits themselves.
    /// </summary>
    X64,

    /// <summary>
    /// Arm64 VMSAv8-64 stage 1, 4 KiB granule (Arm ARM D8): 3 levels (39-bit addresses, TCR_EL1.T0SZ = 25), 4 (48-bit,
    /// T0SZ = 16) or 5 (52-bit with FEAT_LPA2: TCR_EL1.DS = 1, T0SZ = 12, the root indexed by address bits 51:48).
    /// Addresses are those TTBR0_EL1 translates, [0, 2^bits); <see cref="AddressSpace.RootPhysical"/> is the
    /// table address of a TTBR0_EL1 value. Table descriptors, block descriptors (2 MiB at level 2, 1 GiB at level 1)
    /// and page descriptors; the memory attributes index <see cref="AddressSpace.Arm64Mair"/>.
    /// </summary>
    Arm64,

    /// <summary>
    /// RISC-V Sv39, Sv48 or Sv57 (3, 4 or 5 levels; RISC-V privileged architecture, §"Sv39"–"Sv57"): PTEs with the
    /// PPN at bit 10; canonical addresses (bits above the top one copies of it) as on x86-64;
    /// <c>satp = mode &lt;&lt; 60 | RootPhysical &gt;&gt; 12</c> (mode 8, 9, 10), with the ASID the embedder's.
    /// </summary>
    RiscV64,
}
