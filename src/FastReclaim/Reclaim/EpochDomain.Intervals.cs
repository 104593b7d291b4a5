using FastReclaim.Reclaim;

namespace FastReclaim;

// Interval reclamation (2GE-IBR): bags whose items all carry a birth era are freed once no reader's interval
// [lower, upper] intersects [earliest birth, sealed era], even while a reader holds the epoch back. I1-I6 in README.md.
public sealed partial class EpochDomain
{
    /// <summary>
    /// Epochs whose starting era the advancer remembers (a power of two). A reader announces an epoch, not an era:
    /// its lower end is the era at the start of that epoch, and only the last two epochs can be announced by a reader
    /// the advance has not overtaken; an older one (a reader preempted between R1 and R2) falls back to "no lower
    /// end", which only holds more.
    /// </summary>
    private const int EraRingSize = 8;

    /// <summary>Advance-lock state: (raw epoch, era read just before that epoch was published), by epoch modulo the size.</summary>
    private readonly (long Epoch, long Era)[] _eraAtEpoch = new (long, long)[EraRingSize];

    /// <summary>Advance-lock scratch: the intervals of the readers one interval pass found inside.</summary>
    private ReaderInterval[] _intervals = new ReaderInterval[16];

    /// <summary>
    /// The era a table is born at: read by the writer before it publishes the table (and passed to
    /// <see cref="RetireUnderLock(nint, Action{nint}, long)"/> when the table is retired). An acquire, so a reader that
    /// sees the published table reads an era at least this large afterwards (I1).
    /// </summary>
    internal long BirthEra => Volatile.Read(ref Global.Era);

    /// <summary>A reader's interval as one interval pass saw it.</summary>
    private readonly record struct ReaderInterval(long Lower, long Upper);

    /// <summary>Remembers the era at the start of <paramref name="epoch"/>; the advancer calls it before A4 publishes that epoch.</summary>
    private void RecordEraAt(long epoch) =>
        _eraAtEpoch[(epoch / EpochStep) & (EraRingSize - 1)] = (epoch, Volatile.Read(ref Global.Era));

    /// <summary>The lower end of a reader that announces <paramref name="epoch"/> (I5); <see cref="long.MinValue"/> when forgotten.</summary>
    private long LowerEraOf(long epoch)
    {
        (long recorded, long era) = _eraAtEpoch[(epoch / EpochStep) & (EraRingSize - 1)];
        return recorded == epoch ? era : long.MinValue;
    }

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
        try
        {
            // I6: only bags sealed before this read are candidates: their unlinks precede the barrier below, so a
            // reader the scan does not see (it announced after the barrier) cannot reach them.
            var filter = new IntervalFilter(this, Volatile.Read(ref Global.Era), ScanIntervals());
            free = _queue.DetachWhere(ref filter);
        }
        finally
        {
            _advanceLock.Exit();
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

    /// <summary>A2 and a full A3: the intervals of every reader inside, into <see cref="_intervals"/>; returns how many.</summary>
    private int ScanIntervals()
    {
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

            // The announcement before the upper end (I5): an upper end read later is the same section's or a later
            // one's, never smaller than what this section announced before the barrier.
            long announced = Volatile.Read(ref slot.Line.Epoch);
            if (announced is Inactive or EpochReader.Released)
            {
                continue;
            }

            long lower = LowerEraOf(announced & ~GuardDepthMask);
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
