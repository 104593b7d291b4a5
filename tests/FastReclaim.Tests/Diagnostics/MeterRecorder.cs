using System.Diagnostics.Metrics;

namespace FastReclaim.Tests.Diagnostics;

/// <summary>An in-process listener on the FastReclaim meter that keeps every measurement it sees.</summary>
internal sealed class MeterRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Lock _lock = new();
    private readonly List<(string Instrument, double Value, Dictionary<string, string> Tags)> _measurements = [];

    public MeterRecorder()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == FastReclaimDiagnostics.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        _listener.Start();
    }

    /// <summary>Polls every observable instrument once, as a collecting exporter does.</summary>
    public void Collect() => _listener.RecordObservableInstruments();

    /// <summary>Values of <paramref name="instrument"/> whose tags include all of <paramref name="tags"/>.</summary>
    public List<double> Values(string instrument, params (string Key, string Value)[] tags)
    {
        lock (_lock)
        {
            return _measurements
                .Where(m => m.Instrument == instrument && tags.All(t => m.Tags.TryGetValue(t.Key, out string? v) && v == t.Value))
                .Select(m => m.Value)
                .ToList();
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _measurements.Clear();
        }
    }

    public void Dispose() => _listener.Dispose();

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var tagMap = new Dictionary<string, string>();
        foreach (KeyValuePair<string, object?> tag in tags)
        {
            tagMap[tag.Key] = tag.Value?.ToString() ?? "";
        }

        lock (_lock)
        {
            _measurements.Add((instrument.Name, value, tagMap));
        }
    }
}
