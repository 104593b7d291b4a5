using System.CommandLine;
using FastReclaim.Cli.Replay;

namespace FastReclaim.Cli;

/// <summary><c>fastreclaim replay [--policy linux|eager|none] [FILE|-]</c>: replays a page-table trace and prints <c>check N BYTES</c> lines.</summary>
internal static class ReplayCommand
{
    private const string StandardInput = "-";

    private static readonly Dictionary<string, ReclaimPolicy> s_policies = new(StringComparer.Ordinal)
    {
        ["linux"] = ReclaimPolicy.Linux,
        ["eager"] = ReclaimPolicy.Eager,
        ["none"] = ReclaimPolicy.None,
    };

    internal static Command Create()
    {
        var policy = new Option<string>("--policy")
        {
            Description = "When zapped page tables are freed: linux (exactly the kernel), eager, or none.",
            DefaultValueFactory = _ => "linux",
        };
        policy.AcceptOnlyFromAmong([.. s_policies.Keys]);
        var file = new Argument<string>("FILE")
        {
            Description = "The trace to replay; - or nothing reads standard input.",
            DefaultValueFactory = _ => StandardInput,
        };
        var command = new Command("replay", "Replay a page-table trace (map/touch/zap/unmap/check) and print the page-table bytes at every check, as kernel_replay does on Linux.")
        {
            policy,
            file,
        };
        command.SetAction(parseResult =>
        {
            string path = parseResult.GetValue(file) ?? StandardInput;
            TextWriter output = parseResult.InvocationConfiguration.Output;
            TextWriter error = parseResult.InvocationConfiguration.Error;
            try
            {
                using TextReader input = path == StandardInput ? new StreamReader(Console.OpenStandardInput()) : File.OpenText(path);
                return Run(input, output, s_policies[parseResult.GetValue(policy)!]);
            }
            catch (TraceFormatException e)
            {
                error.WriteLine($"{path}: {e.Message}");
                return 1;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"{path}: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>Replays <paramref name="input"/> on a fresh address space with <paramref name="policy"/>.</summary>
    /// <exception cref="TraceFormatException">A line is malformed or refused.</exception>
    internal static int Run(TextReader input, TextWriter output, ReclaimPolicy policy)
    {
        using var space = new AddressSpace(new AddressSpaceOptions { Policy = policy });
        new TraceReplayer(space, output).Run(input);
        return 0;
    }
}
