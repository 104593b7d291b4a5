using System.Globalization;
using ScottPlot;

namespace FastReclaim.PerfGate;

/// <summary>
/// The report's PNG: one horizontal bar per case (baselines left out, they are 1 by definition), the time
/// ratio to its in-class baseline on a log scale so that "2x faster" and "2x slower" are the same length,
/// one colour per suite.
/// </summary>
internal static class RatioChart
{
    private const int Width = 1400;
    private const int PixelsPerBar = 26;
    private const int MarginPixels = 190;

    private static readonly double[] RatioTicks = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100];

    /// <param name="cases">Each case with its ratio and the name of the baseline it was divided by.</param>
    /// <param name="path">The PNG to write.</param>
    public static void Save(IReadOnlyList<(BenchmarkResult Result, double Ratio, string Baseline)> cases, string path)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        string[] suites = [.. cases.Select(c => c.Result.Suite).Distinct()];
        var labels = new ScottPlot.TickGenerators.NumericManual();
        var bars = new List<Bar>();

        // Top to bottom in report order: the first case gets the highest position.
        for (int i = 0; i < cases.Count; i++)
        {
            var (result, ratio, baseline) = cases[i];
            double position = cases.Count - 1 - i;
            bars.Add(new Bar
            {
                Position = position,
                Value = Math.Log10(ratio),
                FillColor = palette.GetColor(Array.IndexOf(suites, result.Suite)),
                Label = ratio.ToString("0.###", CultureInfo.InvariantCulture) + "×",
            });
            labels.AddMajor(position, $"{result.Suite}.{result.DisplayName} vs {baseline}");
        }
        var barPlot = plot.Add.Bars(bars);
        barPlot.Horizontal = true;
        barPlot.ValueLabelStyle.FontSize = 11;
        plot.Axes.Left.TickGenerator = labels;
        plot.Axes.Left.TickLabelStyle.FontSize = 11;

        double lowest = Math.Min(0, cases.Min(c => Math.Log10(c.Ratio)));
        double highest = Math.Max(0, cases.Max(c => Math.Log10(c.Ratio)));
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (double tick in RatioTicks.Where(t => Math.Log10(t) >= lowest - 1 && Math.Log10(t) <= highest + 1))
        {
            ticks.AddMajor(Math.Log10(tick), tick.ToString(CultureInfo.InvariantCulture) + "×");
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        double pad = Math.Max(0.25, (highest - lowest) * 0.12); // room for the value labels
        plot.Axes.SetLimits(lowest - pad, highest + pad, -0.75, cases.Count - 0.25);

        var one = plot.Add.VerticalLine(0);
        one.Color = Colors.Black;
        one.LineWidth = 1.5f;

        foreach (var (suite, index) in suites.Select((s, i) => (s, i)))
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = suite, FillColor = palette.GetColor(index) });
        }
        plot.ShowLegend(Edge.Bottom);
        plot.Title("Time per operation ÷ its suite's baseline (log scale; left of 1× is faster)");
        plot.XLabel("ratio to the in-class [Benchmark(Baseline = true)]");

        plot.SavePng(path, Width, MarginPixels + PixelsPerBar * cases.Count);
    }
}
