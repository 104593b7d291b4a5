using System.Diagnostics;
using FastReclaim.Tests.Reclaim;

namespace FastReclaim.Tests.Paging;

/// <summary>
/// Issue 16's churn: a working set of 64 PTE tables mapped and zapped (under the Linux policy every zap unhooks and
/// retires the table) 200,000 times, with no other reader, with a guard that stays open the whole time, and with a
/// QSBR thread that is quiescent only when its expedite asks. Pending tables are counts, not timings: with one writer
/// and readers that do nothing they follow from the collection thresholds, so the bound is asserted; the figures
/// are printed for <c>perf-results/reclaim.md</c>.
/// </summary>
public sealed class BoundedGarbageTests(ITestOutputHelper output)
{
    private const int WorkingSet = 64;
    private const int Zaps = 200_000;
    private const ulong Span2M = 2UL << 20;
    private const ulong Base = 0x2000_0000_0000;
    private const ulong Frame = 0x10_0000_0000;

    [Fact]
    public void A_Stalled_Guard_Costs_No_More_Pending_Tables_Than_Twice_The_Normal_Backlog_Plus_The_Tables_Alive_At_The_Stall()
    {
        Churn free = Run(reader: null);
        Churn stalled = Run(ReaderThread.HoldingGuard);
        output.WriteLine($"no other reader:  {free}");
        output.WriteLine($"guard stalled:    {stalled}");

        // The epoch advances at most once past a reader that stays: every table the stalled run freed, the interval
        // rule freed.
        Assert.True(stalled.Advances <= 1, $"the guard did not hold the epoch back: {stalled}");
        Assert.True(free.Advances > 100, $"the churn without a reader hardly advanced: {free}");
        Assert.True(stalled.PeakPending <= (2 * free.PeakPending) + stalled.AliveAtStall, $"stalled peak {stalled.PeakPending} > 2 x {free.PeakPending} + {stalled.AliveAtStall}");
        Assert.Equal(0, free.PendingAfterBarrier);
        Assert.Equal(0, stalled.PendingAfterBarrier);
    }

    [Fact]
    public void An_Overdue_Qsbr_Reader_Is_Expedited_And_Every_Table_Is_Freed()
    {
        Churn qsbr = Run(domain => new ReaderThread(park =>
        {
            // Quiescent only when asked: the expedite signals the loop, which reacts within a spin.
            int asked = 0;
            domain.Online(() => Volatile.Write(ref asked, 1));
            var done = new Thread(() => park()) { IsBackground = true };
            done.Start();
            while (done.IsAlive)
            {
                if (Interlocked.Exchange(ref asked, 0) != 0)
                {
                    domain.Quiescent();
                }

                Thread.SpinWait(100);
            }

            domain.Offline();
        }));
        output.WriteLine($"QSBR, expedited:  {qsbr}");

        Assert.True(qsbr.Expedites >= 1, $"the QSBR reader was never asked: {qsbr}");
        Assert.Equal(0, qsbr.PendingAfterBarrier);
    }

    /// <summary>Runs the churn with <paramref name="reader"/> (started after the working set is mapped) on another thread.</summary>
    private static Churn Run(Func<EpochDomain, ReaderThread>? reader)
    {
        using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true });
        using var epoch = new EpochDomain();
        long peak = 0;
        long alive;
        EpochStats stats;
        using (var space = new AddressSpace(new AddressSpaceOptions { Policy = ReclaimPolicy.Linux, Allocator = allocator, Epoch = epoch, IntervalReclaim = true }))
        {
            MapAll(space);
            alive = space.Stats.PteTables;
            long advances = epoch.Stats.Advances;
            var clock = Stopwatch.StartNew();
            using (reader?.Invoke(epoch))
            {
                for (int zap = 0; zap < Zaps; zap++)
                {
                    ulong va = Base + ((ulong)(zap % WorkingSet) * Span2M);
                    space.Zap(va, Span2M);
                    peak = Math.Max(peak, space.Stats.PendingTables);
                    space.Map(va, Frame, PageAllocator.PageSize, PageFlags.Writable);
                }

                stats = epoch.Stats;
            }

            epoch.Barrier();
            return new Churn(peak, reader is null ? 0 : alive, space.Stats.PendingTables, stats.Advances - advances, stats.Stalls,
                stats.Expedites, stats.GracePeriodP99, stats.GracePeriodMax, clock.Elapsed);
        }
    }

    private static void MapAll(AddressSpace space)
    {
        for (int i = 0; i < WorkingSet; i++)
        {
            space.Map(Base + ((ulong)i * Span2M), Frame, PageAllocator.PageSize, PageFlags.Writable);
        }
    }

    private readonly record struct Churn(
        long PeakPending, long AliveAtStall, long PendingAfterBarrier, long Advances, long Stalls, long Expedites,
        TimeSpan GracePeriodP99, TimeSpan GracePeriodMax, TimeSpan Elapsed);
}
