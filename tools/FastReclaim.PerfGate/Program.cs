using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace FastReclaim.PerfGate;

/// <summary>
/// <c>perfgate</c>: a perf-regression gate for any BenchmarkDotNet project. <c>gate</c> picks the mode for this
/// runner (a committed baseline of the same testbed: ratios against it; none: a same-run A/B against the
/// accepted commit); <c>ab</c> runs that A/B against any commit; <c>run</c> measures; <c>compare</c> judges two
/// result sets; <c>accept</c> makes results the committed baseline of their testbed; <c>report</c> writes the
/// human report; <c>testbed</c> prints this runner's testbed. Arguments after <c>--</c> go to the benchmark
/// program. Exit codes: 0 pass, 1 regression, 2 the gate itself could not run (bad input, a failed build or run).
/// </summary>
internal static class Program
{
    internal const int Passed = 0;
    internal const int Regressed = 1;
    internal const int Broken = 2;

    private const string PassThrough = "--";

    private static int Main(string[] args)
    {
        int split = Array.IndexOf(args, PassThrough);
        string[] benchmarkArguments = split < 0 ? [] : args[(split + 1)..];
        string[] own = split < 0 ? args : args[..split];

        var root = new RootCommand("perfgate: perf-regression gate for BenchmarkDotNet projects (arguments after -- go to the benchmark program).")
        {
            GateCommand(benchmarkArguments),
            AbCommand(benchmarkArguments),
            RunCommand(benchmarkArguments),
            CompareCommand(),
            AcceptCommand(),
            ReportCommand(),
            TestbedCommand(),
        };
        return root.Parse(own).Invoke();
    }

    /// <summary>The thresholds of every command that judges, and how to read them back.</summary>
    private sealed class JudgeOptions
    {
        public readonly Option<double> Threshold = new("--threshold") { Description = "Worsening tolerated as noise (0.15 = 15%).", DefaultValueFactory = _ => GateOptions.DefaultRatioThreshold };
        public readonly Option<double> Alpha = new("--alpha") { Description = "Significance level of the Mann-Whitney test.", DefaultValueFactory = _ => GateOptions.DefaultAlpha };
        public readonly Option<double> AllocationThreshold = new("--alloc-threshold") { Description = "Growth of allocated bytes/op tolerated (0.10 = 10%).", DefaultValueFactory = _ => GateOptions.DefaultAllocationThreshold };
        public readonly Option<long> AllocationSlack = new("--alloc-slack") { Description = "Growth of allocated bytes/op always tolerated.", DefaultValueFactory = _ => GateOptions.DefaultAllocationSlackBytes };
        public readonly Option<long> AllocationNoise = new("--alloc-noise") { Description = "Growth of allocated bytes over the whole measured run always tolerated.", DefaultValueFactory = _ => GateOptions.DefaultAllocationNoiseBytes };

        public IEnumerable<Option> All => [Threshold, Alpha, AllocationThreshold, AllocationSlack, AllocationNoise];

        public GateOptions Read(ParseResult parse)
        {
            double threshold = parse.GetValue(Threshold), alpha = parse.GetValue(Alpha), allocation = parse.GetValue(AllocationThreshold);
            if (threshold is < 0 or > 10 || alpha is <= 0 or >= 1 || allocation < 0)
            {
                throw new ArgumentException($"--threshold must be in [0, 10], --alpha in (0, 1) and --alloc-threshold at least 0 (got {threshold}, {alpha} and {allocation})");
            }
            return new GateOptions(threshold, alpha, GateOptions.DefaultMinimumIterations, allocation,
                parse.GetValue(AllocationSlack), parse.GetValue(AllocationNoise));
        }
    }

