using System.Diagnostics;
using System.Globalization;

namespace FastReclaim.PerfGate;

/// <summary>How to build and measure the candidate (and, for an A/B, the base).</summary>
/// <param name="Project">The BenchmarkDotNet project (path to the .csproj or its directory).</param>
/// <param name="Filters">BenchmarkDotNet <c>--filter</c> globs of the gated cases.</param>
/// <param name="BenchmarkArguments">More arguments for the benchmark program (e.g. a job switch of its own).</param>
/// <param name="BuildArguments">MSBuild arguments for the candidate's build only (never the base's).</param>
/// <param name="Output">Where builds' logs, results and the tables go.</param>
/// <param name="Launches">A/B: launches per side, interleaved (base, candidate, candidate, base, ...); run: launches measured.</param>
/// <param name="RerunLaunches">Launches (per side in an A/B) of the re-measurement of flagged cases.</param>
/// <param name="RunBudget">Time budget of one benchmark process.</param>
/// <param name="Options">Thresholds of the comparison.</param>
internal sealed record GateSettings(
    string Project,
    IReadOnlyList<string> Filters,
    IReadOnlyList<string> BenchmarkArguments,
    IReadOnlyList<string> BuildArguments,
    string Output,
    int Launches,
    int RerunLaunches,
    TimeSpan RunBudget,
    GateOptions Options)
{
    public const int DefaultLaunches = 3;

    /// <summary>Only flagged cases are re-measured, so more launches are cheap, and they make a rare per-process mode count as rare.</summary>
    public const int DefaultRerunLaunches = 5;

    public static readonly TimeSpan BuildBudget = TimeSpan.FromMinutes(10);
}

/// <summary>
/// The two ways the gate measures. <see cref="AgainstBaseline"/>: the candidate alone (one launch), against the
/// committed baseline of this testbed (accepted from several launches), by ratios (<see cref="GateMode.Ratio"/>).
/// <see cref="AgainstCommit"/>: candidate and base built side by side and measured interleaved in this run, by their
/// own times (<see cref="GateMode.Absolute"/>), for a runner no committed baseline describes. Either way a case
/// flagged as regressed is measured once more and only a regression seen twice fails: the second measurement is
/// always a same-run A/B against the base commit (for ratio mode, the commit the baseline was accepted at), in
/// <see cref="GateSettings.RerunLaunches"/> launches a side, so that it sees the base code on this runner in its
/// present state. A shared runner's state can move a ratio by more than the threshold for minutes (once the epoch
/// guard's loop ran 80% slower and its locked-instruction in-class baseline 15-25%), and re-measuring the candidate
/// alone against the committed figures then sees the same "regression" again (perf-results/gate.md, "Session 9").
/// </summary>
internal static class GateRun
{
    /// <summary>
    /// Ratio mode against <paramref name="baseline"/>, read from <paramref name="baselineDirectory"/> and accepted at
    /// <paramref name="baselineCommit"/>, the base of the A/B that confirms a flagged case.
    /// </summary>
    public static int AgainstBaseline(GateSettings settings, string baselineDirectory, ResultSet baseline, string baselineCommit)
    {
        var clock = Stopwatch.StartNew();
        var candidate = Build(settings, settings.Project, settings.BuildArguments, "candidate");
        Console.WriteLine($"perf gate: {GateTable.Describe(GateMode.Ratio)}");
        Console.WriteLine($"perf gate: baseline {baselineDirectory}, measuring: {string.Join(' ', settings.Filters)}");

        string run = Path.Combine(settings.Output, "run");
        candidate.Run(settings.Filters, run, settings.BenchmarkArguments, settings.RunBudget);
        var first = Judge(baseline, ResultSetReader.Read(run), settings, GateMode.Ratio, "gate.md", partial: false);
        if (!first.Any(r => r.IsRegression))
        {
            return Finish(first, clock, GateMode.Ratio);
        }

        string[] flagged = [.. first.Where(r => r.IsRegression).Select(r => r.FullName)];
        Console.WriteLine($"perf gate: regression flagged; confirming {string.Join(' ', flagged)} by a same-run A/B against the baseline's commit {baselineCommit}, interleaved, {settings.RerunLaunches} launches a side");
        var (@base, _) = BuildBase(settings, baselineCommit);
        return Confirm(settings, @base, candidate, flagged, clock, GateMode.Ratio);
    }

