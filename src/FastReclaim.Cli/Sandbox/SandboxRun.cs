using FastReclaim.Cli.Common;
using FastReclaim.Sandbox;

namespace FastReclaim.Cli.Sandbox;

/// <summary>One sandbox session: the steps in order, with their checks.</summary>
internal sealed unsafe class SandboxRun(GuestMachine machine, SandboxSettings settings, TextWriter output, CancellationToken stop)
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

    /// <summary>Every data word holds its own guest-physical address tagged with this, so a read names the frame it came from.</summary>
    private const ulong MarkerTag = 0x5A5A_0000_0000_0000;

    private const ulong WrittenValue = 0xC0FF_EE00_0000_0001;

    /// <summary>
    /// The zapping thread waits for a grace period (<see cref="EpochDomain.Barrier"/>) every this many rounds, which
    /// bounds the tables waiting to be freed: a VMM must not retire faster than its vCPUs pass quiescent points.
    /// </summary>
    private const int BarrierEveryRounds = 256;

    private readonly AddressSpace _space = machine.AddressSpace;

    /// <summary>Whether a zap frees the PTE table it empties: every policy but <see cref="ReclaimPolicy.None"/> (the zaps here cover whole 2 MiB spans).</summary>
    private readonly bool _zapsReclaim = settings.Policy != ReclaimPolicy.None;
    private readonly ulong[] _smallVas = new ulong[settings.Pages];
    private readonly ulong[] _smallFrames = new ulong[settings.Pages];

    public List<string> Failures { get; } = [];

    public void Execute()
    {
        output.WriteLine($"KVM API {machine.KvmApiVersion}; one vCPU in 64-bit mode, CR3 = 0x{_space.RootPhysical:X} (AddressSpace.RootPhysical)");
        output.WriteLine($"guest memory: PageAllocator arena {ByteSize.Format(machine.Allocator.ArenaBytes)} at GPA 0x{GuestMachine.ArenaPhysicalBase:X} (tables and 4 KiB frames), " +
            $"large-page slot {ByteSize.Format(machine.LargeMemory.Bytes)} at GPA 0x{GuestMachine.LargeMemoryPhysicalBase:X} (MAP_NORESERVE)");
        output.WriteLine($"trap frame entry 0x{GuestMachine.TrapValue:X}: freed tables are poisoned with it");
        output.WriteLine("every guest exit is a quiescent point of the epoch domain: the guest reloads CR3 before its next access");
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
            _smallFrames[i] = NewFrame();
            _space.Map(_smallVas[i], _smallFrames[i], PageAllocator.PageSize, GuestMachine.DataFlags);
        }

        for (int j = 0; j < MediumPages; j++)
        {
            _space.Map(MediumPagesBase + ((ulong)j * TwoMiB), GuestMachine.LargeMemoryPhysicalBase + ((ulong)j * TwoMiB), TwoMiB,
                GuestMachine.DataFlags, LeafSize.Size2M);
            ulong physical = GuestMachine.LargeMemoryPhysicalBase + ((ulong)j * TwoMiB) + MediumReadOffset;
            machine.LargeMemory.WriteUInt64(physical, Marker(physical));
        }

        _space.Map(GigaPageBase, GuestMachine.LargeMemoryPhysicalBase, OneGiB, GuestMachine.DataFlags, LeafSize.Size1G);
        machine.LargeMemory.WriteUInt64(GuestMachine.LargeMemoryPhysicalBase + GigaReadOffset, Marker(GuestMachine.LargeMemoryPhysicalBase + GigaReadOffset));

        output.WriteLine($"mapped {_smallVas.Length} x 4 KiB (one per 2 MiB from 0x{SmallPagesBase:X}), {MediumPages} x 2 MiB at 0x{MediumPagesBase:X}, 1 x 1 GiB at 0x{GigaPageBase:X}");
        output.WriteLine($"page tables: {Describe(_space.Stats)}");
    }

    /// <summary>A fresh 4 KiB frame from the arena, every word holding the marker of its own address.</summary>
    private ulong NewFrame()
    {
        nint page = machine.Allocator.Allocate();
        ulong physical = machine.Allocator.PhysicalOf(page);
        var words = new Span<ulong>((void*)page, PageAllocator.PageSize / sizeof(ulong));
        for (int k = 0; k < words.Length; k++)
        {
            words[k] = Marker(physical + (ulong)(k * sizeof(ulong)));
        }

        return physical;
    }

    private void ReadBack()
    {
        output.WriteLine("guest read back:");
        var values = new ulong[_smallVas.Length];
        GuestAccessResult small = machine.Read(_smallVas, values);
        int good = 0;
        for (int i = 0; i < small.Completed; i++)
        {
            good += values[i] == Marker(_smallFrames[i]) ? 1 : 0;
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
            Check(medium[j] == Marker(physical), $"2 MiB page {j} read 0x{medium[j]:X}");
        }

        Check(mediumResult.Completed == MediumPages, $"2 MiB reads stopped after {mediumResult.Completed}: {mediumResult.Fault}");

        var giga = new ulong[1];
        ulong gigaVa = GigaPageBase + GigaReadOffset;
        ulong gigaPhysical = GuestMachine.LargeMemoryPhysicalBase + GigaReadOffset;
        GuestAccessResult gigaResult = machine.Read([gigaVa], giga);
        if (machine.SupportsGigabytePages)
        {
            output.WriteLine($"  1 GiB  0x{gigaVa:X} -> 0x{giga[0]:X}  (marker of GPA 0x{gigaPhysical:X})");
            Check(gigaResult.Completed == 1 && giga[0] == Marker(gigaPhysical), $"1 GiB read: {gigaResult}");
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

        machine.Epoch.Barrier();
        output.WriteLine($"grace period over: allocator pages {pagesBefore} -> {machine.Allocator.AllocatedPages}, pending tables {_space.Stats.PendingTables}");
        if (_zapsReclaim)
        {
            Check(zap.ReclaimedTables > 0, $"the zap of {_smallVas.Length} whole 2 MiB spans reclaimed no table under policy {ReclaimPolicyNames.Format(settings.Policy)}");
            Check(machine.Allocator.AllocatedPages < pagesBefore, "the reclaimed tables did not go back to the allocator");
        }
        else
        {
            Check(zap.ReclaimedTables == 0 && machine.Allocator.AllocatedPages == pagesBefore,
                $"policy none freed tables on zap: {zap.ReclaimedTables} reclaimed, allocator pages {pagesBefore} -> {machine.Allocator.AllocatedPages}");
        }

        ulong oldFrame = _smallFrames[0];
        _smallFrames[0] = NewFrame();
        _space.Map(_smallVas[0], _smallFrames[0], PageAllocator.PageSize, GuestMachine.DataFlags);
        GuestAccessResult remapped = machine.Read([_smallVas[0]], values);
        output.WriteLine($"re-map 0x{_smallVas[0]:X} to a new frame (GPA 0x{oldFrame:X} -> 0x{_smallFrames[0]:X}): guest reads 0x{values[0]:X}");
        Check(remapped.Completed == 1 && values[0] == Marker(_smallFrames[0]), $"read after re-map: {remapped}, 0x{values[0]:X}");
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
        int stopZapper = 0;
        long rounds = 0;
        var zapper = new Thread(() =>
        {
            for (long round = 0; Volatile.Read(ref stopZapper) == 0; round++)
            {
                int i = (int)(round % _smallVas.Length);
                _space.Zap(_smallVas[i], TwoMiB);
                _space.Map(_smallVas[i], _smallFrames[i], PageAllocator.PageSize, GuestMachine.DataFlags);
                if (round % BarrierEveryRounds == BarrierEveryRounds - 1)
                {
                    machine.Epoch.Barrier();
                }

                // Release: the guest loop below reads it to know a zap has overlapped its passes.
                Volatile.Write(ref rounds, round + 1);
            }
        })
        { Name = "sandbox zapper" };

        long reads = 0, faults = 0, traps = 0, wrong = 0;
        var list = new ulong[_smallVas.Length];
        var expected = new ulong[_smallVas.Length];
        var values = new ulong[_smallVas.Length];
        int passesMade = 0;
        zapper.Start();
        try
        {
            // At least the passes asked for, and on until the host has zapped and re-mapped once, so the phase
            // always has a zap under load to check (a single pass can end before the zapper's first round).
            for (int pass = 0; (pass < settings.Passes || Volatile.Read(ref rounds) == 0) && !stop.IsCancellationRequested; pass++, passesMade++)
            {
                // Rotate the start so a fault on one page does not keep hiding the pages after it.
                for (int k = 0; k < list.Length; k++)
                {
                    int i = (pass + k) % _smallVas.Length;
                    list[k] = _smallVas[i];
                    expected[k] = Marker(_smallFrames[i]);
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
        }
        finally
        {
            Volatile.Write(ref stopZapper, 1);
            zapper.Join();
        }

        long freedDuringRun = machine.Epoch.Stats.Freed - freedBefore;
        long reclaimed = _space.Stats.ReclaimedTables - reclaimedBefore;
        machine.Epoch.Barrier();
        output.WriteLine($"under load: the guest made {passesMade} passes over its {_smallVas.Length} pages while a host thread zapped and re-mapped them {rounds} times");
        output.WriteLine($"  guest: {reads} reads, {faults} faults on pages caught zapped, {traps} reads of the trap frame, {wrong} wrong values");
        output.WriteLine($"  host: {reclaimed} tables reclaimed; {freedDuringRun} freed (and poisoned) while the guest ran, at grace periods its exits let pass");
        output.WriteLine($"page tables now: {Describe(_space.Stats)}");
        Check(traps == 0, $"the guest read the trap frame {traps} times: it walked a freed table");
        Check(wrong == 0, $"the guest read {wrong} wrong values");
        if (_zapsReclaim)
        {
            Check(reclaimed > 0, $"no table was reclaimed under load in {rounds} zaps of whole 2 MiB spans");
        }
        else
        {
            Check(reclaimed == 0 && freedDuringRun == 0, $"policy none reclaimed {reclaimed} tables under load ({freedDuringRun} freed)");
        }
    }

    private static string Describe(PageTableStats stats) =>
        $"{stats.PteTables} PTE + {stats.PmdTables} PMD + {stats.PudTables} PUD tables = {stats.PageTableBytes} bytes, {stats.MappedPages} leaves";

    private void Check(bool condition, string failure)
    {
        if (!condition)
        {
            Failures.Add(failure);
        }
    }

    private static ulong Marker(ulong physical) => MarkerTag | physical;
}
