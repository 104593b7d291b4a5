using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Runtime.CompilerServices;

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
/// their bag is sealed. <see cref="RegisterReader"/> gives a handle with a cheaper, non-nesting read side, and
/// <see cref="Online"/>/<see cref="Quiescent"/>/<see cref="Offline"/> give QSBR threads a read side that costs
/// nothing at all.
/// </para>
/// <para>
/// Callbacks run on whichever thread collects (a retiring thread past <see cref="EpochOptions.CollectThreshold"/>,
/// or a caller of <see cref="Collect"/>, <see cref="Barrier"/> or <see cref="Dispose"/>). An exception thrown by a
/// callback does not stop the others; they are rethrown together as an <see cref="AggregateException"/> by the
/// call that ran them.
/// </para>
/// </remarks>
public sealed class EpochDomain : IDisposable, IEpochMetricsSource
{
    // ---- The memory-ordering argument ------------------------------------------------------------------------
    //
    // Raw epochs. Global.Value starts at EpochStep and grows by EpochStep; bit 0 of an announcement is GuardBit.
    // A slot announces Inactive (0), or E | GuardBit inside a guard/handle entered at global epoch E, or E for a
    // QSBR thread that is online and last quiescent at E.
    //
    // Rule of the advancer (AdvanceLocked), under _advanceLock, the only writer of Global:
    //   A1  g = Global
    //   A2  Interlocked.MemoryBarrierProcessWide()
    //   A3  read every registered slot; if one announces an epoch other than g, give up
    //   A4  Global = g + EpochStep
    // Rule of the retirer: an item is unlinked (U) before Retire; its bag is sealed with
    //   S1  Interlocked.MemoryBarrier()             (so U is globally visible before S2 — crossbeam PR #53's order)
    //   S2  e = Global
    // and the bag is freed only once Global >= e + 2 * EpochStep (two advances after S2).
    // Rule of the reader (Enter): R1 r = Global; R2 slot = r | GuardBit (plain store); R3 loads of the structure;
    //   R4 slot = previous (release store).
    //
    // Claim: a reader never loads a pointer to an item after its free callback started.
    // Let the bag be sealed at e, and let X be the advance from e + 1 to e + 2 (it exists: the bag is freed
    // only after it). Take a reader that loads a pointer to the item at R3. Loading it means R3 read the structure
    // before U was visible to it. membarrier (A2 of X) splits the reader's execution at a point P where it ran a
    // full barrier: everything before P is visible to X's A3, and everything after P sees everything X's thread
    // saw before A2.
    //   * R2 before P: X's A3 sees the announcement r. X advanced, so r = e + 1: R1 read the value written by
    //     the advance from e to e + 1, which came after S2 read e, which came after U was globally visible (S1).
    //     Loads are not reordered with loads (x86-64 TSO; Volatile.Read is an acquire elsewhere), so R3, after
    //     R1, sees U: it cannot reach the item. (If A3 saw an older r, X did not advance.)
    //   * R2 after P: R3 is after P too, so it sees what X's thread saw before A2: X's A1 read e + 1, written
    //     after S2, itself after U became visible — R3 sees U and cannot reach the item.
    // The reader may still be inside when the callback runs only if it entered after U, so it never saw the item.
    // The argument relies on the hardware being multi-copy atomic (x86-64, ARMv8) and on the JIT not moving the
    // plain store R2 below the loads of R3, which RyuJIT does not do for heap accesses (liburcu uses a compiler
    // barrier at the same place).
    //
    // Garnet PR #2015 is this argument missing: its reader announced with a plain store and the reclaimer read
    // the slots with no fence pairing it, so a reclaimer could see a live reader's slot as free (the R2-before-P
    // case without A2). The fix there made the announce a locked instruction; here the reader stays a plain store
    // and the advancer pays with A2, once per advance attempt (batched by CollectThreshold).
    //
    // Nested guards leave the announcement as it is; a guard opened by a QSBR thread keeps its older epoch; a
    // registration the scan misses is covered by the "R2 after P" case (ReaderRegistry).
    // -----------------------------------------------------------------------------------------------------------

    /// <summary>What a slot announces outside every critical section.</summary>
    internal const long Inactive = 0;

    /// <summary>Announcement bit set while a guard or reader handle is open.</summary>
    internal const long GuardBit = 1;

