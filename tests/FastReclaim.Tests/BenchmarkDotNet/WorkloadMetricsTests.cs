using FastReclaim.BenchmarkDotNet;
using static FastReclaim.FastReclaimDiagnostics;

namespace FastReclaim.Tests.BenchmarkDotNet;

public class WorkloadMetricsTests
{
    private const string Space1 = "policy=linux,space=1";
    private const string Space2 = "policy=linux,space=2";

    [Fact]
    public void Counter_Deltas_Are_Divided_By_The_Operations_And_Levels_Are_Read_At_The_End()
    {
        MeterSnapshot start = Snapshot(
            (Instruments.PageTablesAllocated, Space1, 100), (Instruments.PageTablesReclaimed, Space1, 40),
            (Instruments.PageTableSize, Space1 + ",level=pte", 4096 * 60),
            (Instruments.EpochFreed, "domain=1", 30), (Instruments.EpochPending, "domain=1", 10), (Instruments.EpochStalls, "domain=1", 2));
        MeterSnapshot end = Snapshot(
            (Instruments.PageTablesAllocated, Space1, 100 + (64 * 8)), (Instruments.PageTablesReclaimed, Space1, 40 + (64 * 8)),
            (Instruments.PageTableSize, Space1 + ",level=pte", 0), (Instruments.PageTableSize, Space1 + ",level=pmd", 4096),
            (Instruments.PageTablePending, Space1, 4096 * 3),
            (Instruments.EpochFreed, "domain=1", 30 + 509), (Instruments.EpochPending, "domain=1", 13), (Instruments.EpochStalls, "domain=1", 5)) with
        {
            GracePeriods = new GracePeriodSummary(7, 0.25),
        };

        WorkloadMetrics m = WorkloadMetrics.Compute(start, end, operations: 8);

        Assert.Equal(64, m.TablesAllocatedPerOperation);
        Assert.Equal(64, m.TablesReclaimedPerOperation);
        Assert.Equal((509 + 3) / 8.0, m.RetiredItemsPerOperation);
        Assert.Equal(4096, m.PageTableBytes);
        Assert.Equal(3, m.PendingTables);
        Assert.Equal(0.25, m.GracePeriodP99Milliseconds);
        Assert.Equal(3, m.ReaderStalls);
        Assert.Equal(0, m.OwnersLost);
    }

    [Fact]
    public void A_Space_Created_During_The_Workload_Counts_From_Zero_And_One_Disposed_During_It_Is_Reported_Lost()
    {
        MeterSnapshot start = Snapshot((Instruments.PageTablesAllocated, Space1, 500));
        MeterSnapshot end = Snapshot((Instruments.PageTablesAllocated, Space2, 30));

        WorkloadMetrics m = WorkloadMetrics.Compute(start, end, operations: 10);

        Assert.Equal(3, m.TablesAllocatedPerOperation);
        Assert.Equal(1, m.OwnersLost);
    }

    [Fact]
    public void No_FastReclaim_Series_Gives_No_Figure()
    {
        WorkloadMetrics m = WorkloadMetrics.Compute(MeterSnapshot.Empty, MeterSnapshot.Empty, operations: 1);

        Assert.Equal(new WorkloadMetrics(null, null, null, null, null, null, null, 0), m);
    }

    [Fact]
    public void An_Epoch_Domain_Without_Address_Space_Gives_Epoch_Figures_Only()
    {
        MeterSnapshot start = Snapshot((Instruments.EpochFreed, "domain=4", 0), (Instruments.EpochPending, "domain=4", 0), (Instruments.EpochStalls, "domain=4", 0));
        MeterSnapshot end = Snapshot((Instruments.EpochFreed, "domain=4", 60), (Instruments.EpochPending, "domain=4", 4), (Instruments.EpochStalls, "domain=4", 0));

        WorkloadMetrics m = WorkloadMetrics.Compute(start, end, operations: 64);

        Assert.Equal(1, m.RetiredItemsPerOperation);
        Assert.Equal(0, m.ReaderStalls);
        Assert.Null(m.TablesAllocatedPerOperation);
        Assert.Null(m.PageTableBytes);
        Assert.Null(m.PendingTables);
    }

    [Fact]
    public void Zero_Operations_Are_Rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => WorkloadMetrics.Compute(MeterSnapshot.Empty, MeterSnapshot.Empty, operations: 0));
    }

    [Fact]
    public void Tags_Are_Canonical_Whatever_Order_They_Come_In()
    {
        Assert.Equal("level=pte,policy=linux,space=1", SeriesKey.CanonicalTags([("space", "1"), ("policy", "linux"), ("level", "pte")]));
        Assert.Equal("space=1", MeterSnapshot.OwnerOf(new SeriesKey(Instruments.PageTableSize, "level=pte,policy=linux,space=1")));
        Assert.Equal("domain=3", MeterSnapshot.OwnerOf(new SeriesKey(Instruments.EpochFreed, "domain=3")));
    }

    private static MeterSnapshot Snapshot(params (string Instrument, string Tags, double Value)[] series) =>
        new(series.ToDictionary(s => new SeriesKey(s.Instrument, s.Tags), s => s.Value), GracePeriodSummary.None);
}
