namespace FastReclaim.Tests.Reclaim;

/// <summary>
/// Expedited grace periods: a QSBR thread (or a reader handle) that registered an expedite is asked to pass a
/// quiescent point once it holds a grace period back past <see cref="EpochOptions.ExpediteAfter"/>, once per grace
/// period. Without the expedite these readers would hold every Barrier back forever; a domain that called it too
/// eagerly or too often is caught by the counts.
/// </summary>
public class ExpediteTests
{
    /// <summary>Generous bound for work that takes milliseconds: only a hang (a missed expedite) runs into it.</summary>
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(60);

    [Fact]
    public void Qsbr_Reader_That_Is_Quiescent_Only_When_Asked_Lets_Every_Barrier_Complete_With_One_Expedite_Per_Advance()
    {
        const int Rounds = 50;
        const int ItemsPerRound = 10;
        using var domain = new EpochDomain(new EpochOptions { ExpediteAfter = TimeSpan.FromMilliseconds(1) });
        using var reader = new AskedReader(domain, handle: false);
        long freed = 0;
        long advancesBefore = domain.Stats.Advances;

        CompletesOnItsOwnThread("a Barrier waited forever behind a QSBR reader that is quiescent when asked", () =>
        {
            for (int round = 0; round < Rounds; round++)
            {
                for (int i = 0; i < ItemsPerRound; i++)
                {
                    domain.Retire(i, _ => Interlocked.Increment(ref freed));
                }

                domain.Barrier();
                Assert.Equal((round + 1) * ItemsPerRound, Interlocked.Read(ref freed));
            }
        });

        reader.Stop();
        EpochStats stats = domain.Stats;
        Assert.Equal(Rounds * ItemsPerRound, stats.Retired);
        Assert.Equal(stats.Retired, stats.Freed);

        // The reader passes a quiescent point only when asked, so each advance but the first (Online announced the
        // epoch of that moment) needed one expedite, and none was called twice for the same grace period.
        long advances = stats.Advances - advancesBefore;
        Assert.True(advances >= 2 * Rounds, $"{advances} advances for {Rounds} barriers");
        Assert.InRange(stats.Expedites, advances - 1, advances);
        Assert.Equal(stats.Expedites, reader.Asked);
    }

    [Fact]
    public void Reader_Handle_That_Exits_Only_When_Asked_Lets_Every_Barrier_Complete()
    {
        const int Rounds = 50;
        using var domain = new EpochDomain(new EpochOptions { ExpediteAfter = TimeSpan.FromMilliseconds(1) });
        using var reader = new AskedReader(domain, handle: true);
        long freed = 0;

        CompletesOnItsOwnThread("a Barrier waited forever behind a reader handle that exits when asked", () =>
        {
            for (int round = 0; round < Rounds; round++)
            {
                domain.Retire(round, _ => Interlocked.Increment(ref freed));
                domain.Barrier();
            }
        });

        reader.Stop();
        Assert.Equal(Rounds, Interlocked.Read(ref freed));
        Assert.True(domain.Stats.Expedites >= Rounds, $"{domain.Stats.Expedites} expedites for {Rounds} barriers");
        Assert.Equal(domain.Stats.Expedites, reader.Asked);
    }

    [Fact]
    public void Expedite_Is_Not_Called_For_A_Reader_That_Is_Quiescent_Within_ExpediteAfter()
    {
        const int Rounds = 100;
        using var domain = new EpochDomain(new EpochOptions { ExpediteAfter = TimeSpan.FromSeconds(30) });
        long asked = 0;
        using var stop = new ManualResetEventSlim();
        using var online = new ManualResetEventSlim();
        var thread = new Thread(() =>
        {
            domain.Online(() => Interlocked.Increment(ref asked));
            online.Set();
            while (!stop.IsSet)
            {
                // Online while asleep: every grace period waits for the next quiescent point, a millisecond away.
                Thread.Sleep(1);
                domain.Quiescent();
            }

            domain.Offline();
        });
        thread.Start();

        // Online before the first round: a thread that starts late (a loaded machine) would otherwise leave the
        // first rounds, or all of them, with no reader to wait for.
        online.Wait(TestContext.Current.CancellationToken);
        for (int round = 0; round < Rounds; round++)
        {
            domain.Retire(round, static _ => { });
            domain.Barrier();
        }

        stop.Set();
        thread.Join();
        EpochStats stats = domain.Stats;
        Assert.Equal(Rounds, stats.Freed);

        // The reader did hold advances back (an attempt that fails has scanned after a barrier of its own), just
        // never for 30 s.
        Assert.True(stats.ProcessWideBarriers > stats.Advances, $"{stats.ProcessWideBarriers} barriers, {stats.Advances} advances: the reader never blocked an attempt");
        Assert.Equal(0, stats.Expedites);
        Assert.Equal(0, Interlocked.Read(ref asked));
    }

