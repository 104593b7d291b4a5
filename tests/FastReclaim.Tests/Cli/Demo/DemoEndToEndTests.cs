using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using FastReclaim.Cli.Common;
using FastReclaim.Cli.Monitor;
using FastReclaim.Tests.Diagnostics;

namespace FastReclaim.Tests.Cli.Demo;

/// <summary>
/// The demo as a child process, read from outside the way an operator would: over EventPipe with
/// DiagnosticsClient, and through <c>fastreclaim monitor</c>. What the counters say must be what the target's own
/// Stats say (printed by <c>demo --hold</c> once its state is final).
/// </summary>
[Collection(DiagnosticsCollection.Name)]
public sealed partial class DemoEndToEndTests : IDisposable
{
    private static readonly TimeSpan s_refresh = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan s_firstData = TimeSpan.FromSeconds(15);
    private static readonly string[] s_levels = ["pte", "pmd", "pud", "p4d"];

    /// <summary>
    /// Backstop for a wait this class forgot to bound: the test fails (and its cancellation token fires) instead of
    /// hanging the run. Each test takes seconds; every wait in it is bounded well below this.
    /// </summary>
    private const int TestTimeoutMilliseconds = 120_000;

    private readonly string _directory = Directory.CreateTempSubdirectory("fastreclaim-demo-").FullName;

