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
    private int _bagsWithBirths;

    /// <summary>Items in sealed bags waiting for their grace period.</summary>
    internal long SealedItems => Volatile.Read(ref _sealedItems);

    /// <summary>Sealed bags the interval rule may free (<see cref="RetireBag.HasBirths"/>): 0 skips an interval pass.</summary>
    internal int BagsWithBirths => Volatile.Read(ref _bagsWithBirths);

    /// <summary>Which queued bags an interval pass frees (<see cref="DetachWhere"/>).</summary>
    internal interface IBagFilter
    {
        bool Frees(RetireBag bag);
    }

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
            if (bag.HasBirths)
            {
                _bagsWithBirths++;
            }
        }
    }

    /// <summary>
    /// Detaches every queued bag <paramref name="filter"/> frees, wherever it is in the queue (what is left stays in
    /// epoch order, so the expired bags are still a prefix); returns them as a chain.
    /// </summary>
    internal RetireBag? DetachWhere<TFilter>(ref TFilter filter)
        where TFilter : struct, IBagFilter
    {
        lock (_lock)
        {
            RetireBag? detached = null;
            RetireBag? previous = null;
            RetireBag? bag = _head;
            while (bag is not null)
            {
                RetireBag? next = bag.Next;
                if (bag.HasBirths && filter.Frees(bag))
                {
                    if (previous is null)
                    {
                        _head = next;
                    }
                    else
                    {
                        previous.Next = next;
                    }

                    if (ReferenceEquals(_tail, bag))
                    {
                        _tail = previous;
                    }

                    _sealedItems -= bag.Count;
                    _bagsWithBirths--;
                    bag.Next = detached;
                    detached = bag;
                }
                else
                {
                    previous = bag;
                }

                bag = next;
            }

            return detached;
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
                if (bag.HasBirths)
                {
                    _bagsWithBirths--;
                }

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
