namespace FastReclaim.Sandbox;

/// <summary>A page fault the guest took and reported: CR2, the #PF error code and the faulting instruction.</summary>
/// <param name="Address">CR2: the guest-virtual address the access faulted on.</param>
/// <param name="ErrorCode">The #PF error code (bit 0 P: protection vs not-present, 1 W/R, 2 U/S, 3 RSVD, 4 I/D).</param>
/// <param name="InstructionPointer">Guest RIP of the faulting instruction.</param>
public readonly record struct GuestFault(ulong Address, ulong ErrorCode, ulong InstructionPointer)
{
    private const ulong ProtectionBit = 1;
    private const ulong WriteBit = 2;
    private const ulong ReservedBit = 8;

    /// <summary>The walk found a not-present entry (error code bit 0 clear).</summary>
    public bool IsNotPresent => (ErrorCode & ProtectionBit) == 0;

    /// <summary>The walk found an entry with a reserved bit set (error code bit 3), e.g. a 1 GiB page the CPU does not support.</summary>
    public bool IsReservedBit => (ErrorCode & ReservedBit) != 0;

    /// <summary>The access was a write.</summary>
    public bool IsWrite => (ErrorCode & WriteBit) != 0;

    /// <inheritdoc/>
    public override string ToString()
    {
        string cause = IsReservedBit ? "reserved bit set in a paging entry"
            : IsNotPresent ? "not present"
            : "protection violation";
        return $"guest #PF at CR2=0x{Address:X} (error 0x{ErrorCode:X}: {cause}{(IsWrite ? ", write" : "")}) RIP=0x{InstructionPointer:X}";
    }
}
