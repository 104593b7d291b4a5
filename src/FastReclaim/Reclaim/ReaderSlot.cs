using System.Runtime.CompilerServices;

namespace FastReclaim;

/// <summary>
/// One participant of an <see cref="EpochDomain"/>: a thread's automatic slot or an <see cref="EpochReader"/>
/// handle. Holds the announced epoch the advancer scans and the participant's open retire bag.
/// </summary>
internal sealed class ReaderSlot
{
    /// <summary>Owner-written words, alone on their cache lines.</summary>
    internal ReaderLine Line;

    /// <summary>
    /// The domain while the slot is registered; null once it is released (thread exit, handle or domain
    /// disposed), which makes a thread's cached lookup miss and take the slow path.
    /// </summary>
    internal EpochDomain? Domain;

    /// <summary>The open bag Retire fills; null when a thief took it. Guarded by <see cref="ReaderLine.BagLock"/>.</summary>
    internal RetireBag? Bag;

    /// <summary>Position in the domain's <see cref="ReaderRegistry"/>; -1 when not registered.</summary>
    internal int Index = -1;

    internal ReaderSlot(EpochDomain domain, Thread? owner)
    {
        Domain = domain;
        Owner = owner;
        ManagedThreadId = owner?.ManagedThreadId ?? 0;
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
