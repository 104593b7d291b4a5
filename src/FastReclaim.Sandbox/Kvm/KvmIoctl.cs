using System.Runtime.CompilerServices;

namespace FastReclaim.Sandbox;

/// <summary>
/// The KVM ioctl request numbers, built the way <c>include/uapi/asm-generic/ioctl.h</c> builds them:
/// <c>dir &lt;&lt; 30 | size &lt;&lt; 16 | type &lt;&lt; 8 | nr</c>, with type <c>KVMIO</c> = 0xAE and the numbers and argument
/// structs of <c>include/uapi/linux/kvm.h</c>. The tests pin every value against the C headers
/// (e.g. <c>KVM_SET_SREGS</c> = 0x4138AE84: write, 312-byte <c>struct kvm_sregs</c>, nr 0x84).
/// </summary>
internal static class KvmIoctl
{
    private const uint KvmIo = 0xAE;
    private const int NumberShift = 0;
    private const int TypeShift = 8;
    private const int SizeShift = 16;
    private const int DirectionShift = 30;
    private const uint DirectionNone = 0;   // _IOC_NONE
    private const uint DirectionWrite = 1;  // _IOC_WRITE: user space passes the struct in
    private const uint DirectionRead = 2;   // _IOC_READ: the kernel fills the struct

    /// <summary><c>_IO(KVMIO, 0x00)</c>: returns the API version, 12 since Linux 2.6.22.</summary>
    public static readonly nuint GetApiVersion = Io(0x00);

    /// <summary><c>_IO(KVMIO, 0x01)</c>: returns a VM file descriptor.</summary>
    public static readonly nuint CreateVm = Io(0x01);

    /// <summary><c>_IO(KVMIO, 0x04)</c>: returns the size of the shared <c>struct kvm_run</c> area of a vCPU.</summary>
    public static readonly nuint GetVcpuMmapSize = Io(0x04);

    /// <summary><c>_IOWR(KVMIO, 0x05, struct kvm_cpuid2)</c>: the CPUID leaves KVM can expose.</summary>
    public static readonly nuint GetSupportedCpuid = Ioc(DirectionRead | DirectionWrite, 0x05, Unsafe.SizeOf<KvmCpuidHeader>());

    /// <summary><c>_IO(KVMIO, 0x41)</c>: returns a vCPU file descriptor.</summary>
    public static readonly nuint CreateVcpu = Io(0x41);

    /// <summary><c>_IOW(KVMIO, 0x46, struct kvm_userspace_memory_region)</c>.</summary>
    public static readonly nuint SetUserMemoryRegion = Ioc(DirectionWrite, 0x46, Unsafe.SizeOf<KvmUserspaceMemoryRegion>());

    /// <summary><c>_IO(KVMIO, 0x80)</c>: runs the vCPU until it exits to user space.</summary>
    public static readonly nuint Run = Io(0x80);

    /// <summary><c>_IOR(KVMIO, 0x81, struct kvm_regs)</c>.</summary>
    public static readonly nuint GetRegisters = Ioc(DirectionRead, 0x81, Unsafe.SizeOf<KvmRegisters>());

    /// <summary><c>_IOW(KVMIO, 0x82, struct kvm_regs)</c>.</summary>
    public static readonly nuint SetRegisters = Ioc(DirectionWrite, 0x82, Unsafe.SizeOf<KvmRegisters>());

    /// <summary><c>_IOR(KVMIO, 0x83, struct kvm_sregs)</c>.</summary>
    public static readonly nuint GetSpecialRegisters = Ioc(DirectionRead, 0x83, Unsafe.SizeOf<KvmSpecialRegisters>());

    /// <summary><c>_IOW(KVMIO, 0x84, struct kvm_sregs)</c>.</summary>
    public static readonly nuint SetSpecialRegisters = Ioc(DirectionWrite, 0x84, Unsafe.SizeOf<KvmSpecialRegisters>());

    /// <summary><c>_IOW(KVMIO, 0x90, struct kvm_cpuid2)</c>.</summary>
    public static readonly nuint SetCpuid2 = Ioc(DirectionWrite, 0x90, Unsafe.SizeOf<KvmCpuidHeader>());

    /// <summary><c>_IOW(KVMIO, 0x8b, struct kvm_signal_mask)</c>: the signal mask of the thread while it is inside <c>KVM_RUN</c>.</summary>
    public static readonly nuint SetSignalMask = Ioc(DirectionWrite, 0x8B, KvmSignalMask.HeaderBytes);

    private static nuint Io(uint number) => Ioc(DirectionNone, number, 0);

    private static nuint Ioc(uint direction, uint number, int size) =>
        (direction << DirectionShift) | ((uint)size << SizeShift) | (KvmIo << TypeShift) | (number << NumberShift);
}
