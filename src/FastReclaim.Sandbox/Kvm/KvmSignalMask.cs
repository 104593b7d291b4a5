using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>
/// <c>struct kvm_signal_mask</c> with its flexible <c>sigset</c> array holding one kernel <c>sigset_t</c> (8 bytes on
/// x86-64; KVM refuses any other <c>len</c>); 12 bytes, the mask unaligned right after <c>len</c>.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct KvmSignalMask
{
    /// <summary><c>sizeof(struct kvm_signal_mask)</c>: the <c>len</c> field alone, what the ioctl number encodes.</summary>
    public const int HeaderBytes = sizeof(uint);

    public uint Length;
    public ulong Mask;
}
