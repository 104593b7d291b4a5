using FastReclaim.Reclaim;

namespace FastReclaim;

// Interval reclamation (2GE-IBR): bags whose items all carry a birth era are freed once no reader's interval
// [lower, upper] intersects [earliest birth, sealed era], even while a reader holds the epoch back. I1-I6 in README.md.
public sealed partial class EpochDomain
{
    /// <summary>Advance-lock scratch: the intervals of the readers one interval pass found inside.</summary>
    private ReaderInterval[] _intervals = new ReaderInterval[16];

    /// <summary>
    /// The era a table is born at: read by the writer before it publishes the table (and passed to
    /// <see cref="RetireUnderLock(nint, Action{nint}, long)"/> when the table is retired). An acquire, so a reader that
    /// sees the published table reads an era at least this large afterwards (I1).
    /// </summary>
    internal long BirthEra => Volatile.Read(ref Global.Era);

    /// <summary>The birth of an item retired without one (the public Retire): only the epoch rule frees it.</summary>
    internal const long NoBirth = RetireBag.NoBirth;

    /// <summary>A reader's interval as one interval pass saw it.</summary>
    private readonly record struct ReaderInterval(long Lower, long Upper);

    /// <summary>
    /// One interval pass: scans the readers after a process-wide barrier and frees every queued bag with births
    /// whose interval no reader's intersects. Returns the callbacks run. Called when an advance attempt failed.
    /// </summary>
    private int ReclaimIntervals(bool wait)
    {
        if (_queue.BagsWithBirths == 0)
        {
            return 0;
        }

        if (!_advanceLock.TryEnter())
        {
            if (!wait)
            {
                return 0;
            }

            _advanceLock.Enter();
        }

        RetireBag? free;
        List<Action>? expedites = null;
        try
        {
            // I6: only bags sealed before this read are candidates: their unlinks precede the barrier below, so a
            // reader the scan does not see (it announced after the barrier) cannot reach them.
            var filter = new IntervalFilter(this, Volatile.Read(ref Global.Era), ScanIntervals(ref expedites));
            free = _queue.DetachWhere(ref filter);
        }
        finally
        {
            _advanceLock.Exit();
        }

        // Outside the lock, as TryAdvance does.
        foreach (Action expedite in expedites ?? [])
        {
            Expedite(expedite);
        }

        if (free is null)
        {
            return 0;
        }

        lock (_collectLock)
        {
            return RunDetached(free);
        }
    }

    /// <summary>
    /// A2 and a full A3: the intervals of every reader inside, into <see cref="_intervals"/>; returns how many. Also
    /// asks every reader that blocks the epoch and has an expedite due (the advance only asks the first blocker it
    /// finds, which may be a guard that never leaves, while an online QSBR thread behind it holds tables back too).
    /// </summary>
    private int ScanIntervals(ref List<Action>? expedites)
    {
        long epoch = Global.Value;
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        Interlocked.MemoryBarrierProcessWide();
        _barriers++;
        int limit = _registry.ScanLimit;
        ReaderSlot?[] slots = _registry.Slots;
        limit = Math.Min(limit, slots.Length);
        int count = 0;
        for (int i = 0; i < limit; i++)
        {
            ReaderSlot? slot = Volatile.Read(ref slots[i]);
            if (slot is null)
            {
                continue;
            }

            // The announcement before the ends (I5): ends read later are this section's or, if it has left since, a
            // later one's (x86-64 keeps stores in order, so the later section's stores mean this one's loads are done).
            long announced = Volatile.Read(ref slot.Line.Epoch);
            if (announced is Inactive or EpochReader.Released)
            {
                continue;
            }

            if ((announced & ~GuardDepthMask) != epoch && ExpediteDue(epoch, slot, now) is { } kick)
            {
                (expedites ??= []).Add(kick);
            }

            long lower = Volatile.Read(ref slot.Line.Lower);
            long upper = Math.Max(lower, Volatile.Read(ref slot.Line.Upper));
            if (count == _intervals.Length)
            {
                Array.Resize(ref _intervals, count * 2);
            }

            _intervals[count++] = new ReaderInterval(lower, upper);
        }

        return count;
    }

    /// <summary>
    /// Frees a bag sealed before the pass began (<see cref="RetireBag.SealedEra"/> below the bound) whose
    /// [<see cref="RetireBag.MinBirth"/>, <see cref="RetireBag.SealedEra"/>] meets no reader's [lower, upper].
    /// </summary>
    private readonly struct IntervalFilter(EpochDomain domain, long eraBound, int readers) : GarbageQueue.IBagFilter
    {
        public bool Frees(RetireBag bag)
        {
            if (bag.SealedEra >= eraBound)
            {
                return false;
            }

            ReadOnlySpan<ReaderInterval> intervals = domain._intervals.AsSpan(0, readers);
            foreach (ReaderInterval reader in intervals)
            {
                // The reader may hold a table of the bag: it was inside when the bag was sealed, and its upper end
                // reaches the earliest birth.
#if FASTRECLAIM_FAULT_INJECTION
                bool reaches = domain._fault == EpochFault.BirthAtUpperIsFree ? reader.Upper > bag.MinBirth : reader.Upper >= bag.MinBirth;
#else
                bool reaches = reader.Upper >= bag.MinBirth;
#endif
                if (reader.Lower <= bag.SealedEra && reaches)
                {
                    return false;
                }
            }

            return true;
        }
    }
}
