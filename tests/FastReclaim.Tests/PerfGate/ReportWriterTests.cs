using FastReclaim.PerfGate;

namespace FastReclaim.Tests.PerfGate;

public sealed class ReportWriterTests : IDisposable
{
    private static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    private readonly string directory = Directory.CreateTempSubdirectory("perfgate-report-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void Report_Has_A_Table_Per_Suite_With_Ratios_And_Changes_And_A_Png_Chart()
    {
        const string Baseline = "B.Scan.Scalar", Case = "B.Scan.Simd", Pin = "B.Epoch.Pin", Guard = "B.Epoch.Guard";
        var reference = new ResultSet(
        [
            new BenchmarkResult(Baseline, "Scan", "Scalar", "", Baseline, [100, 100, 100], 0),
            new BenchmarkResult(Case, "Scan", "Simd", "", Baseline, [10, 10, 10], 0),
        ], "reference");
        var results = new ResultSet(
        [
            new BenchmarkResult(Baseline, "Scan", "Scalar", "", Baseline, [100, 100, 100], 0),
            new BenchmarkResult(Case, "Scan", "Simd", "", Baseline, [20, 20, 20], 0),
            new BenchmarkResult(Pin, "Epoch", "Pin", "", Pin, [4, 4, 4], 0),
            new BenchmarkResult(Guard, "Epoch", "Guard", "", Pin, [1, 1, 1], 24),
        ], "results");

        ReportWriter.Write(results, reference, directory);

        string markdown = File.ReadAllText(Path.Combine(directory, ReportWriter.MarkdownFile));
        Assert.Contains("## Scan", markdown, StringComparison.Ordinal);
        Assert.Contains("## Epoch", markdown, StringComparison.Ordinal);
        Assert.Contains("| Simd | 20.00 | 0.200 | 0 | 0.100 | +100.0% |", markdown, StringComparison.Ordinal);
        Assert.Contains("| Guard | 1.00 | 0.250 | 24 | - | - |", markdown, StringComparison.Ordinal);
        Assert.Contains("| **Scalar** (baseline) |", markdown, StringComparison.Ordinal);
        byte[] png = File.ReadAllBytes(Path.Combine(directory, ReportWriter.ChartFile));
        Assert.Equal(PngSignature, png.Take(PngSignature.Length));
    }
}
