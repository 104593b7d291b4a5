namespace FastReclaim.Tests.Reclaim;

/// <summary>
/// Failure without damage on the reclaim side (issue 15): a free callback that throws never strands a lock or a
/// counter and is reported once by the next explicit Collect, Barrier or Dispose; a domain cannot be disposed
/// under its users; members of a disposed domain throw instead of returning stale values.
/// </summary>
public class EpochFailureTests
{
    private const ulong Base = 0x1000_0000_0000;
    private const ulong OneGiB = 1UL << 30;
    private const ulong TwoMiB = 2UL << 20;
    private const int PteTablesPerGiB = 512;

    /// <summary>Long enough for a loaded 2-core runner; only a hang gets near it.</summary>
    private static readonly TimeSpan s_hang = TimeSpan.FromSeconds(120);

    private static void RunOrFailAsHung(Action body, string what)
    {
        var task = Task.Run(body);
        Assert.True(task.Wait(s_hang), $"{what} did not finish within {s_hang.TotalSeconds} s: a lock was left held");
    }

    /// <summary>Maps one 4 KiB page in every 2 MiB of [Base, Base + 1 GiB): one PTE table each.</summary>
    private static void MapOnePagePerPteTable(AddressSpace space)
    {
        for (ulong va = Base; va < Base + OneGiB; va += TwoMiB)
        {
            space.Map(va, va - Base, PageAllocator.PageSize, PageFlags.Writable);
        }
    }

