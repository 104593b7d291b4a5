using FastReclaim.Cli.Common;
using ScottPlot;

namespace FastReclaim.Cli.Demo;

/// <summary>The demo's PNG: page-table bytes over the waves, one line per policy.</summary>
internal static class DemoChart
{
    private const int Width = 1000;
    private const int Height = 560;
    private const double BytesPerMib = 1 << 20;

    /// <summary>Room above the highest line for the legend, so it never hides a line.</summary>
    private const double HeadroomForLegend = 1.4;

    public static void Write(string path, IReadOnlyList<DemoResult> results, DemoSettings settings)
    {
        var plot = new Plot();
        foreach (DemoResult result in results)
        {
            double[] seconds = [.. result.Samples.Select(s => s.Seconds)];
            double[] mib = [.. result.Samples.Select(s => s.PageTableBytes / BytesPerMib)];
            var line = plot.Add.ScatterLine(seconds, mib);
            line.LegendText = $"{ReclaimPolicyNames.Format(result.Policy)} (ends at {ByteSize.Format(result.Final.PageTableBytes)})";
            line.LineWidth = 2;
        }

        plot.Title($"Page-table bytes while zapping and refaulting a {settings.Gib} GiB sparse address space");
        plot.XLabel("seconds since the waves started");
        plot.YLabel("page-table bytes (MiB, VmPTE)");
        plot.Axes.SetLimitsY(0, results.Max(r => r.Samples.Max(s => s.PageTableBytes)) / BytesPerMib * HeadroomForLegend);
        plot.ShowLegend(Alignment.UpperRight);

        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }

        plot.SavePng(path, Width, Height);
    }
}