    [Fact]
    public void Expedite_Is_Called_Once_Per_Overdue_Grace_Period_However_Often_The_Advance_Is_Tried()
    {
        using EpochDomain domain = KickAfterAMillisecond(stallDeadlineMilliseconds: 50);
        long asked = 0;
        using (var reader = new ParkedQsbrReader(domain, () => Interlocked.Increment(ref asked)))
        {
            domain.Retire(1, static _ => { });

            // The first attempts advance past the epoch the reader announced at Online; then it blocks. The stall is
            // reported by an attempt past 50 ms, 49 ms after the expedite became due: those attempts and 20 more all
            // find the same grace period overdue.
            CollectUntil(domain, s => s.Stalls == 1);
            EpochDomainTests.CollectRounds(domain, 20);
            Assert.Equal(1, domain.Stats.Expedites);
            Assert.Equal(1, Interlocked.Read(ref asked));

            // Quiescent at last: the epoch moves one step, and the next grace period is overdue in its turn.
            long advances = domain.Stats.Advances;
            reader.PassQuiescentPoint();
            CollectUntil(domain, s => s.Expedites == 2);
            Assert.Equal(advances + 1, domain.Stats.Advances);
            EpochDomainTests.CollectRounds(domain, 20);
            Assert.Equal(2, Interlocked.Read(ref asked));
        }

        domain.Barrier();
        Assert.Equal(1, domain.Stats.Freed);
        Assert.Equal(2, domain.Stats.Expedites);
    }

    [Fact]
    public void Expedite_That_Throws_Is_Reported_Once_By_The_Next_Collect_And_Not_Called_Again_For_That_Grace_Period()
    {
        using var domain = new EpochDomain(new EpochOptions { ExpediteAfter = TimeSpan.FromMilliseconds(1) });
        long asked = 0;
        var failure = new InvalidOperationException("the kick failed");
        using (new ParkedQsbrReader(domain, () =>
        {
            Interlocked.Increment(ref asked);
            throw failure;
        }))
        {
            // Retire never throws it, whoever's collection called the expedite.
            for (int i = 0; i < 2 * EpochOptions.DefaultCollectThreshold; i++)
            {
                domain.Retire(i, static _ => { });
            }

            AggregateException? reported = null;
            var deadline = DateTime.UtcNow + Hang;
            while (reported is null && DateTime.UtcNow < deadline)
            {
                try
                {
                    domain.Collect();
                }
                catch (AggregateException e)
                {
                    reported = e;
                }
            }

            Assert.NotNull(reported);
            Assert.Same(failure, Assert.Single(reported.InnerExceptions));
            EpochDomainTests.CollectRounds(domain, 20); // the same grace period: not called again, nothing to report
            Assert.Equal(1, Interlocked.Read(ref asked));
            Assert.Equal(1, domain.Stats.Expedites);
            Assert.Equal(0, domain.Stats.FailedCallbacks);
        }

        domain.Barrier();
        Assert.Equal(domain.Stats.Retired, domain.Stats.Freed);
    }

