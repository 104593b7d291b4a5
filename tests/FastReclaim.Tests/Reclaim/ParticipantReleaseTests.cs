using System.Runtime.CompilerServices;

namespace FastReclaim.Tests.Reclaim;

public class ParticipantReleaseTests
{
    [Fact]
    public void Slot_Of_An_Exited_Thread_Is_Released_By_Its_Finalizer_Without_A_Sweep()
    {
        using var domain = new EpochDomain();
        int registeredWhileAlive = 0;
        var thread = new Thread(() =>
        {
            using (domain.Enter())
            {
            }

            // Read before the thread exits: once it has, a GC started by any test running in parallel may
            // already have finalized the slot.
            registeredWhileAlive = domain.Stats.RegisteredThreads;
        });
        thread.Start();
        thread.Join();
        Assert.Equal(1, registeredWhileAlive);

        AssertReleasedByFinalizers(domain);
    }

    [Fact]
    public void Reader_Handle_Dropped_Without_Dispose_Is_Released_By_Its_Finalizer()
    {
        using var domain = new EpochDomain();
        Assert.Equal(1, RegisterAndDrop(domain));

        AssertReleasedByFinalizers(domain);
    }

    [Fact]
    public void Thread_That_Exits_While_Online_Does_Not_Stall_The_Epoch_Forever()
    {
        using var domain = new EpochDomain(new EpochOptions { StallDeadline = TimeSpan.FromMilliseconds(10) });
        var thread = new Thread(domain.Online);
        thread.Start();
        thread.Join();
        int freed = 0;
        domain.Retire(1, _ => freed++);

        for (int i = 0; i < 400 && freed == 0; i++)
        {
            domain.Collect();
            Thread.Sleep(2);
        }

        Assert.Equal(1, freed);
        Assert.Equal(0, domain.Stats.Stalls); // an exited thread is released, not reported
    }

    [Fact]
    public void Positions_Freed_By_Exited_Threads_Are_Reused_Lowest_First()
    {
        using var domain = new EpochDomain();
        var holders = Enumerable.Range(0, 8).Select(_ => ReaderThread.HoldingGuard(domain)).ToList();
        Assert.Equal(8, domain.Registry.ScanLimit);
        holders[2].Dispose();
        holders[5].Dispose();
        holders[7].Dispose();
        domain.SweepExitedThreads();
        Assert.Equal(7, domain.Registry.ScanLimit);

        using (domain.Enter())
        {
            Assert.Equal(7, domain.Registry.ScanLimit); // took position 2, the lowest free one
        }

        foreach (int i in new[] { 0, 1, 3, 4, 6 })
        {
            holders[i].Dispose();
        }
    }

    /// <summary>Registers a handle, enters it and drops it; returns the registered count while the handle was still reachable.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int RegisterAndDrop(EpochDomain domain)
    {
        EpochReader reader = domain.RegisterReader();
        reader.Enter();
        int registered = domain.Stats.RegisteredThreads;
        GC.KeepAlive(reader);
        return registered;
    }

    /// <summary>Runs the GC and finalizers (a few rounds at most) until the domain has no registered thread left.</summary>
    private static void AssertReleasedByFinalizers(EpochDomain domain)
    {
        for (int i = 0; i < 10 && domain.Stats.RegisteredThreads != 0; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.Equal(0, domain.Stats.RegisteredThreads);
    }
}
