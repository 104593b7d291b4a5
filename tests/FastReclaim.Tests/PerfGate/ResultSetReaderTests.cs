using FastReclaim.PerfGate;

namespace FastReclaim.Tests.PerfGate;

public sealed class ResultSetReaderTests : IDisposable
{
    // Trimmed from a real BenchmarkDotNet 0.15 "-report-full.json": only the fields the gate reads, plus
    // measurements of every other stage that it must ignore.
    private const string Report = """
        {
          "Title": "Bench.ScanBenchmarks-20261125",
          "HostEnvironmentInfo": { "ProcessorName": "AMD EPYC", "LogicalCoreCount": 2, "OsVersion": "Linux", "RuntimeVersion": ".NET 10.0.12" },
          "Benchmarks": [
            {
              "DisplayInfo": "ScanBenchmarks.ScalarLoop: Quick [Size=4096]",
              "Type": "ScanBenchmarks", "Method": "ScalarLoop", "Parameters": "Size=4096",
              "FullName": "Bench.ScanBenchmarks.ScalarLoop(Size: 4096)",
              "Memory": { "BytesAllocatedPerOperation": 0 },
              "Measurements": [
                { "IterationMode": "Workload", "IterationStage": "Pilot", "Operations": 100, "Nanoseconds": 99999 },
                { "IterationMode": "Overhead", "IterationStage": "Actual", "Operations": 1000, "Nanoseconds": 1000 },
                { "IterationMode": "Workload", "IterationStage": "Actual", "Operations": 1000, "Nanoseconds": 151000 },
                { "IterationMode": "Workload", "IterationStage": "Result", "Operations": 1000, "Nanoseconds": 150000 },
                { "IterationMode": "Workload", "IterationStage": "Result", "Operations": 1000, "Nanoseconds": 160000 }
              ]
            },
            {
              "DisplayInfo": "ScanBenchmarks.IsZero: Quick [Size=4096]",
              "Type": "ScanBenchmarks", "Method": "IsZero", "Parameters": "Size=4096",
              "FullName": "Bench.ScanBenchmarks.IsZero(Size: 4096)",
              "Memory": { "TotalOperations": 4096, "BytesAllocatedPerOperation": 24 },
              "Statistics": { "OriginalValues": [10.0, 11.0] }
            },
            {
              "DisplayInfo": "ScanBenchmarks.Failed: Quick",
              "Type": "ScanBenchmarks", "Method": "Failed", "Parameters": "",
              "FullName": "Bench.ScanBenchmarks.Failed",
              "Statistics": null, "Memory": null
            },
            {
              "DisplayInfo": "ScanBenchmarks.Jobs: Fast", "Type": "ScanBenchmarks", "Method": "Jobs", "Parameters": "",
              "FullName": "Bench.ScanBenchmarks.Jobs", "Statistics": { "OriginalValues": [5.0] }
            },
            {
              "DisplayInfo": "ScanBenchmarks.Jobs: Slow", "Type": "ScanBenchmarks", "Method": "Jobs", "Parameters": "",
              "FullName": "Bench.ScanBenchmarks.Jobs", "Statistics": { "OriginalValues": [20.0] }
            }
          ]
        }
        """;

    private const string Baselines = """
        { "Benchmarks": [
            { "DisplayInfo": "ScanBenchmarks.ScalarLoop: Quick [Size=4096]", "Name": "Bench.ScanBenchmarks.ScalarLoop(Size: 4096)", "Baseline": "Bench.ScanBenchmarks.ScalarLoop(Size: 4096)" },
            { "DisplayInfo": "ScanBenchmarks.IsZero: Quick [Size=4096]", "Name": "Bench.ScanBenchmarks.IsZero(Size: 4096)", "Baseline": "Bench.ScanBenchmarks.ScalarLoop(Size: 4096)" },
            { "DisplayInfo": "ScanBenchmarks.Failed: Quick", "Name": "Bench.ScanBenchmarks.Failed", "Baseline": null },
            { "DisplayInfo": "ScanBenchmarks.Jobs: Fast", "Name": "Bench.ScanBenchmarks.Jobs @Fast", "Baseline": "Bench.ScanBenchmarks.Jobs @Slow" },
            { "DisplayInfo": "ScanBenchmarks.Jobs: Slow", "Name": "Bench.ScanBenchmarks.Jobs @Slow", "Baseline": "Bench.ScanBenchmarks.Jobs @Slow" } ] }
        """;

