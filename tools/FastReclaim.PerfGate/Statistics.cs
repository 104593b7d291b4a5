using Perfolizer.Mathematics.SignificanceTesting.Base;
using Perfolizer.Mathematics.SignificanceTesting.MannWhitney;
using Perfolizer.Metrology;
using Pragmastat;

namespace FastReclaim.PerfGate;

/// <summary>The few statistics the gate needs: medians and a one-sided Mann-Whitney U test.</summary>
internal static class Statistics
{
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
        {
            throw new ArgumentException("the median of no values is undefined", nameof(values));
        }
        double[] sorted = [.. values.Order()];
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    /// <summary>
    /// The fewest values per sample (two samples of equal size) with which the one-sided Mann-Whitney test can reach
    /// <paramref name="alpha"/>: its smallest p-value, all of one sample above all of the other, is 1 / C(2n, n)
    /// (5 a side: 1/252, below 0.01; 4 a side: 1/70, above it).
    /// </summary>
    public static int SmallestSignificantEqualSamples(double alpha)
    {
        if (!(alpha > 0 && alpha < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be in (0, 1)");
        }
        double arrangements = 2; // C(2, 1)
        int n = 1;
        while (1 / arrangements >= alpha)
        {
            n++;
            arrangements = arrangements * (2 * n) * (2 * n - 1) / ((double)n * n); // C(2n, n) from C(2n - 2, n - 1)
        }
        return n;
    }

    /// <summary>
    /// p-value of the one-sided Mann-Whitney U test whose alternative is "values drawn from <paramref name="x"/>
    /// tend to be larger than values drawn from <paramref name="y"/>", from Perfolizer (the statistics library
    /// BenchmarkDotNet ships with): the exact distribution of U (Löffler's recurrence) for the sample sizes the
    /// gate uses, a normal approximation only past them.
    /// </summary>
    public static double MannWhitneyGreater(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count == 0 || y.Count == 0)
        {
            throw new ArgumentException($"both samples need values (got {x.Count} and {y.Count})");
        }
        return MannWhitneyTest.Instance.Perform(new Sample(x), new Sample(y), AlternativeHypothesis.Greater, Threshold.Zero).PValue;
    }
}
