using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary><c>struct kvm_userspace_memory_region</c>: one memory slot, guest-physical range backed by process memory; 32 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmUserspaceMemoryRegion
{
    public uint Slot;
    public uint Flags;
    public ulong GuestPhysicalAddress;
    public ulong MemorySize;
    public ulong UserspaceAddress;
}
