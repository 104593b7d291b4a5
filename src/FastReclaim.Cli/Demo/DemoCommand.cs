using System.CommandLine;
using System.Globalization;
using FastReclaim.Cli.Common;
using Spectre.Console;

namespace FastReclaim.Cli.Demo;

/// <summary>
/// <c>fastreclaim demo</c>: builds a large sparse address space per policy, translates on every core while a writer
/// zaps and refaults it in waves, then prints what each policy kept and freed and writes a chart of it.
/// </summary>
internal static class DemoCommand
{
    private const int MaxGib = 64 * 1024;

    /// <summary>Reader threads at most: each is a thread with its own stack, and more than this only measures the scheduler.</summary>
    private const int MaxReaders = 1024;

    /// <summary>Start of the line <c>--hold</c> prints once the final stats are out and the spaces are held.</summary>
    public const string HoldingLine = "holding: process";

    /// <summary>Start of the line a run stopped by SIGINT or SIGTERM prints instead of its summary.</summary>
    public const string InterruptedLine = "interrupted:";

    /// <summary>Start of the summary line per policy with the raw figures behind lookups/s.</summary>
    public const string LookupsLine = "lookups";

    private static readonly ReclaimPolicy[] s_allPolicies = [ReclaimPolicy.Linux, ReclaimPolicy.Eager, ReclaimPolicy.None];

    public static Command Create()
    {
        var gib = new Option<int>("--gib") { Description = "Span of the sparse address space, in GiB (one PTE table per 2 MiB).", DefaultValueFactory = _ => 16 }
            .AcceptRange(1, MaxGib);
        var seconds = new Option<double>("--seconds") { Description = "Duration of the zap/refault waves, per policy.", DefaultValueFactory = _ => 6 }
            .AcceptSeconds();
        var readers = new Option<int>("--readers") { Description = "Reader threads translating during the waves (default: one per core).", DefaultValueFactory = _ => Environment.ProcessorCount }
            .AcceptRange(1, MaxReaders);
        var output = new Option<string>("--output") { Description = "Path of the PNG chart.", DefaultValueFactory = _ => "fastreclaim-demo.png" };
        var policy = new Option<string[]>("--policy") { Description = "Policies to run: linux, eager, none (default: all three).", AllowMultipleArgumentsPerToken = true }
            .AcceptPolicyNames();
        var hold = new Option<bool>("--hold") { Description = "After the summary, keep the address spaces alive until Enter, end of input, Ctrl-C or SIGTERM (to watch them with monitor or dotnet-counters)." };

        var command = new Command("demo", "The main job: zap and reclaim a sparse address space under concurrent readers, per policy; summary and PNG chart.")
        {
            gib, seconds, readers, output, policy, hold,
        };
        command.SetAction((parse, cancellation) =>
        {
            string[] names = parse.GetValue(policy) ?? [];
            ReclaimPolicy[] policies = names.Length == 0 ? s_allPolicies : [.. names.Select(ReclaimPolicyNames.Parse).Distinct()];
            var settings = new DemoSettings(
                parse.GetValue(gib), parse.GetValue(seconds), parse.GetValue(readers), parse.GetValue(output)!, policies,
                parse.GetValue(hold), !IsInteractive());
            return Task.FromResult(Run(settings, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancellation));
        });
        return command;
    }