    /// <summary>The options of every command that builds and measures, and how to read them back.</summary>
    private sealed class MeasureOptions
    {
        public readonly Option<FileSystemInfo> Project = new("--project") { Description = "The BenchmarkDotNet project (.csproj or its directory).", Required = true };
        public readonly Option<string[]> Filter = new("--filter") { Description = "BenchmarkDotNet --filter globs of the cases to measure.", AllowMultipleArgumentsPerToken = true };
        public readonly Option<FileInfo?> FilterFile = new("--filter-file") { Description = "A file of --filter globs, one per line (# comments)." };
        public readonly Option<DirectoryInfo> Output = new("--output") { Description = "Where logs, results and tables go.", DefaultValueFactory = _ => new DirectoryInfo("artifacts/perfgate") };
        public readonly Option<string> BuildArguments = new("--build-args") { Description = "MSBuild arguments for the candidate's build only, e.g. \"-p:Flag=true\".", DefaultValueFactory = _ => "" };
        public readonly Option<int> Launches = new("--launches") { Description = "Launches (processes) to measure: per side, interleaved, for ab and gate's relative mode; for run (what accept takes). The candidate of gate's ratio mode runs once.", DefaultValueFactory = _ => GateSettings.DefaultLaunches };
        public readonly Option<int> RerunLaunches = new("--rerun-launches") { Description = "Launches (per side in an A/B) that re-measure a flagged case.", DefaultValueFactory = _ => GateSettings.DefaultRerunLaunches };
        public readonly Option<int> RunTimeout = new("--run-timeout") { Description = "Seconds one benchmark process may take.", DefaultValueFactory = _ => 300 };
        public readonly JudgeOptions Judge = new();

        public IEnumerable<Option> All => [Project, Filter, FilterFile, Output, BuildArguments, Launches, RerunLaunches, RunTimeout, .. Judge.All];

        public GateSettings Read(ParseResult parse, IReadOnlyList<string> benchmarkArguments)
        {
            var filters = (parse.GetValue(Filter) ?? []).ToList();
            if (parse.GetValue(FilterFile) is { } file)
            {
                if (!file.Exists)
                {
                    throw new ArgumentException($"--filter-file '{file}' does not exist");
                }
                filters.AddRange(File.ReadLines(file.FullName).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')));
            }
            if (filters.Count == 0)
            {
                throw new ArgumentException("no benchmark to measure: give --filter or a --filter-file that names one");
            }
            int launches = parse.GetValue(Launches), rerunLaunches = parse.GetValue(RerunLaunches);
            if (launches < 1 || rerunLaunches < 1)
            {
                throw new ArgumentException($"--launches and --rerun-launches must be at least 1 (got {launches} and {rerunLaunches})");
            }
            int timeout = parse.GetValue(RunTimeout);
            if (timeout < 1)
            {
                throw new ArgumentException($"--run-timeout must be at least 1 second (got {timeout})");
            }
            var options = Judge.Read(parse);
            int needed = Statistics.SmallestSignificantEqualSamples(options.Alpha);
            if (rerunLaunches < needed)
            {
                throw new ArgumentException($"--rerun-launches {rerunLaunches} cannot confirm any regression at --alpha {options.Alpha}: the confirmation tests launch medians, and {needed} a side is the fewest whose exact test can reach it");
            }
            return new GateSettings(
                parse.GetValue(Project)!.FullName,
                filters,
                benchmarkArguments,
                parse.GetValue(BuildArguments)!.Split(' ', StringSplitOptions.RemoveEmptyEntries),
                parse.GetValue(Output)!.FullName,
                launches,
                rerunLaunches,
                TimeSpan.FromSeconds(timeout),
                options);
        }
    }

