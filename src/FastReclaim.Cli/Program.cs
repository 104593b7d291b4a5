using System.CommandLine;

namespace FastReclaim.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        var root = new RootCommand("fastreclaim: page tables in native memory with epoch-based reclamation of empty tables.");
        root.Subcommands.Add(DemoCommand.Create());
        root.Subcommands.Add(MonitorCommand.Create());
        root.Subcommands.Add(ReplayCommand.Create());
        root.Subcommands.Add(SandboxCommand.Create());
        return root.Parse(args).Invoke();
    }
}
