using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace FastReclaim.PerfGate;

/// <summary>
/// <c>perfgate</c>: compares BenchmarkDotNet result sets and fails on regressions (<c>compare</c>), writes the
/// human report (<c>report</c>), and accepts a result set as the new committed baseline (<c>accept</c>).
/// Exit codes: 0 pass, 1 regression, 2 the gate itself could not run (bad or missing input).
/// </summary>
internal static class Program
{
    internal const int Passed = 0;
    internal const int Regressed = 1;
    internal const int Broken = 2;

    private static int Main(string[] args)
    {
        var root = new RootCommand("perfgate: FastReclaim's BenchmarkDotNet perf-regression gate and report.")
        {
            CompareCommand(),
            ReportCommand(),
            AcceptCommand(),
        };
        return root.Parse(args).Invoke();
    }

    private static Command CompareCommand()
    {
        var baseline = new Option<DirectoryInfo>("--baseline") { Description = "Directory of the reference results (the committed baseline).", Required = true };
        var results = new Option<DirectoryInfo>("--results") { Description = "Directory of the results to judge.", Required = true };
        var threshold = new Option<double>("--threshold") { Description = "Ratio worsening tolerated as noise (0.15 = 15%).", DefaultValueFactory = _ => GateOptions.DefaultRatioThreshold };
        var alpha = new Option<double>("--alpha") { Description = "Significance level of the Mann-Whitney test.", DefaultValueFactory = _ => GateOptions.DefaultAlpha };
        var allocationThreshold = new Option<double>("--alloc-threshold") { Description = "Growth of allocated bytes/op tolerated (0.10 = 10%).", DefaultValueFactory = _ => GateOptions.DefaultAllocationThreshold };
        var allocationSlack = new Option<long>("--alloc-slack") { Description = "Growth of allocated bytes/op always tolerated.", DefaultValueFactory = _ => GateOptions.DefaultAllocationSlackBytes };
        var allocationNoise = new Option<long>("--alloc-noise") { Description = "Growth of allocated bytes over the whole measured run always tolerated.", DefaultValueFactory = _ => GateOptions.DefaultAllocationNoiseBytes };
        var markdown = new Option<FileInfo?>("--markdown") { Description = "Also write the table as GitHub markdown to this file." };
        var onlyRerun = new Option<bool>("--ignore-missing") { Description = "Leave out cases absent from the new results (a partial re-run)." };
        var rerunFilter = new Option<FileInfo?>("--rerun-filter") { Description = "Write BenchmarkDotNet --filter patterns (full names) of the regressed cases and their baselines to this file, one per line." };
        var command = new Command("compare", "Compare two result sets; exit 1 on a regression.")
        {
            baseline, results, threshold, alpha, allocationThreshold, allocationSlack, allocationNoise, markdown, onlyRerun, rerunFilter,
        };
        command.SetAction(parse => Guarded(() =>
        {
            var options = new GateOptions(parse.GetValue(threshold), parse.GetValue(alpha), GateOptions.DefaultMinimumIterations,
                parse.GetValue(allocationThreshold), parse.GetValue(allocationSlack), parse.GetValue(allocationNoise));
            var oldResults = ResultSetReader.Read(parse.GetValue(baseline)!.FullName);
            var newResults = ResultSetReader.Read(parse.GetValue(results)!.FullName);
            var rows = GateComparer.Compare(oldResults, newResults, options);
            if (parse.GetValue(onlyRerun))
            {
                rows = [.. rows.Where(r => r.Verdict != Verdict.Missing)];
            }

            Console.WriteLine($"baseline: {oldResults.Machine}");
            Console.WriteLine($"results:  {newResults.Machine}");
            Console.Write(GateTable.Text(rows));
            Console.WriteLine(GateTable.Summary(rows, options));
            if (parse.GetValue(markdown) is { } markdownFile)
            {
                File.WriteAllText(markdownFile.FullName, GateTable.Markdown(rows) + Environment.NewLine + GateTable.Summary(rows, options) + Environment.NewLine);
            }
            if (parse.GetValue(rerunFilter) is { } filterFile)
            {
                File.WriteAllLines(filterFile.FullName, RerunFilter(rows, newResults));
            }
            if (!rows.Any(r => r.Verdict is not (Verdict.Added or Verdict.Missing or Verdict.NotComparable)))
            {
                Console.Error.WriteLine("perfgate: no case could be compared (do the two sets share benchmarks with in-class baselines?)");
                return Broken;
            }
            return rows.Any(r => r.IsRegression) ? Regressed : Passed;
        }));
        return command;
    }

    private static Command ReportCommand()
    {
        var results = new Option<DirectoryInfo>("--results") { Description = "Directory of the results to report.", Required = true };
        var reference = new Option<DirectoryInfo?>("--reference") { Description = "Optional reference results (e.g. the baseline) to show the change against." };
        var output = new Option<DirectoryInfo>("--output") { Description = "Where report.md and ratios.png go.", DefaultValueFactory = _ => new DirectoryInfo("perf-results") };
        var command = new Command("report", "Write report.md and ratios.png.") { results, reference, output };
        command.SetAction(parse => Guarded(() =>
        {
            var current = ResultSetReader.Read(parse.GetValue(results)!.FullName);
            var old = parse.GetValue(reference) is { } referenceDirectory ? ResultSetReader.Read(referenceDirectory.FullName) : null;
            string directory = parse.GetValue(output)!.FullName;
            ReportWriter.Write(current, old, directory);
            Console.WriteLine($"wrote {Path.Combine(directory, ReportWriter.MarkdownFile)} and {ReportWriter.ChartFile} ({current.Count} cases)");
            return Passed;
        }));
        return command;
    }

    private static Command AcceptCommand()
    {
        var results = new Option<DirectoryInfo>("--results") { Description = "Directory of the results to accept.", Required = true };
        var baseline = new Option<DirectoryInfo>("--baseline") { Description = "The committed baseline directory.", DefaultValueFactory = _ => new DirectoryInfo("perf-results/baseline") };
        var note = new Option<string>("--note") { Description = "Free text for MACHINE.md (load, why the baseline moved).", DefaultValueFactory = _ => "" };
        var command = new Command("accept", "Make a result set the new committed baseline (replaces the old one).") { results, baseline, note };
        command.SetAction(parse => Guarded(() =>
        {
            string directory = parse.GetValue(baseline)!.FullName;
            var accepted = BaselineStore.Accept(parse.GetValue(results)!.FullName, directory, parse.GetValue(note)!);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"accepted {accepted.Count} cases into {directory}; commit it with a message saying why"));
            return Passed;
        }));
        return command;
    }

    /// <summary>
    /// The full names (BenchmarkDotNet's --filter matches them exactly, parameters included) of every regressed
    /// case and of its baseline: enough to re-measure exactly the flagged ratios and nothing else.
    /// </summary>
    internal static IEnumerable<string> RerunFilter(IReadOnlyList<Comparison> rows, ResultSet newResults) => rows
        .Where(r => r.IsRegression)
        .SelectMany(r => new[] { r.FullName, newResults.Find(r.FullName)?.BaselineFullName })
        .OfType<string>()
        .Distinct(StringComparer.Ordinal);

    private static int Guarded(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or JsonException
                                      or KeyNotFoundException or InvalidOperationException or ArgumentException)
        {
            Console.Error.WriteLine($"perfgate: {e.Message}");
            return Broken;
        }
    }
}
