using FastReclaim.BenchmarkDotNet;
using FastReclaim.Tests.Cli;
using FastReclaim.Tests.Diagnostics;

namespace FastReclaim.Tests.BenchmarkDotNet;

/// <summary>
/// The diagnoser's out-of-process sampler against a real child: the CLI demo holding its final state, whose own Stats
/// it prints. Two samples of an idle process must read exactly those levels and no change in between.
/// </summary>
[Collection(DiagnosticsCollection.Name)]
public sealed class EventPipeSamplerTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("fastreclaim-sampler-").FullName;

    [Fact(Timeout = 120_000)]
    public async Task Two_Samples_Of_A_Held_Demo_Read_Its_Page_Tables_And_No_Change()
    {
        using CliProcess demo = await CliProcess.StartHeldDemoAsync(Path.Combine(_directory, "demo.png"), TestContext.Current.CancellationToken);
        demo.SkipUnlessDiagnosticsIpc();
        Dictionary<string, Dictionary<string, long>> stats = demo.HeldStats();

        MeterSnapshot? start, end;
        using (EventPipeSampler sampler = EventPipeSampler.Attach(demo.Id))
        {
            start = sampler.Sample();
            end = sampler.Sample();
            Assert.True(start is not null && end is not null, sampler.Problem);
        }

        WorkloadMetrics figures = WorkloadMetrics.Compute(start, end, operations: 1);
        long tables = stats.Values.Sum(s => s["pte_tables"] + s["pmd_tables"] + s["pud_tables"] + s["p4d_tables"]);
        Assert.Equal(tables * PageAllocator.PageSize, figures.PageTableBytes);
        Assert.Equal(stats.Values.Sum(s => s["pending_tables"]), figures.PendingTables);
        Assert.Equal(0, figures.TablesAllocatedPerOperation);
        Assert.Equal(0, figures.TablesReclaimedPerOperation);
        Assert.Equal(0, figures.RetiredItemsPerOperation);
        Assert.Equal(0, figures.OwnersLost);
        // Every space has hooked in at least the tables it holds.
        Assert.All(end.Of(FastReclaimDiagnostics.Instruments.PageTablesAllocated), s => Assert.True(s.Value > 0));
        Assert.Equal(3, end.Of(FastReclaimDiagnostics.Instruments.PageTablesAllocated).Count());
        Assert.Equal(0, await demo.CloseInputAndWaitAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Attaching_To_A_Process_That_Is_Not_There_Fails_With_Its_Id()
    {
        var e = Assert.Throws<InvalidOperationException>(() => EventPipeSampler.Attach(int.MaxValue));
        Assert.Contains(int.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
