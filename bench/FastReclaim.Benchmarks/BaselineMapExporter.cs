using System.Text.Json;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace FastReclaim.Benchmarks;

/// <summary>
/// Writes <c>*-report-baselines.json</c> beside the full JSON report: for every case (by its DisplayInfo, as in
/// the JSON), a name that is unique in the run (the full name, plus <c> @Job</c> when the class runs several
/// jobs) and the name of the baseline it is divided by (the <c>[Benchmark(Baseline = true)]</c> method or the
/// baseline job, same parameters, as BenchmarkDotNet's own Ratio column chooses it), or null. BenchmarkDotNet's
/// JSON leaves this out, and the perf gate (tools/FastReclaim.PerfGate) judges ratios, not absolute times.
/// </summary>
internal sealed class BaselineMapExporter : ExporterBase
{
    public static readonly BaselineMapExporter Instance = new();

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    protected override string FileExtension => "json";

    protected override string FileNameSuffix => "-baselines";

    public override void ExportToLog(Summary summary, ILogger logger)
    {
        bool severalJobs = summary.BenchmarksCases.Select(c => c.Job.ResolvedId).Distinct().Count() > 1;
        string NameOf(BenchmarkCase benchmark) =>
            FullNameProvider.GetBenchmarkName(benchmark) + (severalJobs ? " @" + benchmark.Job.ResolvedId : "");

        var entries = summary.BenchmarksCases.Select(benchmark =>
        {
            var group = summary.GetLogicalGroupKey(benchmark);
            var baseline = group is null ? null : summary.GetBaseline(group);
            return new Entry(benchmark.DisplayInfo, NameOf(benchmark), baseline is null ? null : NameOf(baseline));
        });
        logger.WriteLine(JsonSerializer.Serialize(new { Benchmarks = entries }, Indented));
    }

    private sealed record Entry(string DisplayInfo, string Name, string? Baseline);
}
