using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using static FastReclaim.FastReclaimDiagnostics;

namespace FastReclaim.BenchmarkDotNet;

/// <summary>
/// Samples the FastReclaim meter of a benchmark process over EventPipe, attached the way BenchmarkDotNet's
/// <c>EventPipeProfiler</c> attaches (a <see cref="DiagnosticsClient"/> session opened at the first signal, closed at
/// the last). The <c>System.Diagnostics.Metrics</c> provider in the target reads every observable instrument once per
/// refresh interval and publishes each series between a <c>CollectionStart</c> and a <c>CollectionStop</c> event.
/// </summary>
/// <remarks>
/// A collection cannot be requested, so <see cref="Sample"/> waits for the first one that started after it was called.
/// The diagnoser calls it while the benchmark's thread is blocked waiting for the signal's acknowledgment; a collection
/// that started later read the counters as they were at the signal. "Later" is decided on one clock: an event's
/// <see cref="TraceEvent.TimeStampQPC"/> is the target's <see cref="Stopwatch.GetTimestamp"/> (the same monotonic
/// clock on one machine), compared with this process's reading at the call, so the stream's buffering delay does not
/// matter. Histograms are published per interval (count and percentiles of the interval's measurements); intervals
/// that began before the previous sample released the benchmark are not reported (see <see cref="Sample"/>).
/// </remarks>
internal sealed class EventPipeSampler : IMeterSampler
{
    private const string MetricsProvider = "System.Diagnostics.Metrics";

    /// <summary>MetricsEventSource keyword TimeSeriesValues: the collection events, the values, errors.</summary>
    private const long TimeSeriesValuesKeyword = 0x2;

    /// <summary>
    /// The smallest interval the provider accepts. It bounds how long a signal waits (about two intervals) and is the
    /// only cost to a benchmark without FastReclaim: a timer that wakes ten times a second and finds no instrument.
    /// </summary>
    private const double RefreshIntervalSeconds = 0.1;

    private const int BufferMegabytes = 16;

    /// <summary>
    /// Time allowed between <see cref="Sample"/> returning and the benchmark thread running again (the acknowledgment's
    /// trip): intervals that begin within it may still hold grace periods that spanned the pause.
    /// </summary>
    private const double ReleaseMarginSeconds = 0.010;

    /// <summary>How long a sample waits for a fresh collection before giving up (the columns then show "-").</summary>
    private static readonly TimeSpan s_sampleTimeout = TimeSpan.FromSeconds(10);

    private readonly EventPipeSession _session;
    private readonly EventPipeEventSource _source;
    private readonly Task _reader;
    private readonly string _sessionId;
    /// <summary>Guards <see cref="_completed"/> and <see cref="_problem"/>; a monitor, for <see cref="Monitor.Wait(object, TimeSpan)"/>.</summary>
    private readonly object _lock = new();

    /// <summary>Collections completed and not yet consumed by a sample, oldest first (guarded by <see cref="_lock"/>).</summary>
    private readonly List<Collection> _completed = [];

    /// <summary>When the previous <see cref="Sample"/> returned (this process's clock; guarded by <see cref="_lock"/>).</summary>
    private long _releasedQpc;

    // Written only by the reader thread, between a CollectionStart and its CollectionStop.
    private Dictionary<SeriesKey, double>? _collecting;
    private List<GracePeriodSummary>? _collectingGracePeriods;
    private long _collectingStartQpc;

    /// <summary>Start of the previous collection: where the current one's interval (its histograms) begins. Reader thread only.</summary>
    private long _previousStartQpc;

    private volatile string? _problem;