    [Fact]
    public void Offline_Removes_The_Expedite()
    {
        using EpochDomain domain = KickAfterAMillisecond(stallDeadlineMilliseconds: 20);
        long asked = 0;
        using (var reader = new ReaderThread(park =>
        {
            domain.Online(() => Interlocked.Increment(ref asked));
            domain.Offline();
            domain.Online();
            park();
            domain.Offline();
        }))
        {
            // The stall is reported by an attempt 20 ms into the blocked grace period: long overdue for an expedite.
            domain.Retire(1, static _ => { });
            CollectUntil(domain, s => s.Stalls == 1);
            EpochDomainTests.CollectRounds(domain, 20);
        }

        Assert.Equal(0, domain.Stats.Expedites);
        Assert.Equal(0, Interlocked.Read(ref asked));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void ExpediteAfter_That_Is_Not_Positive_Is_Refused_Naming_The_Value(int milliseconds)
    {
        TimeSpan value = TimeSpan.FromMilliseconds(milliseconds);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new EpochOptions { ExpediteAfter = value });
        Assert.Equal(nameof(EpochOptions.ExpediteAfter), e.ParamName);
        Assert.Contains(value.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Equal(EpochOptions.DefaultExpediteAfter, new EpochOptions().ExpediteAfter);
    }

    [Fact]
    public void Null_Expedite_Is_Refused_And_Leaves_The_Thread_Offline()
    {
        using var domain = new EpochDomain();
        Assert.Throws<ArgumentNullException>(() => domain.Online(null!));
        Assert.Throws<ArgumentNullException>(() => domain.RegisterReader(null!));
        Assert.Equal(0, domain.Stats.ActiveThreads);
        Assert.Throws<InvalidOperationException>(domain.Quiescent);
    }

    /// <summary>
    /// A domain that kicks a reader 1 ms into a grace period it holds back and reports it as a stall after
    /// <paramref name="stallDeadlineMilliseconds"/>: the stall report then marks an attempt long past the kick.
    /// </summary>
    private static EpochDomain KickAfterAMillisecond(int stallDeadlineMilliseconds) => new(new EpochOptions
    {
        ExpediteAfter = TimeSpan.FromMilliseconds(1),
        StallDeadline = TimeSpan.FromMilliseconds(stallDeadlineMilliseconds),
    });

    /// <summary>Runs <paramref name="body"/> on a thread of its own; fails with <paramref name="hang"/> if it does not end within <see cref="Hang"/>.</summary>
    private static void CompletesOnItsOwnThread(string hang, Action body)
    {
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                body();
            }
            catch (Exception e)
            {
                error = e;
            }
        })
        { IsBackground = true };
        thread.Start();
        Assert.True(thread.Join(Hang), hang);
        if (error is not null)
        {
            throw new InvalidOperationException("The thread failed.", error);
        }
    }

    /// <summary>Collects until <paramref name="done"/> holds; fails the test after <see cref="Hang"/>.</summary>
    private static void CollectUntil(EpochDomain domain, Func<EpochStats, bool> done)
    {
        var deadline = DateTime.UtcNow + Hang;
        while (!done(domain.Stats))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no progress: {domain.Stats}");
            domain.Collect();
            Thread.Yield();
        }
    }

    /// <summary>
    /// A QSBR thread online with an expedite that passes a quiescent point only when the test says so
    /// (<see cref="PassQuiescentPoint"/>); Dispose takes it offline and joins it, also when an assertion failed, so a
    /// failing test does not hang in the domain's Dispose.
    /// </summary>
    private sealed class ParkedQsbrReader : IDisposable
    {
        private readonly SemaphoreSlim _quiescent = new(0);
        private readonly ManualResetEventSlim _online = new();
        private readonly Thread _thread;
        private volatile bool _stop;

        internal ParkedQsbrReader(EpochDomain domain, Action expedite)
        {
            _thread = new Thread(() =>
            {
                domain.Online(expedite);
                _online.Set();
                while (true)
                {
                    _quiescent.Wait();
                    if (_stop)
                    {
                        break;
                    }

                    domain.Quiescent();
                }

                domain.Offline();
            })
            { IsBackground = true };
            _thread.Start();
            _online.Wait(TestContext.Current.CancellationToken);
        }

        internal void PassQuiescentPoint() => _quiescent.Release();

        public void Dispose()
        {
            _stop = true;
            _quiescent.Release();
            _thread.Join();
            _quiescent.Dispose();
            _online.Dispose();
        }
    }

    /// <summary>
    /// A reader that passes a quiescent point (QSBR) or exits and re-enters its handle only when its expedite asks:
    /// on its own it would hold every grace period back forever.
    /// </summary>
    private sealed class AskedReader : IDisposable
    {
        private readonly Thread _thread;
        private readonly ManualResetEventSlim _started = new();
        private volatile bool _stop;
        private int _pending;
        private long _asked;
        private Exception? _error;

        internal AskedReader(EpochDomain domain, bool handle)
        {
            _thread = new Thread(() =>
            {
                try
                {
                    if (handle)
                    {
                        RunHandle(domain);
                    }
                    else
                    {
                        RunQsbr(domain);
                    }
                }
                catch (Exception e)
                {
                    _error = e;
                    _started.Set();
                }
            })
            { IsBackground = true };
            _thread.Start();
            _started.Wait();
        }

        /// <summary>Times the expedite was called.</summary>
        internal long Asked => Interlocked.Read(ref _asked);

        internal void Stop()
        {
            _stop = true;
            _thread.Join();
            if (_error is not null)
            {
                throw new InvalidOperationException("The reader thread failed.", _error);
            }
        }

        public void Dispose()
        {
            if (_thread.IsAlive)
            {
                Stop();
            }

            _started.Dispose();
        }

        private void Ask()
        {
            Interlocked.Increment(ref _asked);
            Volatile.Write(ref _pending, 1);
        }

        private bool TakeRequest() => Volatile.Read(ref _pending) != 0 && Interlocked.Exchange(ref _pending, 0) != 0;

        private void RunQsbr(EpochDomain domain)
        {
            domain.Online(Ask);
            _started.Set();
            while (!_stop)
            {
                if (TakeRequest())
                {
                    domain.Quiescent();
                }

                Thread.SpinWait(64);
            }

            domain.Offline();
        }

        private void RunHandle(EpochDomain domain)
        {
            using EpochReader reader = domain.RegisterReader(Ask);
            reader.Enter();
            _started.Set();
            while (!_stop)
            {
                if (TakeRequest())
                {
                    reader.Exit();
                    reader.Enter();
                }

                Thread.SpinWait(64);
            }

            reader.Exit();
        }
    }
}
