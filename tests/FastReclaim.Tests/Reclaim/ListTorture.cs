
namespace FastReclaim.Tests.Reclaim;

/// <summary>
/// The reclaimer's torture test: reader threads walk a lock-free singly linked list of native nodes
/// (<see cref="PageAllocator"/> pages, poison on) inside epoch guards, dwelling on each node, while writer
/// threads unlink random nodes, link fresh ones and retire the unlinked ones to the domain.
/// </summary>
/// <remarks>
/// What it catches: a node freed while a reader that reached it is still inside reads back the allocator's
/// poison pattern (its key, or its next pointer) — the reader records a violation instead of following it.
/// A node freed twice makes <see cref="PageAllocator.Free"/> throw (checked mode), which surfaces from the
/// collecting call. A node never freed shows in <see cref="PageAllocator.AllocatedPages"/> after the final
/// Barrier. Iterations are counted, not timed: each writer does a fixed number of replacements.
/// </remarks>
internal sealed unsafe class ListTorture
{
    private const int NextOffset = 0;
    private const int KeyOffset = sizeof(long);
    private const ulong KeyPattern = 0x5AFE_0000_0000_0000;

    /// <summary>Pattern freed pages are filled with; distinct from every key and pointer the list holds.</summary>
    internal const ulong Poison = 0xDEAD_DEAD_DEAD_DEAD;

    private static PageAllocator? s_functionPointerAllocator;

    private readonly EpochDomain _domain;
    private readonly PageAllocator _allocator;
    private readonly Lock _writerLock = new();
    private readonly nint _head;
    private readonly bool _useFunctionPointer;
    private long _violations;
    private long _retired;
    private long _freedByCallback;
    private long _nextKey;
    private volatile bool _stop;

    internal ListTorture(EpochDomain domain, PageAllocator allocator, bool useFunctionPointer)
    {
        _domain = domain;
        _allocator = allocator;
        _useFunctionPointer = useFunctionPointer;
        _head = allocator.Allocate();
        if (useFunctionPointer)
        {
            s_functionPointerAllocator = allocator;
        }
    }

    internal long Violations => Interlocked.Read(ref _violations);

    internal long Retired => Interlocked.Read(ref _retired);

    internal long FreedByCallback => Interlocked.Read(ref _freedByCallback);

    internal int Length { get; private set; }

