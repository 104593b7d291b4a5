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
    /// <exception cref="AggregateException">
    /// Callbacks threw: those this call ran and those run since the last report (see <see cref="EpochDomain"/>).
    /// Thrown once the barrier is complete: every other callback ran and the counters are exact.
    /// </exception>
    public void Barrier()
    {
        WaitQuiescent(nameof(Barrier), runCallbacks: true);
        ThrowCallbackErrors();
    }

    /// <summary>
    /// Flushes every thread's open bag, advances the epoch if no reader holds it back, and runs the callbacks
    /// that are now safe. Never waits for readers. Returns the number of callbacks run.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    /// <exception cref="AggregateException">
    /// Callbacks threw: those this call ran and those run since the last report (see <see cref="EpochDomain"/>).
    /// Thrown once the collection is complete: every other callback ran and the counters are exact.
    /// </exception>
    public int Collect()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        StealAllOpenBags();
        bool advanced = TryAdvance(wait: true);
        int freed = ReclaimExpired(wait: true);
        if (!advanced)
        {
            freed += ReclaimIntervals(wait: true);
        }

        ThrowCallbackErrors();
        return freed;
    }

    /// <summary>
    /// Barrier for a user of the domain (an <see cref="AddressSpace"/> being disposed): runs every callback retired
    /// so far and leaves the exceptions of callbacks that threw to the domain's own next report, so a user never
    /// throws another user's callback errors. Throws only what <see cref="Barrier"/> throws before it does any work.
    /// </summary>
    internal void BarrierKeepingErrors() => WaitQuiescent(nameof(Barrier), runCallbacks: true);

    /// <summary>
    /// The collection a <see cref="RetireUnderLock"/> deferred, if one is due: the retiring thread's share
    /// (<see cref="CollectAfterSeal"/>), run by its caller once it holds no lock and no guard. Never throws a
    /// callback's exception (they wait for the next report). Costs one load when nothing is due.
    /// </summary>
    internal void CollectIfDue()
    {
        // A plain flag: a due collection seen late is only a collection a little later (the next writer or the
        // next threshold serves it), never a lost item.
        if (Volatile.Read(ref _collectDue) != 0 && Interlocked.Exchange(ref _collectDue, 0) != 0 && !_disposed)
        {
            CollectAfterSeal();
        }
    }

    /// <summary>
    /// Waits for readers still inside (on other threads), runs every pending callback, and releases every
    /// participant (open <see cref="EpochReader"/> handles included). Later calls on the domain throw
    /// <see cref="ObjectDisposedException"/>. Must not race with Retire on other threads. A second call does nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// Called inside a guard of this domain on this thread, or an <see cref="AddressSpace"/> still uses the domain
    /// (the message names the users; dispose them first). Nothing is disposed and nothing changes.
    /// </exception>
    /// <exception cref="AggregateException">
    /// Callbacks threw: those this call ran and those run since the last report (see <see cref="EpochDomain"/>).
    /// Thrown once the domain is disposed: every other callback ran.
    /// </exception>
    public void Dispose()
    {
        lock (_usersLock)
        {
            if (_disposed)
            {
                return;
            }

            if (_users is { Count: > 0 } users)
            {
                throw new InvalidOperationException(
                    $"EpochDomain.Dispose: the domain is still used by {users.Count} user(s) ({string.Join(", ", users)}); dispose them first. Nothing was disposed.");
            }

            GoQuiescentForGracePeriod(nameof(Dispose), out _);
            _disposed = true;
        }

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

        ThrowCallbackErrors();
    }

    /// <summary>
    /// Registers <paramref name="user"/> (an <see cref="AddressSpace"/> on a domain it was given): until the matching
    /// <see cref="RemoveUser"/>, <see cref="Dispose"/> throws and names it (its <see cref="object.ToString"/>).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    internal void AddUser(object user)
    {
        lock (_usersLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            (_users ??= []).Add(user);
        }
    }

    /// <summary>
    /// Unregisters <paramref name="user"/> (the same object, not one equal to it) added by <see cref="AddUser"/>;
    /// harmless if it is not registered (a second call).
    /// </summary>
    internal void RemoveUser(object user)
    {
        lock (_usersLock)
        {
            int index = _users?.FindIndex(u => ReferenceEquals(u, user)) ?? -1;
            if (index >= 0)
            {
                _users!.RemoveAt(index);
            }
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

        try
        {
            // Acquire load of the epoch written by the advance that made these bags safe: the frees below
            // happen after that advance's scan.
            long expired = Volatile.Read(ref Global.Value) - (GracePeriodEpochs * EpochStep);
            return RunDetached(_queue.DetachExpired(expired));
        }
        finally
        {
            _collectLock.Exit();
        }
    }

    /// <summary>Runs a chain of detached bags and returns them to the pool; the caller holds the collect lock.</summary>
    private int RunDetached(RetireBag? bag)
    {
        List<Exception>? errors = null;
        int freed = 0;
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

        if (errors is not null)
        {
            KeepCallbackErrors(errors, errors.Count);
        }

        return freed;
    }

    /// <summary>
    /// Keeps the exceptions of callbacks that threw for the next report, up to <see cref="MaxKeptCallbackErrors"/>
    /// (the rest are counted), and counts <paramref name="failedItems"/> in <see cref="EpochStats.FailedCallbacks"/>
    /// (the free callbacks among them; an expedite's failure frees no item). The caller holds the collect lock.
    /// </summary>
    private void KeepCallbackErrors(List<Exception> errors, int failedItems)
    {
        _failedCallbacks += failedItems;
        List<Exception> kept = _callbackErrors ??= [];
        int room = Math.Max(0, MaxKeptCallbackErrors - kept.Count);
        kept.AddRange(errors.Count <= room ? errors : errors.GetRange(0, room));
        _droppedCallbackErrors += Math.Max(0, errors.Count - room);
    }

    /// <summary>
    /// The report: throws the kept exceptions of callbacks that threw since the last report, as one
    /// <see cref="AggregateException"/>, and forgets them. Called by Collect, Barrier and Dispose once their work is
    /// complete and no lock is held.
    /// </summary>
    private void ThrowCallbackErrors()
    {
        List<Exception>? errors;
        long dropped;
        lock (_collectLock)
        {
            errors = _callbackErrors;
            dropped = _droppedCallbackErrors;
            _callbackErrors = null;
            _droppedCallbackErrors = 0;
        }

        if (errors is null)
        {
            return;
        }

        string more = dropped == 0 ? string.Empty : $" ({dropped} more threw; only the first {MaxKeptCallbackErrors} are kept)";
        throw new AggregateException(
            $"{errors.Count + dropped} retired items' free callbacks (or readers' expedite callbacks) threw since the last report{more}; every other callback ran and the items count as freed.",
            errors);
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
        if ((announced & GuardDepthMask) != 0)
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
            own.Line.AnnounceLower(ref Global.Era);
        }
    }
}
