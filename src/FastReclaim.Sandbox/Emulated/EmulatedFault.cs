namespace FastReclaim.Sandbox;

/// <summary>The translation fault that stopped an emulated guest's read.</summary>
/// <param name="Address">The guest-virtual address the load faulted on (the one the guest was reading: Unicorn leaves FAR_EL1 / stval at 0).</param>
/// <param name="Exception">QEMU's exception number: AArch64 4 = data abort; RISC-V 13 = load page fault.</param>
/// <param name="Description">Its name, e.g. "data abort".</param>
public readonly record struct EmulatedFault(ulong Address, uint Exception, string Description)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Description} at 0x{Address:X}";
}
