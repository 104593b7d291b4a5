namespace FastReclaim.Tests.Paging.Formats;

/// <summary>A leaf as the hardware walk of a space's format sees it, in the terms the formats share.</summary>
/// <param name="Physical">The physical address of the translated address.</param>
/// <param name="LeafBytes">Bytes the leaf maps (4 KiB, 2 MiB, 1 GiB).</param>
/// <param name="Writable">Arm64: EL1 may write (AP[2] clear). RISC-V: W.</param>
/// <param name="User">Arm64: EL0 may access (AP[1]). RISC-V: U.</param>
/// <param name="Executable">Arm64: neither UXN nor PXN. RISC-V: X.</param>
/// <param name="Readable">Arm64: always. RISC-V: R.</param>
/// <param name="Global">Arm64: nG clear. RISC-V: G.</param>
/// <param name="Accessed">Arm64: AF. RISC-V: A.</param>
/// <param name="Dirty">Arm64: bit 55 (software). RISC-V: D.</param>
internal readonly record struct HardwareLeaf(
    ulong Physical, ulong LeafBytes, bool Readable, bool Writable, bool User, bool Executable, bool Global, bool Accessed, bool Dirty);

/// <summary>
/// The independent walker (<see cref="Arm64Walker"/>, <see cref="RiscVWalker"/>) of an Arm64 or RISC-V space, started
/// from the register value the architecture takes: TTBR0_EL1 = RootPhysical, satp = mode &lt;&lt; 60 | RootPhysical &gt;&gt; 12.
/// </summary>
internal sealed unsafe class HardwareWalker
{
    private readonly Arm64Walker? _arm64;
    private readonly RiscVWalker? _riscV;

    internal HardwareWalker(AddressSpace space, PageAllocator allocator)
    {
        ulong Read(ulong physical) => *(ulong*)allocator.VirtualOf(physical);
        switch (space.Format)
        {
            case PageTableFormat.Arm64:
                int inputBits = space.Levels switch { 3 => 39, 4 => 48, _ => 52 };
                _arm64 = new Arm64Walker(Read, Arm64Walker.Ttbr0(space.RootPhysical, lpa2: inputBits == 52), inputBits);
                break;
            case PageTableFormat.RiscV64:
                _riscV = new RiscVWalker(Read, RiscVWalker.Satp(space.Levels, space.RootPhysical));
                break;
            default:
                throw new ArgumentException($"No independent walker for {space.Format}", nameof(space));
        }
    }

    internal Arm64Walker Arm64 => _arm64 ?? throw new InvalidOperationException("not an Arm64 space");

    internal RiscVWalker RiscV => _riscV ?? throw new InvalidOperationException("not a RISC-V space");

    /// <summary>The leaf that maps <paramref name="va"/>, or null when the walk faults.</summary>
    internal HardwareLeaf? Translate(ulong va)
    {
        if (_arm64 is not null)
        {
            return _arm64.Translate(va) is { } a
                ? new HardwareLeaf(a.Physical, a.LeafBytes, true, a.El1Writable, a.El0Access, !a.UserExecuteNever && !a.PrivilegedExecuteNever,
                    !a.NotGlobal, a.AccessFlag, (a.Software & 1) != 0)
                : null;
        }

        return _riscV!.Translate(va) is { } r
            ? new HardwareLeaf(r.Physical, r.LeafBytes, r.R, r.W, r.U, r.X, r.G, r.A, r.D)
            : null;
    }

    /// <summary>
    /// The raw entry the walk of <paramref name="va"/> reads in the table of engine level <paramref name="level"/>
    /// (1 = the last level: Arm64 level 3, RISC-V level 0), or null when the walk ends above it.
    /// </summary>
    internal ulong? EntryAt(ulong va, int level) =>
        _arm64 is not null ? _arm64.DescriptorAt(va, 4 - level) : _riscV!.PteAt(va, level - 1);
}
