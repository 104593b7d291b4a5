using System.Runtime.CompilerServices;
using FastReclaim.Reclaim;

namespace FastReclaim;

// Retire and bags: items go into the retiring thread's open bag; a full bag is sealed with the epoch (S1, S2) and queued.
public sealed partial class EpochDomain
{
    /// <summary>
    /// Frees <paramref name="item"/> with <paramref name="free"/> once no reader can still see it. The caller must
    /// already have unlinked it, so that no new reader can reach it.
    /// </summary>
    /// <remarks>
    /// Past <see cref="EpochOptions.CollectThreshold"/> the call also collects: it may run other items' callbacks
    /// on this thread, after its own item is queued, so do not call it under a lock that a callback takes. It never
    /// throws a callback's exception (see <see cref="EpochDomain"/> for where those are reported).
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="free"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Retire(nint item, delegate*<nint, void> free)
    {
        if (free == null)
        {
            throw new ArgumentNullException(nameof(free), "The free function pointer is null.");
        }

        Retire(item, new RetireCallback(free), RetireBag.NoBirth, collectNow: true);
    }

    /// <summary>
    /// Frees <paramref name="item"/> with <paramref name="free"/> once no reader can still see it. The caller must
    /// already have unlinked it, so that no new reader can reach it.
    /// </summary>
    /// <remarks>
    /// Past <see cref="EpochOptions.CollectThreshold"/> the call also collects: it may run other items' callbacks
    /// on this thread, after its own item is queued, so do not call it under a lock that a callback takes. It never
    /// throws a callback's exception (see <see cref="EpochDomain"/> for where those are reported).
    /// </remarks>
    /// <exception cref="ArgumentNullException"><paramref name="free"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Retire(nint item, Action<nint> free)
    {
        ArgumentNullException.ThrowIfNull(free);
        Retire(item, new RetireCallback(free), RetireBag.NoBirth, collectNow: true);
    }

    /// <summary>
    /// <see cref="Retire(nint, Action{nint})"/> for a caller that holds locks (an <see cref="AddressSpace"/> writer,
    /// under its table locks): never runs a callback. When the threshold is reached it marks a collection due,
    /// which the caller runs with <see cref="CollectIfDue"/> once it holds no lock.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    /// <remarks>
    /// <paramref name="birth"/> is the item's birth era (<see cref="BirthEra"/> read before the item was published):
    /// the item may then be freed while readers that cannot hold it are still inside (interval reclamation,
    /// README.md), which is how a stalled reader holds back only what existed when it stalled.
    /// </remarks>
    internal void RetireUnderLock(nint item, Action<nint> free, long birth) => Retire(item, new RetireCallback(free), birth, collectNow: false);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Retire(nint item, RetireCallback free, long birth, bool collectNow)
    {
#if FASTRECLAIM_FAULT_INJECTION
        if (_fault == EpochFault.FreeAtOnce)
        {
            FreeWithoutGracePeriod(item, free);
            return;
        }
#endif
        ReaderSlot slot = CachedThreadSlot();
        slot.LockBag();
        RetireBag? bag = slot.Bag;
        if (bag is null || bag.IsFull)
        {
            slot.UnlockBag();
            RetireIntoNewBag(slot, item, free, birth, collectNow);
            return;
        }

        bag.Add(item, free, birth);
        slot.Line.Retired++;
        slot.UnlockBag();
    }

    /// <summary>
    /// Seals the full bag (if any), starts a new one with the item, and when the threshold is reached collects
    /// (<paramref name="collectNow"/>) or marks a collection due for <see cref="CollectIfDue"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RetireIntoNewBag(ReaderSlot slot, nint item, RetireCallback free, long birth, bool collectNow)
    {
        RetireBag fresh = _queue.Rent();
        fresh.Add(item, free, birth);

        bool collect = false;
        slot.LockBag();
        try
        {
            // The full bag is queued while the slot lock is held, so a Barrier that takes the lock after us
            // finds it in the queue.
            if (slot.Bag is { Count: > 0 } full)
            {
                collect = Seal(full);
            }

            slot.Bag = fresh;
            slot.Line.Retired++;
        }
        finally
        {
            slot.UnlockBag();
        }

        if (!collect)
        {
            return;
        }

        if (collectNow)
        {
            CollectAfterSeal();
        }
        else
        {
            Volatile.Write(ref _collectDue, 1);
        }
    }

#if FASTRECLAIM_FAULT_INJECTION
    /// <summary>Test builds only, <see cref="EpochFault.FreeAtOnce"/>: frees with no grace period at all.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void FreeWithoutGracePeriod(nint item, RetireCallback free)
    {
        ReaderSlot slot = CachedThreadSlot();
        slot.LockBag();
        slot.Line.Retired++;
        slot.UnlockBag();
        free.Invoke(item);
        Interlocked.Increment(ref _freed);
    }
#endif

    /// <summary>Queues <paramref name="bag"/> sealed with the current epoch; true when the retiring thread should collect.</summary>
    private bool Seal(RetireBag bag)
    {
        // S1: the unlinks of every item in the bag (done before their Retire calls, on this thread or — for a
        // stolen bag — before the owner released the bag lock we now hold) are globally visible before S2, the
        // read of the epoch inside Push. Reading first and fencing after is crossbeam's bug fixed in PR #53.
        Interlocked.MemoryBarrier();

        // I4: the era moves by retire count, not by reader progress: one step per sealed bag. The increment is after
        // S1 like S2, so a reader whose lower end is past the bag's era entered after its unlinks. Set before the
        // bag is queued (under the queue's lock), so an interval pass never sees a bag without its era.
        bag.SealedEra = Interlocked.Increment(ref Global.Era) - 1;
        _queue.Push(bag, ref Global.Value);
        long since = Interlocked.Add(ref _itemsSinceCollect, bag.Count);
        if (since < _collectThreshold)
        {
            return false;
        }

        Interlocked.Exchange(ref _itemsSinceCollect, 0);
        return true;
    }

    /// <summary>
    /// The retiring thread's share of collection: one advance attempt and the callbacks it makes safe. Below the
    /// backlog bound it skips work another thread is already doing; past it, it waits for the locks and flushes
    /// the other threads' bags too. Callback exceptions are kept for the next report, never thrown from here.
    /// </summary>
    private void CollectAfterSeal()
    {
        // This collection serves a deferred one too.
        Volatile.Write(ref _collectDue, 0);
        bool helping = _queue.SealedItems > _maxPendingItems;
        if (helping)
        {
            StealAllOpenBags();
        }

        if (!TryAdvance(wait: helping))
        {
            // A reader holds the epoch: free what the interval rule allows (nothing of a bag without births).
            ReclaimExpired(wait: helping);
            ReclaimIntervals(wait: helping);
            return;
        }

        ReclaimExpired(wait: helping);
    }

    private void StealAllOpenBags()
    {
        ReaderSlot?[] slots = _registry.Slots;
        foreach (ReaderSlot? slot in slots)
        {
            if (slot is not null)
            {
                StealOpenBag(slot);
            }
        }
    }

    private void StealOpenBag(ReaderSlot slot)
    {
        slot.LockBag();
        try
        {
            if (slot.Bag is { Count: > 0 } bag)
            {
                slot.Bag = null;
                Seal(bag);
            }
        }
        finally
        {
            slot.UnlockBag();
        }
    }
}
