using System.Globalization;
using System.Text;

namespace FastReclaim.PerfGate;

/// <summary>Renders the gate's rows as an aligned text table (for a CI log) or a GitHub markdown table.</summary>
internal static class GateTable
{
    private static string[] Header(GateMode mode) => mode == GateMode.Ratio
        ? ["Suite", "Benchmark", "Old ratio", "New ratio", "Change", "p-value", "Alloc B/op old→new", "Verdict"]
        : ["Suite", "Benchmark", "Base ns/op", "Candidate ns/op", "Change", "p-value", "Alloc B/op base→candidate", "Verdict"];

    public static string Text(IReadOnlyList<Comparison> rows, GateMode mode)
    {
        string[] header = Header(mode);
        var cells = rows.Select(Cells).Prepend(header).ToList();
        int[] widths = [.. Enumerable.Range(0, header.Length).Select(c => cells.Max(r => r[c].Length))];
        var text = new StringBuilder();
        foreach (var (row, index) in cells.Select((r, i) => (r, i)))
        {
            text.AppendLine(string.Join("  ", row.Select((cell, c) => c < 2 ? cell.PadRight(widths[c]) : cell.PadLeft(widths[c]))).TrimEnd());
            if (index == 0)
            {
                text.AppendLine(string.Join("  ", widths.Select(w => new string('-', w))));
            }
        }
        return text.ToString();
    }

    public static string Markdown(IReadOnlyList<Comparison> rows, GateMode mode)
    {
        string[] header = Header(mode);
        var text = new StringBuilder();
        text.AppendLine("| " + string.Join(" | ", header) + " |");
        text.AppendLine("|" + string.Concat(header.Select((_, c) => c < 2 ? "---|" : "---:|")));
        foreach (var row in rows)
        {
            var cells = Cells(row);
            if (row.IsRegression)
            {
                cells[^1] = $"**{cells[^1]}**";
            }
            text.AppendLine("| " + string.Join(" | ", cells) + " |");
        }
        return text.ToString();
    }

    public static string Summary(IReadOnlyList<Comparison> rows, GateOptions options, GateMode mode)
    {
        int regressions = rows.Count(r => r.IsRegression);
        int compared = rows.Count(r => r.IsCompared);
        return string.Create(CultureInfo.InvariantCulture,
            $"perf gate ({Describe(mode)}): {regressions} regression(s) in {compared} compared case(s) (threshold {options.RatioThreshold:P0}, alpha {options.Alpha}, allocation threshold {options.AllocationThreshold:P0} + {options.AllocationSlackBytes} B/op, noise floor {options.AllocationNoiseBytes} B/run)");
    }

    /// <summary>The table and its summary line on standard output, and as GitHub markdown to <paramref name="markdownFile"/> when given.</summary>
    public static void Write(IReadOnlyList<Comparison> rows, GateOptions options, GateMode mode, string? markdownFile)
    {
        string summary = Summary(rows, options, mode);
        Console.Write(Text(rows, mode));
        Console.WriteLine(summary);
        if (markdownFile is not null)
        {
            File.WriteAllText(markdownFile, Markdown(rows, mode) + Environment.NewLine + summary + Environment.NewLine);
        }
    }

    /// <summary>The mode in words, for every table and summary line.</summary>
    public static string Describe(GateMode mode) => mode == GateMode.Ratio
        ? "ratio mode: ratios to each suite's baseline against the committed baseline of this testbed"
        : "relative mode: candidate against base, measured interleaved in this run";

    private static string[] Cells(Comparison row) =>
    [
        row.Suite,
        row.Name,
        Value(row.Old),
        Value(row.New),
        double.IsFinite(row.Change) ? row.Change.ToString("+0.0%;-0.0%;0.0%", CultureInfo.InvariantCulture) : "-",
        double.IsNaN(row.PValue) ? "-" : row.PValue < 1e-4 ? "<0.0001" : row.PValue.ToString("0.0000", CultureInfo.InvariantCulture),
        $"{Bytes(row.OldAllocatedBytes)}→{Bytes(row.NewAllocatedBytes)}",
        row.Verdict.ToString(),
    ];

    private static string Value(double value) => double.IsNaN(value) ? "-" : value.ToString("0.000", CultureInfo.InvariantCulture);

    private static string Bytes(long? bytes) => bytes?.ToString(CultureInfo.InvariantCulture) ?? "?";
}