    private string Png => Path.Combine(_directory, "demo.png");

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Demo_Exits_Zero_Writes_Its_Png_And_Passes_Its_Own_Checks()
    {
        using CliProcess demo = CliProcess.Start("demo", "--gib", "1", "--seconds", "0.3", "--readers", "1", "--output", Png);

        int code = await demo.WaitAsync(TestContext.Current.CancellationToken);

        Assert.True(code == 0, demo.Output);
        Assert.Contains("Checks passed", demo.Output, StringComparison.Ordinal);
        byte[] signature = [0x89, (byte)'P', (byte)'N', (byte)'G'];
        Assert.Equal(signature, File.ReadAllBytes(Png).Take(signature.Length));
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Counters_Read_Over_EventPipe_Match_The_Target_Stats()
    {
        using CliProcess demo = await CliProcess.StartHeldDemoAsync(Png, TestContext.Current.CancellationToken);
        demo.SkipUnlessDiagnosticsIpc();
        Dictionary<string, Dictionary<string, long>> stats = demo.HeldStats();

        await using MetricsSession session = await MetricsSession.StartAsync(demo.Id, s_refresh, TestContext.Current.CancellationToken);
        Assert.True(await session.WaitForCollectionsAsync(2, s_firstData, TestContext.Current.CancellationToken), session.Error ?? demo.Output);
        var values = session.Snapshot().ToDictionary(s => (s.Instrument, s.Tags), s => s.Value);

        Assert.Equal(["eager", "linux", "none"], stats.Keys.Order());
        foreach ((string policy, Dictionary<string, long> expected) in stats)
        {
            string space = SpaceOf(values.Keys.Select(k => k.Tags), policy);
            foreach (string level in s_levels)
            {
                Assert.Equal(expected[$"{level}_tables"] * PageAllocator.PageSize,
                    values[("fastreclaim.page_tables.size", $"level={level},policy={policy},space={space}")]);
            }

            Assert.Equal(expected["reclaimed_tables"], values[("fastreclaim.page_tables.reclaimed", $"policy={policy},space={space}")]);
            Assert.Equal(expected["pending_tables"] * PageAllocator.PageSize, values[("fastreclaim.page_tables.pending", $"policy={policy},space={space}")]);
        }

        // The demo gives each policy its own epoch domain; the domain ids are the library's, so compare as sets.
        Assert.Equal(stats.Values.Select(s => (double)s["epoch"]).Order(), ValuesOf(values, "fastreclaim.epoch").Order());
        Assert.Equal(stats.Values.Select(s => (double)s["epoch_freed"]).Order(), ValuesOf(values, "fastreclaim.epoch.freed").Order());
        Assert.Equal(stats.Values.Select(s => (double)s["epoch_pending"]).Order(), ValuesOf(values, "fastreclaim.epoch.pending").Order());
        Assert.Equal(0, await demo.CloseInputAndWaitAsync(TestContext.Current.CancellationToken));
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Monitor_Plain_Output_Matches_The_Target_Stats()
    {
        using CliProcess demo = await CliProcess.StartHeldDemoAsync(Png, TestContext.Current.CancellationToken);
        demo.SkipUnlessDiagnosticsIpc();
        Dictionary<string, Dictionary<string, long>> stats = demo.HeldStats();
        var output = new StringWriter();
        var error = new StringWriter();

        int code = await MonitorCommand.RunAsync(new MonitorSettings(demo.Id, s_refresh, s_firstData, Refreshes: 2, Plain: true), output, error, TestContext.Current.CancellationToken);

        Assert.True(code == 0, error.ToString());
        var lines = output.ToString().Split('\n').Select(l => PlainLine().Match(l)).Where(m => m.Success).ToList();
        string lastUpdate = output.ToString().Split('\n').Last(l => l.StartsWith('#'));
        Assert.EndsWith("update 2", lastUpdate, StringComparison.Ordinal);
        foreach ((string policy, Dictionary<string, long> expected) in stats)
        {
            double pteBytes = lines
                .Where(m => m.Groups["name"].Value == "fastreclaim.page_tables.size"
                    && m.Groups["tags"].Value.StartsWith($"level=pte,policy={policy},", StringComparison.Ordinal))
                .Select(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture))
                .Last();
            Assert.Equal(expected["pte_tables"] * PageAllocator.PageSize, pteBytes);
            double reclaimed = lines
                .Where(m => m.Groups["name"].Value == "fastreclaim.page_tables.reclaimed"
                    && m.Groups["tags"].Value.StartsWith($"policy={policy},", StringComparison.Ordinal))
                .Select(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture))
                .Last();
            Assert.Equal(expected["reclaimed_tables"], reclaimed);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Monitor_Exits_Cleanly_When_The_Target_Exits()
    {
        using CliProcess demo = await CliProcess.StartHeldDemoAsync(Png, TestContext.Current.CancellationToken);
        demo.SkipUnlessDiagnosticsIpc();
        var output = new StringWriter();
        Task<int> monitor = MonitorCommand.RunAsync(new MonitorSettings(demo.Id, s_refresh, s_firstData, Refreshes: 0, Plain: true), output, TextWriter.Null, TestContext.Current.CancellationToken);
        await WaitForOutputAsync(output, "update 1", monitor);

        Assert.Equal(0, await demo.CloseInputAndWaitAsync(TestContext.Current.CancellationToken));

        Assert.Equal(0, await monitor.WaitAsync(s_firstData, TestContext.Current.CancellationToken));
        Assert.Contains($"Process {demo.Id} exited.", output.ToString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Monitor_Stops_Cleanly_On_Ctrl_C()
    {
        // System.CommandLine turns Ctrl-C (SIGINT) into this cancellation.
        using CliProcess demo = await CliProcess.StartHeldDemoAsync(Png, TestContext.Current.CancellationToken);
        demo.SkipUnlessDiagnosticsIpc();
        using var ctrlC = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var output = new StringWriter();
        Task<int> monitor = MonitorCommand.RunAsync(new MonitorSettings(demo.Id, s_refresh, s_firstData, Refreshes: 0, Plain: true), output, TextWriter.Null, ctrlC.Token);
        await WaitForOutputAsync(output, "update 2", monitor);

        await ctrlC.CancelAsync();

        Assert.Equal(ExitCodes.Interrupted, await monitor.WaitAsync(s_firstData, TestContext.Current.CancellationToken));
        Assert.DoesNotContain("exited", output.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, await demo.CloseInputAndWaitAsync(TestContext.Current.CancellationToken));
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData(CliProcess.SigInt)]
    [InlineData(CliProcess.SigTerm)]
    public async Task Monitor_Process_Stops_Promptly_On_A_Signal_With_Its_Exit_Code(int signal)
    {
        using CliProcess demo = await CliProcess.StartHeldDemoAsync(Png, TestContext.Current.CancellationToken);
        demo.SkipUnlessDiagnosticsIpc();
        using CliProcess monitor = CliProcess.Start("monitor", demo.Id.ToString(CultureInfo.InvariantCulture), "--plain", "--refresh-interval", "0.2");
        await monitor.WaitForLineAsync("update 1", TestContext.Current.CancellationToken);

        monitor.Signal(signal);

        Assert.Equal(128 + signal, await monitor.WaitAsync(TestContext.Current.CancellationToken));
        Assert.Equal(0, await demo.CloseInputAndWaitAsync(TestContext.Current.CancellationToken));
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Monitor_Finds_A_Live_Space_With_A_Refresh_Interval_Above_The_Timeout()
    {
        // The target publishes only at the end of its first interval: the timeout counts from there.
        using CliProcess demo = await CliProcess.StartHeldDemoAsync(Png, TestContext.Current.CancellationToken);
        demo.SkipUnlessDiagnosticsIpc();
        var output = new StringWriter();
        var error = new StringWriter();

        int code = await MonitorCommand.RunAsync(
            new MonitorSettings(demo.Id, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(1), Refreshes: 1, Plain: true), output, error, TestContext.Current.CancellationToken);

        Assert.True(code == 0, error.ToString());
        Assert.Contains("fastreclaim.page_tables.size{level=pte,policy=linux,", output.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, await demo.CloseInputAndWaitAsync(TestContext.Current.CancellationToken));
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Monitor_Reports_A_Dotnet_Process_Without_The_Meter()
    {
        // A .NET process that never creates a FastReclaim address space or epoch domain: the CLI itself, monitoring.
        using CliProcess demo = await CliProcess.StartHeldDemoAsync(Png, TestContext.Current.CancellationToken);
        demo.SkipUnlessDiagnosticsIpc();
        using CliProcess bystander = CliProcess.Start("monitor", demo.Id.ToString(CultureInfo.InvariantCulture), "--plain");
        Assert.True(await bystander.WaitForDiagnosticsEndpointAsync(TestContext.Current.CancellationToken), bystander.Output);
        var error = new StringWriter();

        int code = await MonitorCommand.RunAsync(new MonitorSettings(bystander.Id, s_refresh, TimeSpan.FromSeconds(2), Refreshes: 1, Plain: true), TextWriter.Null, error, TestContext.Current.CancellationToken);

        Assert.True(code == MonitorException.NoMetrics, $"exit {code}, expected {MonitorException.NoMetrics}: {error}\nbystander: {bystander.Output}");
        Assert.Contains($"Process {bystander.Id} published no FastReclaim metrics within 2 s", error.ToString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Diagnostics_Switch_Off_Leaves_The_Meter_Empty()
    {
        using CliProcess demo = await CliProcess.StartHeldDemoAsync(Png, TestContext.Current.CancellationToken,
            new Dictionary<string, bool> { ["FastReclaim.Diagnostics.IsSupported"] = false });
        demo.SkipUnlessDiagnosticsIpc();
        Assert.Contains("Checks passed", demo.Output, StringComparison.Ordinal);
        var error = new StringWriter();

        int code = await MonitorCommand.RunAsync(new MonitorSettings(demo.Id, s_refresh, TimeSpan.FromSeconds(2), Refreshes: 1, Plain: true), TextWriter.Null, error, TestContext.Current.CancellationToken);

        Assert.Equal(MonitorException.NoMetrics, code);
        Assert.Contains($"Process {demo.Id} published no FastReclaim metrics", error.ToString(), StringComparison.Ordinal);
        Assert.Equal(0, await demo.CloseInputAndWaitAsync(TestContext.Current.CancellationToken));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>Polls until <paramref name="monitor"/> has printed <paramref name="text"/> or ended; fails after <see cref="s_firstData"/>.</summary>
    private static async Task WaitForOutputAsync(StringWriter output, string text, Task monitor)
    {
        var waited = Stopwatch.StartNew();
        while (!output.ToString().Contains(text, StringComparison.Ordinal) && !monitor.IsCompleted)
        {
            Assert.True(waited.Elapsed < s_firstData, $"The monitor printed no \"{text}\" within {s_firstData.TotalSeconds} s:\n{output}");
            await Task.Delay(s_refresh, TestContext.Current.CancellationToken);
        }
    }

    private static string SpaceOf(IEnumerable<string> tags, string policy) =>
        tags.Select(t => SpaceTag().Match(t)).First(m => m.Success && m.Groups["policy"].Value == policy).Groups["space"].Value;

    private static IEnumerable<double> ValuesOf(Dictionary<(string Instrument, string Tags), double> values, string instrument) =>
        values.Where(kv => kv.Key.Instrument == instrument).Select(kv => kv.Value);

    [GeneratedRegex(@"^(?<name>[^{]+)\{(?<tags>[^}]*)\} (?<value>\S+)")]
    private static partial Regex PlainLine();

    [GeneratedRegex(@"policy=(?<policy>\w+),space=(?<space>\d+)")]
    private static partial Regex SpaceTag();
}