    private static Command GateCommand(string[] benchmarkArguments)
    {
        var measure = new MeasureOptions();
        var baselines = new Option<DirectoryInfo>("--baselines") { Description = "The committed baselines, one directory per testbed.", DefaultValueFactory = _ => new DirectoryInfo("perf-results/baseline") };
        var command = new Command("gate", "Gate this runner: ratios against the committed baseline of its testbed, or, where none matches, a same-run A/B against the newest accepted commit; a flagged case fails only if a same-run A/B against the base commit confirms it.") { baselines };
        foreach (var option in measure.All)
        {
            command.Options.Add(option);
        }
        command.SetAction(parse => Guarded(() =>
        {
            var settings = measure.Read(parse, benchmarkArguments);
            string root = parse.GetValue(baselines)!.FullName;
            var testbed = Testbed.Current();
            string own = BaselineStore.DirectoryOf(root, testbed);
            Console.WriteLine($"perf gate: this runner's testbed is {testbed}");
            bool matching = BaselineStore.Exists(own);
            if (matching && ResultSetReader.Read(own) is { HasInClassBaselines: true } baseline)
            {
                return GateRun.AgainstBaseline(settings, own, baseline, BaselineStore.Read(own).Commit);
            }
            if (BaselineStore.Newest(root) is not { } accepted)
            {
                Console.WriteLine($"perf gate: no baseline under {root} has been accepted yet, skipped (create one with 'perfgate run' then 'perfgate accept')");
                return Passed;
            }
            Console.WriteLine(matching
                ? $"perf gate: the baseline of this testbed names no in-class baselines (no *{ResultSetReader.BaselinesSuffix}), so ratios cannot be judged; relative mode against its commit"
                : $"perf gate: no committed baseline for this testbed; relative mode against the newest accepted commit ({accepted.Testbed}, {accepted.AcceptedUtc:yyyy-MM-dd HH:mm} UTC)");
            return GateRun.AgainstCommit(settings, matching ? BaselineStore.Read(own).Commit : accepted.Commit);
        }));
        return command;
    }

    private static Command AbCommand(string[] benchmarkArguments)
    {
        var measure = new MeasureOptions();
        var @base = new Option<string>("--base") { Description = "The git commit (or branch, tag) to compare against.", Required = true };
        var command = new Command("ab", "Same-run A/B: build --base in a worktree beside the candidate, measure both interleaved, compare per case.") { @base };
        foreach (var option in measure.All)
        {
            command.Options.Add(option);
        }
        command.SetAction(parse => Guarded(() => GateRun.AgainstCommit(measure.Read(parse, benchmarkArguments), parse.GetValue(@base)!)));
        return command;
    }

    private static Command RunCommand(string[] benchmarkArguments)
    {
        var measure = new MeasureOptions();
        var command = new Command("run", "Build and measure the project into --output, recording the testbed (what 'accept' takes).");
        foreach (var option in measure.All)
        {
            command.Options.Add(option);
        }
        command.SetAction(parse => Guarded(() =>
        {
            var settings = measure.Read(parse, benchmarkArguments);
            Directory.CreateDirectory(settings.Output);
            var project = BenchmarkProject.Build(settings.Project, settings.BuildArguments, Path.Combine(settings.Output, "build.log"), GateSettings.BuildBudget);
            project.Run(settings.Filters, settings.Output, settings.BenchmarkArguments, settings.RunBudget, settings.Launches);
            Console.WriteLine($"measured {ResultSetReader.Read(settings.Output).Count} cases in {settings.Launches} launch(es) into {settings.Output} on {Testbed.Current()}");
            return Passed;
        }));
        return command;
    }

