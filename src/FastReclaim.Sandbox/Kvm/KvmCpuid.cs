using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>The fixed head of <c>struct kvm_cpuid2</c> (<c>nent</c>, padding), followed in memory by <c>nent</c> entries; 8 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmCpuidHeader
{
    public uint EntryCount;
    public uint Padding;
}

/// <summary><c>struct kvm_cpuid_entry2</c>: one CPUID leaf/subleaf; 40 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmCpuidEntry
{
    public uint Function;
    public uint Index;
    public uint Flags;
    public uint Eax, Ebx, Ecx, Edx;
    public fixed uint Padding[3];
}
