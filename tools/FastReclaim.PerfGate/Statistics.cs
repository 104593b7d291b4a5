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
    /// tend to be larger than values drawn from <paramref name="y"/>". Normal approximation with the tie
    /// correction and a continuity correction, the way R's <c>wilcox.test(exact = FALSE)</c> computes it; it
    /// is close to the exact test from about eight values a side, and the gate asks for more.
    /// </summary>
    public static double MannWhitneyGreater(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count == 0 || y.Count == 0)
        {
            throw new ArgumentException($"both samples need values (got {x.Count} and {y.Count})");
        }
        int n1 = x.Count, n2 = y.Count, n = n1 + n2;
        var pooled = x.Select(v => (Value: v, FromX: true)).Concat(y.Select(v => (Value: v, FromX: false)))
            .OrderBy(p => p.Value).ToArray();

        double rankSumX = 0, tieTerm = 0;
        for (int start = 0; start < n;)
        {
            int end = start;
            while (end + 1 < n && pooled[end + 1].Value == pooled[start].Value)
            {
                end++;
            }
            double averageRank = (start + end + 2) / 2.0; // ranks are 1-based
            int tied = end - start + 1;
            tieTerm += (double)tied * tied * tied - tied;
            for (int i = start; i <= end; i++)
            {
                if (pooled[i].FromX)
                {
                    rankSumX += averageRank;
                }
            }
            start = end + 1;
        }

        double u = rankSumX - n1 * (n1 + 1) / 2.0;
        double mean = n1 * (double)n2 / 2;
        double variance = n1 * (double)n2 / 12 * (n + 1 - tieTerm / (n * (double)(n - 1)));
        if (variance <= 0)
        {
            return u > mean ? 0 : 1;
        }
        double z = (u - mean - 0.5) / Math.Sqrt(variance);
        return UpperTailOfNormal(z);
    }

    /// <summary>P(Z &gt; z) for a standard normal Z.</summary>
    public static double UpperTailOfNormal(double z) => Erfc(z / Math.Sqrt(2)) / 2;

    /// <summary>
    /// Complementary error function, Chebyshev fit with fractional error below 1.2e-7 everywhere
    /// (Numerical Recipes, <c>erfcc</c>): good to the far tail where the gate's p-values live.
    /// </summary>
    private static double Erfc(double x)
    {
        double z = Math.Abs(x);
        double t = 1 / (1 + z / 2);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
            + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
            + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }
}
