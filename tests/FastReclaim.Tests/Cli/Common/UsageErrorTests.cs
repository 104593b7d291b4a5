namespace FastReclaim.Tests.Cli.Common;

/// <summary>
/// Every bad argument, as the CLI process meets it: one line on stderr naming the option (or argument) and the
/// value, exit 2, and never a stack trace or an unhandled exception (exit 134).
/// </summary>
public sealed class UsageErrorTests
{
    [Theory]
    [InlineData("monitor abc", "pid", "'abc'")]
    [InlineData("monitor 0x10", "pid", "'0x10'")]
    [InlineData("monitor 0", "pid", "'0'")]
    [InlineData("monitor 1 --refreshes x", "--refreshes", "'x'")]
    [InlineData("monitor 1 --refreshes -3", "--refreshes", "'-3'")]
    [InlineData("monitor 1 --timeout 1e300", "--timeout", "'1e300'")]
    [InlineData("monitor 1 --timeout NaN", "--timeout", "'NaN'")]
    [InlineData("monitor 1 --refresh-interval 0", "--refresh-interval", "'0'")]
    [InlineData("monitor 1 --refresh-interval Infinity", "--refresh-interval", "'Infinity'")]
    [InlineData("demo --gib abc", "--gib", "'abc'")]
    [InlineData("demo --gib 65537", "--gib", "'65537'")]
    [InlineData("demo --gib 99999999999", "--gib", "'99999999999'")]
    [InlineData("demo --gib 1 --seconds 1e300", "--seconds", "'1e300'")]
    [InlineData("demo --seconds -1", "--seconds", "'-1'")]
    [InlineData("demo --readers 0", "--readers", "'0'")]
    [InlineData("demo --readers 1000000", "--readers", "'1000000'")]
    [InlineData("demo --policy lazy", "--policy", "'lazy'")]
    [InlineData("replay --frob", "--frob", "FILE")]
    [InlineData("replay --policy Linux", "--policy", "'Linux'")]
    [InlineData("replay /nonexistent/trace", "FILE", "/nonexistent/trace")]
    [InlineData("replay /", "FILE", "/")]
    [InlineData("sandbox --policy None", "--policy", "'None'")]
    [InlineData("sandbox --passes 0", "--passes", "'0'")]
    [InlineData("sandbox --pages 100000", "--pages", "'100000'")]
    [InlineData("sandbox --passes x", "--passes", "'x'")]
    [InlineData("sandbox --arch arm", "--arch", "'arm'")]
    [InlineData("sandbox --arch x86_64", "--arch", "'x86_64'")]
    [InlineData("sandbox --arch arm64 --levels 5", "--levels", "'5'")]
    [InlineData("sandbox --arch riscv64 --levels 6", "--levels", "'6'")]
    [InlineData("sandbox --levels 3", "--levels", "'3'")]
    [InlineData("sandbox --guest Spin", "--guest", "'Spin'")]
    [InlineData("sandbox --expedite-after 0", "--expedite-after", "'0'")]
    [InlineData("sandbox --arch arm64 --guest spin", "--guest", "'spin'")]
    [InlineData("sandbox --arch riscv64 --expedite-after 1", "--expedite-after", "'1'")]
    public async Task Bad_Argument_Exits_2_With_One_Line_Naming_It(string commandLine, string name, string value)
    {
        using CliProcess cli = CliProcess.Start(commandLine.Split(' '));

        int exit = await cli.WaitAsync(TestContext.Current.CancellationToken);

        Assert.True(exit == 2, $"exit {exit}:\n{cli.Output}");
        string line = Assert.Single(cli.ErrorLines);
        Assert.Contains(name, line, StringComparison.Ordinal);
        Assert.Contains(value, line, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled", cli.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("2>&-")]
    [InlineData("2>/dev/full")]
    public async Task Closed_Or_Full_Stderr_Leaves_The_Exit_Code_To_Tell(string redirection)
    {
        CliProcess.SkipUnlessShell();
        Assert.SkipWhen(redirection.Contains("/dev/full", StringComparison.Ordinal) && !File.Exists("/dev/full"), "needs /dev/full");
        using CliProcess cli = CliProcess.StartRedirected(redirection, "monitor", "abc");

        Assert.Equal(2, await cli.WaitAsync(TestContext.Current.CancellationToken));
    }
}
