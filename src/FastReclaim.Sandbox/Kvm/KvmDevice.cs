using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>An open <c>/dev/kvm</c>: the system-level ioctls (API version, CPUID, creating a VM).</summary>
internal sealed unsafe class KvmDevice : IDisposable
{
    /// <summary>The only KVM API version there has been since Linux 2.6.22; any other value means an incompatible kernel.</summary>
    public const int ExpectedApiVersion = 12;

    /// <summary>Where Linux puts the KVM device node.</summary>
    public const string DefaultPath = "/dev/kvm";

    /// <summary>Room for every CPUID leaf KVM reports (it fails with E2BIG when the buffer is smaller).</summary>
    private const int MaxCpuidEntries = 256;

    private readonly FileDescriptorHandle _fd;

    private KvmDevice(FileDescriptorHandle fd, int apiVersion, int vcpuMmapSize)
    {
        _fd = fd;
        ApiVersion = apiVersion;
        VcpuMmapSize = vcpuMmapSize;
    }

    /// <summary>The value of <c>KVM_GET_API_VERSION</c>.</summary>
    public int ApiVersion { get; }

    /// <summary>Bytes of the <c>kvm_run</c> area to map for each vCPU (<c>KVM_GET_VCPU_MMAP_SIZE</c>).</summary>
    public int VcpuMmapSize { get; }

    /// <summary>Opens the device and checks the API version.</summary>
    /// <exception cref="KvmException">The device cannot be opened, or it speaks another API version.</exception>
    public static KvmDevice Open(string path = DefaultPath)
    {
        int raw = LibC.Open(path, LibC.OpenReadWrite | LibC.OpenCloseOnExec);
        if (raw < 0)
        {
            throw KvmException.FromErrno($"open({path})", Marshal.GetLastPInvokeError());
        }

        var fd = new FileDescriptorHandle(raw);
        try
        {
            int version = LibC.Check(LibC.Ioctl(fd, KvmIoctl.GetApiVersion, 0), "KVM_GET_API_VERSION");
            if (version != ExpectedApiVersion)
            {
                throw new KvmException($"{path} speaks KVM API version {version}; this host needs {ExpectedApiVersion}.");
            }

            int mmapSize = LibC.Check(LibC.Ioctl(fd, KvmIoctl.GetVcpuMmapSize, 0), "KVM_GET_VCPU_MMAP_SIZE");
            return new KvmDevice(fd, version, mmapSize);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>The CPUID leaves KVM can give a guest (<c>KVM_GET_SUPPORTED_CPUID</c>).</summary>
    public KvmCpuidEntry[] GetSupportedCpuid()
    {
        int bytes = sizeof(KvmCpuidHeader) + (MaxCpuidEntries * sizeof(KvmCpuidEntry));
        byte* buffer = (byte*)NativeMemory.AllocZeroed((nuint)bytes);
        try
        {
            var header = (KvmCpuidHeader*)buffer;
            header->EntryCount = MaxCpuidEntries;
            LibC.Check(LibC.Ioctl(_fd, KvmIoctl.GetSupportedCpuid, (nint)buffer), "KVM_GET_SUPPORTED_CPUID");
            return new ReadOnlySpan<KvmCpuidEntry>(buffer + sizeof(KvmCpuidHeader), (int)header->EntryCount).ToArray();
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    /// <summary>Creates a VM (<c>KVM_CREATE_VM</c>, default machine type).</summary>
    public KvmVirtualMachine CreateVirtualMachine()
    {
        int vm = LibC.Check(LibC.Ioctl(_fd, KvmIoctl.CreateVm, 0), "KVM_CREATE_VM");
        return new KvmVirtualMachine(new FileDescriptorHandle(vm), VcpuMmapSize);
    }

    public void Dispose() => _fd.Dispose();
}