    private readonly string directory = Directory.CreateTempSubdirectory("perfgate-reader-").FullName;

    public ResultSetReaderTests()
    {
        string results = Directory.CreateDirectory(Path.Combine(directory, "results")).FullName;
        File.WriteAllText(Path.Combine(results, "Bench.ScanBenchmarks" + ResultSetReader.ReportSuffix), Report);
        File.WriteAllText(Path.Combine(results, "Bench.ScanBenchmarks" + ResultSetReader.BaselinesSuffix), Baselines);
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void Reads_Only_The_Result_Stage_Per_Operation()
    {
        var set = ResultSetReader.Read(directory);

        var baseline = set.Find("Bench.ScanBenchmarks.ScalarLoop(Size: 4096)")!;
        Assert.Equal([150.0, 160.0], baseline.NanosecondsPerOperation);
        Assert.True(baseline.IsBaseline);
        Assert.Equal(0, baseline.AllocatedBytesPerOperation);
    }

    [Fact]
    public void Falls_Back_To_Original_Values_And_Keeps_Baseline_And_Memory()
    {
        var set = ResultSetReader.Read(directory);

        var isZero = set.Find("Bench.ScanBenchmarks.IsZero(Size: 4096)")!;
        Assert.Equal([10.0, 11.0], isZero.NanosecondsPerOperation);
        Assert.Equal("Bench.ScanBenchmarks.ScalarLoop(Size: 4096)", isZero.BaselineFullName);
        Assert.Equal(24, isZero.AllocatedBytesPerOperation);
        Assert.Equal(4096, isZero.AllocationOperations);
        Assert.Equal("IsZero(Size=4096)", isZero.DisplayName);
        Assert.Equal("AMD EPYC, 2 logical cores, Linux, .NET 10.0.12", set.Machine);
    }

    [Fact]
    public void Failed_Benchmark_Has_No_Measurements_And_No_Memory()
    {
        var failed = ResultSetReader.Read(directory).Find("Bench.ScanBenchmarks.Failed")!;

        Assert.Empty(failed.NanosecondsPerOperation);
        Assert.Null(failed.AllocatedBytesPerOperation);
        Assert.Null(failed.BaselineFullName);
    }

    [Fact]
    public void Several_Jobs_Of_One_Method_Are_Told_Apart_And_Divided_By_The_Baseline_Job()
    {
        var set = ResultSetReader.Read(directory);

        var fast = set.Find("Bench.ScanBenchmarks.Jobs @Fast")!;
        Assert.Equal("Jobs @Fast", fast.DisplayName);
        Assert.Equal([0.25], set.RatiosOf(fast));
        Assert.True(set.Find("Bench.ScanBenchmarks.Jobs @Slow")!.IsBaseline);
    }

    [Fact]
    public void Directory_Without_Reports_Is_Refused_With_Its_Name()
    {
        string empty = Directory.CreateDirectory(Path.Combine(directory, "empty")).FullName;

        var error = Assert.Throws<InvalidDataException>(() => ResultSetReader.Read(empty));
        Assert.Contains(empty, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Accept_Replaces_The_Baseline_And_Describes_The_Machine()
    {
        string baseline = Directory.CreateDirectory(Path.Combine(directory, "baseline")).FullName;
        File.WriteAllText(Path.Combine(baseline, "Old.Suite" + ResultSetReader.ReportSuffix), Report);
        File.WriteAllText(Path.Combine(baseline, "keep.txt"), "not the gate's");

        BaselineStore.Accept(Path.Combine(directory, "results"), baseline, "quiet machine");

        Assert.Equal(
            ["Bench.ScanBenchmarks" + ResultSetReader.BaselinesSuffix, "Bench.ScanBenchmarks" + ResultSetReader.ReportSuffix, BaselineStore.MachineFile, "keep.txt"],
            Directory.GetFiles(baseline).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Contains("quiet machine", File.ReadAllText(Path.Combine(baseline, BaselineStore.MachineFile)), StringComparison.Ordinal);
    }
}
