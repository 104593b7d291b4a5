using System.CommandLine;

namespace FastReclaim.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        var root = new RootCommand("fastreclaim: page tables in native memory with epoch-based reclamation of empty tables.");
        return root.Parse(args).Invoke();
    }
}
