using FastReclaim.Cli.Sandbox;
using FastReclaim.Sandbox;

namespace FastReclaim.Tests.Cli.Sandbox;

public class SandboxCommandTests
{
    [Fact]
    public void Sandbox_Command_Shows_Reads_The_Fault_After_Zap_And_The_Remapped_Frame_And_Exits_0()
    {
        Assert.SkipUnless(KvmAvailability.IsAvailable(out string reason), reason);
        var output = new StringWriter();
        var error = new StringWriter();

        int exitCode = SandboxCommand.Run(new SandboxSettings(Pages: 8, Passes: 50, ReclaimPolicy.Eager), output, error, CancellationToken.None);

        string text = output.ToString();
        Assert.True(exitCode == 0, $"exit {exitCode}\n{text}\n{error}");
        Assert.Contains("4 KiB  8 of 8 pages read back their frame's marker", text, StringComparison.Ordinal);
        Assert.Contains("guest read after zap: guest #PF at CR2=0x8000000000 (error 0x0: not present)", text, StringComparison.Ordinal);
        Assert.Contains(" 0 reads of the trap frame, 0 wrong values", text, StringComparison.Ordinal);
        Assert.Contains("all checks passed", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--policy", "none")]   // offered by the help: no zap frees a table, and that is what is checked
    [InlineData("--policy", "linux")]
    [InlineData("--passes", "1")]      // one pass can end before the zapper's first round
    [InlineData("--guest", "spin")]    // no exit under load: every barrier ends through the vCPU kicks
    public async Task Every_Setting_The_Help_Offers_Passes_Its_Checks(string option, string value)
    {
        Assert.SkipUnless(KvmAvailability.IsAvailable(out string reason), reason);
        const int Runs = 5; // the race with the zapper thread differs run to run
        for (int run = 0; run < Runs; run++)
        {
            using CliProcess cli = CliProcess.Start("sandbox", option, value);

            int exit = await cli.WaitAsync(TestContext.Current.CancellationToken);

            Assert.True(exit == 0, $"run {run}: exit {exit}\n{cli.Output}");
            Assert.Contains("all checks passed", cli.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Sandbox_Command_With_The_Spinning_Guest_Reclaims_Through_Kicks_With_No_Guest_Exit()
    {
        Assert.SkipUnless(KvmAvailability.IsAvailable(out string reason), reason);
        var output = new StringWriter();
        var error = new StringWriter();

        int exitCode = SandboxCommand.Run(new SandboxSettings(Pages: 8, Passes: 50, ReclaimPolicy.Eager, Guest: SandboxGuest.Spin, ExpediteAfter: TimeSpan.FromMilliseconds(2)),
            output, error, CancellationToken.None);

        string text = output.ToString();
        Assert.True(exitCode == 0, $"exit {exitCode}\n{text}\n{error}");
        Assert.Matches(@"under load: the guest spun \d+ passes over its 8 pages with 0 exits while a host thread zapped and re-mapped them \d+ times", text);
        Assert.Contains(" 0 reads of the trap frame, 0 wrong values", text, StringComparison.Ordinal);
        Assert.Matches(@"peak pending tables \d+; [1-9]\d* expedites \(after 2\.0 ms\), [1-9]\d* kicks", text);
        Assert.Contains("all checks passed", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Signal_Stops_A_Long_Run_Without_A_Verdict()
    {
        Assert.SkipUnless(KvmAvailability.IsAvailable(out string reason), reason);
        using CliProcess cli = CliProcess.Start("sandbox", "--passes", "2000000000");
        await cli.WaitForLineAsync("grace period over", TestContext.Current.CancellationToken);

        cli.Signal(CliProcess.SigInt);

        Assert.Equal(128 + CliProcess.SigInt, await cli.WaitAsync(TestContext.Current.CancellationToken));
        Assert.DoesNotContain("all checks passed", cli.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("arm64", 3)]
    [InlineData("arm64", 4)]
    [InlineData("riscv64", 3)]
    [InlineData("riscv64", 4)]
    [InlineData("riscv64", 5)]
    public void Emulated_Sandbox_Shows_Reads_The_Stale_Tlb_The_Fault_After_Invalidation_And_The_Remapped_Frame_And_Exits_0(string archName, int levels)
    {
        Assert.SkipUnless(UnicornAvailability.IsAvailable(out string reason), reason);
        SandboxArchitecture arch = SandboxArchitectureNames.Parse(archName);
        var output = new StringWriter();
        var error = new StringWriter();

        int exitCode = SandboxCommand.Run(new SandboxSettings(Pages: 8, Passes: 50, ReclaimPolicy.Eager, arch, levels), output, error, CancellationToken.None);

        string text = output.ToString();
        Assert.True(exitCode == 0, $"exit {exitCode}\n{text}\n{error}");
        Assert.Contains("4 KiB  8 of 8 pages read back their frame's marker", text, StringComparison.Ordinal);
        Assert.Contains("1 GiB  0x3063456780 -> 0x5A5A000123456780", text, StringComparison.Ordinal);
        Assert.Matches(@"guest read before it invalidates its TLB: 0x5A5A[0-9A-F]+ \(the old frame's marker, from its TLB: the hazard\); [1-9][0-9]* tables still pending", text);
        Assert.Contains(arch == SandboxArchitecture.Arm64 ? "data abort at 0x2000000000" : "load page fault at 0x2000000000", text, StringComparison.Ordinal);
        Assert.Contains(" 0 reads of the trap, 0 wrong values", text, StringComparison.Ordinal);
        Assert.Contains("all checks passed", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("arm64", "none")]
    [InlineData("riscv64", "linux")]
    public async Task Emulated_Sandbox_Process_Exits_0_Under_Every_Policy(string arch, string policy)
    {
        Assert.SkipUnless(UnicornAvailability.IsAvailable(out string reason), reason);
        using CliProcess cli = CliProcess.Start("sandbox", "--arch", arch, "--policy", policy, "--passes", "100");

        int exit = await cli.WaitAsync(TestContext.Current.CancellationToken);

        Assert.True(exit == 0, $"exit {exit}\n{cli.Output}");
        Assert.Contains("all checks passed", cli.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Signal_Stops_A_Long_Emulated_Run_Without_A_Verdict()
    {
        Assert.SkipUnless(UnicornAvailability.IsAvailable(out string reason), reason);
        using CliProcess cli = CliProcess.Start("sandbox", "--arch", "riscv64", "--passes", "2000000000");
        await cli.WaitForLineAsync("grace period over", TestContext.Current.CancellationToken);

        cli.Signal(CliProcess.SigInt);

        Assert.Equal(128 + CliProcess.SigInt, await cli.WaitAsync(TestContext.Current.CancellationToken));
        Assert.DoesNotContain("all checks passed", cli.Output, StringComparison.Ordinal);
    }
}
