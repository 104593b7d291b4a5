using System.Globalization;
using System.Text;
using System.Text.Json;

namespace FastReclaim.PerfGate;

/// <summary>
/// Committed baselines, one directory per testbed under a root (<c>perf-results/baseline/&lt;testbed&gt;/</c>):
/// the BenchmarkDotNet reports, the testbed they were measured on, the commit they describe
/// (<see cref="AcceptedFile"/>, which relative mode checks out as its base) and a <c>MACHINE.md</c> for people.
/// </summary>
internal static class BaselineStore
{
    public const string MachineFile = "MACHINE.md";

    /// <summary>The accepted commit, when, and the note, as JSON (<see cref="Accepted"/>).</summary>
    public const string AcceptedFile = "accepted.json";

    private const string MarkdownSuffix = "-report-github.md";

    private static readonly string[] OwnedSuffixes = [ResultSetReader.ReportSuffix, ResultSetReader.BaselinesSuffix, MarkdownSuffix];

    /// <summary>The directory of <paramref name="testbed"/>'s baseline under <paramref name="root"/>.</summary>
    public static string DirectoryOf(string root, Testbed testbed) => Path.Combine(root, testbed.Id);

    /// <summary>Whether <paramref name="directory"/> holds an accepted result set.</summary>
    public static bool Exists(string directory) =>
        Directory.Exists(directory) && Directory.EnumerateFiles(directory, "*" + ResultSetReader.ReportSuffix, SearchOption.AllDirectories).Any();

    /// <summary>
    /// Makes the results in <paramref name="resultsDirectory"/> the baseline of their testbed under
    /// <paramref name="root"/> (replacing that testbed's previous one, no other), recording
    /// <paramref name="commit"/> as the code they describe.
    /// </summary>
    /// <returns>The accepted result set and the directory it went to.</returns>
    public static (ResultSet Results, string Directory) Accept(string resultsDirectory, string root, string commit, string note)
    {
        var accepted = ResultSetReader.Read(resultsDirectory); // refuse to replace a baseline by something unreadable
        var testbed = accepted.Testbed
            ?? throw new InvalidDataException($"'{resultsDirectory}' records no testbed ({Testbed.FileName}): measure it with 'perfgate run'");
        string directory = DirectoryOf(root, testbed);
        // Each launch's reports keep their launch directory, so the launches are read back apart (Merge).
        string[] launches = ResultSetReader.LaunchDirectories(resultsDirectory);
        var incoming = (launches.Length == 0 ? [(From: resultsDirectory, Into: directory)] : launches.Select(l => (From: l, Into: Path.Combine(directory, Path.GetFileName(l)))))
            .SelectMany(l => OwnedFiles(l.From, SearchOption.AllDirectories).Select(f => (File: f, Into: l.Into)))
            .ToList();

        Directory.CreateDirectory(directory);
        foreach (string stale in OwnedFiles(directory, SearchOption.TopDirectoryOnly))
        {
            File.Delete(stale);
        }
        foreach (string staleLaunch in ResultSetReader.LaunchDirectories(directory))
        {
            Directory.Delete(staleLaunch, recursive: true);
        }
        foreach (var (file, into) in incoming)
        {
            Directory.CreateDirectory(into);
            File.Copy(file, Path.Combine(into, Path.GetFileName(file)), overwrite: true);
        }
        testbed.Save(directory);
        var record = new Accepted(commit, DateTime.UtcNow, testbed.Id, accepted.Count, note);
        File.WriteAllText(Path.Combine(directory, AcceptedFile), JsonSerializer.Serialize(record, GateJson.Options));
        File.WriteAllText(Path.Combine(directory, MachineFile), DescribeMachine(accepted, testbed, record));
        return (accepted, directory);
    }

    /// <summary>The most recently accepted baseline of any testbed under <paramref name="root"/>; null when none.</summary>
    public static Accepted? Newest(string root) =>
        !Directory.Exists(root) ? null : Directory.EnumerateFiles(root, AcceptedFile, SearchOption.AllDirectories)
            .Select(f => Read(Path.GetDirectoryName(f)!))
            .MaxBy(a => a.AcceptedUtc);

    /// <summary>What was recorded when the baseline in <paramref name="directory"/> was accepted.</summary>
    public static Accepted Read(string directory)
    {
        string path = Path.Combine(directory, AcceptedFile);
        return JsonSerializer.Deserialize<Accepted>(File.ReadAllText(path))
               ?? throw new InvalidDataException($"'{path}' holds no accepted baseline");
    }

    private static IEnumerable<string> OwnedFiles(string directory, SearchOption scope) =>
        Directory.EnumerateFiles(directory, "*", scope)
            .Where(f => OwnedSuffixes.Any(s => f.EndsWith(s, StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal);

    private static string DescribeMachine(ResultSet accepted, Testbed testbed, Accepted record)
    {
        var text = new StringBuilder();
        var invariant = CultureInfo.InvariantCulture;
        text.AppendLine("# Machine these results were measured on").AppendLine();
        text.AppendLine(invariant, $"- Testbed: `{testbed.Id}` (vendor {testbed.Vendor}, family {testbed.Family:x2}h, model {testbed.Model:x2}h, vector ISA {testbed.VectorIsa}, {testbed.LogicalCores} logical cores, {testbed.Os}, .NET {testbed.Runtime})");
        text.AppendLine(invariant, $"- CPU: {testbed.CpuName}");
        text.AppendLine(invariant, $"- Accepted: {record.AcceptedUtc:yyyy-MM-dd HH:mm} UTC, {accepted.Count} benchmark cases, code at commit {record.Commit}");
        text.AppendLine(invariant, $"- BenchmarkDotNet host: {accepted.Machine}");
        text.AppendLine(invariant, $"- Kernel: {ReadFirstLine("/proc/version") ?? "?"}");
        text.AppendLine(invariant, $"- Load average when accepted (1/5/15 min): {ReadFirstLine("/proc/loadavg") ?? "?"}");
        if (record.Note.Length > 0)
        {
            text.AppendLine().AppendLine(record.Note);
        }
        return text.ToString();
    }

    private static string? ReadFirstLine(string path) => File.Exists(path) ? File.ReadLines(path).FirstOrDefault() : null;

    /// <summary>What an accept recorded beside the results.</summary>
    /// <param name="Commit">The commit whose code was measured: relative mode's base.</param>
    /// <param name="AcceptedUtc">When.</param>
    /// <param name="Testbed">The testbed id (the directory's name).</param>
    /// <param name="Cases">How many cases were accepted.</param>
    /// <param name="Note">Why the baseline moved, the machine's load.</param>
    internal sealed record Accepted(string Commit, DateTime AcceptedUtc, string Testbed, int Cases, string Note);
}