    /// <summary>Raw step of the global epoch (bit 0 is <see cref="GuardBit"/>).</summary>
    internal const long EpochStep = 2;

    /// <summary>
    /// Advances between sealing a bag and freeing it: a reader pinned at the sealing epoch may see one advance
    /// while it is still inside (crossbeam's <c>is_expired</c>).
    /// </summary>
    private const int GracePeriodEpochs = 2;

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
    private readonly LatencyHistogram _gracePeriods = new();
    private readonly MetricsRegistration _metrics;
    private readonly int _collectThreshold;
    private readonly long _maxPendingItems;
    private readonly long _stallDeadlineTicks;
    private readonly bool _freeAtOnce;
    private readonly bool _ignoreReaders;

    private long _freed;
    private long _retiredByReleasedSlots;
    private long _stalls;
    private long _advances;
    private long _barriers;
    private long _itemsSinceCollect;
    private volatile bool _disposed;

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
        _freeAtOnce = options.Fault == EpochFault.FreeAtOnce;
        _ignoreReaders = options.Fault == EpochFault.IgnoreReaders;
        Global.Value = EpochStep;
        Global.Key = Interlocked.Increment(ref s_lastKey);
        _metrics = FastReclaimMetrics.Register(this);
    }

    /// <summary>Raised (on the thread that noticed) when a reader holds the epoch back past the stall deadline.</summary>
    internal event Action<EpochStall>? Stalled;

    /// <summary>A snapshot of the domain's counters.</summary>
    public EpochStats Stats
    {
        get
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
                Stalls = Volatile.Read(ref _stalls),
                Advances = Volatile.Read(ref _advances),
                ProcessWideBarriers = Volatile.Read(ref _barriers),
                GracePeriods = _gracePeriods.Count,
                GracePeriodP50 = _gracePeriods.Percentile(0.50),
                GracePeriodP99 = _gracePeriods.Percentile(0.99),
                GracePeriodMax = _gracePeriods.Max,
            };
        }
    }

    /// <summary>
    /// Enters a critical section on the calling thread: nothing retired from now on is freed before the
    /// returned guard is disposed. Nests: an inner guard costs a load and a store and changes nothing.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe EpochGuard Enter()
    {
        ReaderLine* line = CachedThreadLine();

        // R1/R2 of the argument above: a plain store, no fence — the advancer's process-wide barrier orders it.
        // Only a thread that announces nothing takes the global epoch; an inner guard (GuardBit already set) and a
        // QSBR thread that is online (entering is not a quiescent point) keep their announcement, the inner guard
        // by storing the same value back.
        long previous = line->Epoch;
        long global = Volatile.Read(ref Global.Value);
        line->Epoch = (previous == Inactive ? global : previous) | GuardBit;
        return new EpochGuard(line, previous);
    }

    /// <summary>
    /// Names the domain in its slots' lines (<see cref="ReaderLine.DomainKey"/>): unique in the process and never
    /// reused (a 64-bit count), never 0 (the key of a released slot), so a thread's cached line matches only a
    /// slot of this domain that is still registered.
    /// </summary>
    internal long Key => Global.Key;

    /// <summary>
    /// Registers an explicit reader handle: a participant of its own whose <see cref="EpochReader.Enter"/> and
    /// <see cref="EpochReader.Exit"/> skip the thread-static lookup. Dispose it when done.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    public EpochReader RegisterReader()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var slot = new ReaderSlot(this, owner: null);
        Register(slot);
        return new EpochReader(this, slot);
    }

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

        if (_freeAtOnce)
        {
            RetireBroken(item, (nint)free, null);
            return;
        }

        RetireCore(item, (nint)free, null);
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
        if (_freeAtOnce)
        {
            RetireBroken(item, 0, free);
            return;
        }

        RetireCore(item, 0, free);
    }

    /// <summary>
    /// Waits for a grace period (<c>synchronize_rcu</c>): returns once every critical section that was open when
    /// it was called has ended. A QSBR thread that is online is treated as quiescent while it waits.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called inside a guard of this domain on this thread.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    public void Synchronize()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ReaderSlot? own = GoQuiescentForGracePeriod(nameof(Synchronize), out long announced);
        try
        {
            WaitForGracePeriod();
        }
        finally
        {
            ComeBackAfterGracePeriod(own, announced);
        }
    }

    /// <summary>
    /// Runs every callback retired so far by any thread (<c>rcu_barrier</c>): flushes every thread's open bag,
    /// waits for a grace period and runs everything it covers.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called inside a guard of this domain on this thread.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    /// <exception cref="AggregateException">Callbacks threw (all others still ran).</exception>
    public void Barrier()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ReaderSlot? own = GoQuiescentForGracePeriod(nameof(Barrier), out long announced);
        try
        {
            BarrierCore();
        }
        finally
        {
            ComeBackAfterGracePeriod(own, announced);
        }
    }

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
    /// QSBR: declares that the calling thread, which is <see cref="Online"/>, holds no reference into the shared
    /// structure right now. Between two quiescent points an online thread reads with no guard at all.
    /// </summary>
    /// <exception cref="InvalidOperationException">The thread is not online, or is inside a guard.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Quiescent()
    {
        ReaderLine* line = CachedThreadLine();
        long announced = line->Epoch;
        if (announced == Inactive || (announced & GuardBit) != 0)
        {
            ThrowNotQuiescentHere(nameof(Quiescent), announced);
        }

        // Release store: every read made since the last quiescent point is complete before the advancer can
        // see the newer epoch. Reads after it are ordered by the advancer's barrier, as for Enter.
        Volatile.Write(ref line->Epoch, Volatile.Read(ref Global.Value));
    }

    /// <summary>
    /// QSBR: the calling thread starts reading without guards; it must call <see cref="Quiescent"/> regularly
    /// (or the epoch stalls) and <see cref="Offline"/> before it blocks or exits. Calling it again is harmless.
    /// </summary>
    /// <exception cref="InvalidOperationException">The thread is inside a guard.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    public unsafe void Online()
    {
        ReaderLine* line = CachedThreadLine();
        long announced = line->Epoch;
        if ((announced & GuardBit) != 0)
        {
            ThrowNotQuiescentHere(nameof(Online), announced);
        }

        if (announced == Inactive)
        {
            // A plain store, the same announcement as Enter's (R2), without the guard bit.
            line->Epoch = Volatile.Read(ref Global.Value);
        }
    }

    /// <summary>QSBR: the calling thread stops reading (it is skipped by grace periods). Calling it again is harmless.</summary>
    /// <exception cref="InvalidOperationException">The thread is inside a guard.</exception>
    /// <exception cref="ObjectDisposedException">The domain is disposed.</exception>
    public void Offline()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ReaderSlot? slot = ThreadSlots.Find(this);
        if (slot is null)
        {
            return;
        }

        long announced = slot.Line.Epoch;
        if ((announced & GuardBit) != 0)
        {
            ThrowNotQuiescentHere(nameof(Offline), announced);
        }

        // Release store, as for leaving a guard.
        Volatile.Write(ref slot.Line.Epoch, Inactive);
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

    EpochReading IEpochMetricsSource.ReadMetrics()
    {
        EpochStats stats = Stats;
        return new EpochReading(stats.GlobalEpoch, stats.Pending, stats.Freed, stats.Stalls);
    }

    /// <summary>
    /// Unregisters <paramref name="slot"/> (thread exit, handle or domain disposal): its open bag goes to the
    /// queue first, so a Barrier running meanwhile either finds the bag in the slot or in the queue. Harmless
    /// when the slot is already released.
    /// </summary>
    internal void ReleaseSlot(ReaderSlot slot)
    {
        StealOpenBag(slot);
        lock (_registry.SyncRoot)
        {
            if (!_registry.Remove(slot))
            {
                return;
            }

            // Under the registry lock, as Stats sums, so the count moves without being seen twice or not at all.
            _retiredByReleasedSlots += slot.Line.Retired;
        }

        // A thread that exited while online (QSBR) holds nothing; and the slot is no longer scanned anyway.
        Volatile.Write(ref slot.Line.Epoch, Inactive);
        slot.Line.DomainKey = 0;
        slot.Domain = null;
    }

    /// <summary>Releases the slots of threads that have exited; returns how many.</summary>
    internal int SweepExitedThreads()
    {
        int released = 0;
        ReaderSlot?[] slots = _registry.Slots;
        foreach (ReaderSlot? slot in slots)
        {
            if (slot is { OwnerHasExited: true })
            {
                ReleaseSlot(slot);
                released++;
            }
        }

        return released;
    }

    /// <summary>The registry, for tests of slot reuse.</summary>
    internal ReaderRegistry Registry => _registry;

    /// <summary>
    /// The line of the calling thread's slot (<see cref="CurrentThreadSlot"/>'s), found through the thread's
    /// cached pointer when it is this domain's: the read side's lookup (<see cref="ThreadSlots.LastLine"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe ReaderLine* CachedThreadLine()
    {
        ReaderLine* line = ThreadSlots.LastLine;
        if (line == null || line->DomainKey != Key)
        {
            line = CurrentThreadSlot().LinePointer;
        }

        return line;
    }

    /// <summary>The calling thread's slot, for the paths that need more than its line (Retire's bag).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ReaderSlot CachedThreadSlot()
    {
        ReaderSlot? slot = ThreadSlots.Last;
        return slot is not null && ReferenceEquals(slot.Domain, this) ? slot : CurrentThreadSlot();
    }

    /// <summary>The calling thread's slot, found or registered; becomes the thread's cached slot.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private ReaderSlot CurrentThreadSlot()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ReaderSlot? slot = ThreadSlots.Previous(this);
        if (slot is null)
        {
            ThreadSlotOwner owner = ThreadSlots.Owner;
            slot = owner.Find(this);
            if (slot is null)
            {
                slot = new ReaderSlot(this, Thread.CurrentThread);
                Register(slot);
                owner.Add(slot);
            }
        }

        ThreadSlots.Promote(slot);
        return slot;
    }

    private void Register(ReaderSlot slot)
    {
        // Before growing the table, take back the slots of threads that have exited (their finalizers may not
        // have run yet), so threads that come and go do not grow it.
        if (_registry.IsFull)
        {
            SweepExitedThreads();
        }

        _registry.Add(slot);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void RetireCore(nint item, nint function, Action<nint>? action)
    {
        ReaderSlot slot = CachedThreadSlot();
        slot.LockBag();
        RetireBag? bag = slot.Bag;
        if (bag is null || bag.IsFull)
        {
            slot.UnlockBag();
            RetireIntoNewBag(slot, item, function, action);
            return;
        }

        if (action is null)
        {
            bag.Add(item, function);
        }
        else
        {
            bag.Add(item, action);
        }

        slot.Line.Retired++;
        slot.UnlockBag();
    }

    /// <summary>Seals the full bag (if any), starts a new one with the item, and collects when the threshold is reached.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RetireIntoNewBag(ReaderSlot slot, nint item, nint function, Action<nint>? action)
    {
        RetireBag fresh = _queue.Rent();
        if (action is null)
        {
            fresh.Add(item, function);
        }
        else
        {
            fresh.Add(item, action);
        }

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

    /// <summary>The <see cref="EpochFault.FreeAtOnce"/> variant: frees with no grace period at all.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private unsafe void RetireBroken(nint item, nint function, Action<nint>? action)
    {
        ReaderSlot slot = CachedThreadSlot();
        slot.LockBag();
        slot.Line.Retired++;
        slot.UnlockBag();
        if (action is null)
        {
            ((delegate*<nint, void>)function)(item);
        }
        else
        {
            action(item);
        }

        Interlocked.Increment(ref _freed);
    }

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

    private void BarrierCore()
    {
        SweepExitedThreads();
        StealAllOpenBags();

        // Every bag queued so far was sealed at or before the epoch WaitForGracePeriod starts from, so after it
        // every one of them is expired; the collect lock also waits out a collector still running older bags.
        WaitForGracePeriod();
        ReclaimExpired(wait: true);
    }

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

    /// <summary>A1–A4 of the argument above.</summary>
    private bool AdvanceLocked(ref EpochStall? stall)
    {
        long epoch = Global.Value;
        if (!_ignoreReaders)
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
                if (announced != Inactive && (announced & ~GuardBit) != epoch)
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
            // Back online at the current epoch: the same plain-store announcement as Online.
            own.Line.Epoch = Volatile.Read(ref Global.Value);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNotQuiescentHere(string operation, long announced) =>
        throw new InvalidOperationException((announced & GuardBit) != 0
            ? $"EpochDomain.{operation} was called inside a guard; leave every guard first."
            : $"EpochDomain.{operation} was called on a thread that is not online; call Online first.");
}
