using FastReclaim.Cli;
using FastReclaim.Sandbox;

namespace FastReclaim.Tests.Sandbox;

public class SandboxCommandTests
{
    [Fact]
    public void Sandbox_Command_Shows_Reads_The_Fault_After_Zap_And_The_Remapped_Frame_And_Exits_0()
    {
        Assert.SkipUnless(KvmAvailability.IsAvailable(out string reason), reason);
        var output = new StringWriter();
        var error = new StringWriter();

        int exitCode = SandboxCommand.Run(new SandboxSettings(Pages: 8, Passes: 50, ReclaimPolicy.Eager), output, error);

        string text = output.ToString();
        Assert.True(exitCode == 0, $"exit {exitCode}\n{text}\n{error}");
        Assert.Contains("4 KiB  8 of 8 pages read back their frame's marker", text, StringComparison.Ordinal);
        Assert.Contains("guest read after zap: guest #PF at CR2=0x8000000000 (error 0x0: not present)", text, StringComparison.Ordinal);
        Assert.Contains(" 0 reads of the trap frame, 0 wrong values", text, StringComparison.Ordinal);
        Assert.Contains("all checks passed", text, StringComparison.Ordinal);
    }
}
