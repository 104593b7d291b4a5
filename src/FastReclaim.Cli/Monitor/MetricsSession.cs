using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Net.Sockets;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;

namespace FastReclaim.Cli.Monitor;

/// <summary>
/// An EventPipe session on another .NET process that collects one meter the way <c>dotnet-counters</c>
/// does: the <c>System.Diagnostics.Metrics</c> provider, configured with the meter name and a refresh
/// interval, aggregates in the target and publishes one event per time series per interval; TraceEvent
/// parses them here. The <c>FastReclaim</c> event source is enabled too, for its stall and sweep events.
/// </summary>
internal sealed class MetricsSession : IAsyncDisposable
{
    public const string MetricsProvider = "System.Diagnostics.Metrics";

    // MetricsEventSource keywords: TimeSeriesValues (the values and Begin/EndInstrumentReporting, Error).
    private const long TimeSeriesValuesKeyword = 0x2;
    private const int MaxTimeSeries = 1000;
    private const int MaxHistograms = 100;
    private const int BufferMegabytes = 16;
    private const int RecentEventsKept = 5;

    /// <summary>
    /// A gauge series not published for this many intervals is gone: its owner (address space or epoch domain) was
    /// disposed. Counter and histogram series are kept by the target's metrics session with their last values, so
    /// they are shown only while a gauge of the same owner (the same <c>space=</c> or <c>domain=</c> tag) is live.
    /// </summary>
    private const int StaleAfterCollections = 2;

    private static readonly string[] s_ownerTags = [FastReclaimDiagnostics.Tags.Space + "=", FastReclaimDiagnostics.Tags.Domain + "="];

    /// <summary>
    /// How long attaching waits for the target to answer, and disposing for it to answer the stop command, then for the
    /// event stream to end. A target that is shutting down (or hung) can accept the connection on its diagnostics socket
    /// and never answer.
    /// </summary>
    private static readonly TimeSpan s_answerTimeout = TimeSpan.FromSeconds(10);

    // The event source's stall and sweep events; the policy keyword is one event per table, too chatty here.
    private const long StallAndSweepKeywords = (long)(FastReclaimDiagnostics.Keywords.Stall | FastReclaimDiagnostics.Keywords.Sweep);

    private readonly EventPipeSession _session;
    private readonly EventPipeEventSource _source;
    private readonly string _sessionId;
    private readonly double _intervalSeconds;
    private readonly ConcurrentDictionary<(string Instrument, string Tags), (MetricSeries Series, int Collection)> _series = new();
    private readonly ConcurrentQueue<string> _recentEvents = new();
    private int _collectionsWithData;
    private int _collections;
    private bool _dataThisCollection;
    private long _stalls;
    private long _sweeps;
    private volatile string? _error;

