using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using FastReclaim.BenchmarkDotNet;
using FastReclaim.Tests.Diagnostics;

namespace FastReclaim.Tests.BenchmarkDotNet;

/// <summary>
/// Runs tiny benchmarks through BenchmarkDotNet in this process with the diagnoser attached, and pins the columns.
/// In the diagnostics collection: nothing else creates or changes address spaces while one runs, and the deltas count
/// every space in the process.
/// </summary>
[Collection(DiagnosticsCollection.Name)]
public class DiagnoserInProcessTests
{
    [Fact]
    public void Map_And_Zap_Of_64_Pte_Tables_Under_Linux_Reports_64_Allocated_Reclaimed_And_Retired_Per_Operation()
    {
        BenchmarkReport report = Run<MapZapBenchmark>();

        Assert.Equal(64, Value(report, "FastReclaim.TablesAllocated"));
        Assert.Equal(64, Value(report, "FastReclaim.TablesReclaimed"));
        Assert.Equal(64, Value(report, "FastReclaim.RetiredItems"));
        // After the last zap the space holds its PMD and PUD tables only.
        Assert.Equal(2 * PageAllocator.PageSize, Value(report, "FastReclaim.PageTableBytes"));
        Assert.InRange(Value(report, "FastReclaim.PendingTables"), 0, 64 * Operations(report));
        Assert.Equal(0, Value(report, "FastReclaim.ReaderStalls"));
    }

    [Fact]
    public void Tables_Made_Before_The_Actual_Iterations_Are_Not_Counted()
    {
        BenchmarkReport report = Run<FirstCallMapsBenchmark>();

        // The only tables are made by the first invocation (the jitting stage): none in the measured workload.
        Assert.Equal(0, Value(report, "FastReclaim.TablesAllocated"));
        Assert.Equal(66 * PageAllocator.PageSize, Value(report, "FastReclaim.PageTableBytes"));
    }

    [Fact]
    public void A_Benchmark_Without_FastReclaim_Gets_Every_Column_At_Zero_Shown_As_A_Dash()
    {
        Summary summary = RunSummary<NoFastReclaimBenchmark>();
        BenchmarkReport report = Assert.Single(summary.Reports);

        Assert.True(report.Success);
        string[] ids =
        [
            "FastReclaim.TablesAllocated", "FastReclaim.TablesReclaimed", "FastReclaim.RetiredItems", "FastReclaim.PageTableBytes",
            "FastReclaim.PendingTables", "FastReclaim.GracePeriodP99", "FastReclaim.ReaderStalls",
        ];
        Assert.Equal(ids.Order(StringComparer.Ordinal), report.Metrics.Keys.Where(k => k.StartsWith("FastReclaim.", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        Assert.All(ids, id => Assert.Equal(0, Value(report, id)));
        Assert.All(ids, id => Assert.Equal("-", new MetricColumn(report.Metrics[id].Descriptor).GetValue(summary, report.BenchmarkCase)));
    }

    private static BenchmarkReport Run<T>() => Assert.Single(RunSummary<T>().Reports);

    private static Summary RunSummary<T>()
    {
        Job job = Job.Dry
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithStrategy(RunStrategy.Throughput)
            .WithEvaluateOverhead(false)
            .WithWarmupCount(1)
            .WithIterationCount(3)
            .WithInvocationCount(4)
            .WithUnrollFactor(1);
        IConfig config = ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddDiagnoser(FastReclaimDiagnoser.Default)
            .WithArtifactsPath(Path.Combine(Path.GetTempPath(), "fastreclaim-diagnoser-tests"))
            .WithOptions(ConfigOptions.DisableOptimizationsValidator | ConfigOptions.DisableLogFile);
        return BenchmarkRunner.Run<T>(config);
    }

    private static long Operations(BenchmarkReport report) =>
        report.AllMeasurements.Where(m => m.IterationMode == IterationMode.Workload && m.IterationStage == IterationStage.Actual).Sum(m => m.Operations);

    private static double Value(BenchmarkReport report, string id) =>
        Assert.Contains(id, (IReadOnlyDictionary<string, Metric>)report.Metrics).Value;
}

/// <summary>Maps 128 MiB (64 PTE tables under one PMD) and zaps it again: the Linux policy frees exactly the 64.</summary>
public class MapZapBenchmark
{
    private const ulong Base = 0x1000_0000_0000;
    private const ulong Span = 64UL << 21;
    private AddressSpace _space = null!;

    [GlobalSetup]
    public void Setup()
    {
        _space = new AddressSpace(new AddressSpaceOptions { Policy = ReclaimPolicy.Linux });
        MapAndZap();
    }

    [Benchmark]
    public void MapAndZap()
    {
        _space.Map(Base, 0x4000_0000, Span, PageFlags.Present | PageFlags.Writable);
        _space.Zap(Base, Span);
    }

    [GlobalCleanup]
    public void Cleanup() => _space.Dispose();
}

/// <summary>Touches nothing of FastReclaim.</summary>
public class NoFastReclaimBenchmark
{
    private readonly int[] _values = [.. Enumerable.Range(0, 1024)];

    [Benchmark]
    public int Sum() => _values.Sum();
}

/// <summary>Maps 64 PTE tables (with their PMD and PUD) on its first invocation only.</summary>
public class FirstCallMapsBenchmark
{
    private AddressSpace _space = null!;
    private bool _mapped;

    [GlobalSetup]
    public void Setup() => _space = new AddressSpace(new AddressSpaceOptions { Policy = ReclaimPolicy.Linux });

    [Benchmark]
    public bool MapOnce()
    {
        if (!_mapped)
        {
            _space.Map(0x1000_0000_0000, 0x4000_0000, 64UL << 21, PageFlags.Present | PageFlags.Writable);
            _mapped = true;
        }

        return _mapped;
    }

    [GlobalCleanup]
    public void Cleanup() => _space.Dispose();
}
