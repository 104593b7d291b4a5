using System.Diagnostics;
using System.Diagnostics.Tracing;
using FastReclaim.Diagnostics;
using FastReclaim.Reclaim;

namespace FastReclaim;

// Advance and stall detection: A1-A4 of the argument, under the advance lock, and the reports of a reader that holds the epoch back.
public sealed partial class EpochDomain
{
    /// <summary>Advances the epoch twice from now (each advance waits for the readers of the epoch before).</summary>
    private void WaitForGracePeriod()
    {
        long target = Volatile.Read(ref Global.Value) + (GracePeriodEpochs * EpochStep);
        var spin = new SpinWait();
        while (Volatile.Read(ref Global.Value) < target)
        {
            if (!TryAdvance(wait: true))
            {
                spin.SpinOnce();
            }
        }
    }

    private bool TryAdvance(bool wait)
    {
        if (!_advanceLock.TryEnter())
        {
            if (!wait)
            {
                return false;
            }

            _advanceLock.Enter();
        }

        EpochStall? stall = null;
        Action? expedite = null;
        bool advanced;
        try
        {
            advanced = AdvanceLocked(ref stall, ref expedite);
        }
        finally
        {
            _advanceLock.Exit();
        }

        // Both outside the advance lock: the expedite and the stall's listeners are user code, which must be free
        // to block on what the reader holds, and the reader never needs our lock to reach its quiescent point.
        if (expedite is not null)
        {
            Expedite(expedite);
        }

        if (stall is { } report)
        {
            ReportStall(report);
        }

        return advanced;
    }

    /// <summary>
    /// Calls a blocking reader's expedite (on this thread, the one trying to advance; no domain lock held). An
    /// exception is kept for the next report, as a free callback's is (EpochDomain.Collect.cs): the caller of
    /// TryAdvance — a retiring thread, a writer leaving its guard, Collect, Barrier — is not the one to blame for it.
    /// </summary>
    private void Expedite(Action expedite)
    {
        try
        {
            expedite();
        }
        catch (Exception e)
        {
            lock (_collectLock)
            {
                KeepCallbackErrors([e], failedItems: 0);
            }
        }
    }

    /// <summary>A1–A4 of the ordering argument (README.md).</summary>
    private bool AdvanceLocked(ref EpochStall? stall, ref Action? expedite)
    {
        long epoch = Global.Value;
#if FASTRECLAIM_FAULT_INJECTION
        if (_fault != EpochFault.IgnoreReaders)
#endif
        {
            // The reader that blocked the last attempt still announces the same old epoch: this attempt would
            // fail too. A stale read here can only make us fail, never advance, so it needs no barrier — this
            // keeps a stalled reader from costing a process-wide barrier per retire batch.
            ReaderSlot? blocker = _blocker;
            if (blocker is not null && ReferenceEquals(blocker.Domain, this)
                && Volatile.Read(ref blocker.Line.Epoch) == _blockerAnnouncement)
            {
                stall = NoteBlocked(epoch, blocker, ref expedite);
                return false;
            }

            // A2: every running thread executes a full barrier, so a reader's plain-store announcement is either
            // visible to the reads below or the reader's later loads see everything we have seen.
            Interlocked.MemoryBarrierProcessWide();
            _barriers++;

            // A3. The limit is read before the array (see ReaderRegistry for why a missed slot is safe).
            int limit = _registry.ScanLimit;
            ReaderSlot?[] slots = _registry.Slots;
            limit = Math.Min(limit, slots.Length);
            for (int i = 0; i < limit; i++)
            {
                ReaderSlot? slot = Volatile.Read(ref slots[i]);
                if (slot is null)
                {
                    continue;
                }

                long announced = Volatile.Read(ref slot.Line.Epoch);
                if (announced != Inactive && (announced & ~GuardDepthMask) != epoch)
                {
                    _blocker = slot;
                    _blockerAnnouncement = announced;
                    stall = NoteBlocked(epoch, slot, ref expedite);
                    return false;
                }
            }
        }

        _blocker = null;
        _blockedEpoch = -1;

        // A4: a release store; readers load it with an acquire (R1). Only this lock's holder writes it.
        Volatile.Write(ref Global.Value, epoch + EpochStep);
        _advances++;
        return true;
    }

    /// <summary>
    /// Tracks how long <paramref name="epoch"/> has been blocked; returns a stall report once per epoch past the
    /// deadline, and in <paramref name="expedite"/> the blocker's expedite once per epoch past
    /// <see cref="EpochOptions.ExpediteAfter"/> (for the caller to call once it has left the advance lock).
    /// </summary>
    private EpochStall? NoteBlocked(long epoch, ReaderSlot blocker, ref Action? expedite)
    {
        long now = Stopwatch.GetTimestamp();
        if (_blockedEpoch != epoch)
        {
            _blockedEpoch = epoch;
            _blockedSince = now;
            return null;
        }

        expedite = ExpediteDue(epoch, blocker, now) ?? expedite;

        if (now - _blockedSince < _stallDeadlineTicks)
        {
            return null;
        }

        if (blocker.OwnerHasExited)
        {
            // A thread that exited online (QSBR) holds nothing; take its slot back instead of reporting it.
            ReleaseSlot(blocker);
            _blocker = null;
            return null;
        }

        if (_reportedStallEpoch == epoch)
        {
            return null;
        }

        _reportedStallEpoch = epoch;
        Interlocked.Increment(ref _stalls);
        return new EpochStall(
            (epoch / EpochStep) - 1,
            blocker.ManagedThreadId,
            Stopwatch.GetElapsedTime(_blockedSince, now),
            _queue.SealedItems);
    }

    /// <summary>
    /// <paramref name="reader"/>'s expedite if it is due: <paramref name="epoch"/> has been blocked for
    /// <see cref="EpochOptions.ExpediteAfter"/> and the reader was not asked for it yet. Once per grace period and
    /// reader (a second reader blocking the same epoch is asked when it is found); decided under the advance lock, so
    /// two advancers never both call it.
    /// </summary>
    private Action? ExpediteDue(long epoch, ReaderSlot reader, long now)
    {
        if (_blockedEpoch != epoch || now - _blockedSince < _expediteAfterTicks || reader.ExpeditedEpoch == epoch || reader.Expedite is not { } kick)
        {
            return null;
        }

        reader.ExpeditedEpoch = epoch;
        _expedites++;
        return kick;
    }

    private void ReportStall(EpochStall stall)
    {
        Stalled?.Invoke(stall);
        if (FastReclaimEventSource.IsOn(EventLevel.Warning, FastReclaimEventSource.Keywords.Stall))
        {
            FastReclaimEventSource.Log.ReaderStall(_metrics.Id, stall.Epoch, (long)stall.Duration.TotalMilliseconds, stall.PendingItems);
        }
    }
}
