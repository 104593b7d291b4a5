using FastReclaim.Reclaim;
using FastReclaim.Tests.Reclaim;

namespace FastReclaim.Tests.Paging;

public sealed class AddressSpaceTortureTests
{
    private const int OpsPerWriter = 20_000;
    /// <summary>
    /// The bound of a run that must catch a broken reclaimer: it stops at the first violation, so the bound is only
    /// reached when none comes. Alone, the interval off-by-one is caught in 0.4-1.2 s, and in 1.3-1.9 s with both
    /// cores busy; a CI run of the whole suite once spent 600,000 operations (1.6 s) without a catch, so ten times that.
    /// </summary>
    private const int BrokenOpsPerWriter = 6_000_000;

    [Theory]
    [InlineData(ReclaimPolicy.Linux)]
    [InlineData(ReclaimPolicy.Eager)]
    public void Readers_Never_See_A_Freed_Table_Writers_Never_Lose_A_Mapping_And_Every_Table_Is_Freed(ReclaimPolicy policy)
    {
        AddressSpaceTorture.Result r = AddressSpaceTorture.Run(policy, EpochFault.None, OpsPerWriter, stopAtFirstViolation: false);

        Assert.True(r.Violations == 0, r.ToString());
        Assert.Equal(0, r.AllocatedAfterDispose);
        Assert.True(r.ReclaimedTables > 100, $"only {r.ReclaimedTables} tables reclaimed: the test did not exercise reclamation");
        Assert.True(r.ReaderTranslations > 10_000, $"only {r.ReaderTranslations} reader translations");
    }

    [Fact]
    public void Torture_Catches_Tables_Freed_Without_A_Grace_Period()
    {
        // The protocol minus the epoch: an unhooked table is freed (and poisoned) at once, while readers that
        // reached it through the old entry are still walking it.
        // It stops at the first violation (usually within a second); the bound only matters if none comes.
        AddressSpaceTorture.Result r = AddressSpaceTorture.Run(ReclaimPolicy.Eager, EpochFault.FreeAtOnce, BrokenOpsPerWriter, stopAtFirstViolation: true);

        Assert.True(r.PoisonedReads + r.WrongTranslations > 0, $"no reader walked a freed table: {r}");
    }

    [Fact]
    public void Torture_Catches_The_Interval_Rule_Off_By_One()
    {
        // The interval rule with its test off by one: a table born in the era a reader's upper end announces is taken
        // as not held. With the guard stalled, only the interval rule frees anything, and the slow walker dwells in
        // tables it reached in the era they were born in, so one is freed under it. Stops at the first violation.
        AddressSpaceTorture.Result r = AddressSpaceTorture.Run(ReclaimPolicy.Eager, EpochFault.BirthAtUpperIsFree, BrokenOpsPerWriter, stopAtFirstViolation: true, stalledGuard: true);

        Assert.True(r.PoisonedReads + r.WrongTranslations > 0, $"no reader walked a table freed by the off-by-one rule: {r}");
    }

    [Theory]
    [InlineData(ReclaimPolicy.Linux)]
    [InlineData(ReclaimPolicy.Eager)]
    public void A_Stalled_Guard_Does_Not_Stop_Reclamation_And_No_Reader_Sees_A_Freed_Table(ReclaimPolicy policy)
    {
        // A guard that never leaves holds the epoch for the whole run: every table freed before it leaves was freed
        // by the interval rule, under readers that walk with announced intervals and a slow walker.
        AddressSpaceTorture.Result r = AddressSpaceTorture.Run(policy, EpochFault.None, OpsPerWriter, stopAtFirstViolation: false, stalledGuard: true);

        Assert.True(r.Violations == 0, r.ToString());
        Assert.Equal(0, r.AllocatedAfterDispose);
        Assert.True(r.FreedWhileStalled > 100, $"only {r.FreedWhileStalled} tables freed while the guard stalled the epoch: {r}");
    }

    [Theory]
    [InlineData(ReclaimPolicy.Linux)]
    [InlineData(ReclaimPolicy.Eager)]
    public void A_Qsbr_Reader_That_Is_Quiescent_Only_When_Asked_Sees_No_Freed_Table_And_Every_Table_Is_Freed(ReclaimPolicy policy)
    {
        AddressSpaceTorture.Result r = AddressSpaceTorture.Run(policy, EpochFault.None, OpsPerWriter, stopAtFirstViolation: false, expeditedQsbr: true);

        Assert.True(r.Violations == 0, r.ToString());
        Assert.Equal(0, r.AllocatedAfterDispose);
        Assert.True(r.ReclaimedTables > 100, $"only {r.ReclaimedTables} tables reclaimed: {r}");
        Assert.True(r.Expedites > 0, $"the QSBR reader was never asked: {r}");
    }

    [Theory]
    [InlineData(nameof(EpochFault.None))]
    [InlineData(nameof(EpochFault.FreeAtOnce))]
    [InlineData(nameof(EpochFault.BirthAtUpperIsFree))]
    public unsafe void A_Reader_Holding_A_Table_Reclaimed_Under_It_Reads_Zeros_Until_It_Leaves(string faultName)
    {
        // Deterministic form of the torture's race: a reader reads the PMD entry inside a guard and parks holding
        // the PTE table's address; a zap then reclaims that table. With the grace period the reader still reads
        // the table's empty entries; freed at once, it reads the allocator's poison.
        EpochFault fault = Enum.Parse<EpochFault>(faultName);
        const ulong va = 0x1000_0000_0000;
        const ulong poison = 0x000B_AD00_0000_0001;
        using var allocator = new PageAllocator(new PageAllocatorOptions { Poison = true, PoisonValue = poison });
        using var epoch = new EpochDomain(new EpochOptions { Fault = fault });
        using var space = new AddressSpace(new AddressSpaceOptions { Allocator = allocator, Epoch = epoch, IntervalReclaim = true });
        space.Map(va, 0x5000, PageAllocator.PageSize, PageFlags.Writable);

        nint pte = 0;
        var seen = new ulong[2];
        using (var reader = new ReaderThread(park =>
        {
            using EpochGuard guard = epoch.Enter();
            var watch = new TableReadWatch(ref epoch.Global.Era, guard.Line, guard.IsOutermost);
            ulong table = space.RootPhysical;
            for (int shift = 39; shift > 12; shift -= 9)
            {
                table = watch.Read(&((ulong*)allocator.VirtualOf(table))[(va >> shift) & 511]) & 0x000F_FFFF_FFFF_F000;
            }

            pte = allocator.VirtualOf(table);
            seen[0] = Volatile.Read(ref ((ulong*)pte)[(va >> PageAllocator.PageShift) & 511]);
            park();
            seen[1] = Volatile.Read(ref ((ulong*)pte)[(va >> PageAllocator.PageShift) & 511]);
        }))
        {
            Assert.Equal(1, space.Zap(va, 2UL << 20).ReclaimedTables);

            // The first collection seals the table's bag and advances past the reader's epoch; the second finds the
            // reader holding the epoch, so it can free the table only by the interval rule: the reader reached the
            // table in the era it was born in, which the off-by-one variant takes as not held.
            epoch.Collect();
            epoch.Collect();
        }

        Assert.Equal(0x5000UL | 0x3, seen[0]);
        Assert.Equal(fault == EpochFault.None ? 0UL : poison, seen[1]);
    }
}
