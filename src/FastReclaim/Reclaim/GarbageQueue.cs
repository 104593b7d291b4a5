using System.Diagnostics;

namespace FastReclaim.Reclaim;

/// <summary>
/// The domain's sealed bags, oldest first, and a pool of empty bags. Touched once per bag (every
/// <see cref="RetireBag.Capacity"/> retires), so a short lock costs less than a lock-free queue's fences would.
/// </summary>
internal sealed class GarbageQueue
{
    /// <summary>Empty bags kept for reuse; beyond this, emptied bags go to the GC.</summary>
    private const int MaxPooledBags = 256;

    private readonly Lock _lock = new();
    private RetireBag? _head;
    private RetireBag? _tail;
    private RetireBag? _pool;
    private int _pooled;
    private long _sealedItems;

    /// <summary>Items in sealed bags waiting for their grace period.</summary>
    internal long SealedItems => Volatile.Read(ref _sealedItems);

    /// <summary>
    /// Seals <paramref name="bag"/> with the global epoch and appends it. The caller has issued the full fence
    /// that orders its unlinks before this read of the epoch (S1 of the ordering argument, README.md). The epoch is read
    /// under the lock, so epochs along the queue never decrease and expired bags are always a prefix.
    /// </summary>
    internal void Push(RetireBag bag, ref long globalEpoch)
    {
        lock (_lock)
        {
            bag.SealedEpoch = Volatile.Read(ref globalEpoch);
            bag.SealedTimestamp = Stopwatch.GetTimestamp();
            bag.Next = null;
            if (_tail is null)
            {
                _head = bag;
            }
            else
            {
                _tail.Next = bag;
            }

            _tail = bag;
            _sealedItems += bag.Count;
        }
    }

    /// <summary>Detaches the prefix of bags sealed at or before <paramref name="expiredEpoch"/>; returns them as a chain.</summary>
    internal RetireBag? DetachExpired(long expiredEpoch)
    {
        lock (_lock)
        {
            RetireBag? first = _head;
            RetireBag? last = null;
            RetireBag? bag = _head;
            long items = 0;
            while (bag is not null && bag.SealedEpoch <= expiredEpoch)
            {
                items += bag.Count;
                last = bag;
                bag = bag.Next;
            }

            if (last is null)
            {
                return null;
            }

            last.Next = null;
            _head = bag;
            if (bag is null)
            {
                _tail = null;
            }

            _sealedItems -= items;
            return first;
        }
    }

    /// <summary>An empty bag from the pool, or a new one.</summary>
    internal RetireBag Rent()
    {
        lock (_lock)
        {
            RetireBag? bag = _pool;
            if (bag is not null)
            {
                _pool = bag.Next;
                _pooled--;
                bag.Next = null;
                return bag;
            }
        }

        return new RetireBag();
    }

    /// <summary>Empties <paramref name="bag"/> and keeps it for reuse.</summary>
    internal void Return(RetireBag bag)
    {
        bag.Reset();
        lock (_lock)
        {
            if (_pooled < MaxPooledBags)
            {
                bag.Next = _pool;
                _pool = bag;
                _pooled++;
            }
        }
    }
}
