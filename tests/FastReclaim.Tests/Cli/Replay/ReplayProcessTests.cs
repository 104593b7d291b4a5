namespace FastReclaim.Tests.Cli.Replay;

/// <summary>The replay as a process whose standard streams are closed, full, or never end, and under signals.</summary>
public sealed class ReplayProcessTests
{
    private static readonly string s_example = Path.Combine(AppContext.BaseDirectory, "Traces", "example.trace");

    [Fact]
    public async Task Closed_Stdin_Is_Reported_Not_Waited_On()
    {
        CliProcess.SkipUnlessShell();
        using CliProcess cli = CliProcess.StartRedirected("<&-", "replay");

        int exit = await cli.WaitAsync(TestContext.Current.CancellationToken);

        Assert.True(exit == 1, $"exit {exit}:\n{cli.Output}");
        Assert.Contains("standard input is closed", Assert.Single(cli.ErrorLines), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(">&-", "standard output is closed")]
    [InlineData(">/dev/full", "cannot write standard output: No space left on device")]
    public async Task Closed_Or_Full_Stdout_Is_An_Output_Error_Not_A_Trace_Error(string redirection, string message)
    {
        CliProcess.SkipUnlessShell();
        Assert.SkipWhen(redirection.Contains("/dev/full", StringComparison.Ordinal) && !File.Exists("/dev/full"), "needs /dev/full");
        using CliProcess cli = CliProcess.StartRedirected(redirection, "replay", s_example);

        int exit = await cli.WaitAsync(TestContext.Current.CancellationToken);

        Assert.True(exit == 1, $"exit {exit}:\n{cli.Output}");
        string line = Assert.Single(cli.ErrorLines);
        Assert.Contains(message, line, StringComparison.Ordinal);
        Assert.DoesNotContain("example.trace", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(CliProcess.SigInt)]
    [InlineData(CliProcess.SigTerm)]
    public async Task A_Signal_Stops_A_Replay_Waiting_For_Input(int signal)
    {
        using CliProcess cli = CliProcess.Start("replay");
        cli.WriteInput("check\n");
        await cli.WaitForLineAsync("check 0 0", TestContext.Current.CancellationToken); // replaying, stdin still open

        cli.Signal(signal);

        Assert.Equal(128 + signal, await cli.WaitAsync(TestContext.Current.CancellationToken));
        Assert.Empty(cli.ErrorLines);
    }
}
