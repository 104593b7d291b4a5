using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace FastReclaim.Benchmarks;

/// <summary>
/// The two ways the suites are run: the full job for people reading the numbers, and the quick job
/// the CI perf gate runs. Both export the full JSON report (with every iteration's measurement, which
/// the gate's statistical test needs) and a GitHub markdown table.
/// </summary>
internal static class BenchmarkJobs
{
    /// <summary>
    /// Measured iterations per benchmark in the quick job. The gate's Mann-Whitney test needs a sample per
    /// side of this order to tell a 15% shift from noise on a loaded two-core machine.
    /// </summary>
    internal const int QuickIterations = 15;

    private const int QuickWarmups = 3;

    /// <summary>Long enough for the timer resolution to vanish, short enough to keep the CI step in budget.</summary>
    private static readonly TimeSpan QuickIterationTime = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// The CI job: one launch, in-process, so the measured code is exactly the build the gate was started on
    /// (a define passed to that build reaches the benchmarks, and no per-run project build eats the budget).
    /// </summary>
    internal static IConfig Quick() => Common(Job.Default
        .WithId("Quick")
        .WithToolchain(InProcessEmitToolchain.Instance)
        .WithLaunchCount(1)
        .WithWarmupCount(QuickWarmups)
        .WithIterationCount(QuickIterations)
        .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(QuickIterationTime.TotalMilliseconds)));

    /// <summary>The human job: BenchmarkDotNet's defaults (separate processes, adaptive iteration counts).</summary>
    internal static IConfig Full() => Common(Job.Default.WithId("Full"));

    private static ManualConfig Common(Job job) => ManualConfig.CreateEmpty()
        .AddColumnProvider(DefaultColumnProviders.Instance)
        .AddLogger(ConsoleLogger.Default)
        .AddAnalyser([.. DefaultConfig.Instance.GetAnalysers()])
        .AddValidator([.. DefaultConfig.Instance.GetValidators()])
        .AddJob(job.AsDefault())
        .AddDiagnoser(MemoryDiagnoser.Default)
        .AddExporter(JsonExporter.Full, MarkdownExporter.GitHub, BaselineMapExporter.Instance)
        .WithOptions(ConfigOptions.DisableLogFile)
        .HideColumns("Job", "Toolchain", "IterationCount", "LaunchCount", "WarmupCount", "IterationTime");
}
