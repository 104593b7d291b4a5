using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace FastReclaim.Cli;

/// <summary>
/// <c>fastreclaim monitor PID</c>: attaches to a running process and shows the FastReclaim meter live,
/// until Ctrl-C or until the process exits.
/// </summary>
internal static class MonitorCommand
{
    public const string MeterName = "FastReclaim";

    public static Command Create()
    {
        var pid = new Argument<int>("pid") { Description = "Id of the .NET process to attach to." };
        var refresh = new Option<double>("--refresh-interval")
        {
            Description = "Seconds between updates (the target aggregates over this interval).",
            DefaultValueFactory = _ => 1,
        };
        var timeout = new Option<double>("--timeout")
        {
            Description = "Seconds to wait for the first FastReclaim values before giving up.",
            DefaultValueFactory = _ => 10,
        };
        var refreshes = new Option<int>("--refreshes")
        {
            Description = "Exit after this many updates (0: run until Ctrl-C or until the process exits).",
        };
        var plain = new Option<bool>("--plain")
        {
            Description = "Print plain text lines, one per series, instead of the live table (the default when output is redirected).",
        };

        var command = new Command("monitor", "Show the FastReclaim metrics of a running process live (like dotnet-counters).")
        {
            pid, refresh, timeout, refreshes, plain,
        };
        pid.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() <= 0)
            {
                r.AddError($"Process id must be positive, got {r.GetValueOrDefault<int>()}.");
            }
        });
        refresh.Validators.Add(r => RequirePositive(r, "--refresh-interval"));
        timeout.Validators.Add(r => RequirePositive(r, "--timeout"));
        refreshes.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 0)
            {
                r.AddError($"--refreshes must be 0 or more, got {r.GetValueOrDefault<int>()}.");
            }
        });

        command.SetAction((parse, cancellation) =>
        {
            var settings = new MonitorSettings(
                parse.GetValue(pid),
                TimeSpan.FromSeconds(parse.GetValue(refresh)),
                TimeSpan.FromSeconds(parse.GetValue(timeout)),
                parse.GetValue(refreshes),
                parse.GetValue(plain) || Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive);
            return RunAsync(settings, Console.Out, Console.Error, cancellation);
        });
        return command;
    }

    /// <summary>Runs the monitor; returns the process exit code.</summary>
    public static async Task<int> RunAsync(MonitorSettings settings, TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        MetricsSession session;
        try
        {
            session = await MetricsSession.StartAsync(settings.ProcessId, MeterName, settings.RefreshInterval, cancellation).ConfigureAwait(false);
        }
        catch (MonitorException e)
        {
            await error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return e.ExitCode;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // Ctrl-C while attaching: stopped before anything was shown.
            return 0;
        }

        await using (session.ConfigureAwait(false))
        {
            if (!await session.WaitForCollectionsAsync(1, settings.FirstDataTimeout, cancellation).ConfigureAwait(false))
            {
                if (cancellation.IsCancellationRequested)
                {
                    return 0;
                }

                string reason = session.Error
                    ?? (session.Completion.IsCompleted
                        ? $"Process {settings.ProcessId} exited before publishing any {MeterName} metrics."
                        : $"Process {settings.ProcessId} published no {MeterName} metrics within {settings.FirstDataTimeout.TotalSeconds:0.#} s: it has no live FastReclaim address space or epoch domain (or diagnostics are switched off in it).");
                await error.WriteLineAsync(reason).ConfigureAwait(false);
                return MonitorException.NoMetrics;
            }

            return settings.Plain
                ? await RunPlainAsync(session, settings, output, cancellation).ConfigureAwait(false)
                : await RunLiveAsync(session, settings, cancellation).ConfigureAwait(false);
        }
    }

    private static async Task<int> RunPlainAsync(MetricsSession session, MonitorSettings settings, TextWriter output, CancellationToken cancellation)
    {
        for (int shown = 1; ; shown++)
        {
            await output.WriteLineAsync($"# {DateTime.UtcNow:O} process {settings.ProcessId} update {shown}").ConfigureAwait(false);
            foreach (MetricSeries series in session.Snapshot())
            {
                await output.WriteLineAsync(series.ToPlainLine()).ConfigureAwait(false);
            }

            await output.FlushAsync(cancellation).ConfigureAwait(false);
            if (shown == settings.Refreshes || !await session.WaitForCollectionsAsync(session.CollectionsWithData + 1, Timeout.InfiniteTimeSpan, cancellation).ConfigureAwait(false))
            {
                return await EndAsync(session, settings, output, cancellation).ConfigureAwait(false);
            }
        }
    }

    private static async Task<int> RunLiveAsync(MetricsSession session, MonitorSettings settings, CancellationToken cancellation)
    {
        var table = new Table().Border(TableBorder.Rounded).Expand();
        await AnsiConsole.Live(table).StartAsync(async context =>
        {
            for (int shown = 1; ; shown++)
            {
                Fill(table, session, settings.ProcessId);
                context.Refresh();
                if (shown == settings.Refreshes || !await session.WaitForCollectionsAsync(session.CollectionsWithData + 1, Timeout.InfiniteTimeSpan, cancellation).ConfigureAwait(false))
                {
                    return;
                }
            }
        }).ConfigureAwait(false);
        return await EndAsync(session, settings, Console.Out, cancellation).ConfigureAwait(false);
    }

    private static async Task<int> EndAsync(MetricsSession session, MonitorSettings settings, TextWriter output, CancellationToken cancellation)
    {
        if (!cancellation.IsCancellationRequested && session.Completion.IsCompleted)
        {
            await output.WriteLineAsync($"Process {settings.ProcessId} exited.").ConfigureAwait(false);
        }

        return 0;
    }

    private static void Fill(Table table, MetricsSession session, int processId)
    {
        table.Rows.Clear();
        if (table.Columns.Count == 0)
        {
            table.AddColumns("Instrument", "Tags", "Value", "Rate / distribution");
            table.Columns[2].RightAligned();
        }

        (long stalls, long sweeps) = session.EventCounts;
        table.Title = new TableTitle($"FastReclaim — process {processId} — {DateTime.Now:HH:mm:ss}");
        table.Caption = new TableTitle($"events: {stalls} reader stalls, {sweeps} sweeps   (Ctrl-C to stop)");
        foreach (MetricSeries s in session.Snapshot())
        {
            string rate = s.Kind switch
            {
                MetricKind.Counter when s.RatePerSecond is double r => $"{r.ToString("#,0.#", CultureInfo.CurrentCulture)} /s",
                MetricKind.Histogram => $"{s.Quantiles} {s.Unit}",
                _ => "",
            };
            table.AddRow(Markup.Escape(ShortName(s.Instrument)), Markup.Escape(s.Tags), Markup.Escape(FormatValue(s)), Markup.Escape(rate));
        }

        foreach (string e in session.RecentEvents)
        {
            table.AddRow("[grey]event[/]", "", "", Markup.Escape(e));
        }
    }

    /// <summary>The instrument without the <c>fastreclaim.</c> prefix the title already says, so rows fit 80 columns.</summary>
    private static string ShortName(string instrument)
    {
        const string Prefix = "fastreclaim.";
        return instrument.StartsWith(Prefix, StringComparison.Ordinal) ? instrument[Prefix.Length..] : instrument;
    }

    private static string FormatValue(MetricSeries s) => s.Kind switch
    {
        MetricKind.Histogram => $"{s.Value.ToString("#,0", CultureInfo.CurrentCulture)} samples",
        _ when s.Unit == "By" => ByteSize.Format((long)s.Value),
        _ => s.Value.ToString("#,0.##", CultureInfo.CurrentCulture),
    };

    private static void RequirePositive(System.CommandLine.Parsing.OptionResult result, string name)
    {
        double value = result.GetValueOrDefault<double>();
        if (!(value > 0))
        {
            result.AddError($"{name} must be a positive number of seconds, got {value.ToString(CultureInfo.InvariantCulture)}.");
        }
    }
}

/// <summary>What <c>fastreclaim monitor</c> was asked to do.</summary>
internal sealed record MonitorSettings(int ProcessId, TimeSpan RefreshInterval, TimeSpan FirstDataTimeout, int Refreshes, bool Plain);
