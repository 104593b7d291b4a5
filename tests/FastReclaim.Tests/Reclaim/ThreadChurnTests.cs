
namespace FastReclaim.Tests.Reclaim;

public class ThreadChurnTests
{
    /// <summary>Small stacks: thousands of threads at once only need their guard and a wait.</summary>
    private const int StackBytes = 256 * 1024;

    [Fact]
    public void Ten_Thousand_Short_Lived_Threads_Each_Enter_And_Retire_Once_And_Nothing_Is_Lost()
    {
        const int Threads = 10_000;
        const int AtOnce = 50;
        using var domain = new EpochDomain();
        long entered = 0;
        long freed = 0;
        for (int started = 0; started < Threads; started += AtOnce)
        {
            var wave = new Thread[AtOnce];
            for (int t = 0; t < AtOnce; t++)
            {
                wave[t] = new Thread(() =>
                {
                    using (domain.Enter())
                    {
                        Interlocked.Increment(ref entered);
                    }

                    domain.Retire(1, _ => Interlocked.Increment(ref freed));
                }, StackBytes);
                wave[t].Start();
            }

            foreach (Thread thread in wave)
            {
                thread.Join();
            }
        }

        // Threads that exited gave their slots back (swept when the table was full), so the table stayed near
        // the number of threads alive at once instead of growing to 10,000.
        Assert.True(domain.Registry.Capacity <= 4 * AtOnce, $"slot table grew to {domain.Registry.Capacity}");
        domain.Barrier();
        Assert.Equal(Threads, Interlocked.Read(ref entered));
        Assert.Equal(Threads, Interlocked.Read(ref freed));
        EpochStats stats = domain.Stats;
        Assert.Equal(Threads, stats.Retired);
        Assert.Equal(0, stats.Pending);
        Assert.Equal(0, stats.RegisteredThreads);
    }

    [Fact]
    public void Two_Thousand_Threads_Inside_At_Once_All_Register_And_Hold_Reclamation()
    {
        const int Threads = 2_000;
        using var domain = new EpochDomain();
        using var allInside = new CountdownEvent(Threads);
        using var release = new ManualResetEventSlim();
        int freed = 0;
        var threads = new Thread[Threads];
        for (int t = 0; t < Threads; t++)
        {
            threads[t] = new Thread(() =>
            {
                using (domain.Enter())
                {
                    allInside.Signal();
                    release.Wait();
                }
            }, StackBytes);
            threads[t].Start();
        }

        allInside.Wait(TestContext.Current.CancellationToken);
        EpochStats inside = domain.Stats;
        Assert.Equal(Threads, inside.RegisteredThreads);
        Assert.Equal(Threads, inside.ActiveThreads);
        domain.Retire(1, _ => freed++);
        domain.Collect();
        domain.Collect();
        Assert.Equal(0, freed);

        release.Set();
        foreach (Thread thread in threads)
        {
            thread.Join();
        }

        domain.Barrier();
        Assert.Equal(1, freed);
        Assert.Equal(1, domain.Stats.RegisteredThreads); // the test thread, which retired
    }
}
