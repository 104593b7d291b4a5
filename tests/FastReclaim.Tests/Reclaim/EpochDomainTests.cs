using System.Collections.Concurrent;
using FastReclaim.Reclaim;

namespace FastReclaim.Tests.Reclaim;

public class EpochDomainTests
{
    private static long s_functionFrees;

    private static void CountFunctionFree(nint item) => Interlocked.Increment(ref s_functionFrees);

    /// <summary>Calls Collect <paramref name="rounds"/> times; returns the callbacks run.</summary>
    internal static int CollectRounds(EpochDomain domain, int rounds)
    {
        int freed = 0;
        for (int i = 0; i < rounds; i++)
        {
            freed += domain.Collect();
        }

        return freed;
    }

    [Fact]
    public void Enter_Announces_The_Thread_And_Dispose_Leaves()
    {
        using var domain = new EpochDomain();
        Assert.Equal(0, domain.Stats.ActiveThreads);
        using (domain.Enter())
        {
            Assert.Equal(1, domain.Stats.ActiveThreads);
            Assert.Equal(1, domain.Stats.RegisteredThreads);
        }

        Assert.Equal(0, domain.Stats.ActiveThreads);
    }

    [Fact]
    public void Retired_Item_Is_Freed_Two_Advances_After_Its_Bag_Is_Sealed_When_No_Reader_Is_Inside()
    {
        using var domain = new EpochDomain();
        var freed = new List<nint>();
        domain.Retire(0x1234, freed.Add);

        Assert.Equal(0, domain.Collect()); // seals at epoch e and advances to e + 1
        Assert.Empty(freed);
        Assert.Equal(1, domain.Collect()); // advances to e + 2: the bag is expired
        Assert.Equal([0x1234], freed);
        EpochStats stats = domain.Stats;
        Assert.Equal(1, stats.Retired);
        Assert.Equal(1, stats.Freed);
        Assert.Equal(0, stats.Pending);
        Assert.Equal(2, stats.GlobalEpoch);
    }

    [Fact]
    public unsafe void Function_Pointer_And_Delegate_Callbacks_Each_Run_Exactly_Once()
    {
        using var domain = new EpochDomain();
        long before = Interlocked.Read(ref s_functionFrees);
        var delegateFrees = new ConcurrentDictionary<nint, int>();
        for (int i = 1; i <= 200; i++)
        {
            domain.Retire(i, &CountFunctionFree);
            domain.Retire(i, item => delegateFrees.AddOrUpdate(item, 1, (_, n) => n + 1));
        }

        domain.Barrier();
        domain.Barrier();

        Assert.Equal(200, Interlocked.Read(ref s_functionFrees) - before);
        Assert.Equal(200, delegateFrees.Count);
        Assert.All(delegateFrees.Values, n => Assert.Equal(1, n));
        Assert.Equal(400, domain.Stats.Freed);
    }

    [Fact]
    public void Item_Is_Not_Freed_While_A_Reader_That_Entered_Before_Its_Retire_Is_Inside()
    {
        using var domain = new EpochDomain();
        int freed = 0;
        using (ReaderThread.HoldingGuard(domain))
        {
            domain.Retire(1, _ => freed++);
            Assert.Equal(0, CollectRounds(domain, 10));
            Assert.Equal(1, domain.Stats.Pending);
        }

        Assert.Equal(1, CollectRounds(domain, 3));
        Assert.Equal(1, freed);
    }

    [Fact]
    public void Nested_Guards_Keep_The_Thread_Pinned_Until_The_Outermost_Is_Disposed()
    {
        using var domain = new EpochDomain();
        int freed = 0;
        EpochGuard outer = domain.Enter();
        EpochGuard inner = domain.Enter();
        domain.Retire(1, _ => freed++);
        inner.Dispose();
        Assert.Equal(1, domain.Stats.ActiveThreads);
        Assert.Equal(0, CollectRounds(domain, 10));
        outer.Dispose();

        Assert.Equal(0, domain.Stats.ActiveThreads);
        Assert.Equal(1, CollectRounds(domain, 3));
        Assert.Equal(1, freed);
    }

    [Fact]
    public void Synchronize_Barrier_And_Dispose_Throw_Inside_A_Guard_Of_The_Same_Domain()
    {
        var domain = new EpochDomain();
        using (domain.Enter())
        {
            Assert.Throws<InvalidOperationException>(domain.Synchronize);
            Assert.Throws<InvalidOperationException>(domain.Barrier);
            Assert.Throws<InvalidOperationException>(domain.Dispose);
        }

        domain.Synchronize();
        domain.Dispose();
        Assert.Throws<ObjectDisposedException>(() => domain.Enter());
    }

