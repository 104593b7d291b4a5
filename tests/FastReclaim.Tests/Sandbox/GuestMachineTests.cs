using FastReclaim.Sandbox;

namespace FastReclaim.Tests.Sandbox;

/// <summary>A real vCPU walks AddressSpace-built tables; skipped where /dev/kvm is absent or cannot be opened.</summary>
public unsafe class GuestMachineTests
{
    private const ulong DataBase = 1UL << 39;    // 512 GiB: its own PML4 entry, away from the system pages
    private const ulong TwoMiB = 1UL << 21;
    private const ulong OneGiB = 1UL << 30;
    private const ulong MarkerTag = 0x5A5A_0000_0000_0000;

    private static GuestMachine NewMachine(bool poison = false, ReclaimPolicy policy = ReclaimPolicy.Eager)
    {
        Assert.SkipUnless(KvmAvailability.IsAvailable(out string reason), reason);
        return new GuestMachine(new GuestMachineOptions { Poison = poison, Policy = policy });
    }

    /// <summary>A 4 KiB arena frame whose every word holds its own guest-physical address, tagged.</summary>
    private static ulong NewFrame(GuestMachine machine)
    {
        nint page = machine.Allocator.Allocate();
        ulong physical = machine.Allocator.PhysicalOf(page);
        var words = new Span<ulong>((void*)page, PageAllocator.PageSize / sizeof(ulong));
        for (int k = 0; k < words.Length; k++)
        {
            words[k] = MarkerTag | (physical + (ulong)(k * sizeof(ulong)));
        }

        return physical;
    }

    [Fact]
    public void Guest_Reads_Each_Frame_Through_Sparse_4K_Mappings()
    {
        using GuestMachine machine = NewMachine();
        const int Pages = 32;
        var vas = new ulong[Pages];
        var expected = new ulong[Pages];
        for (int i = 0; i < Pages; i++)
        {
            vas[i] = DataBase + ((ulong)i * TwoMiB) + ((ulong)i * sizeof(ulong) * 3);
            ulong frame = NewFrame(machine);
            machine.AddressSpace.Map(DataBase + ((ulong)i * TwoMiB), frame, PageAllocator.PageSize, GuestMachine.DataFlags);
            expected[i] = MarkerTag | (frame + ((ulong)i * sizeof(ulong) * 3));
        }

        var values = new ulong[Pages];
        GuestAccessResult result = machine.Read(vas, values);

        Assert.Equal(new GuestAccessResult(Pages, null, false, 1), result);
        Assert.Equal(expected, values);
    }

    [Fact]
    public void Guest_Reads_Through_2M_Leaves_And_Walks_To_The_1G_Leaf()
    {
        using GuestMachine machine = NewMachine();
        ulong large = GuestMachine.LargeMemoryPhysicalBase;
        machine.AddressSpace.Map(DataBase, large + TwoMiB, TwoMiB, GuestMachine.DataFlags, LeafSize.Size2M);
        machine.AddressSpace.Map(DataBase + OneGiB, large, OneGiB, GuestMachine.DataFlags, LeafSize.Size1G);
        machine.LargeMemory.WriteUInt64(large + TwoMiB + 0x1_2340, 0x2222);
        machine.LargeMemory.WriteUInt64(large + 0x2345_6780, 0x1111);

        var values = new ulong[1];
        GuestAccessResult medium = machine.Read([DataBase + 0x1_2340], values);
        Assert.Equal((1, 0x2222UL), (medium.Completed, values[0]));

        GuestAccessResult giga = machine.Read([DataBase + OneGiB + 0x2345_6780], values);
        if (machine.SupportsGigabytePages)
        {
            Assert.Equal((1, 0x1111UL), (giga.Completed, values[0]));
        }
        else
        {
            // The CPU (here: KVM's software MMU) reached the PDPT leaf and refused PS=1 as reserved.
            Assert.NotNull(giga.Fault);
            Assert.True(giga.Fault.Value.IsReservedBit, giga.Fault.ToString());
            Assert.Equal(DataBase + OneGiB + 0x2345_6780, giga.Fault.Value.Address);
        }
    }

