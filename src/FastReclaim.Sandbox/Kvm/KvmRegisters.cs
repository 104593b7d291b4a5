using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary><c>struct kvm_regs</c> (x86): the general-purpose registers, RIP and RFLAGS; 144 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmRegisters
{
    public ulong Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rsp, Rbp;
    public ulong R8, R9, R10, R11, R12, R13, R14, R15;
    public ulong Rip, Rflags;
}
