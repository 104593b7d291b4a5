using FastReclaim.BenchmarkDotNet;

namespace FastReclaim.Tests.BenchmarkDotNet;

public class GracePeriodHistogramTests
{
    [Fact]
    public void P99_Is_Never_Below_The_Nearest_Rank_Value_And_At_Most_One_Bucket_Above()
    {
        var random = new Random(20);
        foreach (int count in new[] { 1, 2, 99, 100, 101, 1000, 12345 })
        {
            var histogram = new GracePeriodHistogram();
            var values = new List<double>();
            for (int i = 0; i < count; i++)
            {
                double ms = Math.Exp((random.NextDouble() * 16) - 10); // 45 ns .. 400 ms
                values.Add(ms);
                histogram.Record(ms);
            }

            values.Sort();
            double exact = values[(int)Math.Ceiling(0.99 * count) - 1];
            GracePeriodSummary summary = histogram.Summary();

            Assert.Equal(count, summary.Count);
            double p99 = Assert.NotNull(summary.P99Milliseconds);
            Assert.InRange(p99, Math.Floor(exact * 1e6) / 1e6, (exact * (1 + (1.0 / 64))) + 1e-6);
        }
    }

    [Fact]
    public void Bucket_Upper_Ends_Hold_Every_Value_Of_Their_Bucket()
    {
        foreach (long ns in new long[] { 0, 1, 63, 64, 65, 127, 128, 129, 1000, 4095, 4096, 1L << 40, (1L << 40) + 12345, long.MaxValue })
        {
            int index = GracePeriodHistogram.IndexOf(ns);
            Assert.True(GracePeriodHistogram.UpperNanosecondsOf(index) >= ns, $"{ns} ns above its bucket's upper end");
            if (index > 0)
            {
                Assert.True(GracePeriodHistogram.UpperNanosecondsOf(index - 1) < ns, $"{ns} ns fits the bucket below");
            }
        }
    }

    [Fact]
    public void An_Empty_Histogram_Has_No_P99()
    {
        Assert.Equal(GracePeriodSummary.None, new GracePeriodHistogram().Summary());
    }

    [Fact]
    public void Intervals_Combine_To_Their_Total_Count_And_Largest_P99()
    {
        GracePeriodSummary combined = GracePeriodSummary.OfIntervals(
            [new GracePeriodSummary(0, null), new GracePeriodSummary(10, 0.5), new GracePeriodSummary(3, 2.5), new GracePeriodSummary(5, 1.0)]);

        Assert.Equal(new GracePeriodSummary(18, 2.5), combined);
        Assert.Equal(GracePeriodSummary.None, GracePeriodSummary.OfIntervals([new GracePeriodSummary(0, null)]));
    }
}