    private EventPipeSampler(EventPipeSession session, string sessionId)
    {
        _session = session;
        _sessionId = sessionId;
        _source = new EventPipeEventSource(session.EventStream);
        _source.Dynamic.All += OnEvent;
        _reader = Task.Factory.StartNew(() => _source.Process(), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    public string? Problem => _problem;

    /// <summary>Opens the session on <paramref name="processId"/>.</summary>
    /// <exception cref="InvalidOperationException">The process has no reachable diagnostics endpoint.</exception>
    internal static EventPipeSampler Attach(int processId)
    {
        string sessionId = Guid.NewGuid().ToString("N");
        var arguments = new Dictionary<string, string>
        {
            ["SessionId"] = sessionId,
            ["Metrics"] = MeterName,
            ["RefreshInterval"] = RefreshIntervalSeconds.ToString(CultureInfo.InvariantCulture),
            ["MaxTimeSeries"] = "1000",
            ["MaxHistograms"] = "100",
        };
        var provider = new EventPipeProvider(MetricsProvider, EventLevel.Informational, TimeSeriesValuesKeyword, arguments);
        try
        {
            EventPipeSession session = new DiagnosticsClient(processId).StartEventPipeSession([provider], requestRundown: false, BufferMegabytes);
            return new EventPipeSampler(session, sessionId);
        }
        catch (Exception e) when (e is ServerNotAvailableException or DiagnosticsClientException or IOException or TimeoutException)
        {
            throw new InvalidOperationException($"Cannot open an EventPipe session on benchmark process {processId}: {e.Message}", e);
        }
    }

    public MeterSnapshot? Sample()
    {
        long requested = Stopwatch.GetTimestamp();
        var waited = Stopwatch.StartNew();
        lock (_lock)
        {
            while (true)
            {
                int fresh = _completed.FindIndex(c => c.StartQpc > requested);
                if (fresh >= 0)
                {
                    Collection chosen = _completed[fresh];
                    // Grace periods that ended since the previous sample fall in the intervals after that sample's
                    // collection, up to and including this one's. Intervals that began before the previous sample
                    // released the benchmark (plus a margin for the acknowledgment to arrive) are left out: the
                    // batches retired before that sample waited through its pause, two intervals or more with the
                    // benchmark thread blocked, and would report the diagnoser's own wait as the workload's p99.
                    long countedFrom = _releasedQpc + (long)(ReleaseMarginSeconds * Stopwatch.Frequency);
                    GracePeriodSummary gracePeriods = GracePeriodSummary.OfIntervals(_completed.Take(fresh + 1)
                        .Where(c => c.IntervalStartQpc >= countedFrom)
                        .SelectMany(c => c.GracePeriods));
                    _completed.RemoveRange(0, fresh + 1);
                    _releasedQpc = Stopwatch.GetTimestamp();
                    return new MeterSnapshot(chosen.Series, gracePeriods);
                }

                TimeSpan left = s_sampleTimeout - waited.Elapsed;
                if (_problem is not null || _reader.IsCompleted || left <= TimeSpan.Zero)
                {
                    _problem ??= _reader.IsCompleted
                        ? "The EventPipe session ended before the benchmark process published its metrics."
                        : $"The benchmark process published no metrics collection within {s_sampleTimeout.TotalSeconds:0} s.";
                    return null;
                }

                Monitor.Wait(_lock, left < TimeSpan.FromMilliseconds(200) ? left : TimeSpan.FromMilliseconds(200));
            }
        }
    }

    public void Dispose()
    {
        try
        {
            _session.Stop();
        }
        catch (Exception e) when (e is ServerNotAvailableException or IOException or EndOfStreamException or TimeoutException or DiagnosticsClientException)
        {
            // The benchmark process has exited: there is no session left to stop.
        }

        _reader.Wait(s_sampleTimeout);
        _session.Dispose();
        if (_reader.IsCompleted)
        {
            _ = _reader.Exception;
            _source.Dispose();
        }
    }

    private void OnEvent(TraceEvent e)
    {
        if (e.ProviderName != MetricsProvider)
        {
            return;
        }

        string name = e.EventName;
        if (name == "MultipleSessionsNotSupportedError")
        {
            if (Payload(e, "runningSessionId") != _sessionId)
            {
                Fail("another metrics session (dotnet-counters, dotnet-monitor) already collects from the benchmark process; only one can run at a time.");
            }

            return;
        }

        if (Payload(e, "sessionId") != _sessionId)
        {
            return;
        }

        // TraceEvent names the Start- and Stop-opcode events "Collection/Start" and "Collection/Stop".
        switch (name)
        {
            case "CollectionStart" or "Collection/Start":
                _collecting = [];
                _collectingGracePeriods = [];
#pragma warning disable CS0618 // "Discouraged": the raw target clock is exactly what the freshness test needs (see the remarks).
                _collectingStartQpc = e.TimeStampQPC;
#pragma warning restore CS0618
                return;
            case "CollectionStop" or "Collection/Stop":
                Complete();
                return;
            case "Error":
                Fail(Payload(e, "errorMessage"));
                return;
            case "ObservableInstrumentCallbackError":
                Fail("an instrument callback failed in the benchmark process: " + Payload(e, "errorMessage"));
                return;
        }

        if (_collecting is null || _collectingGracePeriods is null || Payload(e, "meterName") != MeterName)
        {
            return;
        }

        switch (name)
        {
            case "GaugeValuePublished":
                Add(e, Payload(e, "lastValue"));
                break;
            case "CounterRateValuePublished":
                // "value" is the observable counter's own (cumulative) reading; "rate" its change over the interval.
                Add(e, Payload(e, "value"));
                break;
            case "HistogramValuePublished" when Payload(e, "instrumentName") == Instruments.EpochGracePeriod:
                _collectingGracePeriods.Add(IntervalGracePeriods(e));
                break;
        }
    }

    private void Add(TraceEvent e, string valueText)
    {
        // An empty value: the series had no measurement in this collection (its owner is gone).
        if (double.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
        {
            _collecting![new SeriesKey(Payload(e, "instrumentName"), CanonicalTags(Payload(e, "tags")))] = value;
        }
    }

    private void Complete()
    {
        if (_collecting is null || _collectingGracePeriods is null)
        {
            return;
        }

        lock (_lock)
        {
            _completed.Add(new Collection(_collectingStartQpc, _previousStartQpc, _collecting, _collectingGracePeriods));
            Monitor.PulseAll(_lock);
        }

        _previousStartQpc = _collectingStartQpc;
        _collecting = null;
        _collectingGracePeriods = null;
    }

    private void Fail(string problem)
    {
        lock (_lock)
        {
            _problem ??= problem;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>One interval of the grace-period histogram: <c>count</c>, and <c>quantiles</c> as "0.5=1.2;0.95=3.4;0.99=5.6".</summary>
    private static GracePeriodSummary IntervalGracePeriods(TraceEvent e)
    {
        long count = Convert.ToInt64(e.PayloadByName("count") ?? 0, CultureInfo.InvariantCulture);
        double? p99 = null;
        foreach (string quantile in Payload(e, "quantiles").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = quantile.Split('=');
            if (parts.Length == 2 && parts[0] == "0.99" && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
            {
                p99 = value;
            }
        }

        return new GracePeriodSummary(count, p99);
    }

    /// <summary>The provider's tag text ("space=1,policy=linux,level=pte") in canonical form.</summary>
    private static string CanonicalTags(string tags) =>
        SeriesKey.CanonicalTags(tags.Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(t => t.Split('=', 2))
            .Select(kv => (kv[0], kv.Length == 2 ? kv[1] : "")));

    private static string Payload(TraceEvent e, string name) => e.PayloadByName(name)?.ToString() ?? "";

    /// <summary>One collection: when it started, where its histogram interval began (the previous collection's start), what it read.</summary>
    private sealed record Collection(long StartQpc, long IntervalStartQpc, Dictionary<SeriesKey, double> Series, List<GracePeriodSummary> GracePeriods);
}