    /// <summary>A torture run with a fresh poisoned allocator and domain; returns what it observed.</summary>
    internal static TortureResult Run(EpochOptions options, int writers, int readers, int replacementsPerWriter, bool stopAtFirstViolation, bool useFunctionPointer = false, TortureReadSide readSide = TortureReadSide.Guard)
    {
        using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true, PoisonValue = Poison });
        var domain = new EpochDomain(options);
        var torture = new ListTorture(domain, allocator, useFunctionPointer);
        torture.Populate(16);
        long allocatedBefore = allocator.AllocatedPages;

        var readerThreads = Enumerable.Range(0, readers).Select(r => new Thread(() => torture.ReadUntilStopped(r, readSide))).ToList();
        var writerThreads = Enumerable.Range(0, writers).Select(w => new Thread(() => torture.Write(w, replacementsPerWriter, stopAtFirstViolation))).ToList();
        readerThreads.ForEach(t => t.Start());
        writerThreads.ForEach(t => t.Start());
        writerThreads.ForEach(t => t.Join());
        torture._stop = true;
        readerThreads.ForEach(t => t.Join());

        domain.Barrier();
        EpochStats stats = domain.Stats;
        long leaked = allocator.AllocatedPages - allocatedBefore;
        torture.FreeList();
        domain.Dispose();
        return new TortureResult(torture.Violations, torture.Retired, torture.FreedByCallback, stats, leaked, allocator.AllocatedPages);
    }

    private static void FreeToAllocator(nint node) => s_functionPointerAllocator!.Free(node);

    private static ref nint NextOf(nint node) => ref *(nint*)(node + NextOffset);

    private static ref ulong KeyOf(nint node) => ref *(ulong*)(node + KeyOffset);

    private void Populate(int nodes)
    {
        for (int i = 0; i < nodes; i++)
        {
            LinkFreshNode();
        }
    }

    private void LinkFreshNode()
    {
        nint node = _allocator.Allocate();
        KeyOf(node) = KeyPattern | (ulong)Interlocked.Increment(ref _nextKey);
        NextOf(node) = NextOf(_head);

        // Release store: a reader that loads the new pointer sees the node's key and next.
        Volatile.Write(ref NextOf(_head), node);
        Length++;
    }

    private void ReadUntilStopped(int seed, TortureReadSide readSide)
    {
        var random = new Random(seed);
        switch (readSide)
        {
            case TortureReadSide.Guard:
                while (!_stop)
                {
                    using (_domain.Enter())
                    {
                        // The guard keeps every node reached from the head alive until it is disposed.
                        Walk(random);
                    }
                }

                break;
            case TortureReadSide.NestedGuard:
                while (!_stop)
                {
                    using (_domain.Enter())
                    {
                        // The outer guard keeps the walk's nodes alive; the inner guard around each node's first read
                        // must not weaken it when it is disposed, before the dwell.
                        Walk(random, nestGuards: true);
                    }
                }

                break;
            case TortureReadSide.Handle:
                using (EpochReader reader = _domain.RegisterReader())
                {
                    while (!_stop)
                    {
                        reader.Enter();
                        Walk(random); // the entered handle keeps the nodes alive
                        reader.Exit();
                    }
                }

                break;
            case TortureReadSide.Qsbr:
                _domain.Online();
                while (!_stop)
                {
                    Walk(random); // online: the nodes stay alive until the next quiescent point
                    _domain.Quiescent();
                }

                _domain.Offline();
                break;
        }
    }

    private void Walk(Random random, bool nestGuards = false)
    {
        nint node = Volatile.Read(ref NextOf(_head));
        while (node != 0)
        {
            // A node's key never changes while the node is alive, so a key that is poison, or that changes while
            // the reader holds the node, is a use-after-free: the page was freed (poisoned) and perhaps already
            // handed out again by the allocator and relinked with a fresh key.
            ulong key = ReadKey(node, nestGuards);
            if ((ulong)node == Poison || key == Poison)
            {
                Interlocked.Increment(ref _violations);
                return;
            }

            Dwell(random);
            nint next = Volatile.Read(ref NextOf(node));
            if ((ulong)next == Poison || Volatile.Read(ref KeyOf(node)) != key)
            {
                Interlocked.Increment(ref _violations);
                return;
            }

            node = next;
        }
    }

    /// <summary>The node's key, read inside a nested guard when <paramref name="nestGuard"/>.</summary>
    private ulong ReadKey(nint node, bool nestGuard)
    {
        if (!nestGuard)
        {
            return Volatile.Read(ref KeyOf(node));
        }

        using EpochGuard inner = _domain.Enter();
        return Volatile.Read(ref KeyOf(node));
    }

    /// <summary>Holds the current node a while: mostly a short spin, sometimes a yield of the core (a preemption inside the guard).</summary>
    private static void Dwell(Random random)
    {
        int roll = random.Next(256);
        if (roll == 0)
        {
            Thread.Yield();
        }
        else
        {
            Thread.SpinWait(roll & 63);
        }
    }

    private void Write(int seed, int replacements, bool stopAtFirstViolation)
    {
        var random = new Random(1000 + seed);
        for (int i = 0; i < replacements && !(stopAtFirstViolation && Violations > 0); i++)
        {
            nint victim;
            lock (_writerLock)
            {
                int position = random.Next(Length);
                nint predecessor = _head;
                for (int p = 0; p < position; p++)
                {
                    predecessor = NextOf(predecessor);
                }

                victim = NextOf(predecessor);

                // Unlink: readers that already hold the victim may still walk it and on past it.
                Volatile.Write(ref NextOf(predecessor), NextOf(victim));
                Length--;
                LinkFreshNode();
            }

            Retire(victim);
            if ((i & 255) == 255)
            {
                _domain.Collect();
            }
        }
    }

    private void Retire(nint victim)
    {
        Interlocked.Increment(ref _retired);
        if (_useFunctionPointer)
        {
            _domain.Retire(victim, &FreeToAllocator);
            Interlocked.Increment(ref _freedByCallback); // counted at retire: the allocator's count is the check
        }
        else
        {
            _domain.Retire(victim, node =>
            {
                _allocator.Free(node);
                Interlocked.Increment(ref _freedByCallback);
            });
        }
    }

    private void FreeList()
    {
        nint node = NextOf(_head);
        while (node != 0)
        {
            nint next = NextOf(node);
            _allocator.Free(node);
            node = next;
        }

        _allocator.Free(_head);
    }
}

/// <summary>How the torture's readers protect their walks.</summary>
internal enum TortureReadSide
{
    /// <summary><see cref="EpochDomain.Enter"/> around each walk.</summary>
    Guard,

    /// <summary><see cref="EpochDomain.Enter"/> around each walk, and a nested guard around each node's first read.</summary>
    NestedGuard,

    /// <summary>An <see cref="EpochReader"/> handle entered around each walk.</summary>
    Handle,

    /// <summary>QSBR: online throughout, <see cref="EpochDomain.Quiescent"/> between walks.</summary>
    Qsbr,
}

/// <summary>What a torture run observed.</summary>
/// <param name="Violations">Times a reader read poison from a node it reached inside its guard.</param>
/// <param name="Retired">Nodes unlinked and retired.</param>
/// <param name="FreedByCallback">Free callbacks run (delegate form) or retired (function-pointer form).</param>
/// <param name="Stats">The domain's counters after the final Barrier.</param>
/// <param name="Leaked">Pages allocated after the Barrier beyond the list's own.</param>
/// <param name="AllocatedAtEnd">Pages still allocated after the list itself was freed.</param>
internal readonly record struct TortureResult(long Violations, long Retired, long FreedByCallback, EpochStats Stats, long Leaked, long AllocatedAtEnd);
