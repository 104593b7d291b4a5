using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>
/// The head of <c>struct kvm_run</c>, the area shared with KVM through <c>mmap</c> of the vCPU descriptor, with the
/// union members this host reads (offsets from <c>include/uapi/linux/kvm.h</c>, x86-64).
/// </summary>
[StructLayout(LayoutKind.Explicit)]
internal struct KvmRun
{
    /// <summary>Start of the per-exit-reason union.</summary>
    private const int Union = 32;

    [FieldOffset(8)] public KvmExitReason ExitReason;

    // KVM_EXIT_IO
    [FieldOffset(Union + 0)] public byte IoDirection;     // KVM_EXIT_IO_IN = 0, KVM_EXIT_IO_OUT = 1
    [FieldOffset(Union + 1)] public byte IoSize;          // bytes per access
    [FieldOffset(Union + 2)] public ushort IoPort;
    [FieldOffset(Union + 8)] public ulong IoDataOffset;   // from the start of kvm_run

    // KVM_EXIT_MMIO
    [FieldOffset(Union + 0)] public ulong MmioPhysicalAddress;
    [FieldOffset(Union + 16)] public uint MmioLength;
    [FieldOffset(Union + 20)] public byte MmioIsWrite;

    // KVM_EXIT_FAIL_ENTRY
    [FieldOffset(Union + 0)] public ulong HardwareEntryFailureReason;

    // KVM_EXIT_INTERNAL_ERROR
    [FieldOffset(Union + 0)] public uint InternalSuberror;
}
