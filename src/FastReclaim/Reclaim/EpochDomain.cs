using System.Diagnostics;
using FastReclaim.Diagnostics;
using FastReclaim.Reclaim;

namespace FastReclaim;

/// <summary>
/// Lock-free epoch-based reclamation (RCU for native memory): readers walk shared structures inside
/// <see cref="Enter"/> guards; writers unlink an item and <see cref="Retire(nint, Action{nint})"/> it, and its free callback runs only
/// once every reader that could still see it has left.
/// </summary>
/// <remarks>
/// <para>
/// Entering costs a thread-static load and a plain store; the writer side pays for the ordering with one
/// process-wide memory barrier per epoch advance (liburcu's <c>urcu-memb</c> idea). Any thread may use the
/// domain: a thread gets its slot on first use and gives it back when it exits; there is no thread limit.
/// Retired items are batched in per-thread bags of <see cref="RetireBag.Capacity"/> and freed two epochs after
/// their bag is sealed. <see cref="RegisterReader()"/> gives a handle with a cheaper, non-nesting read side, and
/// <see cref="Online()"/>/<see cref="Quiescent"/>/<see cref="Offline"/> give QSBR threads a read side that costs
/// nothing at all.
/// </para>
/// <para>
/// Callbacks run on whichever thread collects: a retiring thread past <see cref="EpochOptions.CollectThreshold"/>
/// (after it has queued its own item), a writer of an <see cref="AddressSpace"/> once it has released its table
/// locks, or a caller of <see cref="Collect"/>, <see cref="Barrier"/> or <see cref="Dispose"/>. A callback never
/// runs under a table lock of an address space.
/// </para>
/// <para>
/// A callback that throws is a failure of that item's free, not of the call that happened to run it. It never
/// stops the others, never leaves a lock held, and its item counts as freed (<see cref="EpochStats.Freed"/>; it
/// is not run again) and as failed (<see cref="EpochStats.FailedCallbacks"/>). Its exception is kept and
/// reported once, by the next <see cref="Collect"/>, <see cref="Barrier"/> or <see cref="Dispose"/> on any
/// thread: after that call's work is complete, every exception kept since the last report is thrown together as
/// one <see cref="AggregateException"/> (the first <see cref="MaxKeptCallbackErrors"/>; the message counts the
/// rest). <see cref="Retire(nint, Action{nint})"/> and the operations of an address space never throw a callback's
/// exception: the item they retired is queued whatever another item's callback did. (liburcu runs callbacks on
/// a thread of its own, where nothing can report to the retirer either; a Task keeps its exception for whoever
/// observes it.)
/// </para>
/// </remarks>
public sealed partial class EpochDomain : IDisposable, IEpochMetricsSource
{
    // The design and the memory-ordering argument that the comments cite by step (R1-R4 of a reader, S1-S2 of
    // a retirer, A1-A4 of the advancer) are in README.md, next to this file. The class is split by concept:
    // ReadSide (guards, handles, QSBR), Slots (a participant's life), Retire (bags and sealing), Advance
    // (A1-A4, stall detection), Collect (grace periods, running callbacks, Dispose).

    /// <summary>What a slot announces outside every critical section.</summary>
    internal const long Inactive = 0;

    /// <summary>
    /// Low bits of an announcement that count the guards open on the slot (a reader handle counts as one): the
    /// nesting depth, which lets <see cref="EpochGuard.Dispose"/> catch out-of-order disposal. 12 bits: guards nest
    /// up to <see cref="GuardDepthMask"/> (4095) deep, and the 51 bits left count advances for decades at the
    /// fastest rate the process-wide barrier allows.
    /// </summary>
    internal const int GuardDepthBits = 12;

    /// <summary>The guard-depth bits of an announcement; also the deepest nesting allowed.</summary>
    internal const long GuardDepthMask = (1L << GuardDepthBits) - 1;

    /// <summary>Raw step of the global epoch: the bits below it are the guard depth of an announcement.</summary>
    internal const long EpochStep = 1L << GuardDepthBits;

    /// <summary>
    /// Advances between sealing a bag and freeing it: a reader pinned at the sealing epoch may see one advance
    /// while it is still inside (crossbeam's <c>is_expired</c>).
    /// </summary>
    private const int GracePeriodEpochs = 2;

    /// <summary>
    /// Callback exceptions kept for the next report (<see cref="Collect"/>, <see cref="Barrier"/>,
    /// <see cref="Dispose"/>); more are counted, not kept, so a callback that always throws in a domain nobody
    /// collects explicitly does not grow memory without bound.
    /// </summary>
    public const int MaxKeptCallbackErrors = 64;

    /// <summary>The last <see cref="Key"/> handed out.</summary>
    private static long s_lastKey;

    /// <summary>
    /// The global epoch (written only under <see cref="_advanceLock"/>) and the <see cref="Key"/>, alone on their
    /// cache lines.
    /// </summary>
    internal PaddedEpoch Global;

