using FastReclaim.Cli.Common;
using FastReclaim.Sandbox;

namespace FastReclaim.Cli.Sandbox;

/// <summary>One sandbox session: the steps in order, with their checks.</summary>
internal sealed unsafe class SandboxRun(GuestMachine machine, SandboxSettings settings, TextWriter output, CancellationToken stop)
    : SandboxSession(machine.Epoch, machine.Allocator, settings.Policy)
{
    /// <summary>Guest-virtual base of the sparse 4 KiB pages: 512 GiB, the second PML4 entry.</summary>
    private const ulong SmallPagesBase = 1UL << 39;

    /// <summary>Guest-virtual base of the 2 MiB pages (third PML4 entry).</summary>
    private const ulong MediumPagesBase = 2UL << 39;

    /// <summary>Guest-virtual base of the 1 GiB page (fourth PML4 entry).</summary>
    private const ulong GigaPageBase = 3UL << 39;

    private const ulong TwoMiB = 1UL << 21;
    private const ulong OneGiB = 1UL << 30;
    private const int MediumPages = 4;

    /// <summary>Where in each 2 MiB page and in the 1 GiB page the guest reads (arbitrary, not page-aligned).</summary>
    private const ulong MediumReadOffset = 0x1_2340;
    private const ulong GigaReadOffset = 0x2345_6780;

    private const ulong WrittenValue = 0xC0FF_EE00_0000_0001;

    private const int BarrierEveryRounds = SandboxZapper.BarrierEveryRounds;

    /// <summary>Barriers the zapper makes under load with the spinning guest, each one ended by kicks.</summary>
    private const int SpinBarriers = 16;

    private readonly AddressSpace _space = machine.AddressSpace;

    private readonly ulong[] _smallVas = new ulong[settings.Pages];
    private readonly ulong[] _smallFrames = new ulong[settings.Pages];

    public void Execute()
    {
        output.WriteLine($"KVM API {machine.KvmApiVersion}; one vCPU in 64-bit mode, CR3 = 0x{_space.RootPhysical:X} (AddressSpace.RootPhysical)");
        output.WriteLine($"guest memory: PageAllocator arena {ByteSize.Format(machine.Allocator.ArenaBytes)} at GPA 0x{GuestMachine.ArenaPhysicalBase:X} (tables and 4 KiB frames), " +
            $"large-page slot {ByteSize.Format(machine.LargeMemory.Bytes)} at GPA 0x{GuestMachine.LargeMemoryPhysicalBase:X} (MAP_NORESERVE)");
        output.WriteLine($"trap frame entry 0x{GuestMachine.TrapValue:X}: freed tables are poisoned with it");
        output.WriteLine("every guest exit is a quiescent point of the epoch domain: the guest reloads CR3 before its next access");
        output.WriteLine($"a grace period that waits {Milliseconds(settings.ExpediteAfterOrDefault)} for the vCPU kicks it: signal {GuestMachine.KickSignal} (SIGRTMIN+1) interrupts KVM_RUN, and the guest resumes through a CR3 reload");
        output.WriteLine();

        Action[] steps = [MapEverything, ReadBack, WriteThrough, ZapAndReclaim, UnderLoad];
        foreach (Action step in steps)
        {
            if (stop.IsCancellationRequested)
            {
                return;
            }

            step();
        }
    }

    private void MapEverything()
    {
        for (int i = 0; i < _smallVas.Length; i++)
        {
            _smallVas[i] = SmallPagesBase + ((ulong)i * TwoMiB);
            _smallFrames[i] = GuestFrames.New(machine.Allocator);
            _space.Map(_smallVas[i], _smallFrames[i], PageAllocator.PageSize, GuestMachine.DataFlags);
        }

        for (int j = 0; j < MediumPages; j++)
        {
            _space.Map(MediumPagesBase + ((ulong)j * TwoMiB), GuestMachine.LargeMemoryPhysicalBase + ((ulong)j * TwoMiB), TwoMiB,
                GuestMachine.DataFlags, LeafSize.Size2M);
            ulong physical = GuestMachine.LargeMemoryPhysicalBase + ((ulong)j * TwoMiB) + MediumReadOffset;
            machine.LargeMemory.WriteUInt64(physical, GuestFrames.Marker(physical));
        }

        _space.Map(GigaPageBase, GuestMachine.LargeMemoryPhysicalBase, OneGiB, GuestMachine.DataFlags, LeafSize.Size1G);
        machine.LargeMemory.WriteUInt64(GuestMachine.LargeMemoryPhysicalBase + GigaReadOffset, GuestFrames.Marker(GuestMachine.LargeMemoryPhysicalBase + GigaReadOffset));

        output.WriteLine($"mapped {_smallVas.Length} x 4 KiB (one per 2 MiB from 0x{SmallPagesBase:X}), {MediumPages} x 2 MiB at 0x{MediumPagesBase:X}, 1 x 1 GiB at 0x{GigaPageBase:X}");
        output.WriteLine($"page tables: {Describe(_space.Stats)}");
    }

    private void ReadBack()
    {
        output.WriteLine("guest read back:");
        var values = new ulong[_smallVas.Length];
        GuestAccessResult small = machine.Read(_smallVas, values);
        int good = 0;
        for (int i = 0; i < small.Completed; i++)
        {
            good += values[i] == GuestFrames.Marker(_smallFrames[i]) ? 1 : 0;
        }

        for (int i = 0; i < Math.Min(3, small.Completed); i++)
        {
            output.WriteLine($"  4 KiB  0x{_smallVas[i]:X} -> 0x{values[i]:X}  (marker of GPA 0x{_smallFrames[i]:X})");
        }

        output.WriteLine($"  4 KiB  {good} of {_smallVas.Length} pages read back their frame's marker{(small.Fault is { } f ? $"; {f}" : "")}");
        Check(good == _smallVas.Length, $"the guest read {good} of {_smallVas.Length} 4 KiB pages correctly");

        var medium = new ulong[MediumPages];
        var mediumVas = new ulong[MediumPages];
        for (int j = 0; j < MediumPages; j++)
        {
            mediumVas[j] = MediumPagesBase + ((ulong)j * TwoMiB) + MediumReadOffset;
        }

        GuestAccessResult mediumResult = machine.Read(mediumVas, medium);
        for (int j = 0; j < mediumResult.Completed; j++)
        {
            ulong physical = GuestMachine.LargeMemoryPhysicalBase + ((ulong)j * TwoMiB) + MediumReadOffset;
            output.WriteLine($"  2 MiB  0x{mediumVas[j]:X} -> 0x{medium[j]:X}  (marker of GPA 0x{physical:X})");
            Check(medium[j] == GuestFrames.Marker(physical), $"2 MiB page {j} read 0x{medium[j]:X}");
        }

        Check(mediumResult.Completed == MediumPages, $"2 MiB reads stopped after {mediumResult.Completed}: {mediumResult.Fault}");

        var giga = new ulong[1];
        ulong gigaVa = GigaPageBase + GigaReadOffset;
        ulong gigaPhysical = GuestMachine.LargeMemoryPhysicalBase + GigaReadOffset;
        GuestAccessResult gigaResult = machine.Read([gigaVa], giga);
        if (machine.SupportsGigabytePages)
        {
            output.WriteLine($"  1 GiB  0x{gigaVa:X} -> 0x{giga[0]:X}  (marker of GPA 0x{gigaPhysical:X})");
            Check(gigaResult.Completed == 1 && giga[0] == GuestFrames.Marker(gigaPhysical), $"1 GiB read: {gigaResult}");
        }
        else
        {
            output.WriteLine($"  1 GiB  0x{gigaVa:X} -> {gigaResult.Fault}");
            output.WriteLine("         this KVM does not offer 1 GiB pages to guests (CPUID Page1GB clear), so the CPU rejects the");
            output.WriteLine("         engine-built PDPT leaf as reserved: the walk reached the 1 GiB entry");
            Check(gigaResult.Fault is { IsReservedBit: true } fault && fault.Address == gigaVa,
                $"1 GiB read without Page1GB should be a reserved-bit fault at 0x{gigaVa:X}: {gigaResult}");
        }
    }

    private void WriteThrough()
    {
        var readBack = new ulong[1];
        GuestAccessResult result = machine.Write([_smallVas[0] + 8], WrittenValue, readBack);
        ulong host = *(ulong*)(machine.Allocator.VirtualOf(_smallFrames[0]) + 8);
        output.WriteLine($"guest wrote 0x{WrittenValue:X} at 0x{_smallVas[0] + 8:X}; the host reads 0x{host:X} at GPA 0x{_smallFrames[0] + 8:X}");
        Check(result.Completed == 1 && host == WrittenValue, $"write through the tables: {result}, host sees 0x{host:X}");
    }

    private void ZapAndReclaim()
    {
        output.WriteLine();
        PageTableStats before = _space.Stats;
        long pagesBefore = machine.Allocator.AllocatedPages;
        ulong length = (ulong)_smallVas.Length * TwoMiB;
        ZapResult zap = _space.Zap(SmallPagesBase, length);
        PageTableStats after = _space.Stats;
        output.WriteLine($"zap 0x{SmallPagesBase:X}..0x{SmallPagesBase + length:X}: {ByteSize.Format(zap.ZappedBytes)} unmapped, {zap.ReclaimedTables} tables unhooked and retired");
        output.WriteLine($"page-table bytes: before {before.PageTableBytes}, after {after.PageTableBytes} ({after.PendingTables} tables waiting for a grace period)");

        var values = new ulong[1];
        GuestAccessResult faulted = machine.Read([_smallVas[0]], values);
        output.WriteLine($"guest read after zap: {faulted.Fault?.ToString() ?? $"read 0x{values[0]:X}"}");
        Check(faulted.Fault is { IsNotPresent: true } fault && fault.Address == _smallVas[0], $"read after zap should fault at 0x{_smallVas[0]:X}: {faulted}");

        CheckZapFreedItsTables(output, _space, zap, pagesBefore, _smallVas.Length);

        ulong oldFrame = _smallFrames[0];
        _smallFrames[0] = GuestFrames.New(machine.Allocator);
        _space.Map(_smallVas[0], _smallFrames[0], PageAllocator.PageSize, GuestMachine.DataFlags);
        GuestAccessResult remapped = machine.Read([_smallVas[0]], values);
        output.WriteLine($"re-map 0x{_smallVas[0]:X} to a new frame (GPA 0x{oldFrame:X} -> 0x{_smallFrames[0]:X}): guest reads 0x{values[0]:X}");
        Check(remapped.Completed == 1 && values[0] == GuestFrames.Marker(_smallFrames[0]), $"read after re-map: {remapped}, 0x{values[0]:X}");
    }

    private void UnderLoad()
    {
        output.WriteLine();
        for (int i = 1; i < _smallVas.Length; i++)
        {
            _space.Map(_smallVas[i], _smallFrames[i], PageAllocator.PageSize, GuestMachine.DataFlags);
        }

        long reclaimedBefore = _space.Stats.ReclaimedTables;
        long freedBefore = machine.Epoch.Stats.Freed;
        long expeditesBefore = machine.Epoch.Stats.Expedites;
        long kicksBefore = machine.Kicks;
        long interruptedBefore = machine.InterruptedRuns;
        var zapper = new SandboxZapper(machine, _smallVas, _smallFrames);
        (long Reads, long Faults, long Traps, long Wrong) guest;
        zapper.Start();
        try
        {
            guest = settings.Guest == SandboxGuest.Spin ? SpinUnderLoad(zapper) : ReadUnderLoad(zapper);
        }
        finally
        {
            zapper.Stop();
        }

        long freedDuringRun = machine.Epoch.Stats.Freed - freedBefore;
        long reclaimed = _space.Stats.ReclaimedTables - reclaimedBefore;
        long expedites = machine.Epoch.Stats.Expedites - expeditesBefore;
        long kicks = machine.Kicks - kicksBefore;
        long interrupted = machine.InterruptedRuns - interruptedBefore;
        machine.Epoch.Barrier();
        output.WriteLine($"  guest: {guest.Reads} reads, {guest.Faults} faults on pages caught zapped, {guest.Traps} reads of the trap frame, {guest.Wrong} wrong values");
        output.WriteLine($"  host: {reclaimed} tables reclaimed; {freedDuringRun} freed (and poisoned) while the guest ran, at grace periods {(settings.Guest == SandboxGuest.Spin ? "the kicks" : "its exits")} let pass");
        output.WriteLine($"  {zapper.Barriers} barriers (one per {BarrierEveryRounds} zaps) waited {Milliseconds(zapper.BarrierWaitMedian)} median, {Milliseconds(zapper.BarrierWaitMax)} max; " +
            $"peak pending tables {zapper.PeakPendingTables}; {expedites} expedites (after {Milliseconds(settings.ExpediteAfterOrDefault)}), {kicks} kicks, {interrupted} interrupted runs");
        EpochStats epoch = machine.Epoch.Stats;
        output.WriteLine($"  grace periods (whole run): {epoch.GracePeriods}, p50 {Milliseconds(epoch.GracePeriodP50)}, p99 {Milliseconds(epoch.GracePeriodP99)}, max {Milliseconds(epoch.GracePeriodMax)}");
        output.WriteLine($"page tables now: {Describe(_space.Stats)}");
        Check(guest.Traps == 0, $"the guest read the trap frame {guest.Traps} times: it walked a freed table");
        Check(guest.Wrong == 0, $"the guest read {guest.Wrong} wrong values");
        Check(zapper.PeakPendingTables <= 2 * BarrierEveryRounds,
            $"{zapper.PeakPendingTables} tables waited for a grace period at once, more than two barrier periods of zaps ({2 * BarrierEveryRounds})");
        if (ZapsReclaim)
        {
            Check(reclaimed > 0, $"no table was reclaimed under load in {zapper.Rounds} zaps of whole 2 MiB spans");
            Check(settings.Guest != SandboxGuest.Spin || (freedDuringRun > 0 && expedites > 0 && kicks > 0),
                $"with the spinning guest, {freedDuringRun} tables were freed while it ran, after {expedites} expedites and {kicks} kicks");
        }
        else
        {
            Check(reclaimed == 0 && freedDuringRun == 0, $"policy none reclaimed {reclaimed} tables under load ({freedDuringRun} freed)");
        }
    }

    /// <summary>One read command per pass, each an exit and so a quiescent point.</summary>
    private (long Reads, long Faults, long Traps, long Wrong) ReadUnderLoad(SandboxZapper zapper)
    {
        long reads = 0, faults = 0, traps = 0, wrong = 0;
        var list = new ulong[_smallVas.Length];
        var expected = new ulong[_smallVas.Length];
        var values = new ulong[_smallVas.Length];
        int passesMade = 0;

        // At least the passes asked for, and on until the host has zapped and re-mapped once, so the phase
        // always has a zap under load to check (a single pass can end before the zapper's first round).
        for (int pass = 0; (pass < settings.Passes || zapper.Rounds == 0) && !stop.IsCancellationRequested; pass++, passesMade++)
        {
            // Rotate the start so a fault on one page does not keep hiding the pages after it.
            for (int k = 0; k < list.Length; k++)
            {
                int i = (pass + k) % _smallVas.Length;
                list[k] = _smallVas[i];
                expected[k] = GuestFrames.Marker(_smallFrames[i]);
            }

            GuestAccessResult result = machine.Read(list, values);
            reads += result.Completed;
            faults += result.Fault is null ? 0 : 1;
            traps += result.TrapFrameRead ? 1 : 0;
            for (int k = 0; k < result.Completed; k++)
            {
                wrong += values[k] == expected[k] || values[k] == GuestMachine.TrapValue ? 0 : 1;
            }
        }

        zapper.Stop(); // before the figures, so they cover only the time the guest ran
        output.WriteLine($"under load: the guest made {passesMade} passes over its {_smallVas.Length} pages while a host thread zapped and re-mapped them {zapper.Rounds} times");
        return (reads, faults, traps, wrong);
    }

    /// <summary>
    /// The guest spins over its pages with no exit; a watcher stops it once it has made the passes asked for and the
    /// zapper has made <see cref="SpinBarriers"/> barriers, each of which ended only because the domain kicked the vCPU.
    /// </summary>
    private (long Reads, long Faults, long Traps, long Wrong) SpinUnderLoad(SandboxZapper zapper)
    {
        var expected = new ulong[_smallVas.Length];
        for (int i = 0; i < expected.Length; i++)
        {
            expected[i] = GuestFrames.Marker(_smallFrames[i]);
        }

        using var spinStop = new CancellationTokenSource();
        var watcher = new Thread(() =>
        {
            // The barriers counted are those the zapper made after the guest's first pass, while the vCPU thread was
            // online: on a loaded machine the zapper may make many before the guest starts, none of which needed a kick.
            int barriersBefore = -1;
            while ((machine.SpinPasses < settings.Passes || barriersBefore < 0 || zapper.Barriers - barriersBefore < SpinBarriers)
                && !stop.IsCancellationRequested && zapper.IsRunning)
            {
                if (barriersBefore < 0 && machine.SpinPasses > 0)
                {
                    barriersBefore = zapper.Barriers;
                }

                Thread.Sleep(1);
            }

            spinStop.Cancel();
        })
        { Name = "sandbox spin watcher" };
        watcher.Start();
        GuestSpinResult spin;
        try
        {
            spin = machine.Spin(_smallVas, expected, spinStop.Token);
        }
        finally
        {
            spinStop.Cancel();
            watcher.Join();
        }

        zapper.Stop(); // before the figures, so they cover only the time the guest spun

        output.WriteLine($"under load: the guest spun {spin.Passes} passes over its {_smallVas.Length} pages with {spin.Exits - 1} exits while a host thread zapped and re-mapped them {zapper.Rounds} times");
        Check(spin.Exits == 1, $"the spinning guest exited {spin.Exits - 1} times before it was told to stop");
        return (spin.Reads, spin.Faults, spin.TrapFrameReads, spin.WrongValues);
    }

    private static string Milliseconds(TimeSpan time) => $"{time.TotalMilliseconds:0.0} ms";

    private static string Describe(PageTableStats stats) =>
        $"{stats.PteTables} PTE + {stats.PmdTables} PMD + {stats.PudTables} PUD tables = {stats.PageTableBytes} bytes, {stats.MappedPages} leaves";
}
