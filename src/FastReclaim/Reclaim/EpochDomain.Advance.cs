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
        bool advanced;
        try
        {
            advanced = AdvanceLocked(ref stall);
        }
        finally
        {
            _advanceLock.Exit();
        }

        if (stall is { } report)
        {
            ReportStall(report);
        }

        return advanced;
    }

    /// <summary>A1–A4 of the ordering argument (README.md).</summary>
    private bool AdvanceLocked(ref EpochStall? stall)
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
                stall = NoteBlocked(epoch, blocker);
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
                    stall = NoteBlocked(epoch, slot);
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

    /// <summary>Tracks how long <paramref name="epoch"/> has been blocked; returns a stall report once per epoch past the deadline.</summary>
    private EpochStall? NoteBlocked(long epoch, ReaderSlot blocker)
    {
        long now = Stopwatch.GetTimestamp();
        if (_blockedEpoch != epoch)
        {
            _blockedEpoch = epoch;
            _blockedSince = now;
            return null;
        }

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

    private void ReportStall(EpochStall stall)
    {
        Stalled?.Invoke(stall);
        if (FastReclaimEventSource.IsOn(EventLevel.Warning, FastReclaimEventSource.Keywords.Stall))
        {
            FastReclaimEventSource.Log.ReaderStall(_metrics.Id, stall.Epoch, (long)stall.Duration.TotalMilliseconds, stall.PendingItems);
        }
    }
}
