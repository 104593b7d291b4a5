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

    private static readonly Testbed Zen3 = new("amd", 0x19, 0x01, "v256", 2, "linux", "10.0", "AMD EPYC 7B13");

    [Fact]
    public void Accept_Files_The_Results_Under_Their_Testbed_And_Replaces_Only_That_Baseline()
    {
        string root = Directory.CreateDirectory(Path.Combine(directory, "baseline")).FullName;
        string own = Directory.CreateDirectory(Path.Combine(root, Zen3.Id)).FullName;
        string other = Directory.CreateDirectory(Path.Combine(root, "amd-1ah-02h-v512-2c-linux-net10.0")).FullName;
        File.WriteAllText(Path.Combine(own, "Old.Suite" + ResultSetReader.ReportSuffix), Report);
        File.WriteAllText(Path.Combine(own, "keep.txt"), "not the gate's");
        File.WriteAllText(Path.Combine(other, "Other.Suite" + ResultSetReader.ReportSuffix), Report);
        Zen3.Save(Path.Combine(directory, "results"));

        var (accepted, into) = BaselineStore.Accept(Path.Combine(directory, "results"), root, "0123456789abcdef", "quiet machine");

        Assert.Equal(own, into);
        Assert.Equal(
            ["Bench.ScanBenchmarks" + ResultSetReader.BaselinesSuffix, "Bench.ScanBenchmarks" + ResultSetReader.ReportSuffix,
             BaselineStore.MachineFile, BaselineStore.AcceptedFile, "keep.txt", Testbed.FileName],
            Directory.GetFiles(own).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.True(File.Exists(Path.Combine(other, "Other.Suite" + ResultSetReader.ReportSuffix)), "another testbed's baseline was touched");
        string machine = File.ReadAllText(Path.Combine(own, BaselineStore.MachineFile));
        Assert.Contains("quiet machine", machine, StringComparison.Ordinal);
        Assert.Contains("0123456789abcdef", machine, StringComparison.Ordinal);
        Assert.Equal(Zen3, ResultSetReader.Read(own).Testbed);
        Assert.Equal(accepted.Count, ResultSetReader.Read(own).Count);
    }

    [Fact]
    public void Accept_Refuses_Results_That_Record_No_Testbed()
    {
        string root = Path.Combine(directory, "baseline");

        var error = Assert.Throws<InvalidDataException>(() => BaselineStore.Accept(Path.Combine(directory, "results"), root, "abc", ""));

        Assert.Contains(Testbed.FileName, error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(root));
    }

    [Fact]
    public void Newest_Accepted_Baseline_Is_Found_Across_Testbeds()
    {
        string root = Path.Combine(directory, "baseline");
        Zen3.Save(Path.Combine(directory, "results"));
        BaselineStore.Accept(Path.Combine(directory, "results"), root, "first", "");
        var zen5 = Zen3 with { Family = 0x1A, Model = 0x02, VectorIsa = "v512" };
        zen5.Save(Path.Combine(directory, "results"));
        BaselineStore.Accept(Path.Combine(directory, "results"), root, "second", "");

        var newest = BaselineStore.Newest(root);

        Assert.NotNull(newest);
        Assert.Equal("second", newest.Commit);
        Assert.Equal(zen5.Id, newest.Testbed);
        Assert.Null(BaselineStore.Newest(Path.Combine(directory, "nothing-here")));
    }

    [Fact]
    public void Launch_Directories_Are_Read_As_One_Set_And_Accepted_Apart()
    {
        string measured = Path.Combine(directory, "measured");
        foreach (string launch in new[] { "launch-0", "launch-1" })
        {
            string results = Directory.CreateDirectory(Path.Combine(measured, launch, "results")).FullName;
            File.WriteAllText(Path.Combine(results, "Bench.ScanBenchmarks" + ResultSetReader.ReportSuffix), Report);
            File.WriteAllText(Path.Combine(results, "Bench.ScanBenchmarks" + ResultSetReader.BaselinesSuffix), Baselines);
        }
        Zen3.Save(measured);

        var set = ResultSetReader.Read(measured);
        var (_, into) = BaselineStore.Accept(measured, Path.Combine(directory, "baseline"), "abc", "");

        Assert.Equal([150, 160, 150, 160], set.Find("Bench.ScanBenchmarks.ScalarLoop(Size: 4096)")!.NanosecondsPerOperation);
        Assert.Equal([155, 155], set.Find("Bench.ScanBenchmarks.ScalarLoop(Size: 4096)")!.Launches);
        Assert.Equal(Zen3, set.Testbed);
        Assert.Equal(["launch-0", "launch-1"], ResultSetReader.LaunchDirectories(into).Select(Path.GetFileName));
        Assert.True(BaselineStore.Exists(into));
        Assert.Equal(set.Find("Bench.ScanBenchmarks.ScalarLoop(Size: 4096)")!.Launches, ResultSetReader.Read(into).Find("Bench.ScanBenchmarks.ScalarLoop(Size: 4096)")!.Launches);
    }

    [Fact]
    public void Launches_Merge_Into_One_Sample_Per_Case_With_The_Least_Allocation()
    {
        var first = new ResultSet([new BenchmarkResult("S.A", "S", "A", "", null, [1, 2], 40, 1000)], "m");
        var second = new ResultSet([new BenchmarkResult("S.A", "S", "A", "", null, [3], 32, 500), new BenchmarkResult("S.B", "S", "B", "", null, [7], null)], "m");

        var merged = ResultSet.Merge([first, second]);

        Assert.Equal([1, 2, 3], merged.Find("S.A")!.NanosecondsPerOperation);
        Assert.Equal(32, merged.Find("S.A")!.AllocatedBytesPerOperation);
        Assert.Equal(500, merged.Find("S.A")!.AllocationOperations);
        Assert.Equal([7], merged.Find("S.B")!.NanosecondsPerOperation);
    }
}