    [Fact]
    public void Guest_Write_Lands_In_The_Mapped_Frame()
    {
        using GuestMachine machine = NewMachine();
        ulong frame = NewFrame(machine);
        machine.AddressSpace.Map(DataBase, frame, PageAllocator.PageSize, GuestMachine.DataFlags);

        var readBack = new ulong[1];
        GuestAccessResult result = machine.Write([DataBase + 0x18], 0xC0FFEE, readBack);

        Assert.Equal((1, 0xC0FFEEUL), (result.Completed, readBack[0]));
        Assert.Equal(0xC0FFEEUL, *(ulong*)(machine.Allocator.VirtualOf(frame) + 0x18));
    }

    [Theory]
    [InlineData(ReclaimPolicy.Linux)]
    [InlineData(ReclaimPolicy.Eager)]
    public void Guest_Read_Faults_After_Zap_And_Sees_The_New_Frame_After_Remap(ReclaimPolicy policy)
    {
        using GuestMachine machine = NewMachine(poison: true, policy);
        ulong oldFrame = NewFrame(machine);
        machine.AddressSpace.Map(DataBase, oldFrame, PageAllocator.PageSize, GuestMachine.DataFlags);
        var values = new ulong[1];
        Assert.Equal(1, machine.Read([DataBase], values).Completed);

        ZapResult zap = machine.AddressSpace.Zap(DataBase, TwoMiB);
        Assert.True(zap.ReclaimedTables >= 1, $"the PTE table of a fully zapped 2 MiB should be reclaimed ({zap})");
        GuestAccessResult faulted = machine.Read([DataBase], values);
        Assert.Equal(0, faulted.Completed);
        Assert.Equal(DataBase, faulted.Fault?.Address);
        Assert.True(faulted.Fault!.Value.IsNotPresent);

        machine.Epoch.Barrier(); // the retired table is freed (and poisoned) now
        ulong newFrame = NewFrame(machine);
        machine.AddressSpace.Map(DataBase, newFrame, PageAllocator.PageSize, GuestMachine.DataFlags);
        GuestAccessResult remapped = machine.Read([DataBase], values);

        Assert.Equal((1, false), (remapped.Completed, remapped.TrapFrameRead));
        Assert.Equal(MarkerTag | newFrame, values[0]);
    }

    /// <summary>
    /// The detector works: a table still hooked into the tree but filled with the poison pattern (what a guest
    /// would find in a table freed too early) makes the guest read the trap frame and say so.
    /// </summary>
    [Fact]
    public void Guest_Reports_The_Trap_Frame_When_It_Walks_A_Poisoned_Table()
    {
        using GuestMachine machine = NewMachine(poison: true);
        machine.AddressSpace.Map(DataBase, NewFrame(machine), PageAllocator.PageSize, GuestMachine.DataFlags);
        var values = new ulong[1];
        Assert.Equal(1, machine.Read([DataBase], values).Completed);

        var pte = new Span<ulong>((void*)TableOf(machine, DataBase, level: 1), PageAllocator.PageSize / sizeof(ulong));
        ulong[] saved = pte.ToArray();
        pte.Fill(GuestMachine.TrapValue);
        GuestAccessResult poisoned = machine.Read([DataBase + 0x40], values);
        saved.CopyTo(pte);

        Assert.True(poisoned.TrapFrameRead);
        Assert.Equal(GuestMachine.TrapValue, values[0]);
    }

