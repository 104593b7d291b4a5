using System.Numerics;

namespace FastReclaim.BenchmarkDotNet;

/// <summary>
/// Counts grace-period durations in log-linear buckets (64 per power of two of nanoseconds), so that a benchmark that
/// ends millions of grace periods costs a fixed 32 KiB and its 99th percentile is known to within 1.6%. Not
/// thread-safe: the sampler records under its lock.
/// </summary>
internal sealed class GracePeriodHistogram
{
    private const int SubBucketBits = 6;
    private const int SubBuckets = 1 << SubBucketBits;

    /// <summary>Values below 2^6 ns have a bucket each; above, 64 buckets per power of two up to 2^63 ns.</summary>
    private readonly long[] _counts = new long[(64 - SubBucketBits + 1) * SubBuckets];

    internal long Count { get; private set; }

    internal void Record(double milliseconds)
    {
        long nanoseconds = milliseconds >= long.MaxValue / 1e6 ? long.MaxValue : Math.Max(0, (long)(milliseconds * 1e6));
        _counts[IndexOf(nanoseconds)]++;
        Count++;
    }

    /// <summary>
    /// The nearest-rank 99th percentile, as the upper end of the bucket it falls in (so never below the true value,
    /// and at most one bucket width, 1.6%, above it).
    /// </summary>
    internal GracePeriodSummary Summary()
    {
        if (Count == 0)
        {
            return GracePeriodSummary.None;
        }

        long rank = (long)Math.Ceiling(0.99 * Count);
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return new GracePeriodSummary(Count, UpperNanosecondsOf(i) / 1e6);
            }
        }

        throw new InvalidOperationException("The bucket counts do not add up to the histogram's count.");
    }

    internal static int IndexOf(long nanoseconds)
    {
        if (nanoseconds < SubBuckets)
        {
            return (int)nanoseconds;
        }

        int exponent = 63 - BitOperations.LeadingZeroCount((ulong)nanoseconds);
        int shift = exponent - SubBucketBits;
        return ((shift + 1) << SubBucketBits) + (int)((nanoseconds >> shift) & (SubBuckets - 1));
    }

    /// <summary>The largest value that falls in bucket <paramref name="index"/>.</summary>
    internal static double UpperNanosecondsOf(int index)
    {
        if (index < SubBuckets)
        {
            return index;
        }

        int shift = (index >> SubBucketBits) - 1;
        long mantissa = SubBuckets + (index & (SubBuckets - 1));
        return ((double)(mantissa + 1) * Math.Pow(2, shift)) - 1;
    }
}
