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
    /// <exception cref="ArgumentNullException"><paramref name="free"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    /// <exception cref="AggregateException">This call collected, and callbacks it ran threw.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Retire(nint item, delegate*<nint, void> free)
    {
        if (free == null)
        {
            throw new ArgumentNullException(nameof(free), "The free function pointer is null.");
        }

        Retire(item, new RetireCallback(free));
    }

    /// <summary>
    /// Frees <paramref name="item"/> with <paramref name="free"/> once no reader can still see it. The caller must
    /// already have unlinked it, so that no new reader can reach it.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="free"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    /// <exception cref="AggregateException">This call collected, and callbacks it ran threw.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Retire(nint item, Action<nint> free)
    {
        ArgumentNullException.ThrowIfNull(free);
        Retire(item, new RetireCallback(free));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Retire(nint item, RetireCallback free)
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
            RetireIntoNewBag(slot, item, free);
            return;
        }

        bag.Add(item, free);
        slot.Line.Retired++;
        slot.UnlockBag();
    }

    /// <summary>Seals the full bag (if any), starts a new one with the item, and collects when the threshold is reached.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RetireIntoNewBag(ReaderSlot slot, nint item, RetireCallback free)
    {
        RetireBag fresh = _queue.Rent();
        fresh.Add(item, free);

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

        if (collect)
        {
            CollectAfterSeal();
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
    /// the other threads' bags too.
    /// </summary>
    private void CollectAfterSeal()
    {
        bool helping = _queue.SealedItems > _maxPendingItems;
        if (helping)
        {
            StealAllOpenBags();
        }

        TryAdvance(wait: helping);
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
