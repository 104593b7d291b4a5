using System.CommandLine;
using System.Globalization;
using FastReclaim.Cli.Common;
using Spectre.Console;

namespace FastReclaim.Cli.Monitor;

/// <summary>
/// <c>fastreclaim monitor PID</c>: attaches to a running process and shows the FastReclaim meter live,
/// until Ctrl-C or until the process exits.
/// </summary>
internal static class MonitorCommand
{
    /// <summary>Refresh intervals the target takes to publish its first values.</summary>
    private const int IntervalsBeforeFirstData = 2;

    public static Command Create()
    {
        var pid = new Argument<int>("pid") { Description = "Id of the .NET process to attach to." }.AcceptRange(1, int.MaxValue);
        var refresh = new Option<double>("--refresh-interval")
        {
            Description = "Seconds between updates (the target aggregates over this interval).",
            DefaultValueFactory = _ => 1,
        }.AcceptSeconds();
        var timeout = new Option<double>("--timeout")
        {
            Description = "Seconds to wait for the first FastReclaim values, after the two refresh intervals they take to come, before giving up.",
            DefaultValueFactory = _ => 10,
        }.AcceptSeconds();
        var refreshes = new Option<int>("--refreshes")
        {
            Description = "Exit after this many updates (0: run until Ctrl-C or until the process exits).",
            DefaultValueFactory = _ => 0,
        }.AcceptRange(0, int.MaxValue);
        var plain = new Option<bool>("--plain")
        {
            Description = "Print plain text lines, one per series, instead of the live table (the default when output is redirected).",
        };

        var command = new Command("monitor", "Show the FastReclaim metrics of a running process live (like dotnet-counters).")
        {
            pid, refresh, timeout, refreshes, plain,
        };
        command.SetAction((parse, cancellation) =>
        {
            var settings = new MonitorSettings(
                parse.GetValue(pid),
                TimeSpan.FromSeconds(parse.GetValue(refresh)),
                TimeSpan.FromSeconds(parse.GetValue(timeout)),
                parse.GetValue(refreshes),
                parse.GetValue(plain) || Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive);
            return RunAsync(settings, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancellation);
        });
        return command;
    }

    /// <summary>Runs the monitor; returns the process exit code (<see cref="ExitCodes.Interrupted"/> when <paramref name="cancellation"/> fired).</summary>
    public static async Task<int> RunAsync(MonitorSettings settings, TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        MetricsSession session;
        try
        {
            session = await MetricsSession.StartAsync(settings.ProcessId, settings.RefreshInterval, cancellation).ConfigureAwait(false);
        }
        catch (MonitorException e)
        {
            await error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return e.ExitCode;
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // Ctrl-C while attaching: stopped before anything was shown.
            return ExitCodes.Interrupted;
        }

        await using (session.ConfigureAwait(false))
        {
            // The target publishes at the end of each interval, and its first values come at the end of the second
            // (measured: 2.3 s at 1 s, 6.4 s at 3 s): the timeout counts from there, whatever the interval.
            if (!await session.WaitForCollectionsAsync(1, (IntervalsBeforeFirstData * settings.RefreshInterval) + settings.FirstDataTimeout, cancellation).ConfigureAwait(false))
            {
                if (cancellation.IsCancellationRequested)
                {
                    return ExitCodes.Interrupted;
                }

                string reason = session.Error
                    ?? (session.Completion.IsCompleted
                        ? $"Process {settings.ProcessId} exited before publishing any {FastReclaimDiagnostics.MeterName} metrics."
                        : $"Process {settings.ProcessId} published no {FastReclaimDiagnostics.MeterName} metrics within {settings.FirstDataTimeout.TotalSeconds:0.#} s after its first {IntervalsBeforeFirstData} intervals of {settings.RefreshInterval.TotalSeconds:0.#} s: it has no live FastReclaim address space or epoch domain (or diagnostics are switched off in it).");
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
        if (cancellation.IsCancellationRequested)
        {
            return ExitCodes.Interrupted;
        }

        if (session.Completion.IsCompleted)
        {
            await output.WriteLineAsync($"Process {settings.ProcessId} exited.").ConfigureAwait(false);
        }

        return ExitCodes.Success;
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
        table.Title = new TableTitle($"{FastReclaimDiagnostics.MeterName} — process {processId} — {DateTime.Now:HH:mm:ss}");
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

    /// <summary>The instrument without the prefix the title already says, so rows fit 80 columns.</summary>
    private static string ShortName(string instrument) =>
        instrument.StartsWith(FastReclaimDiagnostics.InstrumentPrefix, StringComparison.Ordinal)
            ? instrument[FastReclaimDiagnostics.InstrumentPrefix.Length..]
            : instrument;

    private static string FormatValue(MetricSeries s) => s.Kind switch
    {
        MetricKind.Histogram => $"{s.Value.ToString("#,0", CultureInfo.CurrentCulture)} samples",
        _ when s.Unit == "By" => ByteSize.Format((long)s.Value),
        _ => s.Value.ToString("#,0.##", CultureInfo.CurrentCulture),
    };

}

/// <summary>What <c>fastreclaim monitor</c> was asked to do.</summary>
internal sealed record MonitorSettings(int ProcessId, TimeSpan RefreshInterval, TimeSpan FirstDataTimeout, int Refreshes, bool Plain);