    /// <summary>
    /// A poisoned allocator, a domain with <see cref="EpochOptions.CollectThreshold"/> 1 (every seal collects) and a
    /// Linux-policy space on both, with 512 PTE tables over 1 GiB (<see cref="MapOnePagePerPteTable"/>). The test
    /// disposes them only on success: after a hang, the spinning zap would keep Dispose waiting too.
    /// </summary>
    private static (PageAllocator Allocator, EpochDomain Domain, AddressSpace Space) GigabyteSharingADomain()
    {
        var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true });
        var domain = new EpochDomain(new EpochOptions { CollectThreshold = 1 });
        var space = new AddressSpace(new AddressSpaceOptions { Allocator = allocator, Epoch = domain, Policy = ReclaimPolicy.Linux });
        MapOnePagePerPteTable(space);
        return (allocator, domain, space);
    }

    [Fact]
    public void Throwing_Callback_Of_Another_User_Of_A_Shared_Domain_Leaves_Zap_Complete_And_Every_Lock_Free()
    {
        // Issue 15, item 1: the callback ran inside Zap, under a table lock, and its AggregateException left Zap
        // with the lock held; every later Map, Zap, Sweep and Dispose of the space spun forever.
        (PageAllocator allocator, EpochDomain domain, AddressSpace space) = GigabyteSharingADomain();
        long tablesBefore = allocator.AllocatedPages;
        var failure = new InvalidDataException("user callback failed");
        domain.Retire(0x1234, _ => throw failure);
        domain.Collect(); // seals the user's bag and advances once: the zap's first collection runs it

        ZapResult zap = default;
        RunOrFailAsHung(() => zap = space.Zap(Base, OneGiB), "Zap");

        Assert.Equal(PteTablesPerGiB, zap.ReclaimedTables);
        Assert.Equal((long)PteTablesPerGiB * PageAllocator.PageSize, zap.ZappedBytes);
        Assert.Equal(1, domain.Stats.FailedCallbacks);
        Assert.Equal(PteTablesPerGiB, space.Stats.ReclaimedTables);
        Assert.Equal(0, space.Stats.PteTables);

        // Every table lock is free: each of these takes the locks the zap took.
        RunOrFailAsHung(
            () =>
            {
                space.Map(Base, 0, PageAllocator.PageSize, PageFlags.Writable);
                Assert.True(space.TryTranslate(Base, out ulong pa, out _));
                Assert.Equal(0UL, pa);
                space.Zap(Base, OneGiB);
                space.Sweep();
            },
            "Map, Zap and Sweep after the zap");

        // Reported once, by the next explicit Barrier, after every other callback ran.
        AggregateException report = Assert.Throws<AggregateException>(domain.Barrier);
        Assert.Same(failure, Assert.Single(report.InnerExceptions));
        domain.Barrier();

        EpochStats stats = domain.Stats;
        Assert.Equal(stats.Retired, stats.Freed);
        Assert.Equal(0, stats.Pending);
        Assert.Equal(PteTablesPerGiB + 1 + 1, stats.Retired); // the zapped tables, the user's item, the re-mapped table
        Assert.Equal(0, space.Stats.PendingTables);
        Assert.Equal(PteTablesPerGiB + 1, space.Stats.ReclaimedTables);
        Assert.Equal(tablesBefore - PteTablesPerGiB, allocator.AllocatedPages);

        RunOrFailAsHung(space.Dispose, "Dispose");
        Assert.Equal(0, allocator.AllocatedPages);
        domain.Dispose();
        allocator.Dispose();
    }

    [Fact]
    public void Callback_Run_By_A_Writer_Runs_With_No_Table_Lock_Held_So_It_May_Use_The_Same_Space()
    {
        (PageAllocator allocator, EpochDomain domain, AddressSpace space) = GigabyteSharingADomain();
        int mappedByCallback = 0;

        // The callback maps into the PMD table whose lock the zap takes to unhook each PTE table; run under that
        // lock (the zap's thread runs it), it would spin forever.
        const ulong CallbackPage = Base + PageAllocator.PageSize;
        domain.Retire(0x1234, _ =>
        {
            space.Map(CallbackPage, 0, PageAllocator.PageSize, PageFlags.Writable);
            mappedByCallback++;
        });
        domain.Collect();

        RunOrFailAsHung(() => space.Zap(Base, OneGiB), "Zap whose collection runs a callback that maps");

        Assert.Equal(1, mappedByCallback);
        Assert.True(space.TryTranslate(CallbackPage, out _, out _));
        Assert.Equal(0, domain.Stats.FailedCallbacks);
        space.Dispose();
        domain.Dispose();
        allocator.Dispose();
    }

    [Fact]
    public void Writers_Racing_Throwing_Callbacks_Never_Hang_And_Every_Failure_Is_Reported_Exactly_Once()
    {
        // Two writers zap and re-map 64 PTE tables each in their own gigabyte, over and over, while a third thread
        // retires callbacks that throw into the same domain and collects. Whichever thread collects runs them.
        const int Writers = 2;
        const int Rounds = 40;
        const int TablesPerRound = 64;
        const int Throwing = 60; // at most MaxKeptCallbackErrors, so every exception is kept and can be counted
        var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true });
        var domain = new EpochDomain(new EpochOptions { CollectThreshold = 1 });
        var space = new AddressSpace(new AddressSpaceOptions { Allocator = allocator, Epoch = domain, Policy = ReclaimPolicy.Linux });
        var reported = new List<Exception>();
        int thrown = 0;

        void Report(AggregateException e)
        {
            lock (reported)
            {
                reported.AddRange(e.InnerExceptions);
            }
        }

        void Write(int writer)
        {
            ulong region = Base + ((ulong)writer * OneGiB);
            for (int round = 0; round < Rounds; round++)
            {
                for (int t = 0; t < TablesPerRound; t++)
                {
                    ulong va = region + ((ulong)t * TwoMiB);
                    space.Map(va, va - Base, PageAllocator.PageSize, PageFlags.Writable);
                }

                Assert.Equal(TablesPerRound, space.Zap(region, (ulong)TablesPerRound * TwoMiB).ReclaimedTables);
            }
        }

        void RetireThrowing()
        {
            for (int i = 0; i < Throwing; i++)
            {
                domain.Retire(i, item =>
                {
                    Interlocked.Increment(ref thrown);
                    throw new InvalidDataException($"item {item}");
                });
                try
                {
                    domain.Collect();
                }
                catch (AggregateException e)
                {
                    Report(e);
                }

                Thread.Yield();
            }
        }

        RunOrFailAsHung(
            () => Parallel.Invoke(() => Write(0), () => Write(1), RetireThrowing),
            "Writers and a thread retiring throwing callbacks");
        try
        {
            domain.Barrier();
        }
        catch (AggregateException e)
        {
            Report(e);
        }

        Assert.Equal(Throwing, thrown);
        Assert.Equal(Throwing, reported.Count);
        Assert.Equal(Throwing, reported.Distinct().Count());
        EpochStats stats = domain.Stats;
        Assert.Equal(Throwing, stats.FailedCallbacks);
        Assert.Equal((Writers * Rounds * TablesPerRound) + Throwing, stats.Retired);
        Assert.Equal(stats.Retired, stats.Freed);
        Assert.Equal(0, space.Stats.PendingTables);
        Assert.Equal(Writers * Rounds * TablesPerRound, space.Stats.ReclaimedTables);

        RunOrFailAsHung(space.Dispose, "Dispose");
        Assert.Equal(0, allocator.AllocatedPages);
        domain.Dispose();
        allocator.Dispose();
    }

    [Fact]
    public void Retire_Never_Throws_A_Callback_Exception_And_Collect_Reports_Each_Once_With_Exact_Counts()
    {
        using var domain = new EpochDomain(new EpochOptions { CollectThreshold = 1 });
        int ran = 0;
        for (int i = 0; i < 10 * 64; i++)
        {
            // Every 64th retire seals a bag and collects; half the callbacks throw.
            domain.Retire(i, item =>
            {
                ran++;
                if (item % 2 == 0)
                {
                    throw new InvalidDataException($"item {item}");
                }
            });
        }

        int ranByRetires = ran;
        Assert.True(ranByRetires > 0, "no retire collected: the test did not exercise the retiring thread's collection");
        Assert.Equal(ranByRetires / 2, domain.Stats.FailedCallbacks);

        AggregateException first = Assert.Throws<AggregateException>(domain.Barrier);
        Assert.Equal(10 * 64, ran);
        Assert.Equal(MaxKept(10 * 32), first.InnerExceptions.Count);
        Assert.Contains($"{10 * 32} retired items", first.Message, StringComparison.Ordinal);
        Assert.All(first.InnerExceptions, e => Assert.IsType<InvalidDataException>(e));

        Assert.Equal(0, domain.Collect()); // reported once
        EpochStats stats = domain.Stats;
        Assert.Equal(10 * 64, stats.Retired);
        Assert.Equal(10 * 64, stats.Freed);
        Assert.Equal(0, stats.Pending);
        Assert.Equal(10 * 32, stats.FailedCallbacks);
    }

    private static int MaxKept(int failures) => Math.Min(failures, EpochDomain.MaxKeptCallbackErrors);

    [Fact]
    public void Callback_Errors_Are_Reported_By_Dispose_After_The_Domain_Is_Disposed()
    {
        var domain = new EpochDomain();
        int ran = 0;
        domain.Retire(1, _ => throw new InvalidDataException("first"));
        domain.Retire(2, _ => ran++);

        AggregateException report = Assert.Throws<AggregateException>(domain.Dispose);
        Assert.IsType<InvalidDataException>(Assert.Single(report.InnerExceptions));
        Assert.Equal(1, ran);
        Assert.Throws<ObjectDisposedException>(() => domain.Stats);
        domain.Dispose(); // nothing left to report, nothing to do
    }

    [Fact]
    public void Retire_Under_Lock_Never_Runs_A_Callback_And_Collect_If_Due_Runs_Them()
    {
        using var domain = new EpochDomain(new EpochOptions { CollectThreshold = 1 });
        int ran = 0;
        domain.Retire(0, _ => ran++);
        domain.Collect(); // sealed and advanced once
        for (int i = 1; i <= 4 * 64; i++)
        {
            domain.RetireUnderLock(i, _ => ran++, FastReclaim.Reclaim.RetireBag.NoBirth);
        }

        Assert.Equal(0, ran);
        domain.CollectIfDue();
        Assert.True(ran > 0, "CollectIfDue ran nothing although the threshold was passed");
        int afterFirst = ran;
        domain.CollectIfDue(); // served: nothing is due until the next seal
        Assert.Equal(afterFirst, ran);

        domain.Barrier();
        Assert.Equal((4 * 64) + 1, ran);
    }

    [Fact]
    public void Barrier_Keeping_Errors_Leaves_Them_For_The_Domain_Owner()
    {
        using var domain = new EpochDomain();
        var failure = new InvalidDataException("owner's callback");
        domain.Retire(1, _ => throw failure);

        domain.BarrierKeepingErrors();
        Assert.Equal(1, domain.Stats.Freed);

        Assert.Same(failure, Assert.Single(Assert.Throws<AggregateException>(() => domain.Collect()).InnerExceptions));
    }

    [Fact]
    public void Dispose_Of_A_Domain_Still_Used_Throws_Naming_The_Users_And_Changes_Nothing()
    {
        var domain = new EpochDomain();
        var user = new NamedUser("AddressSpace #1");
        var other = new NamedUser("AddressSpace #2");
        domain.AddUser(user);
        domain.AddUser(other);
        int freed = 0;
        domain.Retire(1, _ => freed++);

        var error = Assert.Throws<InvalidOperationException>(domain.Dispose);
        Assert.Contains("AddressSpace #1", error.Message, StringComparison.Ordinal);
        Assert.Contains("AddressSpace #2", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, freed);

        // Still a working domain.
        using (domain.Enter())
        {
            Assert.Equal(1, domain.Stats.ActiveThreads);
        }

        domain.Barrier();
        Assert.Equal(1, freed);

        domain.RemoveUser(user);
        Assert.Contains("AddressSpace #2", Assert.Throws<InvalidOperationException>(domain.Dispose).Message, StringComparison.Ordinal);
        domain.RemoveUser(new NamedUser("AddressSpace #2")); // another object, even if it looks the same
        domain.RemoveUser(user); // a second removal is harmless
        Assert.Throws<InvalidOperationException>(domain.Dispose);

        domain.RemoveUser(other);
        domain.Dispose();
        Assert.Throws<ObjectDisposedException>(() => domain.AddUser(user));
    }

    [Fact]
    public void Members_Of_A_Disposed_Domain_Throw_Instead_Of_Returning_Stale_Values()
    {
        var domain = new EpochDomain();
        EpochReader reader = domain.RegisterReader();
        domain.Retire(1, static _ => { });
        domain.Dispose();

        Assert.Throws<ObjectDisposedException>(() => domain.Stats);
        Assert.Throws<ObjectDisposedException>(reader.Enter);
        Assert.False(reader.IsEntered);
        Assert.Throws<ObjectDisposedException>(domain.Barrier);
        Assert.Throws<ObjectDisposedException>(domain.Online);
        Assert.Throws<ObjectDisposedException>(domain.Quiescent);
        Assert.Throws<ObjectDisposedException>(domain.Offline);
        reader.Dispose(); // after its domain: harmless
        reader.Dispose();
    }

    /// <summary>A user whose <see cref="object.ToString"/> is what the domain names.</summary>
    private sealed class NamedUser(string name)
    {
        public override bool Equals(object? obj) => obj is NamedUser user && user.ToString() == name;

        public override int GetHashCode() => name.GetHashCode(StringComparison.Ordinal);

        public override string ToString() => name;
    }
}
