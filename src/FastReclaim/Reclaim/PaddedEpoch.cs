using System.Runtime.InteropServices;

namespace FastReclaim.Reclaim;

/// <summary>
/// The global epoch word of an <see cref="EpochDomain"/>, the domain's key and its era, alone on their cache lines: every
/// reader loads both on entry, so a counter written next to them would turn each of those loads into a miss.
/// </summary>
/// <remarks>
/// Managed objects are only 8-byte aligned, so the words sit <see cref="CacheLine.GuardBytes"/> into the
/// struct with as much padding after them: whatever the object's address, every line they can share lies
/// inside this struct.
/// </remarks>
[StructLayout(LayoutKind.Explicit, Size = 2 * CacheLine.GuardBytes + (3 * sizeof(long)))]
internal struct PaddedEpoch
{
    /// <summary>The raw epoch (its encoding is in README.md); written only under the advance lock.</summary>
    [FieldOffset(CacheLine.GuardBytes)]
    internal long Value;

    /// <summary>The domain's <see cref="EpochDomain.Key"/>; written once, by the constructor.</summary>
    [FieldOffset(CacheLine.GuardBytes + sizeof(long))]
    internal long Key;

    /// <summary>
    /// The era of interval reclamation (README.md, "Interval reclamation"): advanced by one (an interlocked increment)
    /// each time a bag of retired items is sealed, whatever the readers do. On the line readers load anyway, and
    /// written once per 64 retires, so table walks read it per level at the cost of an L1 hit.
    /// </summary>
    [FieldOffset(CacheLine.GuardBytes + (2 * sizeof(long)))]
    internal long Era;
}