    private readonly ReaderRegistry _registry = new();
    private readonly GarbageQueue _queue = new();
    private readonly Lock _advanceLock = new();
    private readonly Lock _collectLock = new();
    private readonly Lock _usersLock = new();
    private readonly LatencyHistogram _gracePeriods = new();
    private readonly MetricsRegistration _metrics;
    private readonly int _collectThreshold;
    private readonly long _maxPendingItems;
    private readonly long _stallDeadlineTicks;
    private readonly long _expediteAfterTicks;
#if FASTRECLAIM_FAULT_INJECTION
    private readonly EpochFault _fault;
#endif

    private long _freed;
    private long _retiredByReleasedSlots;
    private long _stalls;
    private long _expedites;
    private long _advances;
    private long _barriers;
    private long _itemsSinceCollect;

    /// <summary>1 when a <see cref="RetireUnderLock"/> reached the collect threshold and left the collection to <see cref="CollectIfDue"/>.</summary>
    private int _collectDue;
    private volatile bool _disposed;

    // Under the users lock: who still uses the domain (AddUser), so Dispose can refuse and name them.
    private List<object>? _users;

    // Under the collect lock: callback exceptions kept for the next report, those counted but not kept, and
    // every callback that threw.
    private List<Exception>? _callbackErrors;
    private long _droppedCallbackErrors;
    private long _failedCallbacks;

    // Advance-lock state: the reader that blocked the last attempt, and since when the epoch is blocked.
    private ReaderSlot? _blocker;
    private long _blockerAnnouncement;
    private long _blockedEpoch = -1;
    private long _blockedSince;
    private long _reportedStallEpoch = -1;

    /// <summary>Creates a domain with the given options (defaults when null).</summary>
    public EpochDomain(EpochOptions? options = null)
    {
        options ??= new EpochOptions();
        _collectThreshold = options.CollectThreshold;
        _maxPendingItems = options.MaxPendingItems;
        _stallDeadlineTicks = (long)(options.StallDeadline.TotalSeconds * Stopwatch.Frequency);
        _expediteAfterTicks = (long)(options.ExpediteAfter.TotalSeconds * Stopwatch.Frequency);
#if FASTRECLAIM_FAULT_INJECTION
        _fault = options.Fault;
#endif
        Global.Value = EpochStep;
        Global.Key = Interlocked.Increment(ref s_lastKey);

        // Initializes the read side's checked-mode switch before any handle of this domain is used, so that code
        // the JIT optimizes from now on reads it as a constant (and drops the check when it is off).
        _ = ReadSideChecks.Enabled;
        _metrics = FastReclaimMetrics.Register(this);
    }

    /// <summary>Raised (on the thread that noticed) when a reader holds the epoch back past the stall deadline.</summary>
    internal event Action<EpochStall>? Stalled;

    /// <summary>A snapshot of the domain's counters.</summary>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    public EpochStats Stats
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return ReadStats();
        }
    }

    /// <summary><see cref="Stats"/> without the disposed check, for the meter (which may read once more while the domain is disposed).</summary>
    private EpochStats ReadStats()
    {
        // Freed is read first: every freed item was counted as retired before, so Pending never goes negative.
        long freed = Volatile.Read(ref _freed);
        long retired;
        int registered;
        int active = 0;
        lock (_registry.SyncRoot)
        {
            retired = Volatile.Read(ref _retiredByReleasedSlots);
            ReaderSlot?[] slots = _registry.Slots;
            int limit = Math.Min(_registry.ScanLimit, slots.Length);
            for (int i = 0; i < limit; i++)
            {
                if (slots[i] is { } slot)
                {
                    retired += Volatile.Read(ref slot.Line.Retired);
                    if (Volatile.Read(ref slot.Line.Epoch) != Inactive)
                    {
                        active++;
                    }
                }
            }

            registered = _registry.Count;
        }

        return new EpochStats
        {
            GlobalEpoch = (Volatile.Read(ref Global.Value) / EpochStep) - 1,
            RegisteredThreads = registered,
            ActiveThreads = active,
            Retired = retired,
            Freed = freed,
            Pending = retired - freed,
            FailedCallbacks = Volatile.Read(ref _failedCallbacks),
            Stalls = Volatile.Read(ref _stalls),
            Expedites = Volatile.Read(ref _expedites),
            Advances = Volatile.Read(ref _advances),
            ProcessWideBarriers = Volatile.Read(ref _barriers),
            GracePeriods = _gracePeriods.Count,
            GracePeriodP50 = _gracePeriods.Percentile(0.50),
            GracePeriodP99 = _gracePeriods.Percentile(0.99),
            GracePeriodMax = _gracePeriods.Max,
        };
    }

    /// <summary>
    /// Names the domain in its slots' lines (<see cref="ReaderLine.DomainKey"/>): unique in the process and never
    /// reused (a 64-bit count), never 0 (the key of a released slot), so a thread's cached line matches only a
    /// slot of this domain that is still registered.
    /// </summary>
    internal long Key => Global.Key;

    EpochReading IEpochMetricsSource.ReadMetrics()
    {
        EpochStats stats = ReadStats();
        return new EpochReading(stats.GlobalEpoch, stats.Pending, stats.Freed, stats.Stalls);
    }

    /// <summary>The registry, for tests of slot reuse.</summary>
    internal ReaderRegistry Registry => _registry;
}
