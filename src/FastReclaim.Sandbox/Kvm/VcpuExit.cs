namespace FastReclaim.Sandbox;

/// <summary>Why and where one <c>KVM_RUN</c> returned: the exit reason and the fields of <c>kvm_run</c> that go with it.</summary>
internal readonly record struct VcpuExit(
    KvmExitReason Reason,
    ushort IoPort = 0,
    bool IoIsOut = false,
    uint IoValue = 0,
    ulong MmioAddress = 0,
    uint MmioLength = 0,
    bool MmioIsWrite = false,
    ulong HardwareEntryFailureReason = 0,
    uint InternalSuberror = 0)
{
    public override string ToString() => Reason switch
    {
        KvmExitReason.Io => $"IO {(IoIsOut ? "out" : "in")} port 0x{IoPort:X} value 0x{IoValue:X}",
        KvmExitReason.Mmio => $"MMIO {(MmioIsWrite ? "write" : "read")} of {MmioLength} bytes at GPA 0x{MmioAddress:X} (no memory slot there)",
        KvmExitReason.FailEntry => $"FAIL_ENTRY, hardware reason 0x{HardwareEntryFailureReason:X}",
        KvmExitReason.InternalError => $"INTERNAL_ERROR, suberror {InternalSuberror}",
        KvmExitReason.Shutdown => "SHUTDOWN (triple fault)",
        _ => Reason.ToString(),
    };
}
