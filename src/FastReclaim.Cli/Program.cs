using System.CommandLine;
using System.CommandLine.Invocation;
using FastReclaim.Cli.Common;
using FastReclaim.Cli.Demo;
using FastReclaim.Cli.Monitor;
using FastReclaim.Cli.Replay;
using FastReclaim.Cli.Sandbox;

namespace FastReclaim.Cli;

/// <summary>
/// <c>fastreclaim</c>: fails like a Unix tool. A bad argument is one line on stderr naming the option and the value,
/// exit 2, before any work; SIGINT and SIGTERM stop the running command, exit 128 + the signal number; a standard
/// output that is closed or cannot be written is reported as such, exit 1.
/// </summary>
internal static class Program
{
    private const string ToolName = "fastreclaim";

    private static async Task<int> Main(string[] args)
    {
        using var termination = new Termination();
        Console.SetError(StandardStreams.IsClosed(StandardStreams.Error) ? TextWriter.Null : GuardedWriter.ForError(Console.Error));
        if (StandardStreams.IsClosed(StandardStreams.Output))
        {
            await Console.Error.WriteLineAsync($"{ToolName}: standard output is closed").ConfigureAwait(false);
            return ExitCodes.Failure;
        }

        Console.SetOut(GuardedWriter.ForOutput(Console.Out));
        int code = await InvokeAsync(args, Console.Out, Console.Error, termination.Token).ConfigureAwait(false);
        return termination.ExitCode ?? code;
    }

    /// <summary>Parses <paramref name="args"/> and runs the command; returns the exit code.</summary>
    internal static async Task<int> InvokeAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken stop)
    {
        ParseResult parse = CreateRoot().Parse(args);
        string command = parse.CommandResult.Command is RootCommand ? ToolName : $"{ToolName} {parse.CommandResult.Command.Name}";
        if (parse.Action is ParseErrorAction)
        {
            foreach (System.CommandLine.Parsing.ParseError e in parse.Errors)
            {
                await error.WriteLineAsync($"{command}: {e.Message}").ConfigureAwait(false);
            }

            return ExitCodes.Usage;
        }

        var configuration = new InvocationConfiguration
        {
            Output = output,
            Error = error,
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null, // Termination owns SIGINT and SIGTERM and passes the token in
        };
        try
        {
            return await parse.InvokeAsync(configuration, stop).ConfigureAwait(false);
        }
        catch (OutputException e)
        {
            await error.WriteLineAsync($"{command}: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return ExitCodes.Interrupted;
        }
    }

    internal static RootCommand CreateRoot() =>
        new("fastreclaim: page tables in native memory with epoch-based reclamation of empty tables.")
        {
            DemoCommand.Create(),
            MonitorCommand.Create(),
            ReplayCommand.Create(),
            SandboxCommand.Create(),
        };
}
