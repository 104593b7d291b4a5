using FastReclaim.Sandbox;

namespace FastReclaim.Tests.Sandbox;

/// <summary>
/// Bring-up of the KVM host and guest program on a throwaway 4-level table written by hand here (test code only),
/// until the sandbox runs on AddressSpace-built tables.
/// </summary>
public class MicroVmBringUpTests
{
    private const ulong TablesPhysical = 0x20_0000;
    private const ulong Pml4 = TablesPhysical, Pdpt = TablesPhysical + 0x1000, Pd = TablesPhysical + 0x2000, Pt = TablesPhysical + 0x3000;
    private const ulong FrameA = TablesPhysical + 0x4000, FrameB = TablesPhysical + 0x5000;
    private const ulong DataVirtual = 0x18_0000;
    private const ulong TableEntry = (ulong)(PageFlags.Present | PageFlags.Writable | PageFlags.Accessed);
    private const ulong LeafEntry = TableEntry | (ulong)PageFlags.Dirty;

    private static ulong PteIndex(ulong va) => (va >> 12) & 511;

    [Fact]
    public void Guest_Reads_Faults_After_The_Entry_Is_Cleared_And_Sees_The_New_Frame_After_Remap()
    {
        Assert.SkipUnless(KvmAvailability.IsAvailable(out string reason), reason);
        using var vm = new MicroVm();
        using var tables = new GuestMemoryRegion(TablesPhysical, 0x6000);
        vm.AddMemory(tables.PhysicalBase, (ulong)tables.Bytes, tables.HostBase);
        tables.WriteUInt64(Pml4, Pdpt | TableEntry);
        tables.WriteUInt64(Pdpt, Pd | TableEntry);
        tables.WriteUInt64(Pd, Pt | TableEntry);
        foreach (ulong page in MicroVm.SystemPageAddresses)
        {
            tables.WriteUInt64(Pt + (8 * PteIndex(page)), page | LeafEntry);
        }

        tables.WriteUInt64(Pt + (8 * PteIndex(DataVirtual)), FrameA | LeafEntry);
        tables.WriteUInt64(FrameA, 0xAAAA_0001);
        tables.WriteUInt64(FrameB, 0xBBBB_0002);
        vm.Boot(Pml4);

        var values = new ulong[1];
        GuestAccessResult read = vm.Execute(GuestProgram.CommandRead, [DataVirtual], 0, values);
        Assert.Equal((1, null, false), (read.Completed, read.Fault, read.TrapFrameRead));
        Assert.Equal(0xAAAA_0001UL, values[0]);

        tables.WriteUInt64(Pt + (8 * PteIndex(DataVirtual)), 0);
        GuestAccessResult faulted = vm.Execute(GuestProgram.CommandRead, [DataVirtual], 0, values);
        Assert.Equal(0, faulted.Completed);
        Assert.NotNull(faulted.Fault);
        Assert.Equal(DataVirtual, faulted.Fault.Value.Address);
        Assert.True(faulted.Fault.Value.IsNotPresent);

        tables.WriteUInt64(Pt + (8 * PteIndex(DataVirtual)), FrameB | LeafEntry);
        GuestAccessResult remapped = vm.Execute(GuestProgram.CommandWrite, [DataVirtual], 0xBBBB_0003, values);
        Assert.Equal((1, null), (remapped.Completed, remapped.Fault));
        Assert.Equal(0xBBBB_0003UL, values[0]);
        Assert.Equal(0xBBBB_0003UL, tables.ReadUInt64(FrameB));
    }
}