    private static Command CompareCommand()
    {
        var baseline = new Option<DirectoryInfo>("--baseline") { Description = "Directory of the reference results (the committed baseline, or the base side).", Required = true };
        var results = new Option<DirectoryInfo>("--results") { Description = "Directory of the results to judge.", Required = true };
        var mode = new Option<GateMode>("--mode") { Description = "Ratio: ratios to in-class baselines (same testbed only). Absolute: times per operation (a same-run A/B).", DefaultValueFactory = _ => GateMode.Ratio };
        var judge = new JudgeOptions();
        var markdown = new Option<FileInfo?>("--markdown") { Description = "Also write the table as GitHub markdown to this file." };
        var onlyRerun = new Option<bool>("--ignore-missing") { Description = "Leave out cases absent from the new results (a partial re-run)." };
        var rerunFilter = new Option<FileInfo?>("--rerun-filter") { Description = "Write BenchmarkDotNet --filter patterns (full names) of the regressed cases and their baselines to this file, one per line." };
        var command = new Command("compare", "Compare two result sets; exit 1 on a regression.")
        {
            baseline, results, mode, markdown, onlyRerun, rerunFilter,
        };
        foreach (var option in judge.All)
        {
            command.Options.Add(option);
        }
        command.SetAction(parse => Guarded(() =>
        {
            var options = judge.Read(parse);
            var gateMode = parse.GetValue(mode);
            var oldResults = ResultSetReader.Read(parse.GetValue(baseline)!.FullName);
            var newResults = ResultSetReader.Read(parse.GetValue(results)!.FullName);
            var rows = GateComparer.Compare(oldResults, newResults, options, gateMode);
            if (parse.GetValue(onlyRerun))
            {
                rows = [.. rows.Where(r => r.Verdict != Verdict.Missing)];
            }

            Console.WriteLine($"baseline: {oldResults.Machine}");
            Console.WriteLine($"results:  {newResults.Machine}");
            GateTable.Write(rows, options, gateMode, parse.GetValue(markdown)?.FullName);
            if (parse.GetValue(rerunFilter) is { } filterFile)
            {
                File.WriteAllLines(filterFile.FullName, RerunFilter(rows, newResults));
            }
            if (!rows.Any(r => r.IsCompared))
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
        var results = new Option<DirectoryInfo>("--results") { Description = "Directory of the results to accept (measured with 'perfgate run').", Required = true };
        var baselines = new Option<DirectoryInfo>("--baselines") { Description = "The committed baselines, one directory per testbed.", DefaultValueFactory = _ => new DirectoryInfo("perf-results/baseline") };
        var note = new Option<string>("--note") { Description = "Free text for MACHINE.md (load, why the baseline moved).", DefaultValueFactory = _ => "" };
        var allowDirty = new Option<bool>("--allow-dirty") { Description = "Accept although the tree has uncommitted changes (the recorded commit then is not exactly what was measured)." };
        var command = new Command("accept", "Make measured results the committed baseline of their testbed, recording HEAD as the commit relative mode compares against.") { results, baselines, note, allowDirty };
        command.SetAction(parse => Guarded(() =>
        {
            string root = parse.GetValue(baselines)!.FullName;
            string repository = BaseWorktree.RepositoryRoot(Directory.GetCurrentDirectory());
            var dirty = BaseWorktree.UncommittedChanges(repository, Path.GetRelativePath(repository, root));
            if (dirty.Count > 0 && !parse.GetValue(allowDirty))
            {
                throw new ArgumentException($"the tree has uncommitted changes ({string.Join(", ", dirty.Take(5))}{(dirty.Count > 5 ? ", ..." : "")}): commit them first, so the recorded commit is the code that was measured (or pass --allow-dirty)");
            }
            string commit = BaseWorktree.ResolveCommit(repository, "HEAD");
            var (accepted, directory) = BaselineStore.Accept(parse.GetValue(results)!.FullName, root, commit, parse.GetValue(note)!);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"accepted {accepted.Count} cases of commit {commit[..12]} into {directory}; commit it with a message saying why"));
            foreach (var (spread, fastest, slowest) in GateComparer.SpreadAcrossLaunches(accepted, new GateOptions(), GateMode.Ratio))
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"note: {spread.DisplayName} ({spread.Suite}) differs from launch to launch, ratio {fastest:0.000} to {slowest:0.000}: its speed is drawn per process; keep several launches in its baseline"));
            }
            return Passed;
        }));
        return command;
    }

    private static Command TestbedCommand()
    {
        var command = new Command("testbed", "Print this runner's testbed: the id baselines are filed under, then its fields.");
        command.SetAction(_ =>
        {
            var testbed = Testbed.Current();
            Console.WriteLine(testbed.Id);
            Console.WriteLine(JsonSerializer.Serialize(testbed));
            return Passed;
        });
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
                                      or KeyNotFoundException or InvalidOperationException or ArgumentException or GateBrokenException)
        {
            Console.Error.WriteLine($"perfgate: {e.Message}");
            return Broken;
        }
    }
}
