using System.Diagnostics;
using FastReclaim.Diagnostics;
using FastReclaim.Reclaim;

namespace FastReclaim;

// Collection and dispose: grace periods waited for, expired bags run, and the domain torn down.
public sealed partial class EpochDomain
{
    /// <summary>
    /// Waits for a grace period (<c>synchronize_rcu</c>): returns once every critical section that was open when
    /// it was called has ended. A QSBR thread that is online is treated as quiescent while it waits.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called inside a guard of this domain on this thread.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    public void Synchronize() => WaitQuiescent(nameof(Synchronize), runCallbacks: false);

    /// <summary>
    /// Runs every callback retired so far by any thread (<c>rcu_barrier</c>): flushes every thread's open bag,
    /// waits for a grace period and runs everything it covers.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called inside a guard of this domain on this thread.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    /// <exception cref="AggregateException">Callbacks threw (all others still ran).</exception>
    public void Barrier() => WaitQuiescent(nameof(Barrier), runCallbacks: true);

    /// <summary>
    /// Flushes every thread's open bag, advances the epoch if no reader holds it back, and runs the callbacks
    /// that are now safe. Never waits for readers. Returns the number of callbacks run.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    /// <exception cref="AggregateException">Callbacks threw (all others still ran).</exception>
    public int Collect()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        StealAllOpenBags();
        TryAdvance(wait: true);
        return ReclaimExpired(wait: true);
    }

    /// <summary>
    /// Waits for readers still inside (on other threads), runs every pending callback, and releases every
    /// participant. Later calls on the domain throw <see cref="ObjectDisposedException"/>. Must not race with
    /// Retire on other threads.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called inside a guard of this domain on this thread (nothing is disposed).</exception>
    /// <exception cref="AggregateException">Callbacks threw (all others still ran; the domain is disposed).</exception>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        GoQuiescentForGracePeriod(nameof(Dispose), out _);
        _disposed = true;
        try
        {
            BarrierCore();
        }
        finally
        {
            // Every reader that was inside has left; releasing the slots makes cached lookups miss, so later
            // calls throw. Their bags (retired after the barrier, by a racing caller) are drained below.
            ReaderSlot?[] slots = _registry.Slots;
            foreach (ReaderSlot? slot in slots)
            {
                if (slot is not null)
                {
                    ReleaseSlot(slot);
                }
            }

            WaitForGracePeriod();
            ReclaimExpired(wait: true);
            _metrics.Dispose();
        }
    }

    /// <summary>
    /// <see cref="Synchronize"/> (a grace period) or, with <paramref name="runCallbacks"/>, <see cref="Barrier"/>,
    /// with the calling thread quiescent for the wait.
    /// </summary>
    private void WaitQuiescent(string operation, bool runCallbacks)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ReaderSlot? own = GoQuiescentForGracePeriod(operation, out long announced);
        try
        {
            if (runCallbacks)
            {
                BarrierCore();
            }
            else
            {
                WaitForGracePeriod();
            }
        }
        finally
        {
            ComeBackAfterGracePeriod(own, announced);
        }
    }

    private void BarrierCore()
    {
        SweepExitedThreads();
        StealAllOpenBags();

        // Every bag queued so far was sealed at or before the epoch WaitForGracePeriod starts from, so after it
        // every one of them is expired; the collect lock also waits out a collector still running older bags.
        WaitForGracePeriod();
        ReclaimExpired(wait: true);
    }

    /// <summary>Runs every bag that is two advances old; returns the number of callbacks run.</summary>
    private int ReclaimExpired(bool wait)
    {
        if (!_collectLock.TryEnter())
        {
            if (!wait)
            {
                return 0;
            }

            _collectLock.Enter();
        }

        List<Exception>? errors = null;
        int freed = 0;
        try
        {
            // Acquire load of the epoch written by the advance that made these bags safe: the frees below
            // happen after that advance's scan.
            long expired = Volatile.Read(ref Global.Value) - (GracePeriodEpochs * EpochStep);
            RetireBag? bag = _queue.DetachExpired(expired);
            while (bag is not null)
            {
                RetireBag? next = bag.Next;
                bag.Run(ref errors);
                freed += bag.Count;
                Interlocked.Add(ref _freed, bag.Count);
                _gracePeriods.Record(Stopwatch.GetTimestamp() - bag.SealedTimestamp);
                FastReclaimMetrics.RecordGracePeriod(_metrics.Id, bag.SealedTimestamp);
                _queue.Return(bag);
                bag = next;
            }
        }
        finally
        {
            _collectLock.Exit();
        }

        if (errors is not null)
        {
            throw new AggregateException("One or more retired items' free callbacks threw; every other callback ran.", errors);
        }

        return freed;
    }

    /// <summary>
    /// Checks the calling thread may wait for a grace period: throws inside a guard; a QSBR thread that is
    /// online goes offline for the wait (a grace period is a quiescent point for its caller, as in liburcu's
    /// QSBR flavour). Returns the thread's slot and what it announced, for <see cref="ComeBackAfterGracePeriod"/>.
    /// </summary>
    private ReaderSlot? GoQuiescentForGracePeriod(string operation, out long announced)
    {
        ReaderSlot? own = ThreadSlots.Find(this);
        announced = own is null ? Inactive : own.Line.Epoch;
        if ((announced & GuardBit) != 0)
        {
            throw new InvalidOperationException(
                $"EpochDomain.{operation} was called inside a guard of the same domain on the same thread; the grace period would wait for this thread forever.");
        }

        if (own is not null && announced != Inactive)
        {
            Volatile.Write(ref own.Line.Epoch, Inactive);
        }

        return own;
    }

    private void ComeBackAfterGracePeriod(ReaderSlot? own, long announced)
    {
        if (own is not null && announced != Inactive && !_disposed)
        {
            // Back online at the current epoch: R2, as Online does.
            own.Line.Announce(Volatile.Read(ref Global.Value));
        }
    }
}
