using System.Diagnostics.Metrics;
using static FastReclaim.FastReclaimDiagnostics;

namespace FastReclaim.BenchmarkDotNet;

/// <summary>
/// Samples the meter of this process with a <see cref="MeterListener"/> (the in-process toolchains). Observable
/// instruments are read only when <see cref="Sample"/> polls them; grace periods are recorded as they happen, the one
/// cost the listener adds to a benchmark that uses FastReclaim. With no FastReclaim in the process nothing is ever
/// enabled and nothing is called.
/// </summary>
internal sealed class InProcessSampler : IMeterSampler
{
    private readonly MeterListener _listener = new();
    private readonly Lock _gracePeriodsLock = new();
    private GracePeriodHistogram _gracePeriods = new();

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

        lock (_gracePeriodsLock)
        {
            _gracePeriods.Record(value);
        }
    }
}
