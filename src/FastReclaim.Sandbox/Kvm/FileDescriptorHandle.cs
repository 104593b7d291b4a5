using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>An owned Linux file descriptor (of <c>/dev/kvm</c>, a VM or a vCPU), closed once by the runtime's SafeHandle protocol.</summary>
internal sealed class FileDescriptorHandle : SafeHandle
{
    public FileDescriptorHandle(int fd)
        : base(invalidHandleValue: -1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle < 0;

    protected override bool ReleaseHandle() => LibC.Close((int)handle) == 0;
}
