using System.CommandLine;
using FastReclaim.Cli.Common;

namespace FastReclaim.Cli.Replay;

/// <summary><c>fastreclaim replay [--policy none|linux|eager] [--format x64|arm64|riscv64] [FILE|-]</c>: replays a page-table trace and prints <c>check N BYTES</c> lines.</summary>
internal static class ReplayCommand
{
    private const string StandardInput = "-";

    internal static Command Create()
    {
        var policy = new Option<string>("--policy")
        {
            Description = "When zapped page tables are freed: linux (exactly the kernel), eager, or none.",
            DefaultValueFactory = _ => ReclaimPolicyNames.Linux,
        }.AcceptPolicyNames();
        var format = new Option<string>("--format")
        {
            Description = "The tables' hardware format: x64, arm64 or riscv64 (the same table geometry, so the same bytes).",
            DefaultValueFactory = _ => PageTableFormatNames.X64,
        }.AcceptNames(PageTableFormatNames.All);
        var file = new Argument<string>("FILE")
        {
            Description = "The trace to replay; - or nothing reads standard input. A file whose name starts with - is given as ./NAME.",
            DefaultValueFactory = _ => StandardInput,
        };
        file.Validators.Add(result =>
        {
            string path = result.GetValueOrDefault<string>();
            if (path.StartsWith('-') && path != StandardInput)
            {
                result.AddError($"Unknown option '{path}' (a FILE whose name starts with - is given as ./{path}).");
            }
        });
        var command = new Command("replay", "Replay a page-table trace (map/hmap/touch/zap/unmap/protect/collapse/check/thp) and print the page-table bytes at every check and the 2 MiB-page bytes at every thp, as kernel_replay does on Linux.")
        {
            policy,
            format,
            file,
        };
        // A read of standard input cannot be cancelled, so the replay runs on a thread of its own and a signal ends
        // the command without waiting for a line that may never come (Program turns the cancellation into the exit code).
        command.SetAction((parseResult, stop) => Task.Factory.StartNew(
            () => Execute(parseResult.GetValue(file)!, ReclaimPolicyNames.Parse(parseResult.GetValue(policy)!),
                PageTableFormatNames.Parse(parseResult.GetValue(format)!), parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error, stop),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).WaitAsync(stop));
        return command;
    }

    /// <summary>
    /// Opens the trace and replays it: exit 2 when FILE cannot be opened (a bad argument, found before any work) or a
    /// line is malformed, 1 when the kernel would refuse a line or the trace cannot be read to its end.
    /// </summary>
    private static int Execute(string path, ReclaimPolicy policy, PageTableFormat format, TextWriter output, TextWriter error, CancellationToken stop)
    {
        TextReader input;
        if (path == StandardInput)
        {
            if (StandardStreams.IsClosed(StandardStreams.Input))
            {
                error.WriteLine($"fastreclaim replay: {path}: standard input is closed");
                return ExitCodes.Failure;
            }

            input = new StreamReader(Console.OpenStandardInput());
        }
        else
        {
            try
            {
                input = File.OpenText(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"fastreclaim replay: FILE {path}: {e.Message}");
                return ExitCodes.Usage;
            }
        }

        using (input)
        {
            try
            {
                return Run(input, output, policy, stop, format);
            }
            catch (TraceRefusedException e)
            {
                error.WriteLine($"{path}: {e.Message}");
                return ExitCodes.Failure; // the oracle's exit when a call fails
            }
            catch (TraceFormatException e)
            {
                error.WriteLine($"{path}: {e.Message}");
                return ExitCodes.Usage; // bad input, as the oracle's exit on an unknown operation
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"{path}: cannot read it: {e.Message}");
                return ExitCodes.Failure;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return ExitCodes.Interrupted;
            }
        }
    }

    /// <summary>Replays <paramref name="input"/> on a fresh address space with <paramref name="policy"/> and <paramref name="format"/> (4 levels).</summary>
    /// <exception cref="TraceFormatException">A line is malformed.</exception>
    /// <exception cref="TraceRefusedException">The kernel would refuse a line.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="stop"/> fired; the lines before it were replayed.</exception>
    internal static int Run(TextReader input, TextWriter output, ReclaimPolicy policy, CancellationToken stop, PageTableFormat format = PageTableFormat.X64)
    {
        // The tables are bounded by the machine's memory: a trace that needs more (the kernel would OOM too) is
        // refused at the line that asks for it, never left to the OOM killer.
        using var allocator = new PageAllocator(new PageAllocatorOptions { MaxBytes = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes });
        using var space = new AddressSpace(new AddressSpaceOptions { Policy = policy, Format = format, Allocator = allocator });
        new TraceReplayer(space, output).Run(input, stop);
        return ExitCodes.Success;
    }
}
