using System.Runtime.InteropServices;

namespace FastReclaim;

/// <summary>
/// The words of a <see cref="ReaderSlot"/> that its owner writes on the hot path, padded so that no other
/// thread's data shares their cache lines (the same layout idea as Garnet's <c>LightEpoch</c> entries,
/// <c>StructLayout(Explicit)</c>, but with padding on both sides because a managed object is only 8-byte aligned).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 2 * CacheLine.GuardBytes + HotBytes)]
internal struct ReaderLine
{
    private const int HotBytes = 4 * sizeof(long);

    /// <summary>
    /// What the reader announces: <see cref="EpochDomain.Inactive"/> (0) outside any critical section, else the
    /// raw epoch it entered in, with <see cref="EpochDomain.GuardBit"/> set while a guard or reader handle is open
    /// (clear for a QSBR thread that is online between quiescent points). Written by the owner with plain
    /// stores; read by the advancer after its process-wide fence.
    /// </summary>
    [FieldOffset(CacheLine.GuardBytes)]
    internal long Epoch;

    /// <summary>Spin lock over the slot's open retire bag: taken by the owner on every Retire, by a thief (Collect, Barrier, thread-exit cleanup) rarely.</summary>
    [FieldOffset(CacheLine.GuardBytes + sizeof(long))]
    internal int BagLock;

    /// <summary>Items this slot has retired (owner-written under <see cref="BagLock"/>, read racily by Stats).</summary>
    [FieldOffset(CacheLine.GuardBytes + 2 * sizeof(long))]
    internal long Retired;

    /// <summary>
    /// The <see cref="EpochDomain.Key"/> of the slot's domain while the slot is registered, 0 once it is released:
    /// what the read side (<see cref="EpochDomain.Enter"/>, <see cref="EpochDomain.Quiescent"/>,
    /// <see cref="EpochDomain.Online"/>) matches the thread's cached pointer to this line against
    /// (<see cref="ThreadSlots.LastLine"/>). Written by the registering thread before the slot is published, and
    /// by <see cref="EpochDomain.ReleaseSlot"/>.
    /// </summary>
    [FieldOffset(CacheLine.GuardBytes + 3 * sizeof(long))]
    internal long DomainKey;
}