    /// <summary>Relative mode: the candidate against <paramref name="baseReference"/>, interleaved in this run.</summary>
    public static int AgainstCommit(GateSettings settings, string baseReference)
    {
        var clock = Stopwatch.StartNew();
        Console.WriteLine($"perf gate: {GateTable.Describe(GateMode.Absolute)}");
        var (@base, commit) = BuildBase(settings, baseReference); // first: a base missing from the clone fails fast
        var candidate = Build(settings, settings.Project, settings.BuildArguments, "candidate");
        Console.WriteLine($"perf gate: base {baseReference} = {commit[..12]}, {settings.Launches} launches a side, on: {string.Join(' ', settings.Filters)}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"perf gate: both sides built in {clock.Elapsed.TotalSeconds:0} s"));

        var (baseResults, candidateResults) = Interleave(settings, @base, candidate, settings.Filters, "ab", settings.Launches);
        var first = Judge(baseResults, candidateResults, settings, GateMode.Absolute, "gate.md", partial: false);
        if (!first.Any(r => r.IsRegression))
        {
            return Finish(first, clock, GateMode.Absolute);
        }

        string[] flagged = [.. first.Where(r => r.IsRegression).Select(r => r.FullName)];
        Console.WriteLine($"perf gate: regression flagged; measuring {string.Join(' ', flagged)} once more, interleaved, {settings.RerunLaunches} launches a side, to confirm");
        return Confirm(settings, @base, candidate, flagged, clock, GateMode.Absolute);
    }

    /// <summary>
    /// The second measurement of the <paramref name="flagged"/> cases: interleaved with <paramref name="base"/>,
    /// judged by their own times, one value per launch (a noisy spell of the runner holds for many iterations, so
    /// pooled iterations overstate the evidence: an A/B of identical code once reached p = 0.003 on them); the
    /// gate fails only if it shows the regression too.
    /// </summary>
    private static int Confirm(GateSettings settings, BenchmarkProject @base, BenchmarkProject candidate, string[] flagged,
        Stopwatch clock, GateMode firstMode)
    {
        var (baseAgain, candidateAgain) = Interleave(settings, @base, candidate, flagged, "ab-rerun", settings.RerunLaunches);
        var second = Judge(baseAgain, candidateAgain, settings, GateMode.Absolute, "gate-rerun.md", partial: true, perLaunch: true);
        return Finish(second, clock, firstMode, rerun: true);
    }

    /// <summary>The base side of an A/B: <paramref name="reference"/> checked out in its worktree and built; and its full commit id.</summary>
    private static (BenchmarkProject Base, string Commit) BuildBase(GateSettings settings, string reference)
    {
        string root = BaseWorktree.RepositoryRoot(Path.GetDirectoryName(Path.GetFullPath(settings.Project))!);
        string commit = BaseWorktree.ResolveCommit(root, reference);
        string worktree = BaseWorktree.CheckOut(root, commit);
        Console.WriteLine($"perf gate: building the base {commit[..12]} in {worktree}");
        string baseProject = Path.Combine(worktree, Path.GetRelativePath(root, Path.GetFullPath(settings.Project)));
        return (Build(settings, baseProject, [], "base"), commit);
    }

    /// <summary>
    /// Launches of base and candidate in the order A B B A A B ...: each side's launches sit at the same average
    /// position in time, so a drift of the runner (a neighbour starting, the CPU warming up) lands on both alike.
    /// </summary>
    private static (ResultSet Base, ResultSet Candidate) Interleave(GateSettings settings, BenchmarkProject @base,
        BenchmarkProject candidate, IReadOnlyList<string> filters, string name, int launches)
    {
        var baseLaunches = new List<string>();
        var candidateLaunches = new List<string>();
        for (int launch = 0; launch < launches; launch++)
        {
            var order = launch % 2 == 0
                ? new[] { (Side: @base, Into: baseLaunches, Label: "base"), (Side: candidate, Into: candidateLaunches, Label: "candidate") }
                : [(candidate, candidateLaunches, "candidate"), (@base, baseLaunches, "base")];
            foreach (var (side, into, label) in order)
            {
                string directory = Path.Combine(settings.Output, name, string.Create(CultureInfo.InvariantCulture, $"{label}-{launch}"));
                side.Run(filters, directory, settings.BenchmarkArguments, settings.RunBudget);
                into.Add(directory);
            }
        }
        return (ResultSetReader.Read(baseLaunches), ResultSetReader.Read(candidateLaunches));
    }

    private static BenchmarkProject Build(GateSettings settings, string project, IReadOnlyList<string> buildArguments, string label)
    {
        Directory.CreateDirectory(settings.Output);
        return BenchmarkProject.Build(project, buildArguments, Path.Combine(settings.Output, $"build-{label}.log"), GateSettings.BuildBudget);
    }

    private static IReadOnlyList<Comparison> Judge(ResultSet old, ResultSet current, GateSettings settings, GateMode mode,
        string markdownFile, bool partial, bool perLaunch = false)
    {
        var rows = GateComparer.Compare(old, current, settings.Options, mode, perLaunch);
        if (partial)
        {
            rows = [.. rows.Where(r => r.Verdict != Verdict.Missing)];
        }
        Console.WriteLine($"{(mode == GateMode.Ratio ? "baseline" : "base")}: {old.Machine} [{old.Testbed?.Id ?? "testbed not recorded"}]");
        Console.WriteLine($"{(mode == GateMode.Ratio ? "results" : "candidate")}: {current.Machine} [{current.Testbed?.Id ?? "testbed not recorded"}]");
        GateTable.Write(rows, settings.Options, mode, Path.Combine(settings.Output, markdownFile));
        if (!rows.Any(r => r.IsCompared))
        {
            throw new GateBrokenException("no case could be compared (do the two sets share benchmarks, with in-class baselines in ratio mode?)");
        }
        return rows;
    }

    private static int Finish(IReadOnlyList<Comparison> rows, Stopwatch clock, GateMode mode, bool rerun = false)
    {
        bool regressed = rows.Any(r => r.IsRegression);
        string seconds = clock.Elapsed.TotalSeconds.ToString("0", CultureInfo.InvariantCulture);
        Console.WriteLine((regressed, rerun) switch
        {
            (true, _) => $"perf gate: FAILED ({ModeName(mode)}), regression confirmed by a same-run A/B against the base, {seconds} s",
            (false, true) => $"perf gate: PASSED ({ModeName(mode)}) in {seconds} s: the flagged regression was not confirmed by a same-run A/B against the base, treated as noise",
            _ => $"perf gate: PASSED ({ModeName(mode)}) in {seconds} s",
        });
        return regressed ? Program.Regressed : Program.Passed;
    }

    private static string ModeName(GateMode mode) => mode == GateMode.Ratio ? "ratio mode" : "relative mode";
}