    [Fact]
    public void Synchronize_Inside_A_Guard_Of_Another_Domain_Does_Not_Throw()
    {
        using var held = new EpochDomain();
        using var other = new EpochDomain();
        using (held.Enter())
        {
            other.Synchronize();
        }
    }

    [Fact]
    public void Synchronize_Returns_Only_After_A_Reader_Inside_At_Its_Call_Has_Left()
    {
        using var domain = new EpochDomain();
        var reader = ReaderThread.HoldingGuard(domain);
        bool readerLeft = false;
        var synchronizer = new Thread(() =>
        {
            domain.Synchronize();
            Assert.True(Volatile.Read(ref readerLeft));
        });
        synchronizer.Start();
        Assert.False(synchronizer.Join(TimeSpan.FromMilliseconds(100)));

        Volatile.Write(ref readerLeft, true);
        reader.Dispose();
        synchronizer.Join();
    }

    [Fact]
    public void Barrier_Runs_Callbacks_Still_In_Open_Bags_Of_Live_Threads()
    {
        using var domain = new EpochDomain();
        long freed = 0;
        var retirers = Enumerable.Range(0, 4).Select(t => new ReaderThread(park =>
        {
            for (int i = 0; i < 100; i++)
            {
                domain.Retire(i, _ => Interlocked.Increment(ref freed));
            }

            park();
        })).ToList();

        domain.Barrier();

        Assert.Equal(400, Interlocked.Read(ref freed));
        retirers.ForEach(r => r.Dispose());
    }

    [Fact]
    public void Items_Left_In_The_Bag_Of_A_Thread_That_Exited_Are_Freed_By_Barrier()
    {
        using var domain = new EpochDomain();
        long freed = 0;
        var thread = new Thread(() =>
        {
            for (int i = 0; i < 3; i++)
            {
                domain.Retire(i, _ => Interlocked.Increment(ref freed));
            }
        });
        thread.Start();
        thread.Join();

        domain.Barrier();

        Assert.Equal(3, Interlocked.Read(ref freed));
        Assert.Equal(0, domain.Stats.RegisteredThreads);
    }

    [Fact]
    public void Collect_Returns_The_Number_Of_Callbacks_It_Ran()
    {
        using var domain = new EpochDomain();
        for (int i = 0; i < 150; i++)
        {
            domain.Retire(i, static _ => { });
        }

        Assert.Equal(150, CollectRounds(domain, 2));
        Assert.Equal(0, domain.Collect());
    }

    [Fact]
    public void Online_Thread_Holds_Reclamation_Until_It_Passes_A_Quiescent_Point()
    {
        using var domain = new EpochDomain();
        int freed = 0;
        domain.Online();
        domain.Retire(1, _ => freed++);
        Assert.Equal(0, CollectRounds(domain, 10));

        // The first Collect sealed the bag at e and advanced to e + 1 (the thread announced e); the thread
        // has held it there since. Once it re-announces e + 1, one more advance makes the bag expired.
        domain.Quiescent();
        Assert.Equal(1, CollectRounds(domain, 1));

        domain.Retire(2, _ => freed++);
        domain.Offline();
        Assert.Equal(1, CollectRounds(domain, 2));
        Assert.Equal(2, freed);
    }

    [Fact]
    public void Guard_Opened_By_An_Online_Thread_Keeps_It_Online_When_Disposed()
    {
        using var domain = new EpochDomain();
        domain.Online();
        using (domain.Enter())
        {
            Assert.Throws<InvalidOperationException>(domain.Quiescent);
            Assert.Throws<InvalidOperationException>(domain.Online);
            Assert.Throws<InvalidOperationException>(domain.Offline);
        }

        Assert.Equal(1, domain.Stats.ActiveThreads);
        domain.Quiescent();
        domain.Offline();
        Assert.Equal(0, domain.Stats.ActiveThreads);
    }

    [Fact]
    public void Quiescent_On_A_Thread_That_Is_Not_Online_Throws()
    {
        using var domain = new EpochDomain();
        Assert.Throws<InvalidOperationException>(domain.Quiescent);
        domain.Online();
        domain.Offline();
        Assert.Throws<InvalidOperationException>(domain.Quiescent);
    }

    [Fact]
    public void Synchronize_On_An_Online_Thread_Treats_It_As_Quiescent_And_Leaves_It_Online()
    {
        using var domain = new EpochDomain();
        domain.Online();
        domain.Synchronize();
        domain.Barrier();
        Assert.Equal(1, domain.Stats.ActiveThreads);
        domain.Quiescent();
        domain.Offline();
    }

