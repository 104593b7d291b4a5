using System.CommandLine;
using System.Diagnostics;
using System.Net.Sockets;
using FastReclaim.Cli;
using FastReclaim.Cli.Monitor;

namespace FastReclaim.Tests.Cli.Monitor;

public class MonitorCommandTests
{
    private static readonly TimeSpan s_shortTimeout = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Missing_Process_Exits_With_Attach_Error_Naming_The_Pid()
    {
        int pid = UnusedProcessId();
        var error = new StringWriter();

        int code = await MonitorCommand.RunAsync(Settings(pid), TextWriter.Null, error, TestContext.Current.CancellationToken);

        Assert.Equal(MonitorException.AttachFailed, code);
        Assert.Contains($"No process with id {pid}", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_Without_Dotnet_Runtime_Exits_With_Attach_Error_Naming_The_Pid()
    {
        Assert.SkipUnless(File.Exists("/bin/sleep"), "needs /bin/sleep as a non-.NET process");
        using var sleeper = Process.Start("/bin/sleep", "30");
        try
        {
            var error = new StringWriter();

            int code = await MonitorCommand.RunAsync(Settings(sleeper.Id), TextWriter.Null, error, TestContext.Current.CancellationToken);

            Assert.Equal(MonitorException.AttachFailed, code);
            Assert.Contains($"Process {sleeper.Id} (sleep) has no .NET diagnostics endpoint", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            sleeper.Kill();
        }
    }

    [Fact]
    public async Task Process_With_A_Stale_Diagnostics_Socket_Exits_With_Attach_Error_Naming_The_Pid()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && File.Exists("/bin/sleep"), "needs Linux (Unix domain sockets) and /bin/sleep as a non-.NET process");
        using var sleeper = Process.Start("/bin/sleep", "30");
        string socketPath = LeaveStaleDiagnosticsSocket(sleeper.Id);
        try
        {
            var error = new StringWriter();

            int code = await MonitorCommand.RunAsync(Settings(sleeper.Id), TextWriter.Null, error, TestContext.Current.CancellationToken);

            Assert.Equal(MonitorException.AttachFailed, code);
            Assert.Contains($"Process {sleeper.Id} (sleep) has no .NET diagnostics endpoint", error.ToString(), StringComparison.Ordinal);
            Assert.Contains("nothing listens on the diagnostics socket", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(socketPath);
            sleeper.Kill();
        }
    }

    [Theory]
    [InlineData("monitor 0", "pid must be a whole number from 1 to 2147483647, got '0'.")]
    [InlineData("monitor 42 --refresh-interval 0", "--refresh-interval must be a number of seconds above 0 and at most 86400, got '0'.")]
    [InlineData("monitor 42 --timeout -1", "--timeout must be a number of seconds above 0 and at most 86400, got '-1'.")]
    [InlineData("monitor 42 --refreshes -3", "--refreshes must be a whole number from 0 to 2147483647, got '-3'.")]
    public void Bad_Arguments_Are_Rejected_With_The_Value(string commandLine, string message)
    {
        ParseResult parse = Program.CreateRoot().Parse(commandLine);

        Assert.Equal(message, Assert.Single(parse.Errors).Message);
    }

    [Fact]
    public void Plain_Line_Shows_Instrument_Tags_Value_Unit_And_Rate()
    {
        var series = new MetricSeries("fastreclaim.epoch.freed", "domain=1", "{item}", MetricKind.Counter, 6100, 2000, "");

        Assert.Equal("fastreclaim.epoch.freed{domain=1} 6100 {item} rate=2000/s", series.ToPlainLine());
    }

    [Fact]
    public void Plain_Line_Of_A_Histogram_Shows_Its_Quantiles()
    {
        var series = new MetricSeries("fastreclaim.epoch.grace_period", "domain=2", "ms", MetricKind.Histogram, 20, null, "p50=1.5 p95=3 p99=4");

        Assert.Equal("fastreclaim.epoch.grace_period{domain=2} 20 ms p50=1.5 p95=3 p99=4", series.ToPlainLine());
    }

    private static MonitorSettings Settings(int pid) => new(pid, TimeSpan.FromSeconds(1), s_shortTimeout, Refreshes: 1, Plain: true);

    /// <summary>
    /// What a killed .NET process leaves behind for <paramref name="processId"/>: a socket file named the way the runtime
    /// names its diagnostics endpoint, <c>dotnet-diagnostic-{pid}-{start time}-socket</c> in the temp directory the client
    /// scans, whose socket is closed, so connecting to it is refused.
    /// </summary>
    private static string LeaveStaleDiagnosticsSocket(int processId)
    {
        // The runtime's key is its start time in clock ticks since boot; any earlier one stands for a previous owner of the id.
        const int EarlierStartTime = 1;
        string directory = Path.GetTempPath();
        string socketPath = Path.Combine(directory, $"dotnet-diagnostic-{processId}-{EarlierStartTime}-socket");
        string boundPath = Path.Combine(directory, $"fastreclaim-test-{Guid.NewGuid():N}.socket");
        using (var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            // Disposing a bound socket deletes the file it was bound to: move the file away first so it outlives the socket.
            socket.Bind(new UnixDomainSocketEndPoint(boundPath));
            File.Move(boundPath, socketPath);
        }

        return socketPath;
    }

    private static int UnusedProcessId()
    {
        // Linux pid_max is at most 2^22: ids above it are never in use.
        const int AbovePidMax = (1 << 22) + 1;
        return AbovePidMax;
    }
}
