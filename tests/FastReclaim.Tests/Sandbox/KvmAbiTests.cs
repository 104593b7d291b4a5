using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using FastReclaim.Sandbox;

namespace FastReclaim.Tests.Sandbox;

/// <summary>
/// The ioctl numbers, struct sizes and kvm_run offsets, pinned to what a C program including linux/kvm.h prints on
/// x86-64 (gcc, Linux 6.18 uapi headers).
/// </summary>
public class KvmAbiTests
{
    public static TheoryData<string, ulong, ulong> Requests => new()
    {
        { "KVM_GET_API_VERSION", KvmIoctl.GetApiVersion, 0x0000AE00 },
        { "KVM_CREATE_VM", KvmIoctl.CreateVm, 0x0000AE01 },
        { "KVM_GET_VCPU_MMAP_SIZE", KvmIoctl.GetVcpuMmapSize, 0x0000AE04 },
        { "KVM_GET_SUPPORTED_CPUID", KvmIoctl.GetSupportedCpuid, 0xC008AE05 },
        { "KVM_CREATE_VCPU", KvmIoctl.CreateVcpu, 0x0000AE41 },
        { "KVM_SET_USER_MEMORY_REGION", KvmIoctl.SetUserMemoryRegion, 0x4020AE46 },
        { "KVM_RUN", KvmIoctl.Run, 0x0000AE80 },
        { "KVM_GET_REGS", KvmIoctl.GetRegisters, 0x8090AE81 },
        { "KVM_SET_REGS", KvmIoctl.SetRegisters, 0x4090AE82 },
        { "KVM_GET_SREGS", KvmIoctl.GetSpecialRegisters, 0x8138AE83 },
        { "KVM_SET_SREGS", KvmIoctl.SetSpecialRegisters, 0x4138AE84 },
        { "KVM_SET_CPUID2", KvmIoctl.SetCpuid2, 0x4008AE90 },
        { "KVM_SET_SIGNAL_MASK", KvmIoctl.SetSignalMask, 0x4004AE8B },
    };

    [Theory]
    [MemberData(nameof(Requests))]
    public void Ioctl_Request_Number_Matches_The_C_Header(string name, ulong actual, ulong expected) =>
        Assert.True(expected == actual, $"{name}: 0x{actual:X8}, header says 0x{expected:X8}");

    [Fact]
    public void Structs_Have_The_Sizes_Of_The_C_Header()
    {
        Assert.Equal(144, Unsafe.SizeOf<KvmRegisters>());
        Assert.Equal(312, Unsafe.SizeOf<KvmSpecialRegisters>());
        Assert.Equal(24, Unsafe.SizeOf<KvmSegment>());
        Assert.Equal(16, Unsafe.SizeOf<KvmDescriptorTable>());
        Assert.Equal(32, Unsafe.SizeOf<KvmUserspaceMemoryRegion>());
        Assert.Equal(8, Unsafe.SizeOf<KvmCpuidHeader>());
        Assert.Equal(40, Unsafe.SizeOf<KvmCpuidEntry>());
        Assert.Equal(12, Unsafe.SizeOf<KvmSignalMask>());   // len + one 8-byte kernel sigset_t
        Assert.Equal(128, Unsafe.SizeOf<SignalSet>());      // glibc sigset_t
        Assert.Equal(16, Unsafe.SizeOf<TimeSpec>());
    }

    [Fact]
    public void Signal_Set_Puts_Signal_N_At_Bit_N_Minus_1_As_Glibc_Does()
    {
        Assert.Equal(1UL << 34, SignalSet.Of(35).KernelMask);   // SIGRTMIN + 1 with glibc (SIGRTMIN = 34)
        Assert.Equal(1UL, SignalSet.Of(1).KernelMask);
        Assert.True(SignalSet.Of(64).Contains(64));
        Assert.False(SignalSet.Of(64).Contains(63));
        Assert.Equal(35, VcpuKick.Signal);
    }

    [Fact]
    public void Special_Registers_Have_The_Offsets_Of_The_C_Header()
    {
        Assert.Equal(0xC0, (int)Marshal.OffsetOf<KvmSpecialRegisters>(nameof(KvmSpecialRegisters.Gdt)));
        Assert.Equal(0xE0, (int)Marshal.OffsetOf<KvmSpecialRegisters>(nameof(KvmSpecialRegisters.Cr0)));
        Assert.Equal(0x108, (int)Marshal.OffsetOf<KvmSpecialRegisters>(nameof(KvmSpecialRegisters.Efer)));
        Assert.Equal(0x118, (int)Marshal.OffsetOf<KvmSpecialRegisters>(nameof(KvmSpecialRegisters.InterruptBitmap)));
    }

    [Fact]
    public void Run_Area_Fields_Have_The_Offsets_Of_The_C_Header()
    {
        Assert.Equal(0x08, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.ExitReason)));
        Assert.Equal(0x22, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.IoPort)));
        Assert.Equal(0x28, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.IoDataOffset)));
        Assert.Equal(0x20, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.MmioPhysicalAddress)));
        Assert.Equal(0x30, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.MmioLength)));
        Assert.Equal(0x34, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.MmioIsWrite)));
        Assert.Equal(0x20, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.HardwareEntryFailureReason)));
        Assert.Equal(0x20, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.InternalSuberror)));
    }
}
