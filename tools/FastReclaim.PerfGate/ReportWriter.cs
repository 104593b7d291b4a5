using System.Globalization;
using System.Text;

namespace FastReclaim.PerfGate;

/// <summary>
/// The report a person reads: <c>report.md</c> (per suite, each case's time, ratio to its baseline and
/// allocations, and, given a reference set, the change against it) and <c>ratios.png</c>.
/// </summary>
internal static class ReportWriter
{
    public const string MarkdownFile = "report.md";
    public const string ChartFile = "ratios.png";

    public static void Write(ResultSet results, ResultSet? reference, string outputDirectory)
    {
        Directory.CreateDirectory(outputDirectory);
        var charted = results.All
            .Where(r => !r.IsBaseline)
            .Select(r => (Result: r, Ratio: Median(results.RatiosOf(r)), Baseline: results.Find(r.BaselineFullName ?? "")?.MethodAndJob ?? ""))
            .Where(c => c.Ratio > 0)
            .ToList();
        if (charted.Count > 0)
        {
            RatioChart.Save(charted, Path.Combine(outputDirectory, ChartFile));
        }
        File.WriteAllText(Path.Combine(outputDirectory, MarkdownFile), Markdown(results, reference, charted.Count > 0));
    }

    private static string Markdown(ResultSet results, ResultSet? reference, bool hasChart)
    {
        var invariant = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.AppendLine("# FastReclaim benchmark report").AppendLine();
        text.AppendLine(invariant, $"Machine: {results.Machine}.").AppendLine();
        text.AppendLine("Ratio = median over the measured iterations of (time per operation ÷ median time of the suite's")
            .AppendLine("`[Benchmark(Baseline = true)]` with the same parameters, in the same run); below 1 is faster than the baseline.");
        if (reference is not null)
        {
            text.AppendLine("\"Reference ratio\" is the same quantity in the reference results (normally the committed baseline).");
        }
        text.AppendLine();
        if (hasChart)
        {
            text.AppendLine(invariant, $"![ratios per suite]({ChartFile})").AppendLine();
        }

        foreach (var suite in results.All.GroupBy(r => r.Suite))
        {
            text.AppendLine(invariant, $"## {suite.Key}").AppendLine();
            text.Append("| Benchmark | Median ns/op | Ratio | Allocated B/op |");
            text.AppendLine(reference is null ? "" : " Reference ratio | Change |");
            text.Append("|---|---:|---:|---:|");
            text.AppendLine(reference is null ? "" : "---:|---:|");
            foreach (var result in suite)
            {
                double ratio = Median(results.RatiosOf(result));
                string name = result.IsBaseline ? $"**{result.DisplayName}** (baseline)" : result.DisplayName;
                text.Append(invariant, $"| {name} | {Number(Median(result.NanosecondsPerOperation), "0.00")} | {Number(ratio, "0.000")} | {result.AllocatedBytesPerOperation?.ToString(invariant) ?? "-"} |");
                if (reference is not null)
                {
                    double referenceRatio = reference.Find(result.FullName) is { } old ? Median(reference.RatiosOf(old)) : double.NaN;
                    text.Append(invariant, $" {Number(referenceRatio, "0.000")} | {Number(ratio / referenceRatio - 1, "+0.0%;-0.0%;0.0%")} |");
                }
                text.AppendLine();
            }
            text.AppendLine();
        }
        return text.ToString();
    }

    private static double Median(IReadOnlyList<double> values) => values.Count == 0 ? double.NaN : Statistics.Median(values);

    private static string Number(double value, string format) =>
        double.IsFinite(value) ? value.ToString(format, CultureInfo.InvariantCulture) : "-";
}
