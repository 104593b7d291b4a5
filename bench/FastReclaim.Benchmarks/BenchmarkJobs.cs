using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using BenchmarkDotNet.Toolchains.NativeAot;

namespace FastReclaim.Benchmarks;

/// <summary>
/// The ways the suites are run: the full job for people reading the numbers, the quick job the CI perf gate
/// runs, and the JIT-versus-NativeAOT pair. All export the full JSON report (with every iteration's measurement,
/// which the gate's statistical test needs) and a GitHub markdown table.
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
    internal static IConfig Quick() => Common(QuickCounts(Job.Default.WithId("Quick"))
        .WithToolchain(InProcessEmitToolchain.Instance)
        .AsDefault());

    /// <summary>
    /// The same code compiled two ways, in one run (issue 19): the JIT with full optimization and no tiering (the
    /// code the quick job measures) and NativeAOT, where a thread static is an initial-exec TLS access instead of a
    /// call to glibc's <c>__tls_get_addr</c>. Each job runs in a process of its own with the quick job's counts; the
    /// NativeAOT one is published by BenchmarkDotNet with the SDK's ILCompiler package (restored from NuGet like any
    /// other), linked with gcc as the CLI's is, for this CPU's instruction set.
    /// </summary>
    internal static IConfig JitAndNativeAot() => Common(
        QuickCounts(Job.Default.WithId("JIT"))
            .WithEnvironmentVariable("DOTNET_TieredCompilation", "0"),
        QuickCounts(Job.Default.WithId("NativeAOT"))
            .WithToolchain(NativeAotToolchain.Net10_0)
            .WithArguments([new MsBuildArgument("/p:CppCompilerAndLinker=gcc")]));

    /// <summary>The human job: BenchmarkDotNet's defaults (separate processes, adaptive iteration counts).</summary>
    internal static IConfig Full() => Common(Job.Default.WithId("Full").AsDefault());

    private static Job QuickCounts(Job job) => job
        .WithLaunchCount(1)
        .WithWarmupCount(QuickWarmups)
        .WithIterationCount(QuickIterations)
        .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(QuickIterationTime.TotalMilliseconds));

    private static ManualConfig Common(params Job[] jobs) => ManualConfig.CreateEmpty()
        .AddColumnProvider(DefaultColumnProviders.Instance)
        .AddLogger(ConsoleLogger.Default)
        .AddAnalyser([.. DefaultConfig.Instance.GetAnalysers()])
        .AddValidator([.. DefaultConfig.Instance.GetValidators()])
        .AddJob(jobs)
        .AddDiagnoser(MemoryDiagnoser.Default)
        .AddExporter(JsonExporter.Full, MarkdownExporter.GitHub, BaselineMapExporter.Instance)
        .WithOptions(ConfigOptions.DisableLogFile)
        .HideColumns("Toolchain", "IterationCount", "LaunchCount", "WarmupCount", "IterationTime", "EnvironmentVariables", "Arguments")
        .HideColumns(jobs.Length == 1 ? ["Job"] : []); // several jobs: the Job column names each row's
}
