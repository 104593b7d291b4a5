using System.Globalization;
using System.Text.RegularExpressions;
using FastReclaim.Cli.Demo;

namespace FastReclaim.Tests.Cli.Demo;

/// <summary>The demo as a process: signals, closed input, unusable output and sizes, and honest figures.</summary>
public sealed partial class DemoProcessTests : IDisposable
{
    private const int TestTimeoutMilliseconds = 120_000;

    private readonly string _directory = Directory.CreateTempSubdirectory("fastreclaim-demo-").FullName;

    private string Png => Path.Combine(_directory, "demo.png");

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData(CliProcess.SigTerm)]
    [InlineData(CliProcess.SigInt)]
    public async Task Held_Demo_Stops_On_A_Signal(int signal)
    {
        using CliProcess demo = await CliProcess.StartHeldDemoAsync(Png, TestContext.Current.CancellationToken);

        demo.Signal(signal);

        Assert.Equal(128 + signal, await demo.WaitAsync(TestContext.Current.CancellationToken));
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Held_Demo_With_Stdin_Closed_Exits_After_Its_Summary()
    {
        CliProcess.SkipUnlessShell();
        using CliProcess demo = CliProcess.StartRedirected("<&-", "demo", "--gib", "1", "--seconds", "0.2", "--readers", "1", "--hold", "--output", Png);

        int exit = await demo.WaitAsync(TestContext.Current.CancellationToken);

        Assert.True(exit == 0, $"exit {exit}:\n{demo.Output}");
        Assert.Contains(DemoCommand.HoldingLine, demo.Output, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Ctrl_C_During_The_Waves_Exits_Non_Zero_Without_A_Verdict_Or_Figures()
    {
        using CliProcess demo = CliProcess.Start("demo", "--gib", "1", "--seconds", "60", "--readers", "2", "--output", Png);
        await demo.WaitForLineAsync("wave 1", TestContext.Current.CancellationToken);

        demo.Signal(CliProcess.SigInt);

        Assert.Equal(128 + CliProcess.SigInt, await demo.WaitAsync(TestContext.Current.CancellationToken));
        Assert.Contains(DemoCommand.InterruptedLine, demo.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("Checks passed", demo.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("lookups", demo.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(Png), "a cut run wrote its chart");
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Full_Stdout_Is_An_Output_Error_And_Stops_The_Readers_First()
    {
        CliProcess.SkipUnlessShell();
        Assert.SkipUnless(File.Exists("/dev/full"), "needs /dev/full");
        using CliProcess demo = CliProcess.StartRedirected(">/dev/full", "demo", "--gib", "1", "--seconds", "0.2", "--readers", "2", "--output", Png);

        int exit = await demo.WaitAsync(TestContext.Current.CancellationToken);

        Assert.True(exit == 1, $"exit {exit}:\n{demo.Output}");
        Assert.Contains("cannot write standard output: No space left on device", Assert.Single(demo.ErrorLines), StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Unwritable_Output_Is_Found_Before_Any_Work()
    {
        string notADirectory = Path.Combine(_directory, "file");
        File.WriteAllText(notADirectory, "");
        string output = Path.Combine(notADirectory, "chart.png");
        using CliProcess demo = CliProcess.Start("demo", "--gib", "1", "--seconds", "0.2", "--output", output);

        int exit = await demo.WaitAsync(TestContext.Current.CancellationToken);

        Assert.True(exit == 2, $"exit {exit}:\n{demo.Output}");
        string line = Assert.Single(demo.ErrorLines);
        Assert.Contains($"--output {output}", line, StringComparison.Ordinal);
        Assert.DoesNotContain("building", demo.Output, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task A_Space_Whose_Tables_Exceed_The_Memory_Is_Refused_Before_Any_Work()
    {
        const int Gib = 65536;
        Assert.SkipWhen(DemoRun.TableBytes(Gib) <= GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, "this machine has the memory for --gib 65536");
        using CliProcess demo = CliProcess.Start("demo", "--gib", Gib.ToString(CultureInfo.InvariantCulture), "--output", Png);

        int exit = await demo.WaitAsync(TestContext.Current.CancellationToken);

        Assert.True(exit == 2, $"exit {exit}:\n{demo.Output}");
        Assert.Contains($"--gib {Gib}", Assert.Single(demo.ErrorLines), StringComparison.Ordinal);
        Assert.DoesNotContain("OutOfMemoryException", demo.Output, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Lookups_Per_Second_Are_Lookups_Over_Reader_Wall_Time_When_Readers_Outnumber_Cores()
    {
        const double Seconds = 0.5;
        int readers = (Environment.ProcessorCount * 4) + 1;
        using CliProcess demo = CliProcess.Start("demo", "--gib", "1", "--seconds", Seconds.ToString(CultureInfo.InvariantCulture),
            "--readers", readers.ToString(CultureInfo.InvariantCulture), "--policy", "eager", "--output", Png);

        int exit = await demo.WaitAsync(TestContext.Current.CancellationToken);

        Assert.True(exit == 0, demo.Output);
        Match raw = LookupsLine().Match(demo.Output);
        Assert.True(raw.Success, demo.Output);
        long lookups = long.Parse(raw.Groups["lookups"].Value, CultureInfo.InvariantCulture);
        int ran = int.Parse(raw.Groups["ran"].Value, CultureInfo.InvariantCulture);
        double wallSeconds = double.Parse(raw.Groups["seconds"].Value, CultureInfo.InvariantCulture);
        Assert.InRange(ran, 1, readers);
        Assert.True(wallSeconds >= Seconds, $"readers ran {wallSeconds} s, the waves {Seconds} s: every reader runs through the waves");
        Match row = RateCell().Match(demo.Output);
        Assert.True(row.Success, demo.Output);
        double shown = double.Parse(row.Groups["rate"].Value.Replace(",", "", StringComparison.Ordinal), CultureInfo.InvariantCulture);
        Assert.Equal(lookups / wallSeconds, shown, tolerance: (lookups / wallSeconds * 1e-5) + 1); // the wall time is printed rounded to 1 us
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [GeneratedRegex(@"lookups eager: (?<lookups>\d+) by (?<ran>\d+) of \d+ readers in (?<seconds>[\d.]+) s of reader wall time")]
    private static partial Regex LookupsLine();

    [GeneratedRegex(@"│ eager\s+│[^│]+│[^│]+│[^│]+│[^│]+│[^│]+│ (?<rate>[\d,]+)\s+│")]
    private static partial Regex RateCell();
}
