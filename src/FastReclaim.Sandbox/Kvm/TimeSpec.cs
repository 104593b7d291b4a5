using System.Runtime.InteropServices;

namespace FastReclaim.Sandbox;

/// <summary><c>struct timespec</c> (x86-64): seconds and nanoseconds; 16 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct TimeSpec
{
    public long Seconds;
    public long Nanoseconds;
}
