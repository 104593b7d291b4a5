using System.Text.Json;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;

namespace FastReclaim.Benchmarks;

/// <summary>
/// Writes <c>*-report-baselines.json</c> beside the full JSON report: for every case, the full name of the
/// in-class <c>[Benchmark(Baseline = true)]</c> case it is divided by (same run, same parameters, as
/// BenchmarkDotNet's own Ratio column chooses it), or null. BenchmarkDotNet's JSON leaves this out, and the
/// perf gate (tools/FastReclaim.PerfGate) judges ratios, not absolute times.
/// </summary>
internal sealed class BaselineMapExporter : ExporterBase
{
    public static readonly BaselineMapExporter Instance = new();

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    protected override string FileExtension => "json";

    protected override string FileNameSuffix => "-baselines";

    public override void ExportToLog(Summary summary, ILogger logger)
    {
        var entries = summary.Reports.Select(report =>
        {
            var group = summary.GetLogicalGroupKey(report.BenchmarkCase);
            var baseline = group is null ? null : summary.GetBaseline(group);
            return new Entry(FullNameProvider.GetBenchmarkName(report.BenchmarkCase),
                baseline is null ? null : FullNameProvider.GetBenchmarkName(baseline));
        });
        logger.WriteLine(JsonSerializer.Serialize(new { Benchmarks = entries }, Indented));
    }

    private sealed record Entry(string FullName, string? Baseline);
}
