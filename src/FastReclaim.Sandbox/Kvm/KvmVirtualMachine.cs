namespace FastReclaim.Sandbox;

/// <summary>A KVM VM descriptor: memory slots and vCPU creation.</summary>
internal sealed unsafe class KvmVirtualMachine : IDisposable
{
    private readonly FileDescriptorHandle _fd;
    private readonly int _vcpuMmapSize;

    internal KvmVirtualMachine(FileDescriptorHandle fd, int vcpuMmapSize)
    {
        _fd = fd;
        _vcpuMmapSize = vcpuMmapSize;
    }

    /// <summary>
    /// Makes <paramref name="bytes"/> of process memory at <paramref name="hostAddress"/> the guest-physical range
    /// starting at <paramref name="guestPhysical"/> (<c>KVM_SET_USER_MEMORY_REGION</c>). The memory must stay mapped
    /// for as long as the VM lives.
    /// </summary>
    public void SetUserMemoryRegion(uint slot, ulong guestPhysical, ulong bytes, nint hostAddress)
    {
        var region = new KvmUserspaceMemoryRegion
        {
            Slot = slot,
            GuestPhysicalAddress = guestPhysical,
            MemorySize = bytes,
            UserspaceAddress = (ulong)hostAddress,
        };
        LibC.Check(LibC.Ioctl(_fd, KvmIoctl.SetUserMemoryRegion, (nint)(&region)),
            $"KVM_SET_USER_MEMORY_REGION(slot {slot}, GPA 0x{guestPhysical:X}, 0x{bytes:X} bytes)");
    }

    /// <summary>Creates vCPU <paramref name="id"/> and maps its <c>kvm_run</c> area.</summary>
    public KvmVcpu CreateVcpu(int id)
    {
        int vcpu = LibC.Check(LibC.Ioctl(_fd, KvmIoctl.CreateVcpu, id), $"KVM_CREATE_VCPU({id})");
        return new KvmVcpu(new FileDescriptorHandle(vcpu), _vcpuMmapSize);
    }

    public void Dispose() => _fd.Dispose();
}
