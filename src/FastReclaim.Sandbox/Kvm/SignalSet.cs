using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary>
/// glibc's <c>sigset_t</c> on Linux: 1024 bits, signal <c>n</c> at bit <c>n - 1</c> (glibc's <c>__sigmask</c>); 128 bytes.
/// The kernel's own <c>sigset_t</c> on x86-64 is the first 64 bits (<c>_NSIG</c> = 64), which is what
/// <c>KVM_SET_SIGNAL_MASK</c> takes.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SignalSet
{
    private Words _words;

    /// <summary>The set of one signal.</summary>
    public static SignalSet Of(int signal)
    {
        var set = default(SignalSet);
        set._words[(signal - 1) / 64] = 1UL << ((signal - 1) % 64);
        return set;
    }

    /// <summary>The kernel's 64-bit signal mask: signals 1 to 64.</summary>
    public readonly ulong KernelMask => _words[0];

    public readonly bool Contains(int signal) => (_words[(signal - 1) / 64] & (1UL << ((signal - 1) % 64))) != 0;

    [InlineArray(16)]
    private struct Words
    {
        private ulong _element;
    }
}
