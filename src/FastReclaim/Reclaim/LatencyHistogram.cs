using System.Diagnostics;
using System.Numerics;

namespace FastReclaim.Reclaim;

/// <summary>
/// Grace-period latencies in power-of-two microsecond buckets: bucket <c>b</c> holds [2^(b-1), 2^b) µs, bucket
/// 0 holds under 1 µs. A percentile is reported as its bucket's upper bound, so it is exact to a factor of two
/// and never optimistic. Written by one collector at a time (under the domain's collect lock); read racily.
/// </summary>
internal sealed class LatencyHistogram
{
    /// <summary>2^40 µs is twelve days: nothing waits longer.</summary>
    private const int Buckets = 41;

    private readonly long[] _counts = new long[Buckets];
    private long _total;
    private long _maxTicks;

    internal long Count => Volatile.Read(ref _total);

    internal TimeSpan Max => Stopwatch.GetElapsedTime(0, Volatile.Read(ref _maxTicks));

    internal void Record(long elapsedTicks)
    {
        long micros = (long)(elapsedTicks * (double)TimeSpan.TicksPerSecond / Stopwatch.Frequency / TimeSpan.TicksPerMicrosecond);
        int bucket = Math.Min(Buckets - 1, 64 - BitOperations.LeadingZeroCount((ulong)micros));
        _counts[bucket]++;
        if (elapsedTicks > _maxTicks)
        {
            Volatile.Write(ref _maxTicks, elapsedTicks);
        }

        Volatile.Write(ref _total, _total + 1);
    }

    /// <summary>Upper bound of the bucket holding the <paramref name="fraction"/> quantile; zero with no samples.</summary>
    internal TimeSpan Percentile(double fraction)
    {
        long total = Count;
        if (total == 0)
        {
            return TimeSpan.Zero;
        }

        long rank = (long)Math.Ceiling(fraction * total);
        long seen = 0;
        for (int b = 0; b < Buckets; b++)
        {
            seen += Volatile.Read(ref _counts[b]);
            if (seen >= rank)
            {
                return TimeSpan.FromMicroseconds(1L << b);
            }
        }

        return Max;
    }
}
