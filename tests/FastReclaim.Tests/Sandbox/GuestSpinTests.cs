using System.Runtime.ExceptionServices;
using FastReclaim.Sandbox;

namespace FastReclaim.Tests.Sandbox;

/// <summary>The guest that never exits, and the kick that interrupts it; skipped where /dev/kvm is absent or cannot be opened.</summary>
public unsafe class GuestSpinTests
{
    private const ulong DataBase = 1UL << 39;
    private const ulong TwoMiB = 1UL << 21;
    private const ulong MarkerTag = 0x5A5A_0000_0000_0000;
    private const int Pages = 32;

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30); // only reached when the behaviour under test is broken

    [Fact]
    public void Spinning_Guest_Reads_Every_Page_Each_Pass_And_Makes_No_Exit_Until_Stopped()
    {
        using GuestMachine machine = NewMachine();
        (ulong[] vas, ulong[] expected) = MapPages(machine);
        GuestSpinResult result = SpinBeside(machine, vas, expected, _ => WaitUntil(() => machine.SpinPasses >= 1000, "1000 passes"));

        Assert.True(result.Passes >= 1000, result.ToString());
        AssertWholeCleanPasses(result);
    }

    [Fact]
    public void Spinning_Guest_Counts_Faults_And_Wrong_Values_Without_Exiting()
    {
        using GuestMachine machine = NewMachine();
        (ulong[] vas, ulong[] expected) = MapPages(machine);
        machine.AddressSpace.Zap(vas[3], PageAllocator.PageSize);
        expected[5] ^= 1;
        using var stop = new CancellationTokenSource();
        stop.Cancel(); // already cancelled: exactly one pass

        GuestSpinResult result = machine.Spin(vas, expected, stop.Token);

        Assert.Equal(new GuestSpinResult(Passes: 1, Reads: Pages - 1, Faults: 1, TrapFrameReads: 0, WrongValues: 1, Exits: 1), result);
    }

    /// <summary>
    /// Each kick interrupts KVM_RUN; the host routes the guest through the CR3 flush and it resumes the instruction it
    /// was stopped at with all its registers: reads still add up to whole passes and nothing reads wrong.
    /// </summary>
    [Fact]
    public void Kicks_Interrupt_The_Spinning_Guest_Which_Resumes_Where_It_Was()
    {
        using GuestMachine machine = NewMachine();
        (ulong[] vas, ulong[] expected) = MapPages(machine);
        const int Kicks = 200;
        GuestSpinResult result = SpinBeside(machine, vas, expected, _ =>
        {
            WaitUntil(() => machine.SpinPasses > 0, "the first pass");
            for (int k = 0; k < Kicks; k++)
            {
                long before = machine.InterruptedRuns;
                machine.KickVcpu();
                WaitUntil(() => machine.InterruptedRuns > before, $"kick {k} to interrupt the run");
            }
        });

        Assert.Equal(Kicks, machine.Kicks);
        Assert.True(machine.InterruptedRuns >= Kicks, $"{machine.InterruptedRuns} interrupted runs for {Kicks} kicks");
        AssertWholeCleanPasses(result);
    }

    /// <summary>Every pass read every page, right, with no fault, and the guest made no exit but the last.</summary>
    private static void AssertWholeCleanPasses(GuestSpinResult result)
    {
        Assert.Equal(result.Passes * Pages, result.Reads);
        Assert.Equal((0L, 0L, 0L, 1), (result.Faults, result.TrapFrameReads, result.WrongValues, result.Exits));
    }

    /// <summary>An interrupted run is a quiescent point: a grace period that waits for the spinning guest ends once it is kicked.</summary>
    [Fact]
    public void A_Kick_Lets_A_Grace_Period_That_Waits_For_The_Spinning_Guest_End()
    {
        using GuestMachine machine = NewMachine();
        (ulong[] vas, ulong[] expected) = MapPages(machine);
        bool synchronized = false;
        GuestSpinResult result = SpinBeside(machine, vas, expected, stop =>
        {
            WaitUntil(() => machine.SpinPasses > 0, "the first pass");
            using var done = new ManualResetEventSlim();
            var synchronizer = new Thread(() =>
            {
                machine.Epoch.Synchronize();
                done.Set();
            });
            synchronizer.Start();
            long deadline = Environment.TickCount64 + (long)Patience.TotalMilliseconds;
            while (!done.Wait(1) && Environment.TickCount64 < deadline)
            {
                machine.KickVcpu();
            }

            synchronized = done.IsSet;
            stop.Cancel(); // the guest's READY exit ends a Synchronize the kicks did not
            synchronizer.Join();
        });

        Assert.True(synchronized, $"Synchronize did not return while the guest spun and was kicked ({machine.Kicks} kicks, {machine.InterruptedRuns} interrupted runs)");
        Assert.Equal(1, result.Exits);
    }

    /// <summary>
    /// The poison test with the guest that never exits. A host thread zaps and re-maps the pages (each zap retires a
    /// PTE table, freed poisoned) and waits for a grace period every 64 rounds; the guest spins over them with no
    /// exit, so only the expedites, which kick the vCPU, can end those grace periods. A watchdog stops the guest if
    /// they do not; a barrier that returned after it counts as not completed.
    /// </summary>
    [Fact]
    public void Barriers_Complete_While_The_Guest_Spins_Because_The_Domain_Kicks_It_And_It_Never_Reads_A_Freed_Table()
    {
        using var epoch = new EpochDomain(new EpochOptions { ExpediteAfter = TimeSpan.FromMilliseconds(2) });
        using GuestMachine machine = NewMachine(epoch, poison: true);
        (ulong[] vas, ulong[] expected) = MapPages(machine);
        (int completed, long freedWhileSpinning) = (0, 0);

        GuestSpinResult result = SpinBeside(machine, vas, expected, stop =>
        {
            WaitUntil(() => machine.SpinPasses > 0, "the first pass");
            (completed, freedWhileSpinning) = ZapWithBarriers(machine, vas, expected, stop);
        }, Patience);

        string summary = $"{result}, {completed} barriers, {freedWhileSpinning} tables freed, {epoch.Stats.Expedites} expedites, {machine.Kicks} kicks";
        Assert.True(completed == Barriers, $"only {completed} of {Barriers} barriers completed while the guest spun ({summary})");
        Assert.True(epoch.Stats.Expedites > 0 && machine.Kicks > 0 && freedWhileSpinning >= Barriers * RoundsPerBarrier, summary);
        Assert.True((result.TrapFrameReads, result.WrongValues, result.Exits) == (0, 0, 1), summary);
    }

    /// <summary>The same with a kick that does nothing (test builds only): the domain asks, no barrier completes until the watchdog stops the guest.</summary>
    [Fact]
    public void Barriers_Do_Not_Complete_While_The_Guest_Spins_When_The_Kick_Does_Nothing()
    {
        using var epoch = new EpochDomain(new EpochOptions { ExpediteAfter = TimeSpan.FromMilliseconds(2) });
        using GuestMachine machine = NewMachine(epoch, poison: true, brokenKick: true);
        (ulong[] vas, ulong[] expected) = MapPages(machine);
        int completed = -1;

        GuestSpinResult result = SpinBeside(machine, vas, expected, stop =>
        {
            WaitUntil(() => machine.SpinPasses > 0, "the first pass");
            (completed, _) = ZapWithBarriers(machine, vas, expected, stop);
        }, TimeSpan.FromSeconds(2));

        Assert.Equal(0, completed);
        Assert.True(epoch.Stats.Expedites > 0, $"the domain never asked ({epoch.Stats})");
        Assert.Equal((0L, 1), (machine.Kicks, result.Exits));
    }

    /// <summary>A guest that exits at every command never holds a grace period for long: no expedite, no kick, and the barriers still end.</summary>
    [Fact]
    public void A_Guest_That_Exits_Often_Is_Never_Kicked()
    {
        using var epoch = new EpochDomain(new EpochOptions { ExpediteAfter = TimeSpan.FromSeconds(10) });
        using GuestMachine machine = NewMachine(epoch, poison: true);
        (ulong[] vas, ulong[] expected) = MapPages(machine);
        using var stop = new CancellationTokenSource();
        int completed = 0;
        var host = new Thread(() => (completed, _) = ZapWithBarriers(machine, vas, expected, stop));
        var values = new ulong[Pages];
        long traps = 0;

        host.Start();
        while (host.IsAlive)
        {
            traps += machine.Read(vas, values).TrapFrameRead ? 1 : 0;
        }

        host.Join();
        Assert.Equal(Barriers, completed);
        Assert.Equal((0L, 0L, 0L, 0L), (epoch.Stats.Expedites, machine.Kicks, machine.InterruptedRuns, traps));
    }

    private const int Barriers = 8;
    private const int RoundsPerBarrier = 64;

    /// <summary>
    /// The host side: <see cref="Barriers"/> times, <see cref="RoundsPerBarrier"/> rounds of zap + re-map of one page,
    /// then a barrier. Returns how many barriers completed before <paramref name="stop"/> was cancelled (by a
    /// watchdog) and how many tables were freed meanwhile.
    /// </summary>
    private static (int Completed, long Freed) ZapWithBarriers(GuestMachine machine, ulong[] vas, ulong[] expected, CancellationTokenSource stop)
    {
        long freedBefore = machine.Epoch.Stats.Freed;
        int completed = 0;
        for (int barrier = 0; barrier < Barriers && !stop.IsCancellationRequested; barrier++)
        {
            for (int round = 0; round < RoundsPerBarrier; round++)
            {
                int i = ((barrier * RoundsPerBarrier) + round) % vas.Length;
                machine.AddressSpace.Zap(vas[i], TwoMiB);
                machine.AddressSpace.Map(vas[i], expected[i] & ~MarkerTag, PageAllocator.PageSize, GuestMachine.DataFlags);
            }

            machine.Epoch.Barrier();
            completed += stop.IsCancellationRequested ? 0 : 1;
        }

        return (completed, machine.Epoch.Stats.Freed - freedBefore);
    }

    [Fact]
    public void A_Kick_Outside_A_Run_Is_Not_Sent_And_The_Thread_Gets_Its_Signal_Mask_Back()
    {
        using GuestMachine machine = NewMachine();
        (ulong[] vas, _) = MapPages(machine);
        SignalSet before = CurrentMask();

        machine.KickVcpu();
        GuestAccessResult read = machine.Read(vas, new ulong[Pages]);
        machine.KickVcpu();

        Assert.Equal((Pages, 0L, 0L), (read.Completed, machine.Kicks, machine.InterruptedRuns));
        Assert.Equal(before.KernelMask, CurrentMask().KernelMask);
        Assert.False(CurrentMask().Contains(VcpuKick.Signal));
    }

    private static SignalSet CurrentMask()
    {
        SignalSet mask;
        Assert.Equal(0, LibC.PthreadSigmask(LibC.SignalBlock, null, &mask));
        return mask;
    }

    internal static GuestMachine NewMachine(EpochDomain? epoch = null, bool poison = false, bool brokenKick = false)
    {
        Assert.SkipUnless(KvmAvailability.IsAvailable(out string reason), reason);
        return new GuestMachine(new GuestMachineOptions { Poison = poison, Epoch = epoch, BrokenKick = brokenKick });
    }

    /// <summary>
    /// Runs the spinning guest on this thread while <paramref name="beside"/> runs on another; the spin stops when
    /// <paramref name="beside"/> returns (or cancels), and what <paramref name="beside"/> threw is thrown here.
    /// </summary>
    internal static GuestSpinResult SpinBeside(GuestMachine machine, ulong[] vas, ulong[] expected, Action<CancellationTokenSource> beside,
        TimeSpan? deadline = null)
    {
        using var stop = new CancellationTokenSource();
        if (deadline is { } watchdog)
        {
            stop.CancelAfter(watchdog); // the guest's READY exit then ends whatever waits for it
        }

        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                beside(stop);
            }
            catch (Exception e)
            {
                failure = e;
            }
            finally
            {
                stop.Cancel();
            }
        });
        thread.Start();
        GuestSpinResult result = machine.Spin(vas, expected, stop.Token);
        thread.Join();
        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        return result;
    }

    /// <summary>32 pages, one per 2 MiB (one PTE table each), every word holding its own guest-physical address, tagged.</summary>
    internal static (ulong[] Vas, ulong[] Expected) MapPages(GuestMachine machine)
    {
        var vas = new ulong[Pages];
        var expected = new ulong[Pages];
        for (int i = 0; i < Pages; i++)
        {
            nint page = machine.Allocator.Allocate();
            ulong frame = machine.Allocator.PhysicalOf(page);
            var words = new Span<ulong>((void*)page, PageAllocator.PageSize / sizeof(ulong));
            for (int k = 0; k < words.Length; k++)
            {
                words[k] = MarkerTag | (frame + (ulong)(k * sizeof(ulong)));
            }

            vas[i] = DataBase + ((ulong)i * TwoMiB);
            expected[i] = MarkerTag | frame;
            machine.AddressSpace.Map(vas[i], frame, PageAllocator.PageSize, GuestMachine.DataFlags);
        }

        return (vas, expected);
    }

    internal static void WaitUntil(Func<bool> condition, string what)
    {
        if (!SpinWait.SpinUntil(condition, Patience))
        {
            throw new TimeoutException($"waited {Patience.TotalSeconds} s for {what}");
        }
    }
}