    /// <summary>
    /// Runs the demo; returns the exit code: 1 when a consistency check failed or the chart could not be written,
    /// 2 when the output or the size is unusable (found before any work), <see cref="ExitCodes.Interrupted"/> when
    /// <paramref name="cancellation"/> fired (no summary then: the figures of a cut run are not a result).
    /// </summary>
    public static int Run(DemoSettings settings, TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        if (OutputFile.CannotWrite(settings.Output) is { } reason)
        {
            error.WriteLine($"fastreclaim demo: --output {settings.Output}: cannot write it: {reason}");
            return ExitCodes.Usage;
        }

        // Each run's tables are real memory (zeroed pages); --hold keeps every policy's at once.
        long memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        long needed = DemoRun.TableBytes(settings.Gib) * (settings.Hold ? settings.Policies.Count : 1);
        if (needed > memory)
        {
            error.WriteLine(
                $"fastreclaim demo: --gib {settings.Gib} needs {ByteSize.Format(needed)} of page tables{(settings.Hold ? " (--hold keeps every policy's)" : "")}, " +
                $"more than the {ByteSize.Format(memory)} of memory here.");
            return ExitCodes.Usage;
        }

        var runs = new List<DemoRun>();
        var results = new List<DemoResult>();
        try
        {
            output.WriteLine(
                $"fastreclaim demo: {settings.Gib} GiB sparse space ({(long)settings.Gib * 512} PTE tables, {DemoRun.PagesPerRegion} pages mapped per 2 MiB), " +
                $"{settings.Readers} reader(s), {settings.Seconds.ToString(CultureInfo.InvariantCulture)} s of waves per policy, poisoning on.");
            foreach (ReclaimPolicy policy in settings.Policies)
            {
                var run = new DemoRun(policy, settings, memory);
                runs.Add(run);
                results.Add(settings.Plain ? RunPlain(run, output, cancellation) : RunWithProgressBar(run, cancellation));
                if (!settings.Hold)
                {
                    run.Dispose();
                    runs.Remove(run);
                }
            }

            string? chartError = WriteChart(results, settings);
            int code = PrintSummary(results, settings, output, chartError);
            return settings.Hold ? Hold(runs, output, code, cancellation) : code;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            error.WriteLine($"{InterruptedLine} stopped before the end; no summary, no chart, no checks (a cut run proves nothing).");
            return ExitCodes.Interrupted;
        }
        catch (OutOfMemoryException e)
        {
            error.WriteLine($"fastreclaim demo: out of memory with --gib {settings.Gib}: {e.Message}");
            return ExitCodes.Failure;
        }
        finally
        {
            foreach (DemoRun run in runs)
            {
                run.Dispose();
            }
        }
    }

    /// <summary>Writes the chart; returns why it could not be written, or null.</summary>
    private static string? WriteChart(IReadOnlyList<DemoResult> results, DemoSettings settings)
    {
        try
        {
            DemoChart.Write(settings.Output, results, settings);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
    }

    private static DemoResult RunPlain(DemoRun run, TextWriter output, CancellationToken cancellation)
    {
        string name = ReclaimPolicyNames.Format(run.Policy);
        string phase = "";
        int wave = 0;
        return run.Run(step =>
        {
            if (step != phase)
            {
                phase = step;
                wave++;
                output.WriteLine($"  {name}: {(step == "build" ? "building the space" : $"wave {wave - 1}: {step}")}");
            }
        }, cancellation);
    }

    private static DemoResult RunWithProgressBar(DemoRun run, CancellationToken cancellation)
    {
        DemoResult? result = null;
        AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(context =>
            {
                string name = ReclaimPolicyNames.Format(run.Policy);
                ProgressTask task = context.AddTask(name, maxValue: DemoRun.TotalSteps);
                result = run.Run(step =>
                {
                    task.Description = $"{name}: {step}";
                    task.Increment(1);
                }, cancellation);
                task.Description = name;
            });
        return result!;
    }

    private static int PrintSummary(IReadOnlyList<DemoResult> results, DemoSettings settings, TextWriter output, string? chartError)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("policy", "page tables built", "after waves", "reclaimed tables", "grace p50", "grace p99", "lookups/s", "wrong lookups");
        foreach (DemoResult r in results)
        {
            table.AddRow(
                ReclaimPolicyNames.Format(r.Policy),
                ByteSize.Format(r.Built.PageTableBytes),
                ByteSize.Format(r.Final.PageTableBytes),
                r.Final.ReclaimedTables.ToString("N0", CultureInfo.InvariantCulture),
                r.Epoch.GracePeriods == 0 ? "none" : FormatLatency(r.Epoch.GracePeriodP50),
                r.Epoch.GracePeriods == 0 ? "none" : FormatLatency(r.Epoch.GracePeriodP99),
                r.Readers.TranslationsPerSecond.ToString("N0", CultureInfo.InvariantCulture),
                r.Readers.BadTranslations.ToString(CultureInfo.InvariantCulture));
        }

        if (settings.Plain)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Ansi = AnsiSupport.No,
                Interactive = InteractionSupport.No,
                Out = new AnsiConsoleOutput(output),
            });
            console.Profile.Width = 132;
            console.Write(table);
        }
        else
        {
            AnsiConsole.Write(table);
        }

        output.WriteLine("Page-table bytes are Stats.PageTableBytes (PTE+PMD+PUD tables, Linux's VmPTE); grace periods are EpochStats bucket bounds.");
        foreach (DemoResult r in results)
        {
            output.WriteLine(FormattableString.Invariant(
                $"{LookupsLine} {ReclaimPolicyNames.Format(r.Policy)}: {r.Readers.Translations} by {r.Readers.ReadersThatRan} of {settings.Readers} readers in {r.Readers.Seconds:0.######} s of reader wall time"));
        }

        output.WriteLine(chartError is null ? $"Chart: {Path.GetFullPath(settings.Output)}" : $"CHART NOT WRITTEN: {chartError}");
        var problems = results.SelectMany(r => r.Inconsistencies().Select(p => $"{ReclaimPolicyNames.Format(r.Policy)}: {p}")).ToList();
        if (chartError is not null)
        {
            problems.Add($"the chart {settings.Output} could not be written");
        }

        if (problems.Count == 0)
        {
            output.WriteLine(
                "Checks passed: zap results add up to Stats.ReclaimedTables, nothing pending after the barrier, the allocator holds exactly " +
                "the live tables, the FastReclaim meter agrees with Stats, and 0 use-after-free (no lookup returned a wrong or poisoned address).");
            return 0;
        }

        foreach (string problem in problems)
        {
            output.WriteLine($"CHECK FAILED: {problem}");
        }

        return 1;
    }

    /// <summary>
    /// Prints the held spaces' stats and waits for a line or the end of standard input (at once when it is closed),
    /// or for <paramref name="cancellation"/>; returns <paramref name="code"/>, or <see cref="ExitCodes.Interrupted"/>.
    /// </summary>
    private static int Hold(IReadOnlyList<DemoRun> runs, TextWriter output, int code, CancellationToken cancellation)
    {
        foreach (DemoRun run in runs)
        {
            PageTableStats s = run.Space.Stats;
            EpochStats e = run.Epoch.Stats;
            output.WriteLine(FormattableString.Invariant(
                $"stats policy={ReclaimPolicyNames.Format(run.Policy)} pte_tables={s.PteTables} pmd_tables={s.PmdTables} pud_tables={s.PudTables} p4d_tables={s.P4dTables} page_table_bytes={s.PageTableBytes} reclaimed_tables={s.ReclaimedTables} pending_tables={s.PendingTables} epoch={e.GlobalEpoch} epoch_pending={e.Pending} epoch_freed={e.Freed} stalls={e.Stalls}"));
        }

        output.WriteLine($"{HoldingLine} {Environment.ProcessId}; press Enter or close input to exit (Ctrl-C or SIGTERM stops it too)");
        output.Flush();
        if (StandardStreams.IsClosed(StandardStreams.Input))
        {
            return code;
        }

        // The read cannot be cancelled; it is left blocked on its pool thread when a signal ends the hold.
        Task<string?> line = Task.Run(Console.In.ReadLine, CancellationToken.None);
        try
        {
            line.Wait(cancellation);
            return code;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            return ExitCodes.Interrupted;
        }
    }

    private static string FormatLatency(TimeSpan latency) =>
        latency.TotalMilliseconds >= 1
            ? $"≤ {latency.TotalMilliseconds.ToString("0.#", CultureInfo.InvariantCulture)} ms"
            : $"≤ {latency.TotalMicroseconds.ToString("0", CultureInfo.InvariantCulture)} µs";

    private static bool IsInteractive() =>
        !Console.IsOutputRedirected
        && AnsiConsole.Profile.Capabilities.Interactive
        && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
}
