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
