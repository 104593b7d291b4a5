using System.Globalization;
using System.Text;

namespace FastReclaim.PerfGate;

/// <summary>
/// Accepting a new baseline on purpose: the chosen results replace the committed ones in the baseline
/// directory, with a MACHINE.md saying where and when they were taken.
/// </summary>
internal static class BaselineStore
{
    public const string MachineFile = "MACHINE.md";

    private const string MarkdownSuffix = "-report-github.md";

    private static readonly string[] OwnedSuffixes = [ResultSetReader.ReportSuffix, ResultSetReader.BaselinesSuffix, MarkdownSuffix];

    /// <returns>The accepted result set.</returns>
    public static ResultSet Accept(string resultsDirectory, string baselineDirectory, string note)
    {
        var accepted = ResultSetReader.Read(resultsDirectory); // refuse to replace a baseline by something unreadable
        string[] incoming = [.. OwnedFiles(resultsDirectory, SearchOption.AllDirectories)];

        Directory.CreateDirectory(baselineDirectory);
        foreach (string stale in OwnedFiles(baselineDirectory, SearchOption.TopDirectoryOnly))
        {
            File.Delete(stale);
        }
        foreach (string file in incoming)
        {
            File.Copy(file, Path.Combine(baselineDirectory, Path.GetFileName(file)), overwrite: true);
        }
        File.WriteAllText(Path.Combine(baselineDirectory, MachineFile), DescribeMachine(accepted, note));
        return accepted;
    }

    private static IEnumerable<string> OwnedFiles(string directory, SearchOption scope) =>
        Directory.EnumerateFiles(directory, "*", scope)
            .Where(f => OwnedSuffixes.Any(s => f.EndsWith(s, StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal);

    private static string DescribeMachine(ResultSet accepted, string note)
    {
        var text = new StringBuilder();
        var invariant = CultureInfo.InvariantCulture;
        text.AppendLine("# Machine these results were measured on").AppendLine();
        text.AppendLine(invariant, $"- Accepted: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {accepted.Count} benchmark cases");
        text.AppendLine(invariant, $"- BenchmarkDotNet host: {accepted.Machine}");
        text.AppendLine(invariant, $"- CPU: {FirstLineStartingWith("/proc/cpuinfo", "model name") ?? "?"}, {Environment.ProcessorCount} logical processors");
        text.AppendLine(invariant, $"- Kernel: {ReadFirstLine("/proc/version") ?? "?"}");
        text.AppendLine(invariant, $"- Load average when accepted (1/5/15 min): {ReadFirstLine("/proc/loadavg") ?? "?"}");
        if (note.Length > 0)
        {
            text.AppendLine().AppendLine(note);
        }
        return text.ToString();
    }

    private static string? ReadFirstLine(string path) => File.Exists(path) ? File.ReadLines(path).FirstOrDefault() : null;

    private static string? FirstLineStartingWith(string path, string prefix) =>
        File.Exists(path)
            ? File.ReadLines(path).FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
}
