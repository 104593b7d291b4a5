using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using FastReclaim.Cli.Demo;
using Microsoft.Diagnostics.NETCore.Client;

namespace FastReclaim.Tests.Cli;

/// <summary>The <c>fastreclaim</c> CLI (the apphost copied next to the tests) running as a child process.</summary>
internal sealed partial class CliProcess : IDisposable
{
    /// <summary>POSIX signal numbers, for <see cref="Signal"/>.</summary>
    public const int SigInt = 2;

    public const int SigTerm = 15;

    private const string ErrorPrefix = "stderr: ";

    private static readonly TimeSpan s_exitTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private CliProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _holding.TrySetException(new InvalidOperationException("The CLI exited before holding:\n" + Output));
                return;
            }

            lock (_lines)
            {
                _lines.Add(e.Data);
            }

            if (e.Data.StartsWith(DemoCommand.HoldingLine, StringComparison.Ordinal))
            {
                _holding.TrySetResult();
            }
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_lines)
                {
                    _lines.Add(ErrorPrefix + e.Data);
                }
            }
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string Output
    {
        get
        {
            lock (_lines)
            {
                return string.Join('\n', _lines);
            }
        }
    }

    /// <summary>The lines the CLI wrote to standard error so far.</summary>
    public IReadOnlyList<string> ErrorLines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines.Where(l => l.StartsWith(ErrorPrefix, StringComparison.Ordinal)).Select(l => l[ErrorPrefix.Length..])];
            }
        }
    }

    private static string CliPath => Path.Combine(AppContext.BaseDirectory, "FastReclaim.Cli");

    public static CliProcess Start(params string[] arguments) => StartProcess(CliPath, arguments);

    /// <summary>
    /// Starts the CLI through <c>/bin/sh</c> with a redirection applied first, e.g. <c>&lt;&amp;-</c> (standard input
    /// closed), <c>&gt;&amp;-</c> (standard output closed) or <c>&gt;/dev/full</c>: what a parent process can do that
    /// <see cref="ProcessStartInfo"/> cannot.
    /// </summary>
    public static CliProcess StartRedirected(string redirections, params string[] arguments) =>
        StartProcess("/bin/sh", ["-c", $"exec \"$0\" \"$@\" {redirections}", CliPath, .. arguments]);

    /// <summary>Skips the test where <c>/bin/sh</c> is missing (the redirections need it).</summary>
    public static void SkipUnlessShell() => Assert.SkipUnless(File.Exists("/bin/sh"), "needs /bin/sh to start the CLI with closed or full standard streams");

    /// <summary>Sends POSIX signal <paramref name="signal"/> to the CLI, as the shell's Ctrl-C or <c>kill</c> does.</summary>
    public void Signal(int signal)
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "POSIX signals");
        Assert.True(Kill(_process.Id, signal) == 0, $"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Waits until the CLI printed a line (stdout or stderr) that contains <paramref name="text"/>.</summary>
    public async Task WaitForLineAsync(string text, CancellationToken cancellation)
    {
        TimeSpan poll = TimeSpan.FromMilliseconds(20);
        for (var waited = TimeSpan.Zero; !Output.Contains(text, StringComparison.Ordinal); waited += poll)
        {
            Assert.False(_process.HasExited && !Output.Contains(text, StringComparison.Ordinal), $"The CLI exited without printing \"{text}\":\n{Output}");
            Assert.True(waited < s_exitTimeout, $"The CLI printed no \"{text}\" within {s_exitTimeout.TotalSeconds} s:\n{Output}");
            await Task.Delay(poll, cancellation);
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int processId, int signal);

    /// <summary>
    /// Starts <c>demo --hold</c> on a small space and waits until it holds its final state. With
    /// <paramref name="configProperties"/>, the CLI runs through <c>dotnet exec --runtimeconfig</c> with those
    /// AppContext switches added to its runtime configuration.
    /// </summary>
    public static async Task<CliProcess> StartHeldDemoAsync(
        string pngPath, CancellationToken cancellation, IReadOnlyDictionary<string, bool>? configProperties = null)
    {
        string[] demoArguments = ["demo", "--gib", "1", "--seconds", "0.3", "--readers", "1", "--hold", "--output", pngPath];
        CliProcess demo = configProperties is null
            ? Start(demoArguments)
            : StartProcess(DotnetHost(), ["exec", "--runtimeconfig", RuntimeConfigWith(configProperties, Path.GetDirectoryName(pngPath)!),
                Path.Combine(AppContext.BaseDirectory, "FastReclaim.Cli.dll"), .. demoArguments]);
        try
        {
            await demo._holding.Task.WaitAsync(s_exitTimeout, cancellation);
            return demo;
        }
        catch
        {
            demo.Dispose();
            throw;
        }
    }

    /// <summary>Waits until the child's runtime has opened its diagnostics endpoint (shortly after it starts).</summary>
    public async Task<bool> WaitForDiagnosticsEndpointAsync(CancellationToken cancellation)
    {
        TimeSpan poll = TimeSpan.FromMilliseconds(50);
        for (var waited = TimeSpan.Zero; waited < s_exitTimeout && !_process.HasExited; waited += poll)
        {
            if (DiagnosticsClient.GetPublishedProcesses().Contains(Id))
            {
                return true;
            }

            await Task.Delay(poll, cancellation);
        }

        return false;
    }

    /// <summary>Skips the test when this machine's .NET diagnostics IPC (the runtime's socket in TMPDIR) is not usable.</summary>
    public void SkipUnlessDiagnosticsIpc() =>
        Assert.SkipUnless(DiagnosticsClient.GetPublishedProcesses().Contains(Id),
            $"diagnostics IPC unavailable: process {Id} published no diagnostics endpoint (DOTNET_EnableDiagnostics=0 or no writable TMPDIR?)");

    private static CliProcess StartProcess(string fileName, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return new CliProcess(Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}."));
    }

    /// <summary>The <c>dotnet</c> host running the tests (set by the SDK), else the one on PATH.</summary>
    private static string DotnetHost() => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";

    /// <summary>A copy of the CLI's runtimeconfig.json in <paramref name="directory"/> with <paramref name="switches"/> added.</summary>
    private static string RuntimeConfigWith(IReadOnlyDictionary<string, bool> switches, string directory)
    {
        JsonNode config = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "FastReclaim.Cli.runtimeconfig.json")))!;
        JsonObject options = config["runtimeOptions"]!.AsObject();
        if (options["configProperties"] is not JsonObject properties)
        {
            properties = [];
            options["configProperties"] = properties;
        }

        foreach ((string name, bool value) in switches)
        {
            properties[name] = value;
        }

        string path = Path.Combine(directory, "FastReclaim.Cli.runtimeconfig.json");
        File.WriteAllText(path, config.ToJsonString());
        return path;
    }

    /// <summary>The <c>stats policy=NAME key=value ...</c> lines of <c>--hold</c>, by policy.</summary>
    public Dictionary<string, Dictionary<string, long>> HeldStats()
    {
        var stats = new Dictionary<string, Dictionary<string, long>>();
        foreach (string line in Output.Split('\n').Where(l => l.StartsWith("stats ", StringComparison.Ordinal)))
        {
            var fields = line["stats ".Length..].Split(' ').Select(f => f.Split('=')).ToDictionary(kv => kv[0], kv => kv[1]);
            stats[fields["policy"]] = fields.Where(kv => kv.Key != "policy")
                .ToDictionary(kv => kv.Key, kv => long.Parse(kv.Value, System.Globalization.CultureInfo.InvariantCulture));
        }

        return stats;
    }

    /// <summary>Closes standard input (which ends <c>--hold</c>) and waits for the exit code.</summary>
    public async Task<int> CloseInputAndWaitAsync(CancellationToken cancellation)
    {
        _process.StandardInput.Close();
        return await WaitAsync(cancellation);
    }

    /// <summary>Waits for the exit code; fails the test (<see cref="TimeoutException"/>) when the CLI runs past 30 s.</summary>
    public async Task<int> WaitAsync(CancellationToken cancellation)
    {
        await _process.WaitForExitAsync(cancellation).WaitAsync(s_exitTimeout, cancellation);
        return _process.ExitCode;
    }

    /// <summary>Writes <paramref name="text"/> to the CLI's standard input.</summary>
    public void WriteInput(string text)
    {
        _process.StandardInput.Write(text);
        _process.StandardInput.Flush();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(s_exitTimeout);
        }

        _process.Dispose();
    }
}
