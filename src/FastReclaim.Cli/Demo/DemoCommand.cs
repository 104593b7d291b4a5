using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace FastReclaim.Cli;

/// <summary>
/// <c>fastreclaim demo</c>: builds a large sparse address space per policy, translates on every core while a writer
/// zaps and refaults it in waves, then prints what each policy kept and freed and writes a chart of it.
/// </summary>
internal static class DemoCommand
{
    private const int MaxGib = 64 * 1024;

    /// <summary>Start of the line <c>--hold</c> prints once the final stats are out and the spaces are held.</summary>
    public const string HoldingLine = "holding: process";
    private static readonly ReclaimPolicy[] s_allPolicies = [ReclaimPolicy.Linux, ReclaimPolicy.Eager, ReclaimPolicy.None];

    public static Command Create()
    {
        var gib = new Option<int>("--gib") { Description = "Span of the sparse address space, in GiB (one PTE table per 2 MiB).", DefaultValueFactory = _ => 16 };
        var seconds = new Option<double>("--seconds") { Description = "Duration of the zap/refault waves, per policy.", DefaultValueFactory = _ => 6 };
        var readers = new Option<int>("--readers") { Description = "Reader threads translating during the waves (default: one per core).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var output = new Option<string>("--output") { Description = "Path of the PNG chart.", DefaultValueFactory = _ => "fastreclaim-demo.png" };
        var policy = new Option<string[]>("--policy") { Description = "Policies to run: linux, eager, none (default: all three).", AllowMultipleArgumentsPerToken = true };
        var hold = new Option<bool>("--hold") { Description = "After the summary, keep the address spaces alive until Enter or end of input (to watch them with monitor or dotnet-counters)." };

        var command = new Command("demo", "The main job: zap and reclaim a sparse address space under concurrent readers, per policy; summary and PNG chart.")
        {
            gib, seconds, readers, output, policy, hold,
        };
        gib.Validators.Add(r =>
        {
            int value = r.GetValueOrDefault<int>();
            if (value is < 1 or > MaxGib)
            {
                r.AddError($"--gib must be between 1 and {MaxGib}, got {value}.");
            }
        });
        seconds.Validators.Add(r =>
        {
            double value = r.GetValueOrDefault<double>();
            if (!(value > 0))
            {
                r.AddError($"--seconds must be positive, got {value.ToString(CultureInfo.InvariantCulture)}.");
            }
        });
        readers.Validators.Add(r =>
        {
            int value = r.GetValueOrDefault<int>();
            if (value < 1)
            {
                r.AddError($"--readers must be at least 1, got {value}.");
            }
        });
        policy.Validators.Add(r =>
        {
            foreach (string name in r.GetValueOrDefault<string[]>() ?? [])
            {
                if (!TryParsePolicy(name, out _))
                {
                    r.AddError($"Unknown policy '{name}': expected linux, eager or none.");
                }
            }
        });

        command.SetAction((parse, cancellation) =>
        {
            string[] names = parse.GetValue(policy) ?? [];
            ReclaimPolicy[] policies = names.Length == 0
                ? s_allPolicies
                : [.. names.Select(n => TryParsePolicy(n, out ReclaimPolicy p) ? p : default).Distinct()];
            var settings = new DemoSettings(
                parse.GetValue(gib), parse.GetValue(seconds), parse.GetValue(readers), parse.GetValue(output)!, policies,
                parse.GetValue(hold), !IsInteractive());
            return Task.FromResult(Run(settings, Console.Out, cancellation));
        });
        return command;
    }

    /// <summary>Runs the demo; returns the exit code (1 when a consistency check failed).</summary>
    public static int Run(DemoSettings settings, TextWriter output, CancellationToken cancellation)
    {
        var runs = new List<DemoRun>();
        var results = new List<DemoResult>();
        try
        {
            output.WriteLine(
                $"fastreclaim demo: {settings.Gib} GiB sparse space ({(long)settings.Gib * 512} PTE tables, {DemoRun.PagesPerRegion} pages mapped per 2 MiB), " +
                $"{settings.Readers} reader(s), {settings.Seconds.ToString(CultureInfo.InvariantCulture)} s of waves per policy, poisoning on.");
            foreach (ReclaimPolicy policy in settings.Policies)
            {
                var run = new DemoRun(policy, settings);
                runs.Add(run);
                results.Add(settings.Plain ? RunPlain(run, output, cancellation) : RunWithProgressBar(run, cancellation));
                if (!settings.Hold)
                {
                    run.Dispose();
                    runs.Remove(run);
                }
            }

            DemoChart.Write(settings.Output, results, settings);
            int code = PrintSummary(results, settings, output);
            if (settings.Hold)
            {
                Hold(runs, output);
            }

            return code;
        }
        finally
        {
            foreach (DemoRun run in runs)
            {
                run.Dispose();
            }
        }
    }

    private static DemoResult RunPlain(DemoRun run, TextWriter output, CancellationToken cancellation)
    {
        string name = DemoMeter.PolicyName(run.Policy);
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
                string name = DemoMeter.PolicyName(run.Policy);
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

    private static int PrintSummary(IReadOnlyList<DemoResult> results, DemoSettings settings, TextWriter output)
    {
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("policy", "page tables built", "after waves", "reclaimed tables", "grace p50", "grace p99", "lookups/s", "wrong lookups");
        foreach (DemoResult r in results)
        {
            table.AddRow(
                DemoMeter.PolicyName(r.Policy),
                ByteSize.Format(r.Built.PageTableBytes),
                ByteSize.Format(r.Final.PageTableBytes),
                r.Final.ReclaimedTables.ToString("N0", CultureInfo.InvariantCulture),
                r.Epoch.GracePeriods == 0 ? "none" : FormatLatency(r.Epoch.GracePeriodP50),
                r.Epoch.GracePeriods == 0 ? "none" : FormatLatency(r.Epoch.GracePeriodP99),
                r.TranslationsPerSecond.ToString("N0", CultureInfo.InvariantCulture),
                r.BadTranslations.ToString(CultureInfo.InvariantCulture));
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
        output.WriteLine($"Chart: {Path.GetFullPath(settings.Output)}");
        var problems = results.SelectMany(r => r.Inconsistencies().Select(p => $"{DemoMeter.PolicyName(r.Policy)}: {p}")).ToList();
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

    private static void Hold(IReadOnlyList<DemoRun> runs, TextWriter output)
    {
        foreach (DemoRun run in runs)
        {
            PageTableStats s = run.Space.Stats;
            EpochStats e = run.Epoch.Stats;
            output.WriteLine(FormattableString.Invariant(
                $"stats policy={DemoMeter.PolicyName(run.Policy)} pte_tables={s.PteTables} pmd_tables={s.PmdTables} pud_tables={s.PudTables} p4d_tables={s.P4dTables} page_table_bytes={s.PageTableBytes} reclaimed_tables={s.ReclaimedTables} pending_tables={s.PendingTables} epoch={e.GlobalEpoch} epoch_pending={e.Pending} epoch_freed={e.Freed} stalls={e.Stalls}"));
        }

        output.WriteLine($"{HoldingLine} {Environment.ProcessId}; press Enter or close input to exit");
        output.Flush();
        Console.In.ReadLine();
    }

    private static string FormatLatency(TimeSpan latency) =>
        latency.TotalMilliseconds >= 1
            ? $"≤ {latency.TotalMilliseconds.ToString("0.#", CultureInfo.InvariantCulture)} ms"
            : $"≤ {latency.TotalMicroseconds.ToString("0", CultureInfo.InvariantCulture)} µs";

    private static bool TryParsePolicy(string name, out ReclaimPolicy policy) =>
        Enum.TryParse(name, ignoreCase: true, out policy) && Enum.IsDefined(policy);

    private static bool IsInteractive() =>
        !Console.IsOutputRedirected
        && AnsiConsole.Profile.Capabilities.Interactive
        && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
}
