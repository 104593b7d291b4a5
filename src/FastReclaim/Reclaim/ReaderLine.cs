using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastReclaim.Reclaim;

/// <summary>
/// The words of a <see cref="ReaderSlot"/> that its owner writes on the hot path, padded so that no other
/// thread's data shares their cache lines (the same layout idea as Garnet's <c>LightEpoch</c> entries,
/// <c>StructLayout(Explicit)</c>, but with padding on both sides because a managed object is only 8-byte aligned).
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 2 * CacheLine.GuardBytes + HotBytes)]
internal struct ReaderLine
{
    private const int HotBytes = 6 * sizeof(long);

    /// <summary>
    /// What the reader announces: <see cref="EpochDomain.Inactive"/> (0) outside any critical section, else the
    /// raw epoch it entered in plus, in the <see cref="EpochDomain.GuardDepthMask"/> bits, the number of guards
    /// open (a reader handle counts as one; 0 for a QSBR thread that is online between quiescent points).
    /// Written by the owner with plain stores; read by the advancer after its process-wide fence.
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
    /// <see cref="EpochDomain.Online()"/>) matches the thread's cached pointer to this line against
    /// (<see cref="ThreadSlots.LastLine"/>). Written by the registering thread before the slot is published, and
    /// by <see cref="EpochDomain.ReleaseSlot"/>.
    /// </summary>
    [FieldOffset(CacheLine.GuardBytes + 3 * sizeof(long))]
    internal long DomainKey;

    /// <summary>
    /// The upper end of the reader's interval, in eras (interval reclamation, <c>Reclaim/README.md</c>): raised by a
    /// table walk (<see cref="TableReadWatch"/>) with a plain store before it dereferences a table it found after the
    /// era moved; <see cref="UnboundedUpper"/> while the participant is a writer or an online QSBR thread, which
    /// follow table entries without announcing them. The advancer takes max(<see cref="Lower"/>, this): a value left by an
    /// earlier critical section is below the current one's lower end and so changes nothing.
    /// </summary>
    [FieldOffset(CacheLine.GuardBytes + 4 * sizeof(long))]
    internal long Upper;

    /// <summary>
    /// The lower end of the reader's interval, in eras: stored (I4) by the first walk of a guard or handle section
    /// (<see cref="TableReadWatch"/>, before its first load), by an unbounded guard, and by a QSBR thread's Online and
    /// each Quiescent. Read by the advancer only while <see cref="Epoch"/> announces a section; a section that never
    /// walks leaves a stale value, an earlier and smaller era, which only holds more.
    /// </summary>
    [FieldOffset(CacheLine.GuardBytes + 5 * sizeof(long))]
    internal long Lower;

    /// <summary><see cref="Upper"/> of a participant that holds every table born before it leaves (EBR semantics).</summary>
    internal const long UnboundedUpper = long.MaxValue;

    /// <summary>
    /// R2 of the ordering argument (<c>Reclaim/README.md</c>): the owner announces <paramref name="announcement"/>
    /// with a plain store and no fence. Every place a reader starts announcing an epoch (a guard, a reader handle,
    /// a QSBR thread going online or coming back from a grace period) goes through here.
    /// </summary>
    /// <remarks>
    /// Why no fence is needed: the advancer runs <see cref="Interlocked.MemoryBarrierProcessWide"/> (A2) before it
    /// reads the slots (A3), which splits this thread's execution at a full barrier. If the store is before that
    /// point, the scan sees it; if after, the reader's later loads see everything the advancer saw, including
    /// the unlink of every item it is about to free. The JIT must not sink the store below the reader's loads of
    /// the structure; RyuJIT does not reorder a store with later heap loads (liburcu puts a compiler barrier here).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Announce(long announcement) => Epoch = announcement;

    /// <summary>
    /// I4: the lower end of a section that starts now, after <see cref="Announce"/>: the era, read with an acquire, in
    /// a release store (a stale lower end seen by the advancer is smaller, which only holds more). The release keeps
    /// the lower end from becoming visible before the earlier section's leaving stores on a machine that may reorder
    /// stores (Arm64): the pairing in I5 (Reclaim/README.md). On x86-64 it is the plain store it was.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void AnnounceLower(ref long era) => Volatile.Write(ref Lower, Volatile.Read(ref era));
}