    [Fact]
    public void Reader_Stalling_Past_The_Deadline_Is_Reported_Once_In_Stats_And_Event()
    {
        using var domain = new EpochDomain(new EpochOptions { StallDeadline = TimeSpan.FromMilliseconds(20) });
        var reports = new ConcurrentQueue<EpochStall>();
        domain.Stalled += reports.Enqueue;
        using (var reader = ReaderThread.HoldingGuard(domain))
        {
            domain.Retire(1, static _ => { });
            for (int i = 0; i < 400 && domain.Stats.Stalls == 0; i++)
            {
                domain.Collect();
                Thread.Sleep(5);
            }

            CollectRounds(domain, 5);
            Assert.Equal(1, domain.Stats.Stalls);
            EpochStall stall = Assert.Single(reports);
            Assert.Equal(reader.ManagedThreadId, stall.ManagedThreadId);
            Assert.True(stall.Duration >= TimeSpan.FromMilliseconds(20));
        }

        domain.Barrier();
        Assert.Equal(0, domain.Stats.Pending);
        Assert.Equal(1, domain.Stats.Stalls);
    }

    [Fact]
    public void Retire_Past_The_Backlog_Bound_Does_Not_Block_On_A_Stalled_Reader()
    {
        using var domain = new EpochDomain(new EpochOptions { CollectThreshold = 64, MaxPendingItems = 128 });
        long freed = 0;
        using (ReaderThread.HoldingGuard(domain))
        {
            for (int i = 0; i < 10_000; i++)
            {
                domain.Retire(i, _ => Interlocked.Increment(ref freed));
            }

            Assert.Equal(10_000, domain.Stats.Pending);
        }

        domain.Barrier();
        Assert.Equal(10_000, Interlocked.Read(ref freed));
    }

    [Fact]
    public void Attempts_Blocked_By_The_Same_Reader_Issue_No_Further_Process_Wide_Barrier()
    {
        using var domain = new EpochDomain();
        CollectRounds(domain, 20);
        EpochStats free = domain.Stats;
        Assert.Equal(20, free.Advances);
        Assert.Equal(20, free.ProcessWideBarriers);

        using (ReaderThread.HoldingGuard(domain))
        {
            CollectRounds(domain, 20); // the first advances (the reader entered at the current epoch), the second finds it
            EpochStats blocked = domain.Stats;
            Assert.Equal(21, blocked.Advances);
            Assert.Equal(22, blocked.ProcessWideBarriers);
        }
    }

    [Fact]
    public void Dispose_Runs_Every_Pending_Callback_And_Later_Calls_Throw()
    {
        var domain = new EpochDomain();
        long freed = 0;
        using (var retirer = new ReaderThread(park =>
        {
            domain.Retire(1, _ => Interlocked.Increment(ref freed));
            park();
        }))
        {
            domain.Retire(2, _ => Interlocked.Increment(ref freed));
            domain.Dispose();
            Assert.Equal(2, Interlocked.Read(ref freed));
        }

        domain.Dispose();
        Assert.Throws<ObjectDisposedException>(() => domain.Enter());
        Assert.Throws<ObjectDisposedException>(() => domain.Retire(3, static _ => { }));
        Assert.Throws<ObjectDisposedException>(() => domain.Collect());
        Assert.Throws<ObjectDisposedException>(domain.Synchronize);
        Assert.Throws<ObjectDisposedException>(() => domain.RegisterReader());
    }

    [Fact]
    public void Callback_That_Throws_Does_Not_Stop_The_Others_And_Surfaces_From_Barrier()
    {
        using var domain = new EpochDomain();
        int ran = 0;
        domain.Retire(1, _ => ran++);
        domain.Retire(2, _ => throw new InvalidDataException("boom"));
        domain.Retire(3, _ => ran++);

        AggregateException error = Assert.Throws<AggregateException>(domain.Barrier);
        Assert.IsType<InvalidDataException>(Assert.Single(error.InnerExceptions));
        Assert.Equal(2, ran);
        Assert.Equal(0, domain.Stats.Pending);
    }

    [Fact]
    public unsafe void Null_Callbacks_Are_Rejected_Naming_The_Parameter()
    {
        using var domain = new EpochDomain();
        Assert.Equal("free", Assert.Throws<ArgumentNullException>(() => domain.Retire(1, (Action<nint>)null!)).ParamName);
        Assert.Equal("free", Assert.Throws<ArgumentNullException>(() => domain.Retire(1, (delegate*<nint, void>)null)).ParamName);
        Assert.Equal(0, domain.Stats.Retired);
    }

