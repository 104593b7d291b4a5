using FastReclaim.PerfGate;

namespace FastReclaim.Tests.PerfGate;

public class StatisticsTests
{
    [Fact]
    public void Mann_Whitney_Is_Exact_When_Every_X_Exceeds_Every_Y()
    {
        // x = {4,5,6} above y = {1,2,3}: U = 9 is the largest of the C(6,3) = 20 equally likely rank splits,
        // so the exact one-sided p is 1/20 (the normal approximation said 0.0404).
        Assert.Equal(0.05, Statistics.MannWhitneyGreater([4, 5, 6], [1, 2, 3]), 9);
    }

    [Fact]
    public void Mann_Whitney_Counts_The_Exact_Tail()
    {
        // x = {2,4,6}, y = {1,3,5}: U = 1 + 2 + 3 = 6. Of the 20 splits, U = 6, 7, 8, 9 occur 3, 2, 1, 1 times: p = 7/20.
        Assert.Equal(0.35, Statistics.MannWhitneyGreater([2, 4, 6], [1, 3, 5]), 9);
    }

    [Fact]
    public void Mann_Whitney_Is_One_Sided()
    {
        Assert.True(Statistics.MannWhitneyGreater([1, 2, 3, 4, 5, 6, 7, 8], [11, 12, 13, 14, 15, 16, 17, 18]) > 0.99);
    }

    [Fact]
    public void Mann_Whitney_With_All_Values_Tied_Finds_Nothing()
    {
        Assert.True(Statistics.MannWhitneyGreater([2, 2, 2], [2, 2, 2]) >= 0.5);
    }

    [Fact]
    public void Mann_Whitney_Rejects_An_Empty_Sample() =>
        Assert.Throws<ArgumentException>(() => Statistics.MannWhitneyGreater([], [1, 2]));

    [Fact]
    public void Median_Of_Even_Count_Averages_The_Middle_Pair() =>
        Assert.Equal(2.5, Statistics.Median([4, 1, 3, 2]));

    [Fact]
    public void Median_Of_Nothing_Throws() =>
        Assert.Throws<ArgumentException>(() => Statistics.Median([]));

    [Theory]
    [InlineData(0.01, 5)] // 1/252 < 0.01 <= 1/70
    [InlineData(0.05, 4)] // 1/70 < 0.05 <= 1/20
    [InlineData(0.001, 7)] // 1/3432 < 0.001 <= 1/924
    public void The_Fewest_Equal_Samples_That_Can_Reach_Alpha(double alpha, int expected)
    {
        int n = Statistics.SmallestSignificantEqualSamples(alpha);

        Assert.Equal(expected, n);
        double[] low = [.. Enumerable.Range(0, n).Select(i => (double)i)];
        double[] high = [.. low.Select(v => v + 100)];
        Assert.True(Statistics.MannWhitneyGreater(high, low) < alpha);
        Assert.True(Statistics.MannWhitneyGreater(high[1..], low[1..]) >= alpha);
    }

    [Fact]
    public void The_Fewest_Samples_Rejects_An_Alpha_Outside_Zero_And_One() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Statistics.SmallestSignificantEqualSamples(1));
}
