using FastReclaim.PerfGate;

namespace FastReclaim.Tests.PerfGate;

public class StatisticsTests
{
    [Fact]
    public void Mann_Whitney_Matches_The_Normal_Approximation_Worked_By_Hand()
    {
        // x = {4,5,6} all above y = {1,2,3}: U = 9, mean 4.5, variance 3*3/12*7 = 5.25,
        // z = (9 - 4.5 - 0.5) / sqrt(5.25) = 1.7457, P(Z > z) = 0.04043 (R: wilcox.test(exact=FALSE) gives the same).
        double p = Statistics.MannWhitneyGreater([4, 5, 6], [1, 2, 3]);

        Assert.Equal(0.04043, p, 4);
    }

    [Fact]
    public void Mann_Whitney_Is_One_Sided()
    {
        Assert.True(Statistics.MannWhitneyGreater([1, 2, 3, 4, 5, 6, 7, 8], [11, 12, 13, 14, 15, 16, 17, 18]) > 0.99);
    }

    [Fact]
    public void Mann_Whitney_With_All_Values_Tied_Finds_Nothing()
    {
        Assert.Equal(1, Statistics.MannWhitneyGreater([2, 2, 2], [2, 2, 2]));
    }

    [Fact]
    public void Mann_Whitney_Tie_Correction_Uses_Average_Ranks()
    {
        // x = {2,3}, y = {1,2}: ranks 1, 2.5, 2.5, 4; R_x = 6.5, U = 3.5, mean 2,
        // variance 2*2/12 * (5 - (8 - 2)/(4*3)) = 1.5, z = (3.5 - 2 - 0.5)/sqrt(1.5) = 0.8165, p = 0.20711.
        Assert.Equal(0.20711, Statistics.MannWhitneyGreater([2, 3], [1, 2]), 4);
    }

    [Theory]
    [InlineData(0.0, 0.5)]
    [InlineData(1.959964, 0.025)]
    [InlineData(-1.959964, 0.975)]
    [InlineData(3.090232, 0.001)]
    public void Upper_Tail_Of_Normal_Matches_Tables(double z, double tail) =>
        Assert.Equal(tail, Statistics.UpperTailOfNormal(z), 6);

    [Fact]
    public void Median_Of_Even_Count_Averages_The_Middle_Pair() =>
        Assert.Equal(2.5, Statistics.Median([4, 1, 3, 2]));

    [Fact]
    public void Median_Of_Nothing_Throws() =>
        Assert.Throws<ArgumentException>(() => Statistics.Median([]));
}