    [Fact]
    public void Options_Reject_Values_That_Are_Not_Positive_Naming_The_Property()
    {
        Assert.Equal("CollectThreshold", Assert.Throws<ArgumentOutOfRangeException>(() => new EpochOptions { CollectThreshold = 0 }).ParamName);
        Assert.Equal("MaxPendingItems", Assert.Throws<ArgumentOutOfRangeException>(() => new EpochOptions { MaxPendingItems = -1 }).ParamName);
        Assert.Equal("StallDeadline", Assert.Throws<ArgumentOutOfRangeException>(() => new EpochOptions { StallDeadline = TimeSpan.Zero }).ParamName);
    }

    [Fact]
    public void Reader_Handle_Holds_Reclamation_Between_Enter_And_Exit()
    {
        using var domain = new EpochDomain();
        using EpochReader reader = domain.RegisterReader();
        int freed = 0;
        reader.Enter();
        Assert.True(reader.IsEntered);
        domain.Retire(1, _ => freed++);
        Assert.Equal(0, CollectRounds(domain, 10));
        reader.Exit();
        Assert.False(reader.IsEntered);
        Assert.Equal(1, CollectRounds(domain, 3));
    }

    [Fact]
    public void Reader_Handle_Does_Not_Nest_And_Is_Unregistered_By_Dispose()
    {
        using var domain = new EpochDomain();
        EpochReader reader = domain.RegisterReader();
        Assert.Equal(1, domain.Stats.RegisteredThreads);
        reader.Enter();
        Assert.Throws<InvalidOperationException>(reader.Enter);
        reader.Dispose();

        Assert.Equal(0, domain.Stats.RegisteredThreads);
        Assert.Equal(0, domain.Stats.ActiveThreads);
        Assert.Throws<ObjectDisposedException>(reader.Enter);
    }

    [Fact]
    public void Thread_Working_In_Several_Domains_Keeps_One_Slot_In_Each_And_Guards_Stay_Independent()
    {
        using var a = new EpochDomain();
        using var b = new EpochDomain();
        using var c = new EpochDomain();
        for (int i = 0; i < 100; i++)
        {
            using (a.Enter())
            using (b.Enter())
            using (c.Enter())
            {
                Assert.Equal(1, b.Stats.ActiveThreads);
            }
        }

        Assert.All(new[] { a, b, c }, d => Assert.Equal(1, d.Stats.RegisteredThreads));
        Assert.All(new[] { a, b, c }, d => Assert.Equal(0, d.Stats.ActiveThreads));

        int freed = 0;
        using (a.Enter())
        {
            using (b.Enter())
            {
            }

            a.Retire(1, _ => freed++);
            Assert.Equal(0, CollectRounds(a, 5)); // leaving b's guard did not leave a's
        }

        Assert.Equal(1, CollectRounds(a, 3));
    }

    [Fact]
    public void A_Line_Cached_For_A_Disposed_Domain_Is_Never_Used_By_The_Next_One()
    {
        // The thread caches the slot it used last; a slot released with its domain never passes for the next one.
        var first = new EpochDomain();
        using (first.Enter())
        {
        }

        first.Dispose();
        using var second = new EpochDomain();
        int freed = 0;
        using (second.Enter())
        {
            Assert.Equal((1, 1), (second.Stats.RegisteredThreads, second.Stats.ActiveThreads));
            second.Retire(1, _ => freed++);
            Assert.Equal(0, CollectRounds(second, 5));
        }

        Assert.Equal(1, CollectRounds(second, 3));
        Assert.Throws<ObjectDisposedException>(() => first.Enter());
    }

    [Fact]
    public void A_Guard_Leaves_Its_Own_Slot_After_The_Thread_Has_Cached_Other_Domains()
    {
        // The guard keeps a raw pointer to its slot's line; the thread's cache moves on to two other domains (it
        // holds two), and a GC runs, while the guard is open. Leaving must still clear this domain's slot, not the
        // one the thread cached last (nothing on `held` runs between the inner guards and the exit: Stats looks
        // nothing up).
        using var held = new EpochDomain();
        using var second = new EpochDomain();
        using var third = new EpochDomain();
        int freed = 0;
        using (held.Enter())
        {
            held.Retire(1, _ => freed++);
            using (second.Enter())
            {
            }

            using (third.Enter())
            {
            }

            GC.Collect();
            GC.WaitForPendingFinalizers();
            Assert.Equal((1, 1), (held.Stats.RegisteredThreads, held.Stats.ActiveThreads));
        }

        Assert.Equal((1, 0), (held.Stats.RegisteredThreads, held.Stats.ActiveThreads));
        Assert.Equal(1, CollectRounds(held, 3));

        // Entering again finds the same slot (the thread's list), not a new registration.
        using (held.Enter())
        {
            Assert.Equal((1, 1), (held.Stats.RegisteredThreads, held.Stats.ActiveThreads));
        }
    }
}