    private MetricsSession(EventPipeSession session, string sessionId, double intervalSeconds)
    {
        _session = session;
        _sessionId = sessionId;
        _intervalSeconds = intervalSeconds;
        _source = new EventPipeEventSource(session.EventStream);
        _source.Dynamic.All += OnEvent;
        Completion = Task.Factory.StartNew(() => _source.Process(), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>Ends when the session stops: the target exited, or <see cref="DisposeAsync"/> was called.</summary>
    public Task Completion { get; }

    /// <summary>Intervals completed so far in which the meter published at least one value.</summary>
    public int CollectionsWithData => Volatile.Read(ref _collectionsWithData);

    /// <summary>An error the target's MetricsEventSource reported (e.g. another session is already running).</summary>
    public string? Error => _error;

    /// <summary>Reader-stall and sweep events seen from the FastReclaim event source.</summary>
    public (long Stalls, long Sweeps) EventCounts => (Interlocked.Read(ref _stalls), Interlocked.Read(ref _sweeps));

    /// <summary>The last few FastReclaim events, oldest first.</summary>
    public IReadOnlyList<string> RecentEvents => [.. _recentEvents];

    /// <summary>Attaches to <paramref name="processId"/> and starts collecting the library's meter.</summary>
    /// <exception cref="MonitorException">No such process, it has no .NET diagnostics endpoint, or it did not answer in time.</exception>
    public static async Task<MetricsSession> StartAsync(int processId, TimeSpan refreshInterval, CancellationToken cancellation)
    {
        string name;
        try
        {
            using var process = Process.GetProcessById(processId);
            name = process.ProcessName;
        }
        catch (ArgumentException)
        {
            throw new MonitorException($"No process with id {processId} is running.", MonitorException.AttachFailed);
        }

        if (!DiagnosticsClient.GetPublishedProcesses().Contains(processId))
        {
            throw NoEndpoint(processId, name, "it is not a .NET process, runs as another user, or has DOTNET_EnableDiagnostics=0");
        }

        double seconds = refreshInterval.TotalSeconds;
        string sessionId = Guid.NewGuid().ToString("N");
        var metricsArguments = new Dictionary<string, string>
        {
            ["SessionId"] = sessionId,
            ["Metrics"] = FastReclaimDiagnostics.MeterName,
            ["RefreshInterval"] = seconds.ToString(CultureInfo.InvariantCulture),
            ["MaxTimeSeries"] = MaxTimeSeries.ToString(CultureInfo.InvariantCulture),
            ["MaxHistograms"] = MaxHistograms.ToString(CultureInfo.InvariantCulture),
        };
        EventPipeProvider[] providers =
        [
            new(MetricsProvider, EventLevel.Informational, TimeSeriesValuesKeyword, metricsArguments),
            new(FastReclaimDiagnostics.EventSourceName, EventLevel.Informational, StallAndSweepKeywords),
        ];

        using var answerTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        answerTimeout.CancelAfter(s_answerTimeout);
        try
        {
            EventPipeSession session = await new DiagnosticsClient(processId)
                .StartEventPipeSessionAsync(providers, requestRundown: false, BufferMegabytes, answerTimeout.Token).ConfigureAwait(false);
            return new MetricsSession(session, sessionId, seconds);
        }
        catch (ServerNotAvailableException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.AddressNotAvailable })
        {
            // The id is published (a dotnet-diagnostic-{pid}-{start time}-socket file in the temp directory) but nobody
            // listens on that socket (ECONNREFUSED), or the file went away before the connect (ENOENT). Such files outlive
            // .NET processes that were killed; when the OS gives their id to a new process, the file names that one too.
            throw NoEndpoint(processId, name, "nothing listens on the diagnostics socket published for its id (left behind by an earlier .NET process with the same id, or the runtime is shutting down)");
        }
        catch (Exception e) when (e is ServerNotAvailableException or DiagnosticsClientException or IOException or TimeoutException)
        {
            throw new MonitorException($"Cannot attach to process {processId} ({name}): {e.Message}", MonitorException.AttachFailed);
        }
        catch (OperationCanceledException) when (answerTimeout.IsCancellationRequested && !cancellation.IsCancellationRequested)
        {
            throw new MonitorException(
                $"Cannot attach to process {processId} ({name}): it did not answer within {s_answerTimeout.TotalSeconds:0} s.", MonitorException.AttachFailed);
        }
    }

    /// <summary>The latest value of every live series, sorted by instrument then tags.</summary>
    public IReadOnlyList<MetricSeries> Snapshot()
    {
        int oldest = Volatile.Read(ref _collections) - StaleAfterCollections;
        (MetricSeries Series, int Collection)[] all = [.. _series.Values];
        var liveOwners = all
            .Where(s => s.Series.Kind == MetricKind.Gauge && s.Collection >= oldest)
            .Select(s => OwnerOf(s.Series.Tags))
            .ToHashSet(StringComparer.Ordinal);
        return [.. all
            .Where(s => s.Series.Kind == MetricKind.Gauge ? s.Collection >= oldest : liveOwners.Contains(OwnerOf(s.Series.Tags)))
            .Select(s => s.Series)
            .OrderBy(s => s.Instrument, StringComparer.Ordinal)
            .ThenBy(s => s.Tags, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Waits until <paramref name="count"/> intervals with data have completed. False when the timeout passed,
    /// the session ended or <paramref name="cancellation"/> fired first.
    /// </summary>
    public async Task<bool> WaitForCollectionsAsync(int count, TimeSpan timeout, CancellationToken cancellation)
    {
        TimeSpan poll = TimeSpan.FromMilliseconds(Math.Min(50, _intervalSeconds * 1000 / 4));
        var deadline = Stopwatch.StartNew();
        while (CollectionsWithData < count)
        {
            if ((timeout != Timeout.InfiniteTimeSpan && deadline.Elapsed >= timeout) || Completion.IsCompleted || cancellation.IsCancellationRequested)
            {
                return false;
            }

            try
            {
                await Task.Delay(poll, cancellation).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        return true;
    }

    private void OnEvent(TraceEvent e)
    {
        if (e.ProviderName == FastReclaimDiagnostics.EventSourceName)
        {
            OnFastReclaimEvent(e);
            return;
        }

        if (e.ProviderName != MetricsProvider)
        {
            return;
        }

        string eventName = e.EventName;
        if (eventName == "MultipleSessionsNotSupportedError")
        {
            if (Payload(e, "runningSessionId") != _sessionId)
            {
                _error = "Another metrics session (dotnet-counters, dotnet-monitor, another fastreclaim monitor) is already collecting from this process; only one can run at a time.";
            }

            return;
        }

        if (Payload(e, "sessionId") != _sessionId)
        {
            return;
        }

        switch (eventName)
        {
            // TraceEvent names the Stop-opcode event "Collection/Stop".
            case "CollectionStop" or "Collection/Stop":
                Interlocked.Increment(ref _collections);
                if (_dataThisCollection)
                {
                    _dataThisCollection = false;
                    Interlocked.Increment(ref _collectionsWithData);
                }

                return;
            case "Error":
                _error = Payload(e, "errorMessage");
                return;
            case "ObservableInstrumentCallbackError":
                _error = "An instrument callback failed in the target: " + Payload(e, "errorMessage");
                return;
        }

        if (Payload(e, "meterName") != FastReclaimDiagnostics.MeterName)
        {
            return;
        }

        MetricSeries? series = eventName switch
        {
            "GaugeValuePublished" => Series(e, MetricKind.Gauge, Payload(e, "lastValue"), rate: null),
            "CounterRateValuePublished" => Series(e, MetricKind.Counter, Payload(e, "value"), Payload(e, "rate")),
            "HistogramValuePublished" => Histogram(e),
            _ => null,
        };
        if (series is not null)
        {
            _series[(series.Instrument, series.Tags)] = (series, _collections);
            _dataThisCollection = true;
        }
    }

    private MetricSeries? Series(TraceEvent e, MetricKind kind, string valueText, string? rate)
    {
        // An empty value means the series had no measurement in this interval: keep the previous one.
        if (!double.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
        {
            return null;
        }

        double? perSecond = double.TryParse(rate, NumberStyles.Float, CultureInfo.InvariantCulture, out double delta)
            ? delta / _intervalSeconds
            : null;
        return new MetricSeries(Payload(e, "instrumentName"), Payload(e, "tags"), Payload(e, "unit"), kind, value, perSecond, "");
    }

    private static MetricSeries? Histogram(TraceEvent e)
    {
        // quantiles: "0.5=1.2;0.95=3.4;0.99=5.6"; count: measurements in the interval.
        string quantiles = Payload(e, "quantiles");
        if (quantiles.Length == 0)
        {
            return null;
        }

        string shown = string.Join(' ', quantiles.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(q => q.Split('='))
            .Where(kv => kv.Length == 2 && double.TryParse(kv[0], NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            .Select(kv => $"p{double.Parse(kv[0], CultureInfo.InvariantCulture) * 100:0.#}={kv[1]}"));
        double count = Convert.ToDouble(e.PayloadByName("count") ?? 0, CultureInfo.InvariantCulture);
        return new MetricSeries(Payload(e, "instrumentName"), Payload(e, "tags"), Payload(e, "unit"), MetricKind.Histogram, count, null, shown);
    }

    private void OnFastReclaimEvent(TraceEvent e)
    {
        if (e.EventName.StartsWith("ReaderStall", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _stalls);
        }
        else if (e.EventName.StartsWith("Sweep", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _sweeps);
        }

        string message = e.EventName + " " + string.Join(' ', e.PayloadNames.Select((name, i) => $"{name}={e.PayloadValue(i)}"));
        _recentEvents.Enqueue($"{e.TimeStamp:HH:mm:ss} {message}");
        while (_recentEvents.Count > RecentEventsKept)
        {
            _recentEvents.TryDequeue(out _);
        }
    }

    /// <summary>The attach error for a process that cannot be reached as a .NET process, and why.</summary>
    private static MonitorException NoEndpoint(int processId, string name, string reason) =>
        new($"Process {processId} ({name}) has no .NET diagnostics endpoint: {reason}.", MonitorException.AttachFailed);

    /// <summary>The <c>space=N</c> or <c>domain=N</c> tag of a series ("" when it has neither).</summary>
    private static string OwnerOf(string tags) =>
        tags.Split(',').FirstOrDefault(t => s_ownerTags.Any(o => t.StartsWith(o, StringComparison.Ordinal))) ?? "";

    private static string Payload(TraceEvent e, string name) => e.PayloadByName(name)?.ToString() ?? "";

    /// <summary>
    /// Stops the session and ends <see cref="Completion"/>. Every wait is bounded by <see cref="s_answerTimeout"/>: a
    /// target that never answers the stop is left to notice the closed event stream.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        using (var stopTimeout = new CancellationTokenSource(s_answerTimeout))
        {
            try
            {
                // The target answers only after flushing the session's buffers into the event stream, which
                // Completion keeps reading. StopAsync marks the session stopped first, so Dispose below never retries
                // it with the unbounded synchronous Stop.
                await _session.StopAsync(stopTimeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ServerNotAvailableException or IOException or EndOfStreamException or TimeoutException)
            {
                // The target has already exited: there is no session left to stop.
            }
            catch (OperationCanceledException) when (stopTimeout.IsCancellationRequested)
            {
                // No answer in time: closing the event stream below ends the session on the target's side too.
            }
        }

        // Waits without rethrowing: a stream that broke as the target died has nothing left to report.
        await Task.WhenAny(Completion, Task.Delay(s_answerTimeout)).ConfigureAwait(false);
        _session.Dispose();
        if (!Completion.IsCompleted)
        {
            // The stream is closed now, so the reader ends with an error (observed here) instead of waiting for data.
            await Task.WhenAny(Completion, Task.Delay(s_answerTimeout)).ConfigureAwait(false);
        }

        if (Completion.IsCompleted)
        {
            _ = Completion.Exception;
            _source.Dispose();
        }
    }
}