    /// <summary>
    /// The poison test. A host thread zaps and re-maps pages (each zap reclaims a PTE table, freed through the
    /// epoch domain and filled with the trap entry) while the guest reads its pages over and over. If a table were
    /// freed while the guest could still walk it, or before the guest reloaded CR3 after its last exit, the guest
    /// would read the trap frame.
    /// </summary>
    [Fact]
    public void Guest_Never_Reads_The_Trap_Frame_While_A_Host_Thread_Zaps_And_Reclaims()
    {
        using GuestMachine machine = NewMachine(poison: true);
        const int Pages = 32;
        const int MinPasses = 200;
        const int MinConcurrentRounds = 1000;
        const int MaxPasses = 20_000; // only reached if the zapping thread never gets to run
        const int BarrierEveryRounds = 256;
        var vas = new ulong[Pages];
        var frames = new ulong[Pages];
        for (int i = 0; i < Pages; i++)
        {
            vas[i] = DataBase + ((ulong)i * TwoMiB);
            frames[i] = NewFrame(machine);
            machine.AddressSpace.Map(vas[i], frames[i], PageAllocator.PageSize, GuestMachine.DataFlags);
        }

        long freedBefore = machine.Epoch.Stats.Freed;
        int stop = 0;
        int rounds = 0;
        var zapper = new Thread(() =>
        {
            for (int round = 0; Volatile.Read(ref stop) == 0; round++)
            {
                int i = round % Pages;
                machine.AddressSpace.Zap(vas[i], TwoMiB);
                machine.AddressSpace.Map(vas[i], frames[i], PageAllocator.PageSize, GuestMachine.DataFlags);
                if (round % BarrierEveryRounds == BarrierEveryRounds - 1)
                {
                    machine.Epoch.Barrier(); // bounds the backlog; completes once the guest passes an exit
                }

                Volatile.Write(ref rounds, round + 1);
            }
        });

        int passes = 0, traps = 0, faults = 0, reads = 0, wrong = 0, concurrentRounds;
        var list = new ulong[Pages];
        var values = new ulong[Pages];
        zapper.Start();
        try
        {
            for (; passes < MaxPasses && (passes < MinPasses || Volatile.Read(ref rounds) < MinConcurrentRounds); passes++)
            {
                for (int k = 0; k < Pages; k++)
                {
                    list[k] = vas[(passes + k) % Pages];
                }

                GuestAccessResult result = machine.Read(list, values);
                traps += result.TrapFrameRead ? 1 : 0;
                faults += result.Fault is null ? 0 : 1;
                reads += result.Completed;
                for (int k = 0; k < result.Completed; k++)
                {
                    wrong += values[k] == (MarkerTag | frames[(passes + k) % Pages]) || values[k] == GuestMachine.TrapValue ? 0 : 1;
                }
            }
        }
        finally
        {
            concurrentRounds = Volatile.Read(ref rounds);
            Volatile.Write(ref stop, 1);
            zapper.Join();
        }

        long freedDuringRun = machine.Epoch.Stats.Freed - freedBefore;
        string summary = $"{passes} passes, {reads} reads, {faults} faults, {concurrentRounds} zap rounds, {freedDuringRun} tables freed";
        Assert.True(traps == 0, $"the guest read the trap frame {traps} times ({summary})");
        Assert.True(wrong == 0, $"the guest read {wrong} wrong values ({summary})");
        Assert.True(concurrentRounds >= MinConcurrentRounds && freedDuringRun > 0,
            $"tables should have been zapped and freed (poisoned) while the guest ran ({summary})");
    }

    [Fact]
    public void Guest_Access_To_Guest_Physical_Memory_With_No_Slot_Is_Reported_As_Mmio()
    {
        using GuestMachine machine = NewMachine();
        const ulong Unbacked = 0x8000_0000; // 2 GiB: between the arena (1 GiB + 32 MiB) and the large slot (256 GiB)
        machine.AddressSpace.Map(DataBase, Unbacked, PageAllocator.PageSize, GuestMachine.DataFlags);

        var e = Assert.Throws<KvmException>(() => machine.Read([DataBase + 8], new ulong[1]));

        Assert.Contains("MMIO read of 8 bytes at GPA 0x80000008", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Large_Memory_Size_Must_Be_Whole_GiB()
    {
        var options = new GuestMachineOptions { LargeMemoryBytes = (long)(OneGiB / 2) };
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new GuestMachine(options));
        Assert.Contains(nameof(GuestMachineOptions.LargeMemoryBytes), e.Message, StringComparison.Ordinal);
    }

    /// <summary>The table at <paramref name="level"/> on the walk to <paramref name="va"/>, found by reading the entries as the CPU does.</summary>
    private static nint TableOf(GuestMachine machine, ulong va, int level)
    {
        const ulong FrameMask = 0x000F_FFFF_FFFF_F000;
        nint table = machine.Allocator.VirtualOf(machine.AddressSpace.RootPhysical);
        for (int l = machine.AddressSpace.Levels; l > level; l--)
        {
            int index = (int)(va >> (12 + (9 * (l - 1)))) & 511;
            ulong entry = ((ulong*)table)[index];
            table = machine.Allocator.VirtualOf(entry & FrameMask);
        }

        return table;
    }
}
