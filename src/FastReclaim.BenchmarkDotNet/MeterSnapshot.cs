using static FastReclaim.FastReclaimDiagnostics;

namespace FastReclaim.BenchmarkDotNet;

/// <summary>
/// Every FastReclaim observable instrument read at one instant, one value per series, plus the grace periods that
/// ended since the previous snapshot of the same sampler.
/// </summary>
/// <param name="Series">
/// Value per (instrument name, tags) series. Tags are canonical: <c>key=value</c> pairs sorted by key and joined with
/// commas, so an in-process and an EventPipe reading of the same series have the same key.
/// </param>
/// <param name="GracePeriods">Grace periods that ended since the sampler's previous snapshot.</param>
internal sealed record MeterSnapshot(IReadOnlyDictionary<SeriesKey, double> Series, GracePeriodSummary GracePeriods)
{
    /// <summary>A snapshot that saw no FastReclaim series and no grace period.</summary>
    internal static readonly MeterSnapshot Empty = new(new Dictionary<SeriesKey, double>(), GracePeriodSummary.None);

    /// <summary>The series of <paramref name="instrument"/>.</summary>
    internal IEnumerable<KeyValuePair<SeriesKey, double>> Of(string instrument) =>
        Series.Where(s => string.Equals(s.Key.Instrument, instrument, StringComparison.Ordinal));

    /// <summary>The owner of a series: its <c>space=N</c> or <c>domain=N</c> tag ("" when it has neither).</summary>
    internal static string OwnerOf(SeriesKey key) =>
        key.Tags.Split(',').FirstOrDefault(t =>
            t.StartsWith(Tags.Space + "=", StringComparison.Ordinal) || t.StartsWith(Tags.Domain + "=", StringComparison.Ordinal)) ?? "";
}

/// <summary>One time series of an instrument: its name and its canonical tags (see <see cref="MeterSnapshot"/>).</summary>
internal readonly record struct SeriesKey(string Instrument, string Tags)
{
    /// <summary>The canonical tag string of <paramref name="tags"/>: <c>key=value</c> pairs sorted by key, comma-joined.</summary>
    internal static string CanonicalTags(IEnumerable<(string Key, string Value)> tags) =>
        string.Join(',', tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => t.Key + "=" + t.Value));
}

/// <summary>Grace periods that ended in some span of time: how many, and their 99th percentile.</summary>
/// <param name="Count">Grace periods that ended.</param>
/// <param name="P99Milliseconds">
/// Their 99th percentile in milliseconds, never below the true one: in process, the upper end of the histogram bucket
/// the nearest-rank percentile falls in (see <see cref="GracePeriodHistogram"/>); out of process, where only
/// per-interval percentiles are published, the largest interval 99th percentile (at most 1% of each interval's grace
/// periods exceed it). <see langword="null"/> when <paramref name="Count"/> is 0.
/// </param>
internal readonly record struct GracePeriodSummary(long Count, double? P99Milliseconds)
{
    internal static readonly GracePeriodSummary None = new(0, null);

    /// <summary>Grace periods of consecutive intervals, each with its own count and 99th percentile.</summary>
    internal static GracePeriodSummary OfIntervals(IEnumerable<GracePeriodSummary> intervals)
    {
        long count = 0;
        double? p99 = null;
        foreach (GracePeriodSummary interval in intervals)
        {
            count += interval.Count;
            if (interval.P99Milliseconds is double intervalP99)
            {
                p99 = Math.Max(p99 ?? intervalP99, intervalP99);
            }
        }

        return count == 0 ? None : new GracePeriodSummary(count, p99);
    }
}
