using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastReclaim.Reclaim;

/// <summary>
/// One participant of an <see cref="EpochDomain"/>: a thread's automatic slot or an <see cref="EpochReader"/>
/// handle. Holds the announced epoch the advancer scans and the participant's open retire bag.
/// </summary>
internal sealed unsafe class ReaderSlot
{
    /// <summary>
    /// The one element is <see cref="Line"/>. A pinned array, so that the owner thread can cache a raw pointer to
    /// the line (<see cref="ThreadSlots.LastLine"/>, an <see cref="EpochGuard"/>): the array does not move, and it
    /// lives as long as the slot, which whoever holds such a pointer also keeps reachable.
    /// </summary>
    private readonly ReaderLine[] _lineStorage = GC.AllocateArray<ReaderLine>(1, pinned: true);

    /// <summary>The address of <see cref="Line"/>.</summary>
    private readonly ReaderLine* _line;

    /// <summary>
    /// The domain while the slot is registered; null once it is released (thread exit, handle or domain
    /// disposed), which makes a thread's cached lookup miss and take the slow path.
    /// </summary>
    internal EpochDomain? Domain;

    /// <summary>The open bag Retire fills; null when a thief took it. Guarded by <see cref="ReaderLine.BagLock"/>.</summary>
    internal RetireBag? Bag;

    /// <summary>
    /// What the advancer calls when this participant holds a grace period back past
    /// <see cref="EpochOptions.ExpediteAfter"/>, or null. Written by the owner (<see cref="EpochDomain.Online(Action)"/>,
    /// <see cref="EpochDomain.Offline"/>, or once at a handle's registration) and read by whichever thread advances:
    /// a reference-sized write, so the reader sees the old callback or the new one; a stale one is a spurious kick,
    /// which an expedite must tolerate anyway.
    /// </summary>
    internal volatile Action? Expedite;

    /// <summary>
    /// The raw epoch of the last grace period this participant was expedited for (-1: none): so a grace period calls
    /// <see cref="Expedite"/> at most once. Advance-lock state.
    /// </summary>
    internal long ExpeditedEpoch = -1;

    /// <summary>Position in the domain's <see cref="ReaderRegistry"/>; -1 when not registered.</summary>
    internal int Index = -1;

    internal ReaderSlot(EpochDomain domain, Thread? owner)
    {
        _line = (ReaderLine*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_lineStorage));
        _line->DomainKey = domain.Key;
        Domain = domain;
        Owner = owner;
        ManagedThreadId = owner?.ManagedThreadId ?? 0;
    }

    /// <summary>Owner-written words, alone on their cache lines.</summary>
    internal ref ReaderLine Line
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => ref *_line;
    }

    /// <summary>The address of <see cref="Line"/>: fixed for the slot's lifetime, valid while the slot is reachable.</summary>
    internal ReaderLine* LinePointer
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _line;
    }

    /// <summary>The thread of an automatic slot (checked with <see cref="Thread.IsAlive"/> to find dead ones); null for a handle.</summary>
    internal Thread? Owner { get; }

    /// <summary>Managed thread id of <see cref="Owner"/>, 0 for a handle: what a stall report names.</summary>
    internal int ManagedThreadId { get; }

    /// <summary>True for an automatic slot whose thread has exited.</summary>
    internal bool OwnerHasExited => Owner is { IsAlive: false };

    /// <summary>Takes the bag lock. The owner takes it on every Retire and almost never finds it held.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void LockBag()
    {
        // Interlocked.Exchange is a full fence: a thief that takes the lock next sees every item written
        // into the bag before our release below.
        if (Interlocked.Exchange(ref Line.BagLock, 1) != 0)
        {
            LockBagContended();
        }
    }

    /// <summary>Releases the bag lock (a release store: the bag's contents are visible before the lock is seen free).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void UnlockBag() => Volatile.Write(ref Line.BagLock, 0);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void LockBagContended()
    {
        var spin = new SpinWait();
        while (Interlocked.Exchange(ref Line.BagLock, 1) != 0)
        {
            spin.SpinOnce();
        }
    }
}
