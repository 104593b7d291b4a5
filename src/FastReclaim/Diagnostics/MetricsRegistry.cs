using System.Diagnostics.Metrics;

namespace FastReclaim.Diagnostics;

/// <summary>
/// The live owners (epoch domains or address spaces) that the meter's observable instruments read when a
/// listener collects. Owners register on construction and unregister on Dispose; the registry holds them
/// weakly, so an owner that is never disposed is still collected and simply drops out of the readings.
/// </summary>
/// <remarks>
/// Registration, unregistration and every collection take the same lock, so a reading never runs on an
/// owner whose Dispose has returned: Dispose waits for a collection in progress, and a collection that
/// starts afterwards no longer finds the owner. The lock is taken only on construction, Dispose and when a
/// listener collects (about once a second) — never on an owner's hot path.
/// </remarks>
internal sealed class MetricsRegistry<TSource>
    where TSource : class
{
    private readonly Lock _lock = new();
    private readonly List<(int Id, WeakReference<TSource> Source)> _entries = [];
    private int _lastId;

    /// <summary>Adds <paramref name="source"/> (when diagnostics are supported) and returns its handle.</summary>
    internal MetricsRegistration Register(TSource source)
    {
        int id = Interlocked.Increment(ref _lastId);
        if (!DiagnosticsSwitch.IsSupported)
        {
            return new MetricsRegistration(id, null);
        }

        lock (_lock)
        {
            _entries.Add((id, new WeakReference<TSource>(source)));
        }

        return new MetricsRegistration(id, () => Unregister(id));
    }

    /// <summary>
    /// Calls <paramref name="measure"/> for every live owner with its id and returns what it added; drops
    /// the entries of owners the GC has collected.
    /// </summary>
    internal List<Measurement<long>> Collect(Action<TSource, int, List<Measurement<long>>> measure)
    {
        var measurements = new List<Measurement<long>>();
        lock (_lock)
        {
            _entries.RemoveAll(e => !e.Source.TryGetTarget(out _));
            foreach ((int id, WeakReference<TSource> weak) in _entries)
            {
                if (weak.TryGetTarget(out TSource? source))
                {
                    measure(source, id, measurements);
                }
            }
        }

        return measurements;
    }

    private void Unregister(int id)
    {
        lock (_lock)
        {
            _entries.RemoveAll(e => e.Id == id);
        }
    }
}
