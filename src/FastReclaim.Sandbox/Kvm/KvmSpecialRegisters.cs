using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary><c>struct kvm_segment</c>: a segment register with its hidden descriptor part; 24 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmSegment
{
    public ulong Base;
    public uint Limit;
    public ushort Selector;
    public byte Type;
    public byte Present, Dpl, DefaultBig, System, Long, Granularity, Available;
    public byte Unusable;
    public byte Padding;
}

/// <summary><c>struct kvm_dtable</c>: GDTR or IDTR; 16 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmDescriptorTable
{
    public ulong Base;
    public ushort Limit;
    public ushort Padding0, Padding1, Padding2;
}

/// <summary><c>struct kvm_sregs</c> (x86): segment, descriptor-table and control registers, EFER; 312 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmSpecialRegisters
{
    /// <summary><c>(KVM_NR_INTERRUPTS + 63) / 64</c> words of the pending-interrupt bitmap (KVM_NR_INTERRUPTS = 256).</summary>
    public const int InterruptBitmapWords = 4;

    public KvmSegment Cs, Ds, Es, Fs, Gs, Ss, Tr, Ldt;
    public KvmDescriptorTable Gdt, Idt;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8;
    public ulong Efer;
    public ulong ApicBase;
    public fixed ulong InterruptBitmap[InterruptBitmapWords];
}
