using System.Runtime.InteropServices;

namespace FastReclaim;

/// <summary>
/// The global epoch word of an <see cref="EpochDomain"/>, alone on its cache lines: every reader loads it on
/// entry, so a counter written next to it would turn each of those loads into a miss.
/// </summary>
/// <remarks>
/// Managed objects are only 8-byte aligned, so the word sits <see cref="CacheLine.GuardBytes"/> into the
/// struct with as much padding after it: whatever the object's address, every line the word can share lies
/// inside this struct.
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = 2 * CacheLine.GuardBytes + sizeof(long))]
internal struct PaddedEpoch
{
    /// <summary>The raw epoch (see <see cref="EpochDomain"/> for its encoding); written only under the advance lock.</summary>
    [FieldOffset(CacheLine.GuardBytes)]
    internal long Value;
}
