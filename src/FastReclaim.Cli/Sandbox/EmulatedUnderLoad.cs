using FastReclaim.Sandbox;

namespace FastReclaim.Cli.Sandbox;

/// <summary>
/// The poison phase on an emulated CPU: a host thread zaps one page's 2 MiB span (reclaiming its PTE table, which the
/// checked allocator poisons when the epoch frees it) and maps the page again, round after round, while the guest
/// reads every page pass after pass, invalidating its TLB after each pass (its quiescent point). A guest that walked
/// a freed table would read the trap value.
/// </summary>
/// <remarks>
/// The emulator's TLB holds only whole translations (no paging-structure cache), so a freed table can be reached only
/// by a walk in flight while the zap frees it. One page read over and over, each read a fresh walk, is where a
/// broken reclaimer shows (a reclaimer that frees at once is caught within a second or so); many pages are the
/// realistic load.
/// </remarks>
internal sealed class EmulatedUnderLoad(EmulatedMachine machine, ulong[] vas, ulong[] frames)
{
    /// <summary>Rounds between two <see cref="EpochDomain.Barrier"/> calls of the zapper: they bound the backlog (a VMM
    /// must not retire faster than its CPUs pass quiescent points).</summary>
    public const int BarrierEveryRounds = 256;

    private const ulong TwoMiB = 1UL << 21;

    /// <summary>What one phase saw.</summary>
    public readonly record struct Result(int Passes, long Reads, long Faults, long Traps, long Wrong, long Rounds, long FreedDuringRun, long Reclaimed);

    /// <summary>
    /// Runs the phase on the calling thread (the guest) and a zapper thread until at least <paramref name="minPasses"/>
    /// passes and <paramref name="minRounds"/> zap rounds are done (with <paramref name="stopAtFirstTrap"/>: until the
    /// first trap instead), or for at most <paramref name="maxDuration"/> (a bound for a zapper starved of CPU time),
    /// or until <paramref name="stop"/>. The frames hold <see cref="GuestFrames"/> markers.
    /// </summary>
    public Result Execute(int minPasses, long minRounds, bool stopAtFirstTrap, TimeSpan maxDuration, CancellationToken stop)
    {
        AddressSpace space = machine.AddressSpace;
        long reclaimedBefore = space.Stats.ReclaimedTables;
        long freedBefore = machine.Epoch.Stats.Freed;
        int stopZapper = 0;
        long rounds = 0;
        Exception? zapperFailure = null;
        var zapper = new Thread(() =>
        {
            try
            {
                for (long round = 0; Volatile.Read(ref stopZapper) == 0; round++)
                {
                    int i = (int)(round % vas.Length);
                    space.Zap(vas[i], TwoMiB);
                    space.Map(vas[i], frames[i], PageAllocator.PageSize, EmulatedMachine.DataFlags);
                    if (round % BarrierEveryRounds == BarrierEveryRounds - 1)
                    {
                        machine.Epoch.Barrier(); // completes once the guest has passed an invalidation
                    }

                    // Release: the guest loop reads it to know how many zaps have overlapped its passes.
                    Volatile.Write(ref rounds, round + 1);
                }
            }
            catch (Exception e)
            {
                zapperFailure = e;
            }
        })
        { Name = "sandbox zapper" };

        long reads = 0, faults = 0, traps = 0, wrong = 0;
        int passes = 0;
        var list = new ulong[vas.Length];
        var expected = new ulong[vas.Length];
        var values = new ulong[vas.Length];
        var clock = System.Diagnostics.Stopwatch.StartNew();
        zapper.Start();
        try
        {
            bool Done() => stopAtFirstTrap ? traps > 0 : passes >= minPasses && Volatile.Read(ref rounds) >= minRounds;
            while (!Done() && clock.Elapsed < maxDuration && zapper.IsAlive && !stop.IsCancellationRequested)
            {
                // Rotate the start so a fault on one page does not keep hiding the pages after it.
                for (int k = 0; k < list.Length; k++)
                {
                    int i = (passes + k) % vas.Length;
                    list[k] = vas[i];
                    expected[k] = GuestFrames.Marker(frames[i]);
                }

                EmulatedAccessResult result = machine.Read(list, values);
                passes++;
                reads += result.Completed;
                faults += result.Fault is null ? 0 : 1;
                traps += result.TrapFrameRead ? 1 : 0;
                for (int k = 0; k < result.Completed; k++)
                {
                    wrong += values[k] == expected[k] || values[k] == machine.TrapValue ? 0 : 1;
                }
            }
        }
        finally
        {
            Volatile.Write(ref stopZapper, 1);
            zapper.Join();
        }

        if (zapperFailure is not null)
        {
            throw new InvalidOperationException($"The zapper thread failed: {zapperFailure.Message}", zapperFailure);
        }

        return new Result(passes, reads, faults, traps, wrong, Volatile.Read(ref rounds), machine.Epoch.Stats.Freed - freedBefore,
            space.Stats.ReclaimedTables - reclaimedBefore);
    }
}
