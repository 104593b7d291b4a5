using FastReclaim.Cli.Common;
using FastReclaim.Sandbox;

namespace FastReclaim.Cli.Sandbox;

/// <summary>
/// One sandbox session on an emulated CPU (<c>--arch arm64|riscv64</c>): the x64 story (read back, zap and reclaim,
/// re-map, under load with poisoned frees) plus the hazard an emulated TLB shows: a zapped page read before the guest
/// invalidates its TLB still returns the old frame, and the table the zap unhooked is not freed until it has.
/// </summary>
internal sealed class EmulatedSandboxRun(EmulatedMachine machine, SandboxSettings settings, TextWriter output, CancellationToken stop)
    : SandboxSession(machine.Epoch, machine.Allocator, settings.Policy)
{
    /// <summary>Guest-virtual base of the sparse 4 KiB pages: 128 GiB, canonical in every format and level count (below 2^38).</summary>
    private const ulong SmallPagesBase = 0x20_0000_0000;

    /// <summary>Guest-virtual base of the 2 MiB leaves and, 1 GiB above, the 1 GiB leaf.</summary>
    private const ulong LargePagesBase = 0x30_0000_0000;

    private const ulong TwoMiB = 1UL << 21;
    private const ulong OneGiB = 1UL << 30;
    private const int MediumPages = 4;

    /// <summary>Where in each 2 MiB leaf and in the 1 GiB leaf the guest reads (arbitrary, not page-aligned).</summary>
    private const ulong MediumReadOffset = 0x1_2340;
    private const ulong GigaReadOffset = 0x2345_6780;

    private readonly AddressSpace _space = machine.AddressSpace;

    private readonly ulong[] _smallVas = new ulong[settings.Pages];
    private readonly ulong[] _smallFrames = new ulong[settings.Pages];

    public void Execute()
    {
        string root = _space.Format == PageTableFormat.Arm64
            ? $"TTBR0_EL1 = 0x{_space.RootPhysical:X} (AddressSpace.RootPhysical)"
            : $"satp = Sv{39 + (9 * (_space.Levels - 3))} | PPN 0x{_space.RootPhysical >> PageAllocator.PageShift:X} (AddressSpace.RootPhysical 0x{_space.RootPhysical:X} >> 12)";
        output.WriteLine($"Unicorn {UnicornAvailability.Version}; one emulated {machine.CpuName} CPU, MMU on, {root}, " +
            $"{_space.Levels}-level {_space.Format} tables");
        output.WriteLine($"guest memory: PageAllocator arena {ByteSize.Format(machine.Allocator.ArenaBytes)} at GPA 0x{EmulatedMachine.ArenaPhysicalBase:X} " +
            $"(handed to the emulator with uc_mem_map_ptr: the CPU walks the tables in place), large-leaf slot {ByteSize.Format(machine.LargeMemory.Bytes)} " +
            $"at GPA 0x{EmulatedMachine.LargeMemoryPhysicalBase:X}");
        output.WriteLine($"trap entry 0x{machine.TrapValue:X}: freed tables are poisoned with it, and the trap region at GPA 0 holds it");
        output.WriteLine($"the guest's quiescent point: {machine.InvalidateInstructions} after every read");
        output.WriteLine();

        Action[] steps = [MapEverything, ReadBack, ZapAndReclaim, UnderLoad];
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
            _space.Map(_smallVas[i], _smallFrames[i], PageAllocator.PageSize, EmulatedMachine.DataFlags);
        }

        for (int j = 0; j < MediumPages; j++)
        {
            ulong frame = EmulatedMachine.LargeMemoryPhysicalBase + ((ulong)j * TwoMiB);
            _space.Map(LargePagesBase + ((ulong)j * TwoMiB), frame, TwoMiB, EmulatedMachine.DataFlags, LeafSize.Size2M);
            machine.LargeMemory.WriteUInt64(frame + MediumReadOffset, GuestFrames.Marker(frame + MediumReadOffset));
        }

        _space.Map(LargePagesBase + OneGiB, EmulatedMachine.LargeMemoryPhysicalBase, OneGiB, EmulatedMachine.DataFlags, LeafSize.Size1G);
        ulong gigaPhysical = EmulatedMachine.LargeMemoryPhysicalBase + GigaReadOffset;
        machine.LargeMemory.WriteUInt64(gigaPhysical, GuestFrames.Marker(gigaPhysical));

        output.WriteLine($"mapped {_smallVas.Length} x 4 KiB (one per 2 MiB from 0x{SmallPagesBase:X}), {MediumPages} x 2 MiB at 0x{LargePagesBase:X}, " +
            $"1 x 1 GiB at 0x{LargePagesBase + OneGiB:X}");
        output.WriteLine($"page tables: {Describe(_space.Stats)}");
    }

    private void ReadBack()
    {
        output.WriteLine("guest read back:");
        var values = new ulong[_smallVas.Length];
        EmulatedAccessResult small = machine.Read(_smallVas, values);
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

        var largeVas = new ulong[MediumPages + 1];
        var largeFrames = new ulong[MediumPages + 1];
        for (int j = 0; j < MediumPages; j++)
        {
            largeVas[j] = LargePagesBase + ((ulong)j * TwoMiB) + MediumReadOffset;
            largeFrames[j] = EmulatedMachine.LargeMemoryPhysicalBase + ((ulong)j * TwoMiB) + MediumReadOffset;
        }

        largeVas[MediumPages] = LargePagesBase + OneGiB + GigaReadOffset;
        largeFrames[MediumPages] = EmulatedMachine.LargeMemoryPhysicalBase + GigaReadOffset;
        var large = new ulong[largeVas.Length];
        EmulatedAccessResult largeResult = machine.Read(largeVas, large);
        for (int j = 0; j < largeResult.Completed; j++)
        {
            output.WriteLine($"  {(j < MediumPages ? "2 MiB" : "1 GiB")}  0x{largeVas[j]:X} -> 0x{large[j]:X}  (marker of GPA 0x{largeFrames[j]:X})");
            Check(large[j] == GuestFrames.Marker(largeFrames[j]), $"large leaf read {j} gave 0x{large[j]:X}");
        }

        Check(largeResult.Completed == largeVas.Length, $"large-leaf reads stopped after {largeResult.Completed}: {largeResult.Fault}");
    }

    private void ZapAndReclaim()
    {
        output.WriteLine();
        var values = new ulong[1];
        machine.ReadWithoutInvalidate([_smallVas[0]], values);
        PageTableStats before = _space.Stats;
        long pagesBefore = machine.Allocator.AllocatedPages;
        ulong length = (ulong)_smallVas.Length * TwoMiB;
        ZapResult zap = _space.Zap(SmallPagesBase, length);
        PageTableStats after = _space.Stats;
        output.WriteLine($"zap 0x{SmallPagesBase:X}..0x{SmallPagesBase + length:X}: {ByteSize.Format(zap.ZappedBytes)} unmapped, {zap.ReclaimedTables} tables unhooked and retired");
        output.WriteLine($"page-table bytes: before {before.PageTableBytes}, after {after.PageTableBytes} ({after.PendingTables} tables waiting for a grace period)");

        EmulatedAccessResult stale = machine.ReadWithoutInvalidate([_smallVas[0]], values);
        machine.Epoch.Collect();
        long pendingWhileStale = _space.Stats.PendingTables;
        output.WriteLine($"guest read before it invalidates its TLB: 0x{values[0]:X} (the old frame's marker, from its TLB: the hazard); " +
            $"{pendingWhileStale} tables still pending, held back by the guest's thread until it invalidates");
        Check(stale.Completed == 1 && values[0] == GuestFrames.Marker(_smallFrames[0]), $"the stale read should return the old frame's marker: {stale}, 0x{values[0]:X}");
        Check(pendingWhileStale == after.PendingTables, $"tables were freed while the guest's TLB could still hold their translations ({pendingWhileStale} of {after.PendingTables} pending)");

        machine.InvalidateTlb();
        EmulatedAccessResult faulted = machine.Read([_smallVas[0]], values);
        output.WriteLine($"guest read after {machine.InvalidateInstructions}: {faulted.Fault?.ToString() ?? $"read 0x{values[0]:X}"}");
        Check(faulted.Fault is { } fault && fault.Address == _smallVas[0], $"read after zap and invalidation should fault at 0x{_smallVas[0]:X}: {faulted}");

        CheckZapFreedItsTables(output, _space, zap, pagesBefore, _smallVas.Length);

        ulong oldFrame = _smallFrames[0];
        _smallFrames[0] = GuestFrames.New(machine.Allocator);
        _space.Map(_smallVas[0], _smallFrames[0], PageAllocator.PageSize, EmulatedMachine.DataFlags);
        EmulatedAccessResult remapped = machine.Read([_smallVas[0]], values);
        output.WriteLine($"re-map 0x{_smallVas[0]:X} to a new frame (GPA 0x{oldFrame:X} -> 0x{_smallFrames[0]:X}): guest reads 0x{values[0]:X}");
        Check(remapped.Completed == 1 && values[0] == GuestFrames.Marker(_smallFrames[0]), $"read after re-map: {remapped}, 0x{values[0]:X}");
    }

    private void UnderLoad()
    {
        output.WriteLine();
        for (int i = 1; i < _smallVas.Length; i++)
        {
            _space.Map(_smallVas[i], _smallFrames[i], PageAllocator.PageSize, EmulatedMachine.DataFlags);
        }

        // At least the passes asked for, and on until the host has zapped and re-mapped once, so the phase always
        // has a zap under load to check (a single pass can end before the zapper's first round).
        EmulatedUnderLoad.Result r = new EmulatedUnderLoad(machine, _smallVas, _smallFrames)
            .Execute(settings.Passes, minRounds: 1, stopAtFirstTrap: false, TimeSpan.MaxValue, stop);
        machine.Epoch.Barrier();
        output.WriteLine($"under load: the guest made {r.Passes} passes over its {_smallVas.Length} pages while a host thread zapped and re-mapped them {r.Rounds} times");
        output.WriteLine($"  guest: {r.Reads} reads, {r.Faults} faults on pages caught zapped, {r.Traps} reads of the trap, {r.Wrong} wrong values");
        output.WriteLine($"  host: {r.Reclaimed} tables reclaimed; {r.FreedDuringRun} freed (and poisoned) while the guest ran, at grace periods its TLB invalidations let pass");
        output.WriteLine($"page tables now: {Describe(_space.Stats)}");
        Check(r.Traps == 0, $"the guest read the trap {r.Traps} times: it walked a freed table");
        Check(r.Wrong == 0, $"the guest read {r.Wrong} wrong values");
        if (ZapsReclaim)
        {
            Check(r.Reclaimed > 0, $"no table was reclaimed under load in {r.Rounds} zaps of whole 2 MiB spans");
        }
        else
        {
            Check(r.Reclaimed == 0 && r.FreedDuringRun == 0, $"policy none reclaimed {r.Reclaimed} tables under load ({r.FreedDuringRun} freed)");
        }
    }

    private static string Describe(PageTableStats stats) =>
        $"{stats.PteTables} PTE + {stats.PmdTables} PMD + {stats.PudTables} PUD + {stats.P4dTables} P4D tables = {stats.PageTableBytes} bytes, {stats.MappedPages} leaves";
}
