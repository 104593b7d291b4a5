using System.Diagnostics;
using System.Diagnostics.Metrics;
using static FastReclaim.FastReclaimDiagnostics;

namespace FastReclaim.BenchmarkDotNet;

/// <summary>
/// Samples the meter of this process with a <see cref="MeterListener"/> (the in-process toolchains). Observable
/// instruments are read only when <see cref="Sample"/> polls them; grace periods are recorded as they happen (those
/// that began before the previous sample are dropped), the one cost the listener adds to a benchmark that uses
/// FastReclaim. With no FastReclaim in the process nothing is ever
/// enabled and nothing is called.
/// </summary>
internal sealed class InProcessSampler : IMeterSampler
{
    private readonly MeterListener _listener = new();
    private readonly Lock _gracePeriodsLock = new();
    private GracePeriodHistogram _gracePeriods = new();

    /// <summary>When the previous <see cref="Sample"/> ended; grace periods that began before it are not the workload's.</summary>
    private long _sampledQpc;

    /// <summary>Set only on the sampling thread, during <see cref="MeterListener.RecordObservableInstruments"/>, which reports synchronously.</summary>
    private Dictionary<SeriesKey, double>? _reading;

    internal InProcessSampler()
    {
        _listener.InstrumentPublished = static (instrument, listener) =>
        {
            // Sweep durations are not reported: enabling them would only make sweeps time themselves.
            if (instrument.Meter.Name == MeterName && instrument.Name != Instruments.SweepDuration)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => OnObserved(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, _, _) => OnRecorded(instrument, value));
        _sampledQpc = Stopwatch.GetTimestamp();
        _listener.Start();
    }

    public string? Problem => null;

    public MeterSnapshot? Sample()
    {
        _reading = [];
        _listener.RecordObservableInstruments();
        Dictionary<SeriesKey, double> reading = _reading;
        _reading = null;

        GracePeriodHistogram gracePeriods;
        lock (_gracePeriodsLock)
        {
            gracePeriods = _gracePeriods;
            _gracePeriods = new GracePeriodHistogram();
            _sampledQpc = Stopwatch.GetTimestamp();
        }

        return new MeterSnapshot(reading, gracePeriods.Summary());
    }

    public void Dispose() => _listener.Dispose();

    private void OnObserved(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (_reading is null)
        {
            return;
        }

        var pairs = new List<(string, string)>(tags.Length);
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            pairs.Add((tag.Key, Convert.ToString(tag.Value, System.Globalization.CultureInfo.InvariantCulture) ?? ""));
        }

        _reading[new SeriesKey(instrument.Name, SeriesKey.CanonicalTags(pairs))] = value;
    }

    private void OnRecorded(Instrument instrument, double value)
    {
        if (instrument.Name != Instruments.EpochGracePeriod)
        {
            return;
        }

        // The library records a grace period as it ends, so it began value milliseconds ago.
        long began = Stopwatch.GetTimestamp() - (long)(value * Stopwatch.Frequency / 1000);
        lock (_gracePeriodsLock)
        {
            if (began >= _sampledQpc)
            {
                _gracePeriods.Record(value);
            }
        }
    }
}
