using System.Text.Json;

namespace FastReclaim.PerfGate;

/// <summary>
/// Reads a directory of BenchmarkDotNet results: every <c>*-report-full.json</c> under it (the full JSON
/// exporter, which keeps each iteration's measurement) and, beside each, the <c>*-report-baselines.json</c>
/// that FastReclaim.Benchmarks writes to name each case uniquely (several jobs of one class share a full
/// name) and to say which case is its baseline (BenchmarkDotNet's JSON does not). Without that file a case
/// is named by its full name and has no baseline.
/// </summary>
internal static class ResultSetReader
{
    public const string ReportSuffix = "-report-full.json";
    public const string BaselinesSuffix = "-report-baselines.json";

    /// <summary>The launches of one side of an interleaved run, one directory each, as one set (<see cref="ResultSet.Merge"/>).</summary>
    public static ResultSet Read(IEnumerable<string> directories) => ResultSet.Merge([.. directories.Select(Read)]);

    /// <summary>Subdirectories of a result set measured in several launches: <c>launch-0</c>, <c>launch-1</c>, ...</summary>
    public const string LaunchPrefix = "launch-";

    /// <summary>
    /// The result set in <paramref name="directory"/>: every report under it, or, when it holds
    /// <see cref="LaunchPrefix"/> subdirectories (several launches of one build), their launches merged.
    /// </summary>
    public static ResultSet Read(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"result directory '{directory}' does not exist");
        }
        string[] launches = LaunchDirectories(directory);
        if (launches.Length > 0)
        {
            var merged = ResultSet.Merge([.. launches.Select(Read)]);
            return new ResultSet(merged.All, merged.Machine, Testbed.Load(directory) ?? merged.Testbed);
        }
        string[] reports = Directory.GetFiles(directory, "*" + ReportSuffix, SearchOption.AllDirectories);
        if (reports.Length == 0)
        {
            throw new InvalidDataException($"no *{ReportSuffix} under '{directory}' (run the benchmarks with the full JSON exporter)");
        }
        Array.Sort(reports, StringComparer.Ordinal);

        var results = new List<BenchmarkResult>();
        string machine = "";
        foreach (string report in reports)
        {
            string baselines = string.Concat(report.AsSpan(0, report.Length - ReportSuffix.Length), BaselinesSuffix);
            var identities = File.Exists(baselines) ? ReadIdentities(baselines) : [];
            using var document = JsonDocument.Parse(File.ReadAllText(report));
            if (machine.Length == 0)
            {
                machine = DescribeMachine(document.RootElement);
            }
            foreach (var benchmark in document.RootElement.GetProperty("Benchmarks").EnumerateArray())
            {
                results.Add(ReadBenchmark(benchmark, identities));
            }
        }
        return new ResultSet(results, machine, Testbed.Load(directory));
    }

    /// <summary>The launch subdirectories of <paramref name="directory"/>, in launch order; empty for one launch.</summary>
    public static string[] LaunchDirectories(string directory) => [.. Directory.GetDirectories(directory, LaunchPrefix + "*")
        .Select(d => (Path: d, Index: int.TryParse(Path.GetFileName(d).AsSpan(LaunchPrefix.Length), out int i) ? i : -1))
        .Where(d => d.Index >= 0)
        .OrderBy(d => d.Index)
        .Select(d => d.Path)];

    /// <summary>By DisplayInfo: the case's name unique in its run, and its baseline's.</summary>
    private static Dictionary<string, (string Name, string? Baseline)> ReadIdentities(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var map = new Dictionary<string, (string, string?)>(StringComparer.Ordinal);
        foreach (var entry in document.RootElement.GetProperty("Benchmarks").EnumerateArray())
        {
            map[entry.GetProperty("DisplayInfo").GetString()!] = (entry.GetProperty("Name").GetString()!, entry.GetProperty("Baseline").GetString());
        }
        return map;
    }

    private static BenchmarkResult ReadBenchmark(JsonElement benchmark, Dictionary<string, (string Name, string? Baseline)> identities)
    {
        string displayInfo = benchmark.TryGetProperty("DisplayInfo", out var info) ? info.GetString() ?? "" : "";
        var (name, baseline) = identities.TryGetValue(displayInfo, out var identity)
            ? identity
            : (benchmark.GetProperty("FullName").GetString()!, null);
        return new BenchmarkResult(
            name,
            benchmark.GetProperty("Type").GetString()!,
            benchmark.GetProperty("Method").GetString()!,
            benchmark.TryGetProperty("Parameters", out var parameters) ? parameters.GetString() ?? "" : "",
            baseline,
            ReadIterations(benchmark),
            MemoryField(benchmark, "BytesAllocatedPerOperation"),
            MemoryField(benchmark, "TotalOperations") ?? 0);
    }

    private static long? MemoryField(JsonElement benchmark, string name) =>
        benchmark.TryGetProperty("Memory", out var memory) && memory.ValueKind == JsonValueKind.Object
        && memory.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number
            ? value.GetInt64() : null;

    /// <summary>
    /// The "Workload/Result" measurements: what BenchmarkDotNet's statistics are computed from (actual
    /// iterations less the overhead, outliers removed). Falls back to the statistics' original values for
    /// reports written without measurements; empty when the benchmark failed.
    /// </summary>
    private static double[] ReadIterations(JsonElement benchmark)
    {
        if (benchmark.TryGetProperty("Measurements", out var measurements) && measurements.ValueKind == JsonValueKind.Array)
        {
            double[] perOperation = [.. measurements.EnumerateArray()
                .Where(m => m.GetProperty("IterationMode").GetString() == "Workload"
                            && m.GetProperty("IterationStage").GetString() == "Result")
                .Select(m => m.GetProperty("Nanoseconds").GetDouble() / m.GetProperty("Operations").GetInt64())];
            if (perOperation.Length > 0)
            {
                return perOperation;
            }
        }
        if (benchmark.TryGetProperty("Statistics", out var statistics) && statistics.ValueKind == JsonValueKind.Object
            && statistics.TryGetProperty("OriginalValues", out var values))
        {
            return [.. values.EnumerateArray().Select(v => v.GetDouble())];
        }
        return [];
    }

    private static string DescribeMachine(JsonElement root)
    {
        if (!root.TryGetProperty("HostEnvironmentInfo", out var host))
        {
            return "unknown machine";
        }
        string Get(string name) => host.TryGetProperty(name, out var value) ? value.ToString() : "?";
        return $"{Get("ProcessorName")}, {Get("LogicalCoreCount")} logical cores, {Get("OsVersion")}, {Get("RuntimeVersion")}";
    }
}
